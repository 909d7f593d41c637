//! The call log's retention (INBOUND.md §10): rows older than
//! `inbound.call_log_days` are deleted in small batches by a background
//! thread, never on a request's path.

use std::sync::Weak;
use std::time::{Duration, Instant};

use crate::db::{self, DbError};
use crate::state::AppState;

/// How often old rows are looked for (and once at start).
const EVERY: Duration = Duration::from_secs(3600);
/// Rows per delete: each batch is one short write, so others interleave.
const BATCH: i64 = 1000;

/// Starts the thread; it ends once the server's state is gone.
pub fn start_retention(state: Weak<AppState>, days: u32) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("call-log-retention".into())
        .spawn(move || {
            let mut next = Instant::now();
            loop {
                let Some(state) = state.upgrade() else { return };
                if Instant::now() >= next {
                    next = Instant::now() + EVERY;
                    match purge(&state.db, days) {
                        Ok(0) => {}
                        Ok(n) => log::info!("call log: deleted {n} calls older than {days} days"),
                        Err(e) => log::warn!("call log: could not delete old calls: {e}"),
                    }
                }
                drop(state);
                std::thread::sleep(Duration::from_secs(1));
            }
        })
        .map(|_| ())
}

/// Deletes every row older than `days`; returns how many.
fn purge(database: &db::Database, days: u32) -> Result<usize, DbError> {
    let cutoff = (chrono::Utc::now() - chrono::Duration::days(i64::from(days)))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut total = 0;
    loop {
        let cutoff = cutoff.clone();
        let deleted =
            database.write_blocking(move |c| Ok::<_, DbError>(db::calls::purge_before(c, &cutoff, BATCH)?))?;
        total += deleted;
        if deleted < BATCH as usize {
            return Ok(total);
        }
    }
}
