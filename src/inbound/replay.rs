//! Plivo and Vobiz nonces and Vonage token ids (`jti`) seen in the last ten
//! minutes (INBOUND.md §2.3): a captured Vobiz signature and nonce
//! authenticate any body, and a captured Vonage token is valid for its whole
//! ±300 s window, so each is accepted once. Only verified requests reach the
//! cache, so unsigned traffic cannot fill it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Carrier;

/// How long a nonce is remembered: longer than any carrier retry window,
/// and as long as a Vonage token can be fresh (`iat` ± 300 s).
pub const NONCE_TTL: Duration = Duration::from_secs(600);
/// At most this many nonces are remembered (about 330 signed requests a
/// second for ten minutes); past it new nonces are refused, never an old
/// one forgotten early, so a replay can never slip through.
pub const NONCE_CAPACITY: usize = 200_000;

type Key = (Carrier, String);

pub struct NonceCache {
    ttl: Duration,
    capacity: usize,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    keys: HashMap<Key, Instant>,
    order: VecDeque<(Instant, Key)>,
}

/// What `NonceCache::first_use` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceUse {
    First,
    Replayed,
    /// The cache is full of live nonces.
    Full,
}

impl Default for NonceCache {
    fn default() -> Self {
        NonceCache::new(NONCE_TTL, NONCE_CAPACITY)
    }
}

impl NonceCache {
    pub fn new(ttl: Duration, capacity: usize) -> NonceCache {
        NonceCache {
            ttl,
            capacity,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Records `nonce` of `carrier` at `now` unless it was seen within the TTL.
    pub fn first_use(&self, carrier: Carrier, nonce: &str, now: Instant) -> NonceUse {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((at, _)) = seen.order.front() {
            if now.saturating_duration_since(*at) < self.ttl {
                break;
            }
            let (at, key) = seen.order.pop_front().expect("front exists");
            if seen.keys.get(&key) == Some(&at) {
                seen.keys.remove(&key);
            }
        }
        let key = (carrier, nonce.to_string());
        if seen.keys.contains_key(&key) {
            return NonceUse::Replayed;
        }
        if seen.keys.len() >= self.capacity {
            return NonceUse::Full;
        }
        seen.keys.insert(key.clone(), now);
        seen.order.push_back((now, key));
        NonceUse::First
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_per_carrier_until_it_expires() {
        let cache = NonceCache::new(Duration::from_secs(600), 10);
        let t0 = Instant::now();
        assert_eq!(cache.first_use(Carrier::Plivo, "n1", t0), NonceUse::First);
        assert_eq!(
            cache.first_use(Carrier::Plivo, "n1", t0 + Duration::from_secs(599)),
            NonceUse::Replayed
        );
        assert_eq!(cache.first_use(Carrier::Vobiz, "n1", t0), NonceUse::First);
        assert_eq!(
            cache.first_use(Carrier::Plivo, "n1", t0 + Duration::from_secs(600)),
            NonceUse::First
        );
    }

    #[test]
    fn a_full_cache_refuses_new_nonces_and_frees_room_as_they_expire() {
        let cache = NonceCache::new(Duration::from_secs(10), 2);
        let t0 = Instant::now();
        assert_eq!(cache.first_use(Carrier::Vobiz, "a", t0), NonceUse::First);
        assert_eq!(cache.first_use(Carrier::Vobiz, "b", t0), NonceUse::First);
        assert_eq!(cache.first_use(Carrier::Vobiz, "c", t0), NonceUse::Full);
        assert_eq!(cache.first_use(Carrier::Vobiz, "a", t0), NonceUse::Replayed);
        assert_eq!(
            cache.first_use(Carrier::Vobiz, "c", t0 + Duration::from_secs(10)),
            NonceUse::First
        );
    }
}
