use rusqlite::{params, Connection, OptionalExtension};

use crate::domain::ids::OrgId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    pub id: OrgId,
    pub name: String,
}

pub fn find_by_name(conn: &Connection, name: &str) -> rusqlite::Result<Option<Org>> {
    conn.query_row("SELECT id, name FROM organizations WHERE name = ?1", [name], |r| {
        Ok(Org {
            id: r.get(0)?,
            name: r.get(1)?,
        })
    })
    .optional()
}

/// Creates the organization; a taken name is a unique-constraint error.
pub fn insert(conn: &Connection, name: &str) -> rusqlite::Result<Org> {
    conn.execute(
        "INSERT INTO organizations (name, created_at) VALUES (?1, ?2)",
        params![name, super::now()],
    )?;
    Ok(Org {
        id: OrgId(conn.last_insert_rowid()),
        name: name.to_string(),
    })
}

pub fn find_or_insert(conn: &Connection, name: &str) -> rusqlite::Result<Org> {
    match find_by_name(conn, name)? {
        Some(org) => Ok(org),
        None => insert(conn, name),
    }
}

pub fn is_empty(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM organizations)", [], |r| r.get(0))
}

/// Every organization, by id.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<Org>> {
    let mut stmt = conn.prepare("SELECT id, name FROM organizations ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok(Org {
            id: r.get(0)?,
            name: r.get(1)?,
        })
    })?;
    rows.collect()
}
