//! The credentials column codec: `telephony_configurations.credentials`
//! holds the credentials JSON sealed with the database's key, bound to the
//! organization and configuration ids (a row copied onto another
//! configuration does not open). Every connection gets two SQL functions,
//! `seal_credentials(org_id, id, json)` and `open_credentials(org_id, id,
//! sealed)`, so queries read and write the column as before and nothing
//! else in the program sees a sealed value; this file also keeps the key
//! check, the upgrade of plaintext rows, and re-keying.

use std::path::Path;
use std::sync::Arc;

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::DbError;
use crate::config::SecurityConfig;
use crate::domain::credentials::Credentials;
use crate::scrub::Scrubber;
use crate::secrets::{self, NotOpened, Sealer};

/// Associated data of the key check, and what it seals.
const CHECK_AAD: &[u8] = b"telebind key check v1";
const CHECK_PLAINTEXT: &[u8] = b"telebind";

/// Associated data of one configuration's credentials.
fn credentials_aad(org_id: i64, config_id: i64) -> Vec<u8> {
    format!("telebind credentials v1 org {org_id} config {config_id}").into_bytes()
}

pub fn seal_credentials(sealer: &Sealer, org_id: i64, config_id: i64, json: &str) -> Vec<u8> {
    sealer.seal(&credentials_aad(org_id, config_id), json.as_bytes())
}

pub fn open_credentials(sealer: &Sealer, org_id: i64, config_id: i64, sealed: &[u8]) -> Result<String, NotOpened> {
    let plain = sealer.open(&credentials_aad(org_id, config_id), sealed)?;
    String::from_utf8(plain).map_err(|_| NotOpened)
}

/// Gives `conn` the two SQL functions of the codec, under `sealer`'s key.
pub fn register(conn: &Connection, sealer: &Arc<Sealer>) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY;
    let ids = |ctx: &Context| -> rusqlite::Result<(i64, i64)> { Ok((ctx.get(0)?, ctx.get(1)?)) };
    let seal = Arc::clone(sealer);
    conn.create_scalar_function("seal_credentials", 3, flags, move |ctx| {
        let (org, id) = ids(ctx)?;
        Ok(seal_credentials(&seal, org, id, &ctx.get::<String>(2)?))
    })?;
    let open = Arc::clone(sealer);
    conn.create_scalar_function(
        "open_credentials",
        3,
        flags | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            let (org, id) = ids(ctx)?;
            // A TEXT value is a plaintext row, which no open database keeps.
            let sealed = ctx.get::<Vec<u8>>(2).map_err(|_| user_error(NotOpened))?;
            open_credentials(&open, org, id, &sealed).map_err(user_error)
        },
    )
}

fn user_error(e: NotOpened) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(Box::new(e))
}

/// What `unlock` found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Unlocked {
    /// Plaintext configurations sealed now (a database from before sealing).
    pub sealed_now: usize,
}

/// Loads the key of the database on `conn` (already at the latest schema)
/// and proves it: the key-check row must open with it, or, on a database
/// that has none yet, is written with it. Then seals any plaintext rows,
/// scrubbing the messages their carriers left on the numbers. One
/// transaction; run again, it finds nothing to do.
pub fn unlock(conn: &mut Connection, security: &SecurityConfig, path: &Path) -> Result<(Sealer, Unlocked), DbError> {
    let checked = key_check(conn)?.is_some();
    let sealer = secrets::load(security, path, !checked)?;
    // Plaintext replaced below is zeroed in its pages, not just freed.
    conn.pragma_update(None, "secure_delete", "ON")?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let sealer = match key_check(&tx)? {
        Some(check) => match verify(&sealer, &check, path) {
            Ok(()) => {
                secrets::discard_staged(&sealer);
                sealer
            }
            Err(wrong) => secrets::finish_rotation(&sealer, |new| verify(new, &check, path).is_ok()).ok_or(wrong)?,
        },
        None => {
            write_key_check(&tx, &sealer)?;
            sealer
        }
    };
    let plaintext: Vec<(i64, i64, String)> = tx
        .prepare("SELECT org_id, id, credentials FROM telephony_configurations WHERE typeof(credentials) = 'text'")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (org_id, id, json) in &plaintext {
        tx.execute(
            "UPDATE telephony_configurations SET credentials = ?3 WHERE org_id = ?1 AND id = ?2",
            params![org_id, id, seal_credentials(&sealer, *org_id, *id, json)],
        )?;
        if let Ok(credentials) = serde_json::from_str::<serde_json::Value>(json) {
            scrub_messages(&tx, *id, &credentials)?;
        }
    }
    tx.commit()?;
    conn.pragma_update(None, "secure_delete", "OFF")?;
    if !plaintext.is_empty() {
        log::info!("sealed the credentials of {} telephony configurations", plaintext.len());
        flush_old_pages(conn);
    }
    Ok((
        sealer,
        Unlocked {
            sealed_now: plaintext.len(),
        },
    ))
}

