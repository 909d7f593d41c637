//! What the carrier tests share: a `Carriers` pointed at a local mock, and a
//! way to run its blocking calls from a tokio test.

use std::net::TcpListener;

use super::{Carriers, Number};
use crate::config::Config;
use crate::domain::address::Address;
use crate::domain::credentials::{self, Credentials};

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcd";
pub const AUTH_TOKEN: &str = "tok-0123456789-secret";

/// Every carrier's base URL set to `base_url`.
pub fn carriers(base_url: &str, timeout_ms: u64) -> Carriers {
    let mut config = Config::default();
    config.server.public_base_url = "http://backend.test".into();
    config.sync.timeout_ms = timeout_ms;
    for (_, url) in config.providers.base_urls_mut() {
        *url = base_url.to_string();
    }
    Carriers::new(&config)
}

pub fn twilio_creds() -> Credentials {
    Credentials::Twilio(credentials::Twilio {
        account_sid: ACCOUNT_SID.into(),
        auth_token: AUTH_TOKEN.into(),
        amd_enabled: false,
    })
}

/// Runs a blocking carrier call off the test's async workers, as the server does.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("the blocking call panicked")
}

/// A URL of a local port nobody listens on any more.
pub fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// `address` as the carriers get it: normalized, with its type.
pub fn number(address: &str) -> Number<'_> {
    let kind = Address::parse(address, None).expect("a valid address").kind();
    Number { address, kind }
}
