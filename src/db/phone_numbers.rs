use crate::domain::address::AddressType;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::Page;
use crate::domain::ids::{ConfigId, NumberId, OrgId, TrunkId, WorkflowId};
use crate::domain::phone_number::{LastSync, SyncResult};

/// A phone number as the API shows it (API.md §5.1).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = PhoneNumberResponse)]
pub struct PhoneNumber {
    #[schema(value_type = i64)]
    pub id: NumberId,
    #[serde(rename = "telephony_configuration_id")]
    #[schema(value_type = i64)]
    pub config_id: ConfigId,
    /// As given, trimmed.
    pub address: String,
    /// Canonical E.164 for `pstn`; normalized SIP forms otherwise.
    pub address_normalized: String,
    #[schema(inline)]
    pub address_type: AddressType,
    pub is_active: bool,
    pub is_default_caller_id: bool,
    #[schema(value_type = Object)]
    pub extra_metadata: Value,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// ISO-3166 alpha-2, upper-case.
    pub country_code: Option<String>,
    pub label: Option<String>,
    #[schema(value_type = Option<i64>)]
    pub inbound_workflow_id: Option<WorkflowId>,
    pub inbound_workflow_name: Option<String>,
    /// The trunk its outbound calls are pinned to.
    #[schema(value_type = Option<i64>)]
    pub telephony_trunk_id: Option<TrunkId>,
    /// Set by the request that pushed; never stored.
    pub provider_sync: Option<SyncResult>,
    pub last_provider_sync: Option<LastSync>,
}

/// The values of a new row.
pub struct NewRow<'a> {
    pub org_id: OrgId,
    pub config_id: ConfigId,
    pub provider: &'a str,
    pub routing_account: &'a str,
    pub address: &'a str,
    pub address_normalized: &'a str,
    pub address_type: AddressType,
    pub country_code: Option<&'a str>,
    pub label: Option<&'a str>,
    pub inbound_workflow_id: Option<WorkflowId>,
    pub telephony_trunk_id: Option<TrunkId>,
    pub is_active: bool,
    pub extra_metadata: &'a Map<String, Value>,
}

/// The editable values of a row.
pub struct Changes<'a> {
    pub label: Option<&'a str>,
    pub inbound_workflow_id: Option<WorkflowId>,
    pub telephony_trunk_id: Option<TrunkId>,
    pub is_active: bool,
    pub country_code: Option<&'a str>,
    pub extra_metadata: &'a Value,
}

const SELECT: &str = "SELECT p.id, p.config_id, p.address, p.address_normalized, p.address_type, p.is_active,
        p.is_default_caller_id, p.extra_metadata, p.created_at, p.updated_at, p.country_code, p.label,
        p.inbound_workflow_id, w.name, p.last_sync_ok, p.last_sync_message, p.last_sync_attached, p.last_sync_at,
        p.telephony_trunk_id
     FROM phone_numbers p LEFT JOIN workflows w ON w.id = p.inbound_workflow_id";

fn from_row(r: &Row) -> rusqlite::Result<PhoneNumber> {
    let last_ok: Option<bool> = r.get(14)?;
    Ok(PhoneNumber {
        id: r.get(0)?,
        config_id: r.get(1)?,
        address: r.get(2)?,
        address_normalized: r.get(3)?,
        address_type: r.get(4)?,
        is_active: r.get(5)?,
        is_default_caller_id: r.get(6)?,
        extra_metadata: super::json_column(r, 7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
        country_code: r.get(10)?,
        label: r.get(11)?,
        inbound_workflow_id: r.get(12)?,
        inbound_workflow_name: r.get(13)?,
        telephony_trunk_id: r.get(18)?,
        provider_sync: None,
        last_provider_sync: match last_ok {
            Some(ok) => Some(LastSync {
                ok,
                message: r.get(15)?,
                attached: r.get(16)?,
                at: r.get(17)?,
            }),
            None => None,
        },
    })
}

/// A page of a configuration's numbers, in order of creation; with a
/// `limit`, one row more than it when a next page exists. `q` is a
/// case-sensitive substring of the normalized address or the label.
pub fn list(conn: &Connection, config_id: ConfigId, page: &Page<NumberId>) -> rusqlite::Result<Vec<PhoneNumber>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE p.config_id = ?1
           AND (?2 IS NULL OR (p.created_at, p.id) >
                (SELECT a.created_at, a.id FROM phone_numbers a WHERE a.config_id = ?1 AND a.id = ?2))
           AND (?3 IS NULL OR instr(p.address_normalized, ?3) OR instr(p.label, ?3))
         ORDER BY p.created_at, p.id LIMIT ?4"
    ))?;
    let rows = stmt.query_map(params![config_id, page.after_id, page.q, page.sql_limit()], from_row)?;
    rows.collect()
}

pub fn get(conn: &Connection, config_id: ConfigId, id: NumberId) -> rusqlite::Result<Option<PhoneNumber>> {
    conn.prepare_cached(&format!("{SELECT} WHERE p.config_id = ?1 AND p.id = ?2"))?
        .query_row(params![config_id, id], from_row)
        .optional()
}

/// As `get`, when the number is also `org_id`'s (a number's organization is
/// its configuration's): the caller's check and the read in one lookup.
pub fn get_in_org(
    conn: &Connection,
    org_id: OrgId,
    config_id: ConfigId,
    id: NumberId,
) -> rusqlite::Result<Option<PhoneNumber>> {
    conn.prepare_cached(&format!(
        "{SELECT} WHERE p.config_id = ?1 AND p.id = ?2 AND p.org_id = ?3"
    ))?
    .query_row(params![config_id, id, org_id], from_row)
    .optional()
}

