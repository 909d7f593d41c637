//! SQL only: plain synchronous functions over a `rusqlite::Connection`.
//! Callers run them off the async workers and own the transactions.

pub mod api_keys;
pub mod cache;
pub mod calls;
pub mod configs;
mod database;
pub mod last_push;
pub mod orgs;
pub mod phone_numbers;
pub mod point;
pub mod trunks;
pub mod workflows;
pub mod writer;

use std::path::{Path, PathBuf};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

pub use self::database::Database;
use self::writer::WriteError;
use crate::config::{DatabaseConfig, Synchronous};
use crate::domain::address::AddressType;
use crate::domain::ids::{ApiKeyId, CallId, ConfigId, Id, NumberId, OrgId, TrunkId, WorkflowId};

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
    Write(#[from] WriteError),
    #[error("database work panicked: {0}")]
    Panicked(String),
    #[error("cannot start the database writer: {0}")]
    Writer(std::io::Error),
    /// The file cannot serve as telebind's database; said before any pool exists.
    #[error("database {}: {reason}", path.display())]
    Unusable { path: PathBuf, reason: String },
}

/// Which part of a list to read: rows after `after_id` in the list's order
/// (none when that row is not in the list), those whose text contains `q`,
/// at most `limit` (all when `None`).
#[derive(Debug, Clone, Default)]
pub struct Page<I> {
    pub limit: Option<u32>,
    pub after_id: Option<I>,
    pub q: Option<String>,
}

impl<I> Page<I> {
    /// The SQL `LIMIT`: one row more than the page, to tell whether a next
    /// page exists; -1 is no limit.
    fn sql_limit(&self) -> i64 {
        self.limit.map_or(-1, |n| i64::from(n) + 1)
    }
}

/// Ids bind and read as the integers they wrap, so queries take and return
/// them as they are.
macro_rules! sql_ids {
    ($($name:ty),*) => {$(
        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.get()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                i64::column_result(value).map(<$name>::new)
            }
        }
    )*};
}

sql_ids!(OrgId, ConfigId, NumberId, WorkflowId, ApiKeyId, CallId, TrunkId);

/// Address types are stored by name; an unknown name is a corrupt row.
impl ToSql for AddressType {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for AddressType {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let name = value.as_str()?;
        AddressType::from_db(name).ok_or_else(|| FromSqlError::Other(format!("unknown address type {name:?}").into()))
    }
}

/// Whether opening may create the database file. Only `serve` does: a CLI
/// command given a wrong path must not leave an empty database behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    IfMissing,
    Never,
}

/// What opening found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// The file did not exist and was made.
    pub created: bool,
    pub schema_version: u32,
}

/// Opens (creating if needed) and upgrades the database, then pools connections to it.
pub fn open(config: &DatabaseConfig) -> Result<Pool, DbError> {
    open_with(config, Create::IfMissing).map(|(pool, _)| pool)
}

/// Checks and upgrades the database on one connection first, so a wrong path,
/// a read-only file or a file that is not SQLite fails at once, as one
/// `Unusable` naming the path and the reason (a pool would retry a failing
/// connection until its time-out); then pools connections to it.
pub fn open_with(config: &DatabaseConfig, create: Create) -> Result<(Pool, Opened), DbError> {
    let opened = prepare(config, create)?;
    let synchronous = config.synchronous;
    let manager = SqliteConnectionManager::file(&config.path).with_init(move |c| configure(c, synchronous));
    let pool = r2d2::Pool::builder().max_size(config.pool_size).build(manager)?;
    Ok((pool, opened))
}

