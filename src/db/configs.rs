use rusqlite::{params, Connection, OptionalExtension, Row};

use super::Page;
use crate::domain::credentials::Credentials;
use crate::domain::ids::{ConfigId, OrgId};
use crate::domain::provider::SetupCounts;

/// A stored telephony configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub id: ConfigId,
    pub name: String,
    pub credentials: Credentials,
    pub is_default_outbound: bool,
    pub inactive: bool,
    pub inactive_since: Option<String>,
    pub inactive_reason: Option<String>,
    /// What its setup checklist is computed from.
    pub setup: SetupCounts,
    pub created_at: String,
    pub updated_at: String,
}

/// Configurations with their checklist's counts, one pass over their
/// numbers; `{filter}` is the WHERE clause and `{rest}` follows the grouping.
/// Grouped in the list's order, so that the index on (org_id, created_at,
/// id) serves both and no temporary B-tree is built.
fn select(filter: &str, rest: &str) -> String {
    format!(
        "SELECT c.id, c.name, c.credentials, c.is_default_outbound, c.inactive, c.inactive_since, c.inactive_reason,
            c.created_at, c.updated_at,
            COUNT(*) FILTER (WHERE p.is_active),
            COUNT(*) FILTER (WHERE p.is_active AND p.inbound_workflow_id IS NOT NULL),
            (SELECT COUNT(*) FROM telephony_trunks e WHERE e.telephony_configuration_id = c.id AND e.enabled),
            COUNT(*) FILTER (WHERE p.is_active AND t.enabled IS NOT 1)
         FROM telephony_configurations c
         LEFT JOIN phone_numbers p ON p.config_id = c.id
         LEFT JOIN telephony_trunks t ON t.id = p.telephony_trunk_id
         WHERE {filter} GROUP BY c.created_at, c.id {rest}"
    )
}

fn from_row(r: &Row) -> rusqlite::Result<Config> {
    Ok(Config {
        id: r.get(0)?,
        name: r.get(1)?,
        credentials: super::json_column(r, 2)?,
        is_default_outbound: r.get(3)?,
        inactive: r.get(4)?,
        inactive_since: r.get(5)?,
        inactive_reason: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
        setup: SetupCounts {
            active_numbers: r.get(9)?,
            inbound_routed: r.get(10)?,
            enabled_trunks: r.get(11)?,
            unassigned_active: r.get(12)?,
        },
    })
}

/// A page of an organization's configurations, as `phone_numbers::list`;
/// `q` is a case-sensitive substring of the name.
pub fn list(conn: &Connection, org_id: OrgId, page: &Page<ConfigId>) -> rusqlite::Result<Vec<Config>> {
    let mut stmt = conn.prepare_cached(&select(
        "c.org_id = ?1
           AND (?2 IS NULL OR (c.created_at, c.id) >
                (SELECT a.created_at, a.id FROM telephony_configurations a WHERE a.org_id = ?1 AND a.id = ?2))
           AND (?3 IS NULL OR instr(c.name, ?3))",
        "ORDER BY c.created_at, c.id LIMIT ?4",
    ))?;
    let rows = stmt.query_map(params![org_id, page.after_id, page.q, page.sql_limit()], from_row)?;
    rows.collect()
}

pub fn get(conn: &Connection, org_id: OrgId, id: ConfigId) -> rusqlite::Result<Option<Config>> {
    conn.prepare_cached(&select("c.org_id = ?1 AND c.id = ?2", ""))?
        .query_row(params![org_id, id], from_row)
        .optional()
}

/// Whether configuration `id` is one of `org_id`'s: the check every
/// phone-number route makes first, without `get`'s count of active numbers
/// (a scan of the configuration's numbers).
pub fn exists(conn: &Connection, org_id: OrgId, id: ConfigId) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM telephony_configurations WHERE org_id = ?1 AND id = ?2)")?
        .query_row(params![org_id, id], |r| r.get(0))
}

/// Whether a configuration of `org_id` other than `except` (the one being
/// saved, if it exists) has `name`: checked before a carrier is asked to make
/// anything for a save.
pub fn name_taken(conn: &Connection, org_id: OrgId, name: &str, except: Option<ConfigId>) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM telephony_configurations WHERE org_id = ?1 AND name = ?2 AND id IS NOT ?3)",
    )?
    .query_row(params![org_id, name, except], |r| r.get(0))
}

/// Inserts; a taken name is a unique violation of `Unique::ConfigName`.
pub fn insert(conn: &Connection, org_id: OrgId, name: &str, credentials: &Credentials) -> rusqlite::Result<ConfigId> {
    let now = super::now();
    conn.execute(
        "INSERT INTO telephony_configurations
             (org_id, name, provider, routing_account, credentials, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![
            org_id,
            name,
            credentials.kind().as_str(),
            credentials.routing_account(),
            credentials.to_stored().to_string(),
            now
        ],
    )?;
    Ok(ConfigId(conn.last_insert_rowid()))
}

pub fn update(
    conn: &Connection,
    org_id: OrgId,
    id: ConfigId,
    name: &str,
    credentials: &Credentials,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE telephony_configurations
         SET name = ?3, routing_account = ?4, credentials = ?5, updated_at = ?6
         WHERE org_id = ?1 AND id = ?2",
        params![
            org_id,
            id,
            name,
            credentials.routing_account(),
            credentials.to_stored().to_string(),
            super::now()
        ],
    )?;
    Ok(())
}

/// Makes `id` the organization's only default; the caller's transaction makes
/// the switch atomic, so no moment has two defaults or a failed request.
pub fn set_default_outbound(conn: &Connection, org_id: OrgId, id: ConfigId) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE telephony_configurations SET is_default_outbound = 0
         WHERE org_id = ?1 AND is_default_outbound AND id <> ?2",
        params![org_id, id],
    )?;
    conn.execute(
        "UPDATE telephony_configurations SET is_default_outbound = 1, updated_at = ?3
         WHERE org_id = ?1 AND id = ?2 AND NOT is_default_outbound",
        params![org_id, id, super::now()],
    )?;
    Ok(())
}

pub fn delete(conn: &Connection, org_id: OrgId, id: ConfigId) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "DELETE FROM telephony_configurations WHERE org_id = ?1 AND id = ?2",
        params![org_id, id],
    )? == 1)
}

/// Parks configuration `id` with `reason` (`Some`), or makes it active again
/// (`None`); of `org_id` only when given (the operator's CLI names any).
/// Whether it exists.
pub fn set_inactive(
    conn: &Connection,
    org_id: Option<OrgId>,
    id: ConfigId,
    reason: Option<&str>,
) -> rusqlite::Result<bool> {
    let now = super::now();
    Ok(conn.execute(
        "UPDATE telephony_configurations
         SET inactive = ?3 IS NOT NULL, inactive_since = CASE WHEN ?3 IS NULL THEN NULL ELSE ?4 END,
             inactive_reason = ?3, updated_at = ?4
         WHERE id = ?2 AND (?1 IS NULL OR org_id = ?1)",
        params![org_id, id, reason, now],
    )? == 1)
}

/// The credentials of `org_id`'s configurations of the providers that sign
/// webhooks with a secret of their own (the warnings count the missing ones).
pub fn webhook_signers(conn: &Connection, org_id: OrgId) -> rusqlite::Result<Vec<Credentials>> {
    let mut stmt = conn.prepare_cached(
        "SELECT credentials FROM telephony_configurations WHERE org_id = ?1 AND provider IN ('telnyx', 'vonage')",
    )?;
    let rows = stmt.query_map([org_id], |r| super::json_column(r, 0))?;
    rows.collect()
}
