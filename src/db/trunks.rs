//! SIP trunks (TRUNKS.md §1.2). Every query is scoped by the configuration:
//! a trunk is reached only through its own.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use serde_json::Value;

use crate::domain::ids::{ConfigId, TrunkId};

/// A trunk as the API shows it (`TrunkResponse`, TRUNKS.md §2.1).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TrunkResponse)]
pub struct Trunk {
    #[schema(value_type = i64)]
    pub id: TrunkId,
    pub name: String,
    pub enabled: bool,
    #[schema(value_type = Object)]
    pub settings: Value,
    /// The configuration's numbers on it, active or not.
    #[schema(required = false)]
    pub phone_number_count: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// The carrier's id of the trunk: bookkeeping, never shown.
    #[serde(skip)]
    pub external_id: Option<String>,
}

/// The stored values of a trunk.
pub struct Values<'a> {
    pub name: &'a str,
    pub enabled: bool,
    pub settings: &'a Value,
    pub external_id: Option<&'a str>,
}

const SELECT: &str = "SELECT t.id, t.name, t.enabled, t.settings,
        (SELECT COUNT(*) FROM phone_numbers p WHERE p.telephony_trunk_id = t.id),
        t.created_at, t.updated_at, t.external_id
     FROM telephony_trunks t";

fn from_row(r: &Row) -> rusqlite::Result<Trunk> {
    Ok(Trunk {
        id: r.get(0)?,
        name: r.get(1)?,
        enabled: r.get(2)?,
        settings: super::json_column(r, 3)?,
        phone_number_count: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
        external_id: r.get(7)?,
    })
}

/// A configuration's trunks, by id.
pub fn list(conn: &Connection, config_id: ConfigId) -> rusqlite::Result<Vec<Trunk>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE t.telephony_configuration_id = ?1 ORDER BY t.id"
    ))?;
    let rows = stmt.query_map([config_id], from_row)?;
    rows.collect()
}

pub fn get(conn: &Connection, config_id: ConfigId, id: TrunkId) -> rusqlite::Result<Option<Trunk>> {
    conn.prepare_cached(&format!(
        "{SELECT} WHERE t.telephony_configuration_id = ?1 AND t.id = ?2"
    ))?
    .query_row(params![config_id, id], from_row)
    .optional()
}

/// Whether trunk `id` is one of configuration `config_id`'s.
pub fn exists(conn: &Connection, config_id: ConfigId, id: TrunkId) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM telephony_trunks WHERE telephony_configuration_id = ?1 AND id = ?2)",
    )?
    .query_row(params![config_id, id], |r| r.get(0))
}

/// Whether another trunk of the configuration than `except` has `name`:
/// checked before the carrier is asked to make anything.
pub fn name_taken(
    conn: &Connection,
    config_id: ConfigId,
    name: &str,
    except: Option<TrunkId>,
) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM telephony_trunks
                        WHERE telephony_configuration_id = ?1 AND name = ?2 AND id IS NOT ?3)",
    )?
    .query_row(params![config_id, name, except], |r| r.get(0))
}

/// Inserts; a taken name violates `Unique::TrunkName`.
pub fn insert(conn: &Connection, config_id: ConfigId, values: &Values) -> rusqlite::Result<TrunkId> {
    conn.execute(
        "INSERT INTO telephony_trunks (telephony_configuration_id, name, enabled, settings, external_id, created_at,
             updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![
            config_id,
            values.name,
            values.enabled,
            values.settings.to_string(),
            values.external_id,
            super::now()
        ],
    )?;
    Ok(TrunkId(conn.last_insert_rowid()))
}

/// Whether the trunk was there to update.
pub fn update(conn: &Connection, config_id: ConfigId, id: TrunkId, values: &Values) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE telephony_trunks SET name = ?3, enabled = ?4, settings = ?5, external_id = ?6, updated_at = ?7
         WHERE telephony_configuration_id = ?1 AND id = ?2",
        params![
            config_id,
            id,
            values.name,
            values.enabled,
            values.settings.to_string(),
            values.external_id,
            super::now()
        ],
    )? == 1)
}

/// Whether the trunk was there; fails with a foreign-key violation while
/// numbers dial out over it.
pub fn delete(conn: &Connection, config_id: ConfigId, id: TrunkId) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "DELETE FROM telephony_trunks WHERE telephony_configuration_id = ?1 AND id = ?2",
        params![config_id, id],
    )? == 1)
}

/// The numbers that dial out over trunk `id`, active or not.
pub fn count_numbers(conn: &Connection, id: TrunkId) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT COUNT(*) FROM phone_numbers WHERE telephony_trunk_id = ?1")?
        .query_row([id], |r| r.get(0))
}

/// The carrier ids of the trunks of the configurations on `provider`
/// account `account` (one Cloudonix domain may serve several), except
/// trunk `except`'s: a carrier trunk is never recorded for two of them.
pub fn external_ids_on_account(
    conn: &Connection,
    provider: &str,
    account: &str,
    except: Option<TrunkId>,
) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.external_id FROM telephony_trunks t
         JOIN telephony_configurations c ON c.id = t.telephony_configuration_id
         WHERE c.provider = ?1 AND c.routing_account = ?2 AND t.external_id IS NOT NULL AND t.id IS NOT ?3",
    )?;
    let rows = stmt.query_map(params![provider, account, except], |r| r.get(0))?;
    rows.collect()
}

/// Forgets the carrier ids of a configuration's trunks (its account
/// changed: they name trunks of the old one). How many there were.
pub fn forget_external_ids(conn: &Connection, config_id: ConfigId) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE telephony_trunks SET external_id = NULL, updated_at = ?2
         WHERE telephony_configuration_id = ?1 AND external_id IS NOT NULL",
        params![config_id, super::now()],
    )
}
