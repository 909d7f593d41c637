//! API keys: how they are made and stored, and the cache of verified keys
//! (API.md §2). The extractor that reads a request's key is `routes::caller`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;
use rusqlite::Connection;
use sha2::{Digest, Sha256};

use crate::db::{self, api_keys::ActiveKey};
use crate::domain::ids::{ApiKeyId, OrgId};

const KEY_PREFIX: &str = "tb_";
/// Characters of the key kept, unhashed, to tell keys apart in listings.
const DISPLAY_PREFIX_LEN: usize = 11;
/// `last_used_at` is written at most this often per key.
const KEY_TOUCH_INTERVAL: Duration = Duration::from_secs(60);
/// How long a verified key is trusted without asking the database: a key
/// revoked by another process (the CLI) stops working within this. Keys
/// archived over HTTP are forgotten at once.
const KEY_CACHE_TTL: Duration = Duration::from_millis(500);

pub fn hash_key(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// Creates a key for `org_id`; returns its row and the key, which is shown
/// once and never stored.
pub fn issue_key(conn: &Connection, org_id: OrgId, name: &str) -> rusqlite::Result<(db::api_keys::ApiKey, String)> {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let key = format!("{KEY_PREFIX}{}", hex::encode(secret));
    let row = db::api_keys::insert(conn, org_id, name, &key[..DISPLAY_PREFIX_LEN], &hash_key(&key))?;
    Ok((row, key))
}

/// Verified keys, so that most requests cost no trip to the database.
#[derive(Default)]
pub struct KeyCache {
    /// Verified keys by hash, with when they were read from the database.
    keys: Mutex<HashMap<Vec<u8>, (ActiveKey, Instant)>>,
    /// Bumped by every archive: a lookup that began before one is not cached.
    epoch: AtomicU64,
    /// When each key's `last_used_at` was last written.
    touched: Mutex<HashMap<ApiKeyId, Instant>>,
}

impl KeyCache {
    /// The active key with this hash, if it was verified less than
    /// `KEY_CACHE_TTL` ago.
    pub fn get(&self, hash: &[u8]) -> Option<ActiveKey> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let found = match keys.get(hash) {
            Some((key, at)) if at.elapsed() < KEY_CACHE_TTL => Some(key.clone()),
            Some(_) => {
                keys.remove(hash);
                None
            }
            None => None,
        };
        crate::metrics::cache_lookup(crate::metrics::Cache::ApiKeys, found.is_some());
        found
    }

    /// Taken before a key is looked up, and handed back to `insert`.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Caches a key read at `epoch`, unless a key was archived since: the
    /// read may predate that archive.
    pub fn insert(&self, key: ActiveKey, epoch: u64) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if self.epoch() == epoch {
            keys.insert(key.key_hash.clone(), (key, Instant::now()));
        }
    }

    /// A key archived over HTTP fails its very next request.
    pub fn forget(&self, id: ApiKeyId) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        self.epoch.fetch_add(1, Ordering::SeqCst);
        keys.retain(|_, (key, _)| key.id != id);
    }

    /// Whether key `id`'s use should be recorded now: at most once a minute.
    pub fn due_for_touch(&self, id: ApiKeyId) -> bool {
        let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if touched
            .get(&id)
            .is_some_and(|t| now.duration_since(*t) < KEY_TOUCH_INTERVAL)
        {
            return false;
        }
        touched.insert(id, now);
        true
    }
}
