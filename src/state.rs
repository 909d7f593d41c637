//! What every request handler shares, split along its concerns: the
//! database, the cache of verified API keys, the carriers and the sync
//! service that pushes to them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use rusqlite::Connection;
use tokio::sync::{OwnedMutexGuard, Semaphore};

use crate::auth::KeyCache;
use crate::config::Config;
use crate::db::cache::ReadCache;
use crate::db::{Database, Pool, Store};
use crate::domain::ids::{ConfigId, NumberId, OrgId};
use crate::error::ApiError;
use crate::providers::Carriers;
use crate::sync::SyncService;
use crate::StartupError;

pub struct AppState {
    pub config: Arc<Config>,
    pub db: Database,
    pub keys: KeyCache,
    pub carriers: Carriers,
    pub sync: SyncService,
    /// Places for list bodies in memory (`routes::lists`): enough to keep
    /// both cores serializing, few enough that memory does not grow with
    /// the number of clients (about 2 MB each at 1,000 numbers).
    pub lists: Arc<Semaphore>,
    /// The bodies GET of one number served since the last commit.
    pub numbers: ReadCache<NumberId, CachedNumber>,
    /// One configuration's trunk work at a time (`ConfigLocks`).
    pub config_locks: ConfigLocks,
}

/// A number's response body, with the owners a request must name to get it.
#[derive(Clone)]
pub struct CachedNumber {
    pub org_id: OrgId,
    pub config_id: ConfigId,
    pub body: actix_web::web::Bytes,
}

/// Numbers whose bodies are kept (≈ 0.6 KB each): a few MB at most.
const NUMBERS_CACHED: usize = 8192;

/// List bodies being built or sent at once; the others wait their turn.
const LISTS_AT_ONCE: usize = 4;

impl AppState {
    pub fn new(pool: Pool, store: &Store, config: Arc<Config>) -> Result<AppState, StartupError> {
        let db = Database::new(pool, store)?;
        let carriers = Carriers::new(&config);
        let sync = SyncService::start(db.clone(), carriers.clone(), config.sync.workers).map_err(StartupError::Sync)?;
        Ok(AppState {
            config,
            db,
            keys: KeyCache::default(),
            carriers,
            sync,
            lists: Arc::new(Semaphore::new(LISTS_AT_ONCE)),
            numbers: ReadCache::new(NUMBERS_CACHED),
            config_locks: ConfigLocks::default(),
        })
    }

    /// `Database::read` for handlers, whose errors are `ApiError`s.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.db.read(f).await
    }

    /// `Database::point` for handlers: one row by key, on this worker.
    pub async fn point<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: Fn(&Connection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.db.point(f).await
    }

    /// `Database::write` for handlers, whose errors are `ApiError`s.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.db.write(f).await
    }

    /// `Database::write_call_log` for handlers: a write of the call log alone.
    pub async fn write_call_log<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.db.write_call_log(f).await
    }
}

/// Per configuration, the writes that must not interleave with its trunks'
/// carrier work (TRUNKS.md §2.0): trunk create, update and delete (held
/// across the carrier call, so the carrier and the row never disagree),
/// configuration update and delete, and a number's write that pins it to a
/// trunk. Reads never take it. In-process: one server owns the database.
#[derive(Default)]
pub struct ConfigLocks {
    locks: Mutex<HashMap<ConfigId, Weak<tokio::sync::Mutex<()>>>>,
}

impl ConfigLocks {
    /// Waits for configuration `id`'s turn; it ends when the guard drops.
    pub async fn lock(&self, id: ConfigId) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            // Locks nobody holds or waits for are dropped, so the map stays small.
            locks.retain(|_, lock| lock.strong_count() > 0);
            match locks.get(&id).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    locks.insert(id, Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_configuration_waits_for_its_lock_and_others_do_not() {
        let locks = ConfigLocks::default();
        let held = locks.lock(ConfigId(1)).await;
        let other = locks.lock(ConfigId(2)).await;
        let first = locks.locks.lock().unwrap()[&ConfigId(1)].upgrade().unwrap();
        assert!(first.try_lock().is_err(), "the same configuration waits");
        drop(held);
        assert!(first.try_lock().is_ok());
        drop((first, other));
        drop(locks.lock(ConfigId(3)).await);
        assert_eq!(
            locks.locks.lock().unwrap().keys().collect::<Vec<_>>(),
            [&ConfigId(3)],
            "unused locks are dropped on the next lock"
        );
    }
}