fn prepare(config: &DatabaseConfig, create: Create) -> Result<Opened, DbError> {
    let path = &config.path;
    let unusable = |reason: String| DbError::Unusable {
        path: path.clone(),
        reason,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(unusable(format!("directory {} does not exist", dir.display())));
    }
    let created = match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => return Err(unusable("is a directory, not a file".into())),
        Ok(_) => false,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match create {
            Create::IfMissing => true,
            Create::Never => {
                return Err(unusable(
                    "does not exist (only `telebind serve` creates a database)".into(),
                ))
            }
        },
        Err(e) => return Err(unusable(e.to_string())),
    };
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if created {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let upgrade = || -> Result<u32, DbError> {
        let mut conn = Connection::open_with_flags(path, flags)?;
        // SQLite opens a write-protected file read-only without a word.
        if conn.is_readonly(rusqlite::MAIN_DB)? {
            return Err(unusable(read_only(dir)));
        }
        configure(&conn, config.synchronous)?;
        conn.execute_batch("PRAGMA journal_mode = WAL;")?;
        migrate(&mut conn)?;
        Ok(schema_version(&conn)?)
    };
    let schema_version = upgrade().map_err(|e| match e {
        DbError::Unusable { .. } => e,
        e => unusable(why_unusable(&e, dir, created)),
    })?;
    Ok(Opened {
        created,
        schema_version,
    })
}

fn read_only(dir: &Path) -> String {
    format!("read-only: {}", needs_writes(dir))
}

/// WAL mode writes files beside the database, so the directory counts too.
fn needs_writes(dir: &Path) -> String {
    format!(
        "telebind must be able to write the file and its directory {}",
        dir.display()
    )
}

/// The reason, said for a self-hoster, that the database could not be opened.
fn why_unusable(error: &DbError, dir: &Path, creating: bool) -> String {
    let code = match error {
        DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => e.code,
        other => return other.to_string(),
    };
    match code {
        ErrorCode::NotADatabase => "not a SQLite database".into(),
        ErrorCode::ReadOnly => read_only(dir),
        ErrorCode::CannotOpen if creating => {
            format!("cannot be created: the directory {} is not writable", dir.display())
        }
        ErrorCode::CannotOpen => format!("cannot be opened for writing: {}", needs_writes(dir)),
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => "locked by another process".into(),
        _ => error.to_string(),
    }
}

/// One connection outside the pool, configured as the pool's are.
pub fn connect(config: &DatabaseConfig) -> Result<Connection, DbError> {
    let conn = Connection::open(&config.path)?;
    configure(&conn, config.synchronous)?;
    Ok(conn)
}

fn configure(conn: &Connection, synchronous: Synchronous) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA synchronous = {};",
        synchronous.pragma()
    ))
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

/// The schema version of the open database.
pub fn schema_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Applies every step newer than the file's `user_version`, each in its own
/// transaction, so an interrupted upgrade resumes where it stopped.
pub fn migrate(conn: &mut Connection) -> Result<(), DbError> {
    migrate_to(conn, latest_version())
}

/// Upgrades to `target` only; tests use it to build files of older versions.
pub fn migrate_to(conn: &mut Connection, target: u32) -> Result<(), DbError> {
    // A new file's steps are its creation, which start-up reports once.
    let upgrading: bool = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, u32>(0))? > 0;
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
            if upgrading {
                log::info!("database upgraded to schema version {version}");
            }
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
    /// `uq_telephony_trunks_config_name`.
    TrunkName,
}

impl Unique {
    const ALL: [Unique; 4] = [
        Unique::ConfigName,
        Unique::NumberInOrg,
        Unique::RoutingKey,
        Unique::TrunkName,
    ];

    /// The columns SQLite names when this index is violated.
    fn columns(self) -> &'static str {
        match self {
            Unique::ConfigName => "telephony_configurations.org_id, telephony_configurations.name",
            Unique::NumberInOrg => "phone_numbers.org_id, phone_numbers.address_normalized",
            Unique::RoutingKey => {
                "phone_numbers.provider, phone_numbers.routing_account, phone_numbers.address_normalized"
            }
            Unique::TrunkName => "telephony_trunks.telephony_configuration_id, telephony_trunks.name",
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
    fn ids_bind_and_read_as_their_integers() {
        let conn = Connection::open_in_memory().unwrap();
        let (id, raw): (NumberId, i64) = conn
            .query_row("SELECT ?1, ?1 + 0", [NumberId(42)], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((id, raw), (NumberId(42), 42));
        let none: Option<WorkflowId> = conn.query_row("SELECT NULL", [], |r| r.get(0)).unwrap();
        assert_eq!(none, None);
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
