use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::ids::{ApiKeyId, OrgId};

/// An API key as listed: never the key itself.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = APIKey)]
pub struct ApiKey {
    #[schema(value_type = i64)]
    pub id: ApiKeyId,
    pub name: String,
    /// The key's first characters, to tell keys apart.
    pub key_prefix: String,
    /// False once archived (revoked).
    pub is_active: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Refreshed at most once a minute.
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
    #[schema(format = DateTime)]
    pub archived_at: Option<String>,
}

/// What authentication needs to know about an active key.
#[derive(Debug, Clone)]
pub struct ActiveKey {
    pub id: ApiKeyId,
    pub org_id: OrgId,
    pub key_hash: Vec<u8>,
}

const COLUMNS: &str = "id, name, key_prefix, archived_at IS NULL, created_at, last_used_at, archived_at";

fn from_row(r: &Row) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: r.get(0)?,
        name: r.get(1)?,
        key_prefix: r.get(2)?,
        is_active: r.get(3)?,
        created_at: r.get(4)?,
        last_used_at: r.get(5)?,
        archived_at: r.get(6)?,
    })
}

pub fn insert(conn: &Connection, org_id: OrgId, name: &str, prefix: &str, hash: &[u8]) -> rusqlite::Result<ApiKey> {
    conn.execute(
        "INSERT INTO api_keys (org_id, name, key_prefix, key_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![org_id, name, prefix, hash, super::now()],
    )?;
    get(conn, org_id, ApiKeyId(conn.last_insert_rowid())).map(|k| k.expect("the row just inserted"))
}

pub fn get(conn: &Connection, org_id: OrgId, id: ApiKeyId) -> rusqlite::Result<Option<ApiKey>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM api_keys WHERE org_id = ?1 AND id = ?2"),
        params![org_id, id],
        from_row,
    )
    .optional()
}

/// Keys of one organization (or of all when `org_id` is `None`), by id.
pub fn list(
    conn: &Connection,
    org_id: Option<OrgId>,
    include_archived: bool,
) -> rusqlite::Result<Vec<(OrgId, ApiKey)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, org_id FROM api_keys
         WHERE (?1 IS NULL OR org_id = ?1) AND (?2 OR archived_at IS NULL) ORDER BY id"
    ))?;
    let rows = stmt.query_map(params![org_id, include_archived], |r| Ok((r.get(7)?, from_row(r)?)))?;
    rows.collect()
}

pub fn find_active(conn: &Connection, hash: &[u8]) -> rusqlite::Result<Option<ActiveKey>> {
    conn.prepare_cached("SELECT id, org_id, key_hash FROM api_keys WHERE key_hash = ?1 AND archived_at IS NULL")?
        .query_row([hash], |r| {
            Ok(ActiveKey {
                id: r.get(0)?,
                org_id: r.get(1)?,
                key_hash: r.get(2)?,
            })
        })
        .optional()
}

/// Archives (`archived = true`) or reactivates a key of `org_id`; false when it is not there.
pub fn set_archived(conn: &Connection, org_id: OrgId, id: ApiKeyId, archived: bool) -> rusqlite::Result<bool> {
    let at = archived.then(super::now);
    let changed = conn.execute(
        "UPDATE api_keys SET archived_at = ?3 WHERE org_id = ?1 AND id = ?2",
        params![org_id, id, at],
    )?;
    Ok(changed == 1)
}

/// Ids of the keys whose id is `needle`, or whose display prefix starts with it.
pub fn find_by_prefix_or_id(conn: &Connection, needle: &str) -> rusqlite::Result<Vec<(ApiKeyId, OrgId)>> {
    let mut stmt = conn.prepare(
        "SELECT id, org_id FROM api_keys
         WHERE CAST(id AS TEXT) = ?1 OR (length(?1) >= 4 AND substr(key_prefix, 1, length(?1)) = ?1)",
    )?;
    let rows = stmt.query_map([needle], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

pub fn touch(conn: &Connection, id: ApiKeyId) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
        params![id, super::now()],
    )?;
    Ok(())
}
