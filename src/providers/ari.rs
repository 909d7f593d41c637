//! Asterisk ARI: numbers reach the app over its WebSocket, so there is no
//! webhook to push and no account to ask.

use super::{Http, Number, Ownership, Provider, SyncResult};

pub struct Ari;

impl Provider for Ari {
    fn configure_inbound(&self, _: &mut Http, _: Number, _: Option<&str>) -> SyncResult {
        SyncResult::ok()
    }

    fn check_ownership(&self, _: &mut Http, _: Number) -> Ownership {
        Ownership::Owned
    }
}
