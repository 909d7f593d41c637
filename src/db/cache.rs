//! Read-through copies of what point reads serve most (one phone number's
//! response; the inbound router's candidate configurations and called
//! numbers), kept in step with every commit that could change them. Each
//! entry is stamped with the database's generation as it was before the
//! read that made it began; it is served only while the generation is
//! unchanged. The writer moves the generation on after each commit and
//! before it answers the write, so a client always reads its own writes;
//! commits of other processes (the CLI's `numbers resync`) move it on once
//! a worker notices them (`Database::generation`).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Counts the commits this process has seen, its own and others', except
/// those of call-log writes alone: no copy holds the call log, and a routed
/// call's own row must not throw away the copies the next call uses.
#[derive(Debug, Clone, Default)]
pub struct Generation(Arc<AtomicU64>);

/// What a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Anything: the safe assumption.
    Any,
    /// Only rows of the call log (`inbound_calls`).
    CallLog,
}

impl Generation {
    pub fn now(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// After a commit that may have changed a copy's rows, before anyone is
    /// told of it.
    pub fn advance(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

pub struct ReadCache<K, V> {
    entries: Mutex<HashMap<K, (u64, V)>>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> ReadCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        ReadCache {
            entries: Mutex::new(HashMap::with_capacity(capacity)),
            capacity,
        }
    }

    /// The value of `key`, if it was read at generation `now`.
    pub fn get(&self, key: &K, now: u64) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(stamped, _)| *stamped == now)
            .map(|(_, value)| value.clone())
    }

    /// The value of `key` if it was read at generation `now`, else what
    /// `read` reads, kept as read at `now`; and whether it was the copy.
    pub async fn get_or_read<E, Fut>(&self, key: K, now: u64, read: impl FnOnce(K) -> Fut) -> Result<(V, bool), E>
    where
        Fut: Future<Output = Result<V, E>>,
    {
        if let Some(hit) = self.get(&key, now) {
            return Ok((hit, true));
        }
        let value = read(key.clone()).await?;
        self.insert(key, now, value.clone());
        Ok((value, false))
    }

    /// Keeps `value`, read at `generation`, taken before the read began so
    /// that a commit during the read makes the entry stale at once. When full, one other entry goes:
    /// memory stays bounded whatever the number of rows.
    pub fn insert(&self, key: K, generation: u64, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            if let Some(evicted) = entries.keys().next().cloned() {
                entries.remove(&evicted);
            }
        }
        entries.insert(key, (generation, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_served_until_the_next_commit() {
        let generation = Generation::default();
        let cache = ReadCache::new(4);
        cache.insert(1, generation.now(), "a");
        assert_eq!(cache.get(&1, generation.now()), Some("a"));
        generation.advance();
        assert_eq!(cache.get(&1, generation.now()), None);
    }

    #[test]
    fn a_read_overtaken_by_a_commit_is_never_served() {
        let generation = Generation::default();
        let cache = ReadCache::new(4);
        let stamp = generation.now();
        // The commit lands while the row is being read.
        generation.advance();
        cache.insert(1, stamp, "old");
        assert_eq!(cache.get(&1, generation.now()), None);
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let cache = ReadCache::new(3);
        for key in 0..100 {
            cache.insert(key, 0, key);
        }
        assert_eq!(cache.entries.lock().unwrap().len(), 3);
        assert_eq!(cache.get(&99, 0), Some(99), "the newest entry is kept");
    }
}