pub fn insert(conn: &Connection, row: &NewRow) -> rusqlite::Result<NumberId> {
    let now = super::now();
    conn.execute(
        "INSERT INTO phone_numbers (org_id, config_id, provider, routing_account, address, address_normalized,
             address_type, country_code, label, inbound_workflow_id, telephony_trunk_id, is_active, extra_metadata,
             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14)",
        params![
            row.org_id,
            row.config_id,
            row.provider,
            row.routing_account,
            row.address,
            row.address_normalized,
            row.address_type,
            row.country_code,
            row.label,
            row.inbound_workflow_id,
            row.telephony_trunk_id,
            row.is_active,
            Value::Object(row.extra_metadata.clone()).to_string(),
            now
        ],
    )?;
    Ok(NumberId(conn.last_insert_rowid()))
}

pub fn update(conn: &Connection, id: NumberId, changes: &Changes) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE phone_numbers SET label = ?2, inbound_workflow_id = ?3, is_active = ?4, country_code = ?5,
             extra_metadata = ?6, telephony_trunk_id = ?7, updated_at = ?8
         WHERE id = ?1",
        params![
            id,
            changes.label,
            changes.inbound_workflow_id,
            changes.is_active,
            changes.country_code,
            changes.extra_metadata.to_string(),
            changes.telephony_trunk_id,
            super::now()
        ],
    )?;
    Ok(())
}

pub fn delete(conn: &Connection, id: NumberId) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM phone_numbers WHERE id = ?1", [id])? == 1)
}

/// Makes `id` its configuration's only default caller, in the caller's transaction.
pub fn set_default_caller(conn: &Connection, config_id: ConfigId, id: NumberId) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE phone_numbers SET is_default_caller_id = 0 WHERE config_id = ?1 AND is_default_caller_id AND id <> ?2",
        params![config_id, id],
    )?;
    conn.execute(
        "UPDATE phone_numbers SET is_default_caller_id = 1, updated_at = ?3
         WHERE config_id = ?1 AND id = ?2 AND NOT is_default_caller_id",
        params![config_id, id, super::now()],
    )?;
    Ok(())
}

/// Stores the result of a push; a number deleted meanwhile is left alone.
pub fn record_sync(conn: &Connection, id: NumberId, sync: &LastSync) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE phone_numbers SET last_sync_ok = ?2, last_sync_message = ?3, last_sync_attached = ?4, last_sync_at = ?5
         WHERE id = ?1",
        params![id, sync.ok, sync.message, sync.attached, sync.at],
    )?;
    Ok(())
}

pub fn exists_in_org(conn: &Connection, org_id: OrgId, address_normalized: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM phone_numbers WHERE org_id = ?1 AND address_normalized = ?2)",
        params![org_id, address_normalized],
        |r| r.get(0),
    )
}

/// Who holds an inbound routing key.
pub struct RoutingHolder {
    pub address: String,
    pub config_name: String,
    pub org_id: OrgId,
}

/// The number holding `(provider, account, address)` outside configuration
/// `except_config` (anywhere when `None`).
pub fn routing_holder(
    conn: &Connection,
    provider: &str,
    account: &str,
    address_normalized: &str,
    except_config: Option<ConfigId>,
) -> rusqlite::Result<Option<RoutingHolder>> {
    conn.query_row(
        "SELECT p.address, c.name, p.org_id FROM phone_numbers p JOIN telephony_configurations c ON c.id = p.config_id
         WHERE p.provider = ?1 AND p.routing_account = ?2 AND p.address_normalized = ?3 AND p.routing_account <> ''
           AND p.config_id IS NOT ?4",
        params![provider, account, address_normalized, except_config],
        |r| {
            Ok(RoutingHolder {
                address: r.get(0)?,
                config_name: r.get(1)?,
                org_id: r.get(2)?,
            })
        },
    )
    .optional()
}

/// Follows a configuration's new routing account; may violate the routing key.
pub fn set_routing_account(conn: &Connection, config_id: ConfigId, account: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE phone_numbers SET routing_account = ?2 WHERE config_id = ?1",
        params![config_id, account],
    )?;
    Ok(())
}

/// The normalized addresses of a configuration's numbers.
pub fn addresses(conn: &Connection, config_id: ConfigId) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT address_normalized FROM phone_numbers WHERE config_id = ?1 ORDER BY id")?;
    let rows = stmt.query_map([config_id], |r| r.get(0))?;
    rows.collect()
}

pub fn count_for_config(conn: &Connection, config_id: ConfigId) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM phone_numbers WHERE config_id = ?1",
        [config_id],
        |r| r.get(0),
    )
}

/// A bound number as `numbers resync` needs it.
#[derive(Debug, Clone)]
pub struct BoundNumber {
    pub org_id: OrgId,
    pub config_id: ConfigId,
    pub id: NumberId,
    pub provider: String,
}

/// Numbers bound to a workflow, of one organization and/or configuration or
/// of all, by id.
pub fn bound(
    conn: &Connection,
    org_id: Option<OrgId>,
    config_id: Option<ConfigId>,
) -> rusqlite::Result<Vec<BoundNumber>> {
    let mut stmt = conn.prepare(
        "SELECT org_id, config_id, id, provider FROM phone_numbers
         WHERE inbound_workflow_id IS NOT NULL AND (?1 IS NULL OR org_id = ?1) AND (?2 IS NULL OR config_id = ?2)
         ORDER BY id",
    )?;
    let rows = stmt.query_map(params![org_id, config_id], |r| {
        Ok(BoundNumber {
            org_id: r.get(0)?,
            config_id: r.get(1)?,
            id: r.get(2)?,
            provider: r.get(3)?,
        })
    })?;
    rows.collect()
}
