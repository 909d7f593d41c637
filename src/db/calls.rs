//! The inbound router's reads (candidate configurations, the called number)
//! and the call log (INBOUND.md §1, §5, §10).

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::credentials::Credentials;
use crate::domain::ids::{CallId, ConfigId, NumberId, OrgId, WorkflowId};
use crate::inbound::Outcome;

/// A configuration an inbound request may come from.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub config_id: ConfigId,
    pub org_id: OrgId,
    pub credentials: Credentials,
}

fn candidate(r: &Row) -> rusqlite::Result<Candidate> {
    Ok(Candidate {
        config_id: r.get(0)?,
        org_id: r.get(1)?,
        credentials: super::json_column(r, 2)?,
    })
}

/// The active configurations of `provider` with routing account `account`,
/// oldest first: a parked configuration takes no calls (TRUNKS.md §5.5).
pub fn candidates(conn: &Connection, provider: &str, account: &str) -> rusqlite::Result<Vec<Candidate>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, org_id, credentials FROM telephony_configurations
         WHERE provider = ?1 AND routing_account = ?2 AND routing_account <> '' AND NOT inactive ORDER BY id",
    )?;
    let rows = stmt.query_map(params![provider, account], candidate)?;
    rows.collect()
}

/// The active configurations of `provider` that own an active number
/// `address`: the candidates when a carrier sends no account id (Plivo, §1).
pub fn candidates_by_number(conn: &Connection, provider: &str, address: &str) -> rusqlite::Result<Vec<Candidate>> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.id, c.org_id, c.credentials FROM telephony_configurations c
         JOIN phone_numbers p ON p.config_id = c.id
         WHERE p.provider = ?1 AND p.address_normalized = ?2 AND p.is_active AND NOT c.inactive ORDER BY c.id",
    )?;
    let rows = stmt.query_map(params![provider, address], candidate)?;
    rows.collect()
}

/// The called number in one of `config_ids`, with what routing it needs.
#[derive(Debug, Clone)]
pub struct CalledRow {
    pub id: NumberId,
    pub org_id: OrgId,
    pub config_id: ConfigId,
    pub is_active: bool,
    pub workflow_id: Option<WorkflowId>,
    /// Whether the bound workflow exists in the number's organization.
    pub workflow_in_org: bool,
}

fn ids_json(ids: &[ConfigId]) -> String {
    serde_json::to_string(ids).expect("integers serialize")
}

/// Numbers at `address` in the configurations `config_ids` (at most one,
/// by the routing key, unless the candidates span accounts).
pub fn called_numbers(conn: &Connection, config_ids: &[ConfigId], address: &str) -> rusqlite::Result<Vec<CalledRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.id, p.org_id, p.config_id, p.is_active, p.inbound_workflow_id, w.id IS NOT NULL
         FROM phone_numbers p LEFT JOIN workflows w ON w.id = p.inbound_workflow_id AND w.org_id = p.org_id
         WHERE p.config_id IN (SELECT value FROM json_each(?1)) AND p.address_normalized = ?2",
    )?;
    let rows = stmt.query_map(params![ids_json(config_ids), address], |r| {
        Ok(CalledRow {
            id: r.get(0)?,
            org_id: r.get(1)?,
            config_id: r.get(2)?,
            is_active: r.get(3)?,
            workflow_id: r.get(4)?,
            workflow_in_org: r.get(5)?,
        })
    })?;
    rows.collect()
}

/// The countries stored on the numbers of `config_ids`: the hints for a
/// called number in national format.
pub fn country_codes(conn: &Connection, config_ids: &[ConfigId]) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT country_code FROM phone_numbers
         WHERE config_id IN (SELECT value FROM json_each(?1)) AND country_code IS NOT NULL ORDER BY country_code",
    )?;
    let rows = stmt.query_map([ids_json(config_ids)], |r| r.get(0))?;
    rows.collect()
}

/// Whether any number is bound to a workflow (start-up warns when such
/// calls have nowhere to go).
pub fn any_bound(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM phone_numbers WHERE inbound_workflow_id IS NOT NULL AND is_active)",
        [],
        |r| r.get(0),
    )
}

/// A call-log row (§10).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct InboundCall {
    /// The call's reference (`call_ref` of the media stream URL).
    #[schema(value_type = i64)]
    pub id: CallId,
    #[schema(value_type = i64)]
    pub organization_id: OrgId,
    pub provider: String,
    /// The carrier's id of the call.
    pub call_id: String,
    #[schema(value_type = i64)]
    pub telephony_configuration_id: ConfigId,
    #[schema(value_type = Option<i64>)]
    pub phone_number_id: Option<NumberId>,
    #[schema(value_type = Option<i64>)]
    pub workflow_id: Option<WorkflowId>,
    pub from_number: Option<String>,
    /// The called number as the carrier sent it.
    pub to_number: Option<String>,
    pub to_normalized: Option<String>,
    #[schema(schema_with = Outcome::schema)]
    pub outcome: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// The values of a new row.
pub struct NewCall<'a> {
    pub org_id: OrgId,
    pub provider: &'a str,
    pub call_id: &'a str,
    pub config_id: ConfigId,
    pub phone_number_id: Option<NumberId>,
    pub workflow_id: Option<WorkflowId>,
    pub from_number: Option<&'a str>,
    pub to_number: Option<&'a str>,
    pub to_normalized: Option<&'a str>,
    pub outcome: &'a str,
}

const SELECT: &str = "SELECT id, org_id, provider, call_id, telephony_configuration_id, phone_number_id, workflow_id,
        from_number, to_number, to_normalized, outcome, created_at FROM inbound_calls";

