//! What every request handler shares, and the one way handlers reach SQLite:
//! reads on actix's blocking pool, writes on the database writer thread,
//! never on an async worker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::web;
use rusqlite::Connection;

use crate::config::Config;
use crate::db::api_keys::ActiveKey;
use crate::db::writer::{WriteError, Writer};
use crate::db::{self, DbError, Pool};
use crate::error::ApiError;
use crate::providers::Carriers;

/// `last_used_at` is written at most this often per key.
const KEY_TOUCH_INTERVAL: Duration = Duration::from_secs(60);
/// How long a verified key is trusted without asking the database: a key
/// revoked by another process (the CLI) stops working within this. Keys
/// archived over HTTP are forgotten at once.
const KEY_CACHE_TTL: Duration = Duration::from_millis(500);

pub struct AppState {
    pub pool: Pool,
    pub config: Arc<Config>,
    pub carriers: Carriers,
    key_touched: Mutex<HashMap<i64, Instant>>,
    /// Verified keys by hash, with when they were read from the database.
    keys: Mutex<HashMap<Vec<u8>, (ActiveKey, Instant)>>,
    /// Bumped by every archive: a lookup that began before one is not cached.
    keys_epoch: AtomicU64,
    /// Every write goes through it: writes that queue while one commits are
    /// committed together (see `db::writer`).
    writer: Writer,
    /// One lock per phone number with a push under way or waiting.
    number_locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held while a number is pushed; the carrier sees one push at a time per
/// number, each reading the stored state afresh, so its final state is the
/// final stored one.
pub struct NumberLock<'a> {
    state: &'a AppState,
    id: i64,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for NumberLock<'_> {
    fn drop(&mut self) {
        let mut locks = self.state.number_locks.lock().unwrap_or_else(|p| p.into_inner());
        // Ours and the map's: nobody else waits, so the entry can go.
        if locks.get(&self.id).is_some_and(|l| Arc::strong_count(l) <= 2) {
            locks.remove(&self.id);
        }
    }
}

impl AppState {
    pub fn new(pool: Pool, config: Arc<Config>) -> Result<AppState, DbError> {
        Ok(AppState {
            writer: Writer::start(&config.database)?,
            pool,
            carriers: Carriers::new(&config),
            config,
            key_touched: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
            keys_epoch: AtomicU64::new(0),
            number_locks: Mutex::new(HashMap::new()),
        })
    }

    /// Waits for any other push of number `id` to finish.
    pub async fn lock_number(&self, id: i64) -> NumberLock<'_> {
        let lock = {
            let mut locks = self.number_locks.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(locks.entry(id).or_default())
        };
        NumberLock {
            state: self,
            id,
            _guard: lock.lock_owned().await,
        }
    }

    /// Runs `f` on a pooled connection off the async workers.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        web::block(move || f(&*pool.get()?)).await?
    }

    /// Runs `f` on the writer thread, in a savepoint of a `BEGIN IMMEDIATE`
    /// transaction shared with the writes queued beside it; answers once
    /// that transaction has committed, or is known not to have.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let answer = self.writer.submit(f)?;
        answer.await.map_err(|_| WriteError::Stopped)?
    }

    /// The active key with this hash, if it was verified less than
    /// `KEY_CACHE_TTL` ago; saves a trip to the database per request.
    pub fn cached_key(&self, hash: &[u8]) -> Option<ActiveKey> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        match keys.get(hash) {
            Some((key, at)) if at.elapsed() < KEY_CACHE_TTL => Some(key.clone()),
            Some(_) => {
                keys.remove(hash);
                None
            }
            None => None,
        }
    }

    /// Taken before a key is looked up, and handed back to `cache_key`.
    pub fn keys_epoch(&self) -> u64 {
        self.keys_epoch.load(Ordering::SeqCst)
    }

    /// Caches a key read at `epoch`, unless a key was archived since: the
    /// read may predate that archive.
    pub fn cache_key(&self, key: ActiveKey, epoch: u64) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if self.keys_epoch() == epoch {
            keys.insert(key.key_hash.clone(), (key, Instant::now()));
        }
    }

    /// A key archived over HTTP fails its very next request.
    pub fn forget_key(&self, id: i64) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        self.keys_epoch.fetch_add(1, Ordering::SeqCst);
        keys.retain(|_, (key, _)| key.id != id);
    }

    /// Records that key `id` was used, at most once a minute, in the background:
    /// authentication itself never waits on a write.
    pub fn touch_key(self: &Arc<Self>, id: i64) {
        {
            let mut touched = self.key_touched.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if touched
                .get(&id)
                .is_some_and(|t| now.duration_since(*t) < KEY_TOUCH_INTERVAL)
            {
                return;
            }
            touched.insert(id, now);
        }
        let state = Arc::clone(self);
        actix_web::rt::spawn(async move {
            if let Err(e) = state.write(move |c| Ok(db::api_keys::touch(c, id)?)).await {
                log::warn!("could not record last use of API key {id}: {e}");
            }
        });
    }
}
