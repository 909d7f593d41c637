//! What every request handler shares, split along its concerns: the
//! database, the cache of verified API keys, the carriers and the sync
//! service that pushes to them.

use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::auth::KeyCache;
use crate::config::Config;
use crate::db::{Database, Pool, Store};
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
}

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
}
