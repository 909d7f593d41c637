//! `telebind backup` and `telebind restore`: a consistent copy of the live
//! database in one file, and putting such a copy in place of the database.
//!
//! Copying `telebind.db` alone is wrong while anything has it open: in WAL
//! mode the latest transactions live in `telebind.db-wal` until a
//! checkpoint, so the file alone may hold none of them. A backup reads the
//! database through SQLite (its online backup API, one read transaction:
//! writers go on), so it sees exactly what was committed when it started.

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{latest_version, schema_version, sealed, DbError, Lock};
use crate::config::Config;
use crate::secrets::{self, aside_path, sync_dir, with_suffix};

/// A copy written and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub path: PathBuf,
    pub bytes: u64,
    pub schema_version: u32,
}

/// Writes a copy of the database open on `conn` (whose file is `database`)
/// to `dest`: into a file beside `dest` first, checked with
/// `integrity_check`, made durable, then renamed over `dest`, so `dest` is
/// never half written. The copy is one self-contained file (no `-wal`).
pub fn backup(conn: &Connection, database: &Path, dest: &Path) -> Result<Copied, DbError> {
    let unusable = |reason: String| DbError::Unusable {
        path: dest.to_path_buf(),
        reason,
    };
    if same_file(database, dest) {
        return Err(unusable("is the database itself; back it up to another path".into()));
    }
    let partial = aside_path(dest, "partial");
    let written = (|| -> Result<u32, DbError> {
        let mut out = Connection::open(&partial)?;
        copy(conn, &mut out)?;
        out.execute_batch("PRAGMA journal_mode = DELETE;")?;
        let version = check(&out, &partial)?;
        out.close().map_err(|(_, e)| e)?;
        fs::File::open(&partial)
            .and_then(|f| f.sync_all())
            .map_err(|e| unusable(format!("cannot be written: {e}")))?;
        fs::rename(&partial, dest).map_err(|e| unusable(format!("cannot be written: {e}")))?;
        sync_dir(dest);
        Ok(version)
    })();
    let schema_version = written.inspect_err(|_| {
        let _ = fs::remove_file(&partial);
    })?;
    Ok(Copied {
        path: dest.to_path_buf(),
        bytes: fs::metadata(dest).map(|m| m.len()).unwrap_or(0),
        schema_version,
    })
}

/// Every page of `from` into `to`, in one step, so the copy is one snapshot.
fn copy(from: &Connection, to: &mut Connection) -> Result<(), DbError> {
    let backup = Backup::new(from, to)?;
    loop {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            // A writer held a lock a moment: try again.
            _ => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}

/// The copy at `path` on `conn` is whole and a telebind database this build
/// can open; its schema version.
fn check(conn: &Connection, path: &Path) -> Result<u32, DbError> {
    let unusable = |reason: String| DbError::Unusable {
        path: path.to_path_buf(),
        reason,
    };
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| unusable(format!("not a SQLite database ({e})")))?;
    if integrity != "ok" {
        return Err(unusable(format!("fails integrity_check: {integrity}")));
    }
    match schema_version(conn)? {
        0 => Err(unusable("holds no telebind data".into())),
        v if v > latest_version() => Err(DbError::TooNew {
            found: v,
            supported: latest_version(),
        }),
        v => Ok(v),
    }
}

/// Whether `a` and `b` name the same file (or `b` is a file SQLite keeps beside `a`).
fn same_file(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| -> Option<PathBuf> {
        let dir = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Some(dir.canonicalize().ok()?.join(p.file_name()?))
    };
    let (Some(a), Some(b)) = (canonical(a), canonical(b)) else {
        return false;
    };
    ["", "-wal", "-shm", ".lock"]
        .iter()
        .any(|suffix| with_suffix(&a, suffix) == b)
}

/// What `restore` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub copied: Copied,
    /// Where the database it replaced was saved, when there was one.
    pub previous: Option<PathBuf>,
}

/// Puts the backup at `from` in place of the configured database. Refused
/// while any telebind process has the database open (`Lock`): it takes the
/// lock exclusively for its whole run. The backup is copied beside the
/// database and checked there (integrity, schema version, and that the
/// configured key opens its credentials); the database it replaces is
/// first saved, through SQLite, as `<database>.pre-restore`; then the old
/// `-wal` and `-shm` go (SQLite would replay that WAL onto the restored
/// file) and the copy is renamed into place.
pub fn restore(config: &Config, from: &Path) -> Result<Restored, DbError> {
    let database = &config.database.path;
    if same_file(database, from) {
        return Err(DbError::Unusable {
            path: from.to_path_buf(),
            reason: "is the database itself".into(),
        });
    }
    if !from.is_file() {
        return Err(DbError::Unusable {
            path: from.to_path_buf(),
            reason: "does not exist".into(),
        });
    }
    let _lock = super::lock(database, Lock::Exclusive)?;
    let incoming = aside_path(database, "restoring");
    let result = (|| -> Result<Restored, DbError> {
        fs::copy(from, &incoming).map_err(|e| DbError::Unusable {
            path: from.to_path_buf(),
            reason: format!("cannot be copied beside the database: {e}"),
        })?;
        let schema_version = {
            let conn = Connection::open_with_flags(&incoming, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
            let version = check(&conn, from)?;
            // The key it was sealed with must be at hand, or nothing could use it.
            if sealed::has_key_check(&conn)? {
                let sealer = secrets::load(&config.security, database, false)?;
                sealed::opens(&conn, &sealer, from)?;
            }
            conn.execute_batch("PRAGMA journal_mode = WAL;")?;
            version
        };
        fs::File::open(&incoming)
            .and_then(|f| f.sync_all())
            .map_err(|e| DbError::Unusable {
                path: database.to_path_buf(),
                reason: format!("cannot write beside it: {e}"),
            })?;
        let previous = save_previous(database)?;
        for suffix in ["-wal", "-shm"] {
            match fs::remove_file(with_suffix(database, suffix)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(DbError::Unusable {
                        path: database.to_path_buf(),
                        reason: format!("cannot remove its {suffix} file: {e}"),
                    })
                }
                _ => {}
            }
        }
        fs::rename(&incoming, database).map_err(|e| DbError::Unusable {
            path: database.to_path_buf(),
            reason: format!("cannot be replaced: {e}"),
        })?;
        sync_dir(database);
        Ok(Restored {
            copied: Copied {
                path: database.to_path_buf(),
                bytes: fs::metadata(database).map(|m| m.len()).unwrap_or(0),
                schema_version,
            },
            previous,
        })
    })();
    result.inspect_err(|_| {
        let _ = fs::remove_file(&incoming);
    })
}

/// The database about to be replaced, kept as `<database>.pre-restore`: a
/// backup of it, or, when SQLite cannot read it (a restore is often for a
/// damaged file), the file itself and its `-wal` moved aside unchanged.
fn save_previous(database: &Path) -> Result<Option<PathBuf>, DbError> {
    if !database.exists() {
        return Ok(None);
    }
    let saved = with_suffix(database, ".pre-restore");
    let backed_up = Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(DbError::from)
        .and_then(|conn| backup(&conn, database, &saved));
    if backed_up.is_err() {
        let moved = |from: &Path, to: &Path| match fs::rename(from, to) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(DbError::Unusable {
                path: database.to_path_buf(),
                reason: format!("cannot be kept aside as {}: {e}", to.display()),
            }),
            _ => Ok(()),
        };
        moved(&with_suffix(database, "-wal"), &with_suffix(&saved, "-wal"))?;
        moved(database, &saved)?;
    }
    Ok(Some(saved))
}
