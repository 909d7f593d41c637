use rusqlite::{params, Connection, OptionalExtension, Row};

use super::Page;
use crate::domain::credentials::Credentials;
use crate::domain::ids::{ConfigId, OrgId};

/// A stored telephony configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub id: ConfigId,
    pub name: String,
    pub credentials: Credentials,
    pub is_default_outbound: bool,
    /// Active phone numbers (the caller-id step of the setup checklist).
    pub active_numbers: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// Credentials are sealed in the file (`db::sealed`); SQL opens them.
const SELECT: &str = "SELECT c.id, c.name, open_credentials(c.org_id, c.id, c.credentials), c.is_default_outbound,
        (SELECT COUNT(*) FROM phone_numbers p WHERE p.config_id = c.id AND p.is_active), c.created_at, c.updated_at
     FROM telephony_configurations c";

fn from_row(r: &Row) -> rusqlite::Result<Config> {
    Ok(Config {
        id: r.get(0)?,
        name: r.get(1)?,
        credentials: super::json_column(r, 2)?,
        is_default_outbound: r.get(3)?,
        active_numbers: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

/// A page of an organization's configurations, as `phone_numbers::list`;
/// `q` is a case-sensitive substring of the name.
pub fn list(conn: &Connection, org_id: OrgId, page: &Page<ConfigId>) -> rusqlite::Result<Vec<Config>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE c.org_id = ?1
           AND (?2 IS NULL OR (c.created_at, c.id) >
                (SELECT a.created_at, a.id FROM telephony_configurations a WHERE a.org_id = ?1 AND a.id = ?2))
           AND (?3 IS NULL OR instr(c.name, ?3))
         ORDER BY c.created_at, c.id LIMIT ?4"
    ))?;
    let rows = stmt.query_map(params![org_id, page.after_id, page.q, page.sql_limit()], from_row)?;
    rows.collect()
}

pub fn get(conn: &Connection, org_id: OrgId, id: ConfigId) -> rusqlite::Result<Option<Config>> {
    conn.prepare_cached(&format!("{SELECT} WHERE c.org_id = ?1 AND c.id = ?2"))?
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
/// The credentials are sealed to the new row's id, so they are written once
/// it has one, in the caller's transaction.
pub fn insert(conn: &Connection, org_id: OrgId, name: &str, credentials: &Credentials) -> rusqlite::Result<ConfigId> {
    let now = super::now();
    conn.execute(
        "INSERT INTO telephony_configurations
             (org_id, name, provider, routing_account, credentials, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, x'', ?5, ?5)",
        params![
            org_id,
            name,
            credentials.kind().as_str(),
            credentials.routing_account(),
            now
        ],
    )?;
    let id = ConfigId(conn.last_insert_rowid());
    conn.execute(
        "UPDATE telephony_configurations SET credentials = seal_credentials(org_id, id, ?2) WHERE id = ?1",
        params![id, credentials.to_stored().to_string()],
    )?;
    Ok(id)
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
         SET name = ?3, routing_account = ?4, credentials = seal_credentials(org_id, id, ?5), updated_at = ?6
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
