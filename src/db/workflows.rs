use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::ids::{OrgId, WorkflowId};

/// A voice workflow numbers can be bound to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Workflow {
    #[schema(value_type = i64)]
    pub id: WorkflowId,
    pub name: String,
    /// Phone numbers bound to it (active or not).
    pub phone_number_count: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

const SELECT: &str = "SELECT w.id, w.name,
        (SELECT COUNT(*) FROM phone_numbers p WHERE p.inbound_workflow_id = w.id), w.created_at, w.updated_at
     FROM workflows w";

fn from_row(r: &Row) -> rusqlite::Result<Workflow> {
    Ok(Workflow {
        id: r.get(0)?,
        name: r.get(1)?,
        phone_number_count: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

pub fn list(conn: &Connection, org_id: OrgId) -> rusqlite::Result<Vec<Workflow>> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE w.org_id = ?1 ORDER BY w.id"))?;
    let rows = stmt.query_map([org_id], from_row)?;
    rows.collect()
}

pub fn get(conn: &Connection, org_id: OrgId, id: WorkflowId) -> rusqlite::Result<Option<Workflow>> {
    conn.prepare_cached(&format!("{SELECT} WHERE w.org_id = ?1 AND w.id = ?2"))?
        .query_row(params![org_id, id], from_row)
        .optional()
}

pub fn insert(conn: &Connection, org_id: OrgId, name: &str) -> rusqlite::Result<Workflow> {
    let now = super::now();
    conn.execute(
        "INSERT INTO workflows (org_id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
        params![org_id, name, now],
    )?;
    Ok(get(conn, org_id, WorkflowId(conn.last_insert_rowid()))?.expect("the row just inserted"))
}

/// Renames; `None` when the workflow is not in `org_id`.
pub fn rename(conn: &Connection, org_id: OrgId, id: WorkflowId, name: &str) -> rusqlite::Result<Option<Workflow>> {
    let changed = conn.execute(
        "UPDATE workflows SET name = ?3, updated_at = ?4 WHERE org_id = ?1 AND id = ?2",
        params![org_id, id, name, super::now()],
    )?;
    if changed == 0 {
        return Ok(None);
    }
    get(conn, org_id, id)
}

pub fn delete(conn: &Connection, org_id: OrgId, id: WorkflowId) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "DELETE FROM workflows WHERE org_id = ?1 AND id = ?2",
        params![org_id, id],
    )? == 1)
}
