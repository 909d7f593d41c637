//! What `serve` says when it starts: one block of the settings that matter
//! to a self-hoster, and warnings for the mistakes that only show later
//! (carriers that cannot reach the webhook, or still call an old one).

use std::net::{IpAddr, SocketAddr};

use crate::config::{Config, ProvidersConfig};
use crate::db::{self, Opened};

/// The start-up block: version, address, public URL, database, and the
/// carrier base URLs that are not the defaults.
pub fn summary(config: &Config, listening: SocketAddr, storage: &Opened) -> String {
    let database = &config.database;
    let mut lines = vec![
        format!("telebind {} listening on http://{listening}", env!("CARGO_PKG_VERSION")),
        format!("  public_base_url: {}", config.server.public_base_url),
        format!(
            "  database: {} ({}, schema version {}, synchronous {})",
            database.path.display(),
            if storage.created { "created" } else { "existing" },
            storage.schema_version,
            database.synchronous.pragma().to_ascii_lowercase(),
        ),
    ];
    lines.push(format!("  encryption key: {}", storage.key));
    if storage.sealed_now > 0 {
        lines.push(format!(
            "  sealed the plaintext credentials of {} configurations",
            storage.sealed_now
        ));
    }
    if let Some(addr) = config.server.metrics_bind {
        lines.push(format!("  metrics: http://{addr}/metrics"));
    }
    let mut defaults = ProvidersConfig::default();
    let mut providers = config.providers.clone();
    for ((key, url), (_, default)) in providers.base_urls_mut().into_iter().zip(defaults.base_urls_mut()) {
        if url != default {
            lines.push(format!("  providers.{key}: {url} (not the default)"));
        }
    }
    lines.join("\n")
}

/// What the database says that the warnings need.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// The `server.public_base_url` numbers were last attached with.
    pub last_pushed_url: Option<String>,
    /// Whether any active number is bound to a workflow.
    pub any_bound: bool,
}

impl Stored {
    pub fn read(conn: &rusqlite::Connection) -> rusqlite::Result<Stored> {
        Ok(Stored {
            last_pushed_url: db::last_push::public_base_url(conn)?,
            any_bound: db::calls::any_bound(conn)?,
        })
    }
}

/// Warnings about `config`, given what is stored.
pub fn warnings(config: &Config, stored: &Stored) -> Vec<String> {
    let server = &config.server;
    let last_pushed = stored.last_pushed_url.as_deref();
    let mut warnings = Vec::new();
    if is_loopback_url(&server.public_base_url) && !server.bind.ip().is_loopback() {
        warnings.push(format!(
            "server.public_base_url {} is a loopback address while server.bind {} is not: \
             carriers cannot reach the webhook; set it to the URL they reach telebind at",
            server.public_base_url, server.bind
        ));
    }
    if let Some(last) = last_pushed.filter(|last| *last != server.public_base_url) {
        warnings.push(format!(
            "numbers were last pushed to carriers with public_base_url {last}, not {}: \
             carriers still call the old webhook until `telebind numbers resync`",
            server.public_base_url
        ));
    }
    // INBOUND.md §2.6: such calls cannot be handed to a voice agent.
    if stored.any_bound && config.inbound.media_ws_url.is_empty() {
        warnings.push(
            "numbers are bound to workflows but inbound.media_ws_url is not set: their calls will be refused".into(),
        );
    }
    warnings
}

/// Whether `url`'s host is `localhost` or a loopback address.
fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let host = host.to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(bind: &str, public: &str) -> Config {
        let mut c = Config::default();
        c.server.bind = bind.parse().unwrap();
        c.server.public_base_url = public.into();
        c
    }

    #[test]
    fn loopback_urls_are_recognised() {
        for url in [
            "http://localhost:8000",
            "http://LOCALHOST",
            "https://app.localhost/x",
            "http://127.0.0.1:8000",
            "http://127.1.2.3",
            "http://[::1]:8000",
            "http://user:pw@localhost:1",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "https://tb.example.com",
            "http://10.0.0.5:8000",
            "http://[2001:db8::1]",
            "http://localhost.example.com",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }

    #[test]
    fn a_loopback_public_url_warns_only_when_bind_is_not_loopback() {
        let none = Stored::default();
        assert!(warnings(&config("127.0.0.1:8000", "http://localhost:8000"), &none).is_empty());
        let warned = warnings(&config("0.0.0.0:8000", "http://localhost:8000"), &none);
        assert_eq!(warned.len(), 1);
        assert!(warned[0].contains("carriers cannot reach"), "{warned:?}");
        assert!(warnings(&config("0.0.0.0:8000", "https://tb.example.com"), &none).is_empty());
    }

    #[test]
    fn a_public_url_other_than_the_last_pushed_warns() {
        let c = config("127.0.0.1:8000", "https://new.example.com");
        let pushed = |url: &str| Stored {
            last_pushed_url: Some(url.into()),
            any_bound: false,
        };
        assert!(warnings(&c, &pushed("https://new.example.com")).is_empty());
        let warned = warnings(&c, &pushed("https://old.example.com"));
        assert_eq!(warned.len(), 1);
        assert!(warned[0].contains("https://old.example.com") && warned[0].contains("numbers resync"));
    }

    #[test]
    fn bound_numbers_without_a_media_target_warn() {
        let mut c = config("127.0.0.1:8000", "https://tb.example.com");
        let bound = Stored {
            last_pushed_url: None,
            any_bound: true,
        };
        let warned = warnings(&c, &bound);
        assert_eq!(warned.len(), 1);
        assert!(warned[0].contains("inbound.media_ws_url"), "{}", warned[0]);
        assert!(warnings(&c, &Stored::default()).is_empty());
        c.inbound.media_ws_url = "wss://agent.example.com/ws".into();
        assert!(warnings(&c, &bound).is_empty());
    }

    #[test]
    fn the_summary_names_what_a_self_hoster_needs() {
        let mut c = config("127.0.0.1:8000", "https://tb.example.com");
        c.providers.twilio_base_url = "http://127.0.0.1:9".into();
        let opened = Opened {
            created: true,
            schema_version: 5,
            key: crate::secrets::KeyOrigin::Generated("telebind.key".into()),
            sealed_now: 0,
        };
        let text = summary(&c, "127.0.0.1:8000".parse().unwrap(), &opened);
        for part in [
            env!("CARGO_PKG_VERSION"),
            "http://127.0.0.1:8000",
            "https://tb.example.com",
            "telebind.db (created, schema version 5, synchronous full)",
            "encryption key: key file telebind.key (generated)",
            "providers.twilio_base_url: http://127.0.0.1:9",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
        assert!(!text.contains("api.nexmo.com"), "defaults are not listed: {text}");
    }
}
