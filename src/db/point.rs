//! Point reads on the calling thread: a lookup of one row by key, on a
//! read-only connection that the thread owns (STYLE.md, "Blocking work off
//! the async workers"). In WAL mode such a read never waits for the writer
//! and costs microseconds, less than a hand-off to the blocking pool.

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode};

use super::DbError;
use crate::config::DatabaseConfig;

/// How long a point read waits for a lock before the caller falls back to
/// the blocking pool: the thread must stay free for other requests.
const POINT_BUSY_TIMEOUT_MS: u32 = 5;
/// How often a thread asks SQLite whether the file changed (a read
/// transaction's worth of work, so not on every request).
const CHANGES_EVERY: Duration = Duration::from_millis(1);

/// This thread's read-only connection, with the file it is open on (test
/// processes run several servers, each on its own file) and the file's
/// `data_version` when last looked at.
struct Here {
    path: PathBuf,
    conn: Connection,
    seen: Option<(i64, Instant)>,
}

thread_local! {
    static CONNECTION: RefCell<Option<Here>> = const { RefCell::new(None) };
}

/// Errors that can say SQLite was busy, so a point read can be retried on
/// the blocking pool rather than failed.
pub trait Busy {
    fn is_busy(&self) -> bool;
}

pub fn sqlite_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

impl Busy for DbError {
    fn is_busy(&self) -> bool {
        matches!(self, DbError::Sqlite(e) if sqlite_busy(e))
    }
}

/// Runs `f` on this thread's read-only connection to `config`'s file,
/// opening it on first use.
pub fn read_here<T, E, F>(config: &DatabaseConfig, f: F) -> Result<T, E>
where
    F: FnOnce(&Connection) -> Result<T, E>,
    E: From<DbError>,
{
    with_here(config, |here| f(&here.conn))
}

/// Whether another connection may have committed since this thread last
/// asked, asking SQLite at most every `CHANGES_EVERY`; a first look counts
/// as a change. This is how commits of other processes are noticed.
pub fn changed_here(config: &DatabaseConfig) -> Result<bool, DbError> {
    with_here(config, |here| {
        let now = Instant::now();
        if here.seen.is_some_and(|(_, at)| now.duration_since(at) < CHANGES_EVERY) {
            return Ok(false);
        }
        let version: i64 = here
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        let changed = here.seen.is_none_or(|(seen, _)| seen != version);
        here.seen = Some((version, now));
        Ok(changed)
    })
}

fn with_here<T, E, F>(config: &DatabaseConfig, f: F) -> Result<T, E>
where
    F: FnOnce(&mut Here) -> Result<T, E>,
    E: From<DbError>,
{
    CONNECTION.with_borrow_mut(|slot| {
        if slot.as_ref().is_none_or(|here| here.path != config.path) {
            *slot = Some(Here {
                path: config.path.clone(),
                conn: open(config)?,
                seen: None,
            });
        }
        f(slot.as_mut().expect("opened above"))
    })
}

fn open(config: &DatabaseConfig) -> Result<Connection, DbError> {
    let conn = super::connect(config)?;
    conn.execute_batch(&format!(
        "PRAGMA query_only = ON; PRAGMA busy_timeout = {POINT_BUSY_TIMEOUT_MS};"
    ))?;
    Ok(conn)
}
