//! Carriers whose push is not written yet answer so, visibly: a fake `ok`
//! would leave numbers unbound while telebind reports them synced.

use super::{Http, Ownership, Provider, SyncResult};
use crate::domain::provider::ProviderKind;

pub struct Pending(pub ProviderKind);

impl Pending {
    fn message(&self) -> String {
        format!("provider sync for {} is not implemented yet", self.0.as_str())
    }
}

impl Provider for Pending {
    fn configure_inbound(&self, _: &mut Http, _: &str, _: Option<&str>) -> SyncResult {
        SyncResult::failed(self.message())
    }

    fn check_ownership(&self, _: &mut Http, _: &str) -> Ownership {
        Ownership::LookupFailed(self.message())
    }
}
