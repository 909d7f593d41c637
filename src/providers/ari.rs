//! Asterisk ARI: numbers reach the app over its WebSocket, so there is no
//! webhook to push and no account to ask.

use super::{Http, Ownership, Provider, SyncResult};

pub struct Ari;

impl Provider for Ari {
    fn configure_inbound(&self, _: &mut Http, _: &str, _: Option<&str>) -> SyncResult {
        SyncResult::ok()
    }

    fn check_ownership(&self, _: &mut Http, _: &str) -> Ownership {
        Ownership::Owned
    }
}