fn from_row(r: &Row) -> rusqlite::Result<InboundCall> {
    Ok(InboundCall {
        id: r.get(0)?,
        organization_id: r.get(1)?,
        provider: r.get(2)?,
        call_id: r.get(3)?,
        telephony_configuration_id: r.get(4)?,
        phone_number_id: r.get(5)?,
        workflow_id: r.get(6)?,
        from_number: r.get(7)?,
        to_number: r.get(8)?,
        to_normalized: r.get(9)?,
        outcome: r.get(10)?,
        created_at: r.get(11)?,
    })
}

/// The recorded call `(provider, call_id)`, whichever organization it is in.
pub fn find(conn: &Connection, provider: &str, call_id: &str) -> rusqlite::Result<Option<InboundCall>> {
    conn.prepare_cached(&format!("{SELECT} WHERE provider = ?1 AND call_id = ?2"))?
        .query_row(params![provider, call_id], from_row)
        .optional()
}

pub fn insert(conn: &Connection, call: &NewCall) -> rusqlite::Result<InboundCall> {
    conn.prepare_cached(
        "INSERT INTO inbound_calls (org_id, provider, call_id, telephony_configuration_id, phone_number_id,
             workflow_id, from_number, to_number, to_normalized, outcome, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        call.org_id,
        call.provider,
        call.call_id,
        call.config_id,
        call.phone_number_id,
        call.workflow_id,
        call.from_number,
        call.to_number,
        call.to_normalized,
        call.outcome,
        super::now()
    ])?;
    let id = CallId(conn.last_insert_rowid());
    conn.prepare_cached(&format!("{SELECT} WHERE id = ?1"))?
        .query_row([id], from_row)
}

/// What the list shows; `None` is no filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub before_id: Option<CallId>,
    pub outcome: Option<String>,
    pub phone_number_id: Option<NumberId>,
    pub workflow_id: Option<WorkflowId>,
    pub limit: i64,
}

/// `org_id`'s calls matching `filter`, newest first.
pub fn list(conn: &Connection, org_id: OrgId, filter: &Filter) -> rusqlite::Result<Vec<InboundCall>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE org_id = ?1 AND (?2 IS NULL OR id < ?2) AND (?3 IS NULL OR outcome = ?3)
           AND (?4 IS NULL OR phone_number_id = ?4) AND (?5 IS NULL OR workflow_id = ?5)
         ORDER BY id DESC LIMIT ?6"
    ))?;
    let rows = stmt.query_map(
        params![
            org_id,
            filter.before_id,
            filter.outcome,
            filter.phone_number_id,
            filter.workflow_id,
            filter.limit
        ],
        from_row,
    )?;
    rows.collect()
}

pub fn get(conn: &Connection, org_id: OrgId, id: CallId) -> rusqlite::Result<Option<InboundCall>> {
    conn.prepare_cached(&format!("{SELECT} WHERE org_id = ?1 AND id = ?2"))?
        .query_row(params![org_id, id], from_row)
        .optional()
}

/// Deletes up to `batch` rows created before `cutoff` (an RFC 3339 time as
/// stored); returns how many went.
pub fn purge_before(conn: &Connection, cutoff: &str, batch: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM inbound_calls WHERE id IN
             (SELECT id FROM inbound_calls WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
        params![cutoff, batch],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrate(&mut conn).unwrap();
        conn.execute("INSERT INTO organizations (name, created_at) VALUES ('o', 'now')", [])
            .unwrap();
        conn
    }

    fn call(conn: &Connection, call_id: &str) -> InboundCall {
        insert(
            conn,
            &NewCall {
                org_id: OrgId(1),
                provider: "twilio",
                call_id,
                config_id: ConfigId(1),
                phone_number_id: None,
                workflow_id: None,
                from_number: None,
                to_number: Some("+1"),
                to_normalized: None,
                outcome: "number_not_configured",
            },
        )
        .unwrap()
    }

    #[test]
    fn a_call_id_is_recorded_once_per_provider() {
        let conn = db();
        let first = call(&conn, "CA1");
        assert!(insert(
            &conn,
            &NewCall {
                call_id: "CA1",
                ..NewCall {
                    org_id: OrgId(1),
                    provider: "twilio",
                    call_id: "",
                    config_id: ConfigId(1),
                    phone_number_id: None,
                    workflow_id: None,
                    from_number: None,
                    to_number: None,
                    to_normalized: None,
                    outcome: "routed",
                }
            }
        )
        .is_err());
        assert_eq!(find(&conn, "twilio", "CA1").unwrap(), Some(first));
        assert_eq!(find(&conn, "plivo", "CA1").unwrap(), None);
    }

    #[test]
    fn purging_removes_only_old_rows_in_batches() {
        let conn = db();
        for i in 0..5 {
            call(&conn, &format!("CA{i}"));
        }
        conn.execute(
            "UPDATE inbound_calls SET created_at = '2000-01-01T00:00:00.000000Z' WHERE id <= 3",
            [],
        )
        .unwrap();
        let cutoff = "2001-01-01T00:00:00.000000Z";
        assert_eq!(purge_before(&conn, cutoff, 2).unwrap(), 2);
        assert_eq!(purge_before(&conn, cutoff, 2).unwrap(), 1);
        assert_eq!(purge_before(&conn, cutoff, 2).unwrap(), 0);
        let left = list(
            &conn,
            OrgId(1),
            &Filter {
                limit: 10,
                ..Filter::default()
            },
        )
        .unwrap();
        assert_eq!(left.iter().map(|c| c.id).collect::<Vec<_>>(), [CallId(5), CallId(4)]);
    }
}
