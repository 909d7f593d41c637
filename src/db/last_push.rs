//! The `server.public_base_url` numbers were last attached with.

use rusqlite::{params, Connection, OptionalExtension};

/// Remembers `public_base_url` as the one carriers were last told.
pub fn record(conn: &Connection, public_base_url: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO last_push (id, public_base_url, pushed_at) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET public_base_url = excluded.public_base_url, pushed_at = excluded.pushed_at",
    )?
    .execute(params![public_base_url, super::now()])
    .map(drop)
}

/// The URL of the last successful attach, if any number was ever attached.
pub fn public_base_url(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT public_base_url FROM last_push WHERE id = 1", [], |r| r.get(0))
        .optional()
}
