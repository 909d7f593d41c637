//! SQL only: plain synchronous functions over a `rusqlite::Connection`.
//! Callers run them off the async workers and own the transactions.

pub mod api_keys;
pub mod calls;
pub mod configs;
mod database;
pub mod orgs;
pub mod phone_numbers;
pub mod workflows;
pub mod writer;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, TransactionBehavior};

pub use self::database::Database;
use crate::config::DatabaseConfig;

pub type Pool = r2d2::Pool<SqliteConnectionManager>;

const SCHEMA: &str = include_str!("../../schema.sql");
const VERSION_MARK: &str = "-- version: ";
/// How long a writer waits for the file lock before giving up.
const BUSY_TIMEOUT_MS: u32 = 5000;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database schema version {found} is newer than this telebind supports ({supported}); upgrade telebind")]
    TooNew { found: u32, supported: u32 },
    #[error("database write: {0}")]
    Write(String),
    #[error("database work panicked: {0}")]
    Panicked(String),
}

/// Opens (creating if needed) and upgrades the database, then pools connections to it.
pub fn open(config: &DatabaseConfig) -> Result<Pool, DbError> {
    let synchronous = config.synchronous.pragma();
    let manager = SqliteConnectionManager::file(&config.path).with_init(move |c| {
        c.execute_batch(&format!(
            "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA synchronous = {synchronous};"
        ))
    });
    let pool = r2d2::Pool::builder().max_size(config.pool_size).build(manager)?;
    let mut conn = pool.get()?;
    conn.execute_batch("PRAGMA journal_mode = WAL;")?;
    migrate(&mut conn)?;
    Ok(pool)
}

/// The schema's steps as `(version, sql)`, in order: each starts at a line
/// that begins with `-- version: N`.
fn steps() -> Vec<(u32, String)> {
    let mut steps: Vec<(u32, String)> = Vec::new();
    for line in SCHEMA.lines() {
        if let Some(number) = line.strip_prefix(VERSION_MARK) {
            let version = number
                .trim()
                .parse()
                .expect("schema.sql: `-- version: N` needs a number");
            steps.push((version, String::new()));
        } else if let Some((_, sql)) = steps.last_mut() {
            sql.push_str(line);
            sql.push('\n');
        }
    }
    steps
}

/// The schema version this build writes.
pub fn latest_version() -> u32 {
    steps().last().map_or(0, |(v, _)| *v)
}

/// Applies every step newer than the file's `user_version`, each in its own
/// transaction, so an interrupted upgrade resumes where it stopped.
pub fn migrate(conn: &mut Connection) -> Result<(), DbError> {
    migrate_to(conn, latest_version())
}

/// Upgrades to `target` only; tests use it to build files of older versions.
pub fn migrate_to(conn: &mut Connection, target: u32) -> Result<(), DbError> {
    for (version, sql) in steps().into_iter().filter(|(v, _)| *v <= target) {
        // Immediate: a CLI and a server starting together must not both upgrade.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if current > latest_version() {
            return Err(DbError::TooNew {
                found: current,
                supported: latest_version(),
            });
        }
        if current < version {
            tx.execute_batch(&sql)?;
            tx.pragma_update(None, "user_version", version)?;
            log::info!("database upgraded to schema version {version}");
        }
        tx.commit()?;
    }
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > latest_version() {
        return Err(DbError::TooNew {
            found: current,
            supported: latest_version(),
        });
    }
    Ok(())
}

/// The unique indexes whose violations the API answers with a 409.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    ConfigName,
    NumberInOrg,
    RoutingKey,
}

impl Unique {
    const ALL: [Unique; 3] = [Unique::ConfigName, Unique::NumberInOrg, Unique::RoutingKey];

    /// The columns SQLite names when this index is violated.
    fn columns(self) -> &'static str {
        match self {
            Unique::ConfigName => "telephony_configurations.org_id, telephony_configurations.name",
            Unique::NumberInOrg => "phone_numbers.org_id, phone_numbers.address_normalized",
            Unique::RoutingKey => {
                "phone_numbers.provider, phone_numbers.routing_account, phone_numbers.address_normalized"
            }
        }
    }
}

/// Which of our unique indexes `error` violated, if any.
pub fn violated(error: &rusqlite::Error) -> Option<Unique> {
    match error {
        rusqlite::Error::SqliteFailure(e, Some(message))
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            let columns = message.strip_prefix("UNIQUE constraint failed: ")?;
            Unique::ALL.into_iter().find(|u| u.columns() == columns)
        }
        _ => None,
    }
}

/// Column `idx` of `row`, a JSON text, read as `T`.
fn json_column<T: serde::de::DeserializeOwned>(row: &rusqlite::Row, idx: usize) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}

/// The current time as stored and returned: RFC 3339, UTC, microseconds, `Z`.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_steps_are_numbered_one_up_from_one() {
        let versions: Vec<u32> = steps().iter().map(|(v, _)| *v).collect();
        let expected: Vec<u32> = (1..=versions.len() as u32).collect();
        assert_eq!(versions, expected);
    }

    #[test]
    fn a_new_database_gets_the_latest_version_and_migrating_again_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, latest_version());
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", latest_version() + 1).unwrap();
        assert!(matches!(migrate(&mut conn), Err(DbError::TooNew { .. })));
    }

    #[test]
    fn timestamps_are_utc_with_microseconds_and_z() {
        let t = now();
        assert!(
            t.ends_with('Z') && t.len() == "2026-11-28T23:50:46.123456Z".len(),
            "{t}"
        );
    }
}
