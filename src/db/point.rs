//! Point reads on the calling thread: a lookup of one row by key, on a
//! read-only connection that the thread owns (STYLE.md, "Blocking work off
//! the async workers"). In WAL mode such a read never waits for the writer
//! and costs microseconds, less than a hand-off to the blocking pool.

use std::cell::RefCell;
use std::path::PathBuf;

use rusqlite::{Connection, ErrorCode};

use super::{DbError, Store};

/// How long a point read waits for a lock before the caller falls back to
/// the blocking pool: the thread must stay free for other requests.
const POINT_BUSY_TIMEOUT_MS: u32 = 5;

thread_local! {
    /// This thread's read-only connection, with the file it is open on
    /// (test processes run several servers, each on its own file).
    static CONNECTION: RefCell<Option<(PathBuf, Connection)>> = const { RefCell::new(None) };
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

/// Runs `f` on this thread's read-only connection to `store`'s file,
/// opening it on first use.
pub fn read_here<T, E, F>(store: &Store, f: F) -> Result<T, E>
where
    F: FnOnce(&Connection) -> Result<T, E>,
    E: From<DbError>,
{
    CONNECTION.with_borrow_mut(|slot| {
        let path = &store.config().path;
        if slot.as_ref().is_none_or(|(open, _)| open != path) {
            *slot = Some((path.clone(), open(store)?));
        }
        let (_, conn) = slot.as_ref().expect("opened above");
        f(conn)
    })
}

fn open(store: &Store) -> Result<Connection, DbError> {
    let conn = store.connect()?;
    conn.execute_batch(&format!(
        "PRAGMA query_only = ON; PRAGMA busy_timeout = {POINT_BUSY_TIMEOUT_MS};"
    ))?;
    Ok(conn)
}