/// Before sealing, a carrier that echoed a request could leave its
/// credentials in a number's stored message; they go with the plaintext.
fn scrub_messages(conn: &Connection, config_id: i64, credentials: &serde_json::Value) -> rusqlite::Result<()> {
    let Ok(credentials) = Credentials::from_stored(credentials) else {
        return Ok(());
    };
    let scrubber = Scrubber::for_credentials(&credentials);
    let messages: Vec<(i64, String)> = conn
        .prepare(
            "SELECT id, last_sync_message FROM phone_numbers WHERE config_id = ?1 AND last_sync_message IS NOT NULL",
        )?
        .query_map([config_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, message) in messages {
        let scrubbed = scrubber.scrub(&message);
        if scrubbed != message {
            conn.execute(
                "UPDATE phone_numbers SET last_sync_message = ?2 WHERE id = ?1",
                params![id, scrubbed],
            )?;
        }
    }
    Ok(())
}

/// Moves the WAL into the database file and empties it, so that the bytes
/// just replaced (zeroed in their pages by `secure_delete`) are nowhere on
/// disk. SQLite waits for readers that still need the WAL (Litestream holds
/// one) and gives up after the busy timeout rather than pass them; then the
/// next checkpoints finish the job.
fn flush_old_pages(conn: &Connection) {
    let busy = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0))
        .unwrap_or(1);
    if busy != 0 {
        log::warn!(
            "the WAL could not be emptied now (a reader holds it); replaced values stay in it until later checkpoints"
        );
    }
}

fn key_check(conn: &Connection) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row("SELECT sealed FROM encryption_key_check WHERE id = 1", [], |r| r.get(0))
        .optional()
}

fn write_key_check(conn: &Connection, sealer: &Sealer) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO encryption_key_check (id, sealed) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed",
        [sealer.seal(CHECK_AAD, CHECK_PLAINTEXT)],
    )?;
    Ok(())
}

fn verify(sealer: &Sealer, check: &[u8], path: &Path) -> Result<(), DbError> {
    match sealer.open(CHECK_AAD, check) {
        Ok(plain) if plain == CHECK_PLAINTEXT => Ok(()),
        _ => Err(DbError::WrongKey {
            path: path.to_path_buf(),
            origin: sealer.origin().to_string(),
        }),
    }
}

/// Whether the database on `conn` has had its credentials sealed.
pub fn has_key_check(conn: &Connection) -> rusqlite::Result<bool> {
    Ok(key_check(conn)?.is_some())
}

/// Whether `sealer` opens the credentials of the database on `conn`.
pub fn opens(conn: &Connection, sealer: &Sealer, path: &Path) -> Result<(), DbError> {
    match key_check(conn)? {
        Some(check) => verify(sealer, &check, path),
        None => Ok(()),
    }
}

/// Re-seals every configuration's credentials and the key check from `old`
/// to `new`, in one transaction; returns how many configurations there are.
pub fn rotate(conn: &mut Connection, old: &Sealer, new: &Sealer, path: &Path) -> Result<usize, DbError> {
    conn.pragma_update(None, "secure_delete", "ON")?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    opens(&tx, old, path)?;
    let rows: Vec<(i64, i64, Vec<u8>)> = tx
        .prepare("SELECT org_id, id, credentials FROM telephony_configurations")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (org_id, id, sealed) in &rows {
        let json = open_credentials(old, *org_id, *id, sealed).map_err(|_| DbError::WrongKey {
            path: path.to_path_buf(),
            origin: old.origin().to_string(),
        })?;
        tx.execute(
            "UPDATE telephony_configurations SET credentials = ?3 WHERE org_id = ?1 AND id = ?2",
            params![org_id, id, seal_credentials(new, *org_id, *id, &json)],
        )?;
    }
    write_key_check(&tx, new)?;
    tx.commit()?;
    conn.pragma_update(None, "secure_delete", "OFF")?;
    flush_old_pages(conn);
    Ok(rows.len())
}
