//! Settings: built-in defaults, then a TOML file, then `TELEBIND_<SECTION>__<KEY>`
//! environment variables. Every key is documented in `config.example.toml`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_FILE: &str = "telebind.toml";
const ENV_PREFIX: &str = "TELEBIND_";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub sync: SyncConfig,
    pub providers: ProvidersConfig,
    pub inbound: InboundConfig,
    pub security: SecurityConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    /// Where carriers reach this server; the inbound webhook URL is built from it.
    pub public_base_url: String,
    /// Earlier public base URLs whose signatures still verify, so that calls
    /// keep working while numbers are re-synced to a new one.
    pub public_base_url_aliases: Vec<String>,
    pub max_body_bytes: usize,
    /// A request's body, and the head of a connection's first request, must
    /// arrive within this many milliseconds; a stalled one is answered 408
    /// and closed.
    pub request_timeout_ms: u64,
    /// Where `GET /metrics` is served instead of `bind`; empty (`None`): on `bind`.
    #[serde(with = "optional_addr")]
    pub metrics_bind: Option<SocketAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            public_base_url: "http://localhost:8000".into(),
            public_base_url_aliases: Vec::new(),
            max_body_bytes: 64 * 1024,
            request_timeout_ms: 10_000,
            metrics_bind: None,
        }
    }
}

/// An optional address written as a string, empty for none: TOML has no null,
/// and every key must have a default in `config.example.toml`.
mod optional_addr {
    use std::net::SocketAddr;

    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(addr: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&addr.map(|a| a.to_string()).unwrap_or_default())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        let raw = String::deserialize(d)?;
        match raw.trim() {
            "" => Ok(None),
            addr => addr.parse().map(Some).map_err(D::Error::custom),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub path: PathBuf,
    pub pool_size: u32,
    pub synchronous: Synchronous,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("telebind.db"),
            pool_size: 8,
            synchronous: Synchronous::Full,
        }
    }
}

/// SQLite's `synchronous` pragma. `full` makes every acknowledged write survive
/// a power cut; `normal` trades that for speed in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Full,
    Normal,
}

impl Synchronous {
    pub fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// One deadline for a whole push to a carrier, however many requests it
    /// takes, and for the Call Control command that answers a Telnyx call.
    pub timeout_ms: u64,
    pub verify_ownership: bool,
    /// Pushes run at once, each on its own thread; more wait their turn.
    pub workers: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            timeout_ms: 5000,
            verify_ownership: true,
            workers: 32,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProvidersConfig {
    pub twilio_base_url: String,
    pub vonage_api_base_url: String,
    pub vonage_rest_base_url: String,
    pub plivo_base_url: String,
    pub telnyx_base_url: String,
    pub vobiz_base_url: String,
    pub cloudonix_base_url: String,
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        Self {
            twilio_base_url: "https://api.twilio.com".into(),
            vonage_api_base_url: "https://api.nexmo.com".into(),
            vonage_rest_base_url: "https://rest.nexmo.com".into(),
            plivo_base_url: "https://api.plivo.com".into(),
            telnyx_base_url: "https://api.telnyx.com".into(),
            vobiz_base_url: "https://api.vobiz.ai".into(),
            cloudonix_base_url: "https://api.cloudonix.io".into(),
        }
    }
}

impl ProvidersConfig {
    /// Every carrier's base URL, with its key.
    pub fn base_urls_mut(&mut self) -> [(&'static str, &mut String); 7] {
        [
            ("twilio_base_url", &mut self.twilio_base_url),
            ("vonage_api_base_url", &mut self.vonage_api_base_url),
            ("vonage_rest_base_url", &mut self.vonage_rest_base_url),
            ("plivo_base_url", &mut self.plivo_base_url),
            ("telnyx_base_url", &mut self.telnyx_base_url),
            ("vobiz_base_url", &mut self.vobiz_base_url),
            ("cloudonix_base_url", &mut self.cloudonix_base_url),
        ]
    }
}

/// The inbound-call router (INBOUND.md §2.6, §6, §10).
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InboundConfig {
    /// Where a routed call's audio goes: a ws(s):// template; empty means
    /// calls cannot be handed on and get the reject document.
    pub media_ws_url: String,
    /// Key of the `{token}` HMAC the voice agent checks; required by `{token}`.
    pub ws_token_secret: String,
    /// The one line every rejected caller hears, whatever the reason.
    pub reject_message: String,
    /// Days a call-log row is kept.
    pub call_log_days: u32,
}

impl Default for InboundConfig {
    fn default() -> Self {
        Self {
            media_ws_url: String::new(),
            ws_token_secret: String::new(),
            reject_message: "This number cannot take your call right now. Goodbye.".into(),
            call_log_days: 30,
        }
    }
}

/// The token secret never reaches a log line, whatever prints the settings.
impl std::fmt::Debug for InboundConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundConfig")
            .field("media_ws_url", &self.media_ws_url)
            .field("ws_token_secret", &redacted(&self.ws_token_secret))
            .field("reject_message", &self.reject_message)
            .field("call_log_days", &self.call_log_days)
            .finish()
    }
}

/// The placeholders `inbound.media_ws_url` may contain.
pub const MEDIA_PLACEHOLDERS: [&str; 4] = ["{workflow_id}", "{organization_id}", "{call_ref}", "{token}"];
/// A token secret shorter than this is guessable enough to forge streams.
const MIN_TOKEN_SECRET_BYTES: usize = 16;

impl InboundConfig {
    fn check(&mut self) -> Result<(), (String, String)> {
        let template = self.media_ws_url.trim();
        if !template.is_empty() {
            if !(template.starts_with("ws://") || template.starts_with("wss://")) || template.contains(' ') {
                return Err((
                    "inbound.media_ws_url".into(),
                    format!("expected a ws:// or wss:// URL template, got {template:?}"),
                ));
            }
            let mut rest = template.to_string();
            for placeholder in MEDIA_PLACEHOLDERS {
                rest = rest.replace(placeholder, "");
            }
            if rest.contains(['{', '}']) {
                return Err((
                    "inbound.media_ws_url".into(),
                    format!(
                        "unknown placeholder in {template:?}; use {}",
                        MEDIA_PLACEHOLDERS.join(", ")
                    ),
                ));
            }
            if template.contains("{token}") && self.ws_token_secret.is_empty() {
                return Err((
                    "inbound.ws_token_secret".into(),
                    "must be set when inbound.media_ws_url contains {token}".into(),
                ));
            }
            self.media_ws_url = template.to_string();
        }
        if !self.ws_token_secret.is_empty() && self.ws_token_secret.len() < MIN_TOKEN_SECRET_BYTES {
            return Err((
                "inbound.ws_token_secret".into(),
                format!("must be at least {MIN_TOKEN_SECRET_BYTES} characters"),
            ));
        }
        if self.reject_message.trim().is_empty() {
            return Err(("inbound.reject_message".into(), "must not be empty".into()));
        }
        if self.call_log_days == 0 {
            return Err(("inbound.call_log_days".into(), "must be at least 1".into()));
        }
        Ok(())
    }
}

/// The key the stored credentials are sealed with (README, "Secrets at rest").
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// The key itself, base64 of 32 bytes; empty: the key file is used.
    pub encryption_key: String,
    /// Where the key is kept when `encryption_key` is empty, generated on
    /// first use; empty: beside the database (`SecurityConfig::key_file_for`).
    pub key_file: PathBuf,
}

impl SecurityConfig {
    /// The key file used for the database at `database`: `key_file`, or the
    /// database's path with the extension `.key` (`telebind.db` → `telebind.key`).
    pub fn key_file_for(&self, database: &Path) -> PathBuf {
        if self.key_file.as_os_str().is_empty() {
            database.with_extension("key")
        } else {
            self.key_file.clone()
        }
    }
}

/// The key never reaches a log line, whatever prints the settings.
impl std::fmt::Debug for SecurityConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecurityConfig")
            .field("encryption_key", &redacted(&self.encryption_key))
            .field("key_file", &self.key_file)
            .finish()
    }
}

/// A configuration problem, said in one line that names the key and where
/// its value came from.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

/// Where each key's value came from: the file or the variable that set it
/// last. Keys left at their defaults are absent.
#[derive(Default)]
struct Origins(HashMap<String, String>);

impl Origins {
    /// `key`'s problem, naming where its value came from.
    fn error(&self, key: &str, message: &str) -> ConfigError {
        match self.0.get(key) {
            Some(origin) => ConfigError(format!("{key} (from {origin}): {message}")),
            None => ConfigError(format!("{key}: {message}")),
        }
    }
}

impl Config {
    /// Loads defaults, then `file` (or `telebind.toml` when present), then the
    /// `TELEBIND_<SECTION>__<KEY>` variables of `env`; other `TELEBIND_*`
    /// variables (a client's `TELEBIND_API_KEY`) are not ours and are ignored.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let mut table = toml::Table::try_from(Config::default()).map_err(|e| ConfigError(format!("defaults: {e}")))?;
        let mut origins = Origins::default();

        let file = file.map(Path::to_path_buf).or_else(|| {
            let default = PathBuf::from(DEFAULT_FILE);
            default.exists().then_some(default)
        });
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
            let parsed: toml::Table = text.parse().map_err(|e: toml::de::Error| {
                ConfigError(format!("{}: {}", path.display(), one_line(&e.to_string())))
            })?;
            let origin = path.display().to_string();
            merge(&mut table, parsed, "", &mut |key| {
                origins.0.insert(key, origin.clone());
            })
            .map_err(|(key, message)| ConfigError(format!("{key} (in {origin}): {message}")))?;
        }

        for (name, value) in env {
            let Some((section, field)) = name.strip_prefix(ENV_PREFIX).and_then(|k| k.split_once("__")) else {
                continue;
            };
            let key = format!("{}.{}", section.to_ascii_lowercase(), field.to_ascii_lowercase());
            origins.0.insert(key.clone(), name.clone());
            apply_env(&mut table, &key, &value).map_err(|message| origins.error(&key, &message))?;
        }

        let config: Config = serde_path_to_error::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
            let key = e.path().to_string();
            let got = lookup(&table, &key).map_or_else(String::new, |v| format!(", got {v}"));
            origins.error(&key, &format!("{}{got}", one_line(&e.inner().to_string())))
        })?;
        config.check().map_err(|(key, message)| origins.error(&key, &message))
    }

    /// Rules the types alone cannot state; a broken one as (key, message).
    fn check(mut self) -> Result<Config, (String, String)> {
        let urls = self
            .providers
            .base_urls_mut()
            .map(|(key, url)| (format!("providers.{key}"), url));
        let aliases = self
            .server
            .public_base_url_aliases
            .iter_mut()
            .map(|url| ("server.public_base_url_aliases".to_string(), url));
        for (key, url) in urls
            .into_iter()
            .chain([("server.public_base_url".into(), &mut self.server.public_base_url)])
            .chain(aliases)
        {
            *url = http_url(url).map_err(|message| (key, message))?;
        }
        self.inbound.check()?;
        crate::secrets::check_configured(&self.security.encryption_key)
            .map_err(|message| ("security.encryption_key".to_string(), message))?;
        let at_least_one = [
            ("server.max_body_bytes", self.server.max_body_bytes as u64),
            ("server.request_timeout_ms", self.server.request_timeout_ms),
            ("database.pool_size", u64::from(self.database.pool_size)),
            ("sync.timeout_ms", self.sync.timeout_ms),
            ("sync.workers", self.sync.workers as u64),
        ];
        if let Some((key, _)) = at_least_one.into_iter().find(|(_, value)| *value == 0) {
            return Err((key.into(), "must be at least 1".into()));
        }
        Ok(self)
    }
}

impl Config {
    /// The settings as TOML, with secrets masked: values of keys that name a
    /// secret, and passwords in URLs (`https://user:pass@proxy`).
    pub fn masked(&self) -> toml::Table {
        let mut table = toml::Table::try_from(self).expect("the settings serialize");
        for (_, section) in table.iter_mut() {
            let Some(section) = section.as_table_mut() else {
                continue;
            };
            for (key, value) in section.iter_mut() {
                let Some(text) = value.as_str() else { continue };
                // `encryption_key` is a secret, `key_file` (a path) is not.
                let secret = ["secret", "token", "password"].iter().any(|s| key.contains(s)) || key.ends_with("key");
                let masked = if secret && !text.is_empty() {
                    MASK.to_string()
                } else {
                    mask_url_password(text)
                };
                *value = toml::Value::String(masked);
            }
        }
        table
    }
}

const MASK: &str = "********";

/// A secret setting as `Debug` shows it: whether it is set, never its value.
fn redacted(secret: &str) -> &'static str {
    if secret.is_empty() {
        ""
    } else {
        MASK
    }
}

/// `url` with the password of its user info, if any, masked.
fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split_once(':').map_or(user_info, |(user, _)| user);
            format!("{scheme}://{user}:{MASK}@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// `raw` trimmed and without a trailing `/`, when it is an http(s) URL.
fn http_url(raw: &str) -> Result<String, String> {
    let url = raw.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.contains(' ') {
        return Err(format!("expected an http:// or https:// URL, got {url:?}"));
    }
    Ok(url.to_string())
}

/// Overlays `from` onto `into`, refusing keys the defaults do not have;
/// tells `set` each key it sets. A refused key as (key, message).
fn merge(
    into: &mut toml::Table,
    from: toml::Table,
    prefix: &str,
    set: &mut dyn FnMut(String),
) -> Result<(), (String, String)> {
    for (key, value) in from {
        let path = format!("{prefix}{key}");
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(value)) => {
                merge(inner, value, &format!("{path}."), set)?
            }
            (Some(toml::Value::Table(_)), _) => {
                let message = format!("expected a [{path}] section");
                return Err((path, message));
            }
            (Some(slot), value) => {
                *slot = value;
                set(path);
            }
            (None, _) => return Err((path, "unknown key".into())),
        }
    }
    Ok(())
}

/// `TELEBIND_SYNC__TIMEOUT_MS=900` sets `sync.timeout_ms` (`key`); the value
/// is read as the type the key's default has, so `"0.0.0.0:8000"` stays a string.
fn apply_env(table: &mut toml::Table, key: &str, raw: &str) -> Result<(), String> {
    let (section, field) = key.split_once('.').expect("section.field");
    let slot = table
        .get_mut(section)
        .and_then(toml::Value::as_table_mut)
        .and_then(|t| t.get_mut(field))
        .ok_or_else(|| "unknown key".to_string())?;
    let bad = |what: &str| format!("expected {what}, got {raw:?}");
    *slot = match slot {
        toml::Value::Integer(_) => toml::Value::Integer(raw.trim().parse().map_err(|_| bad("an integer"))?),
        toml::Value::Boolean(_) => toml::Value::Boolean(raw.trim().parse().map_err(|_| bad("true or false"))?),
        // Lists come as comma-separated values; an empty variable is an empty list.
        toml::Value::Array(_) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| toml::Value::String(v.to_string()))
                .collect(),
        ),
        _ => toml::Value::String(raw.to_string()),
    };
    Ok(())
}

/// The value at dotted `key` of `table`, as TOML writes it.
fn lookup(table: &toml::Table, key: &str) -> Option<String> {
    let (section, field) = key.split_once('.')?;
    Some(table.get(section)?.get(field)?.to_string())
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::load(Some(file("").path()), env(&[])).unwrap();
        assert_eq!(c.server.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(c.server.max_body_bytes, 65536);
        assert_eq!(c.server.request_timeout_ms, 10_000);
        assert_eq!(c.database.path, PathBuf::from("telebind.db"));
        assert_eq!(c.database.synchronous, Synchronous::Full);
        assert_eq!(c.sync.timeout_ms, 5000);
        assert!(c.sync.verify_ownership);
        assert_eq!(c.providers.twilio_base_url, "https://api.twilio.com");
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        let f = file("[server]\nbind = \"127.0.0.1:9000\"\n[sync]\ntimeout_ms = 100\n");
        let c = Config::load(
            Some(f.path()),
            env(&[
                ("TELEBIND_SERVER__BIND", "0.0.0.0:8001"),
                ("TELEBIND_SYNC__VERIFY_OWNERSHIP", "false"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.bind.to_string(), "0.0.0.0:8001");
        assert_eq!(c.sync.timeout_ms, 100);
        assert!(!c.sync.verify_ownership);
    }

    #[test]
    fn public_base_url_loses_its_trailing_slash() {
        let c = Config::load(
            Some(file("").path()),
            env(&[("TELEBIND_SERVER__PUBLIC_BASE_URL", "https://tb.example.com/")]),
        )
        .unwrap();
        assert_eq!(c.server.public_base_url, "https://tb.example.com");
    }

    #[test]
    fn errors_name_the_key_in_one_line() {
        let cases = [
            (file("[sync]\ntimeout_ms = \"soon\"\n"), vec![], "sync.timeout_ms"),
            (file("[sync]\ntimeout = 5\n"), vec![], "sync.timeout"),
            (file("[server]\nbind = \"nowhere\"\n"), vec![], "server.bind"),
            (file(""), env(&[("TELEBIND_SYNC__TIMEOUT_MS", "x")]), "sync.timeout_ms"),
            (file(""), env(&[("TELEBIND_SYNC__NOPE", "1")]), "sync.nope"),
            (
                file(""),
                env(&[("TELEBIND_SERVER__PUBLIC_BASE_URL", "ftp://x")]),
                "server.public_base_url",
            ),
            (
                file("[database]\nsynchronous = \"off\"\n"),
                vec![],
                "database.synchronous",
            ),
            (
                file("[inbound]\nmedia_ws_url = \"https://agent.example.com/ws\"\n"),
                vec![],
                "inbound.media_ws_url",
            ),
            (
                file("[inbound]\nmedia_ws_url = \"wss://agent.example.com/{run_id}\"\n"),
                vec![],
                "inbound.media_ws_url",
            ),
            (
                file("[inbound]\nmedia_ws_url = \"wss://agent.example.com/{call_ref}/{token}\"\n"),
                vec![],
                "inbound.ws_token_secret",
            ),
            (
                file("[inbound]\nws_token_secret = \"short\"\n"),
                vec![],
                "inbound.ws_token_secret",
            ),
            (file("[inbound]\ncall_log_days = 0\n"), vec![], "inbound.call_log_days"),
            (
                file("[inbound]\nreject_message = \" \"\n"),
                vec![],
                "inbound.reject_message",
            ),
            (
                file(""),
                env(&[(
                    "TELEBIND_SERVER__PUBLIC_BASE_URL_ALIASES",
                    "https://ok.example.com, nope",
                )]),
                "server.public_base_url_aliases",
            ),
        ];
        for (f, vars, key) in cases {
            let err = Config::load(Some(f.path()), vars).unwrap_err().to_string();
            assert!(err.contains(key), "{err:?} should name {key}");
            assert!(!err.contains('\n'), "{err:?} should be one line");
        }
    }

    #[test]
    fn errors_name_where_the_value_came_from() {
        let f = file("[server]\nbind = \"nowhere\"\n");
        let err = Config::load(Some(f.path()), env(&[])).unwrap_err().to_string();
        let from_file = format!("server.bind (from {})", f.path().display());
        assert!(err.contains(&from_file) && err.contains("\"nowhere\""), "{err}");

        let cases = [
            ("TELEBIND_SERVER__BIND", "nowhere:x"),
            ("TELEBIND_SERVER__METRICS_BIND", "nowhere"),
            ("TELEBIND_SYNC__WORKERS", "0"),
            ("TELEBIND_SERVER__REQUEST_TIMEOUT_MS", "0"),
            ("TELEBIND_PROVIDERS__TWILIO_BASE_URL", "api.twilio.com"),
            ("TELEBIND_DATABASE__SYNCHRONOUS", "off"),
        ];
        for (name, value) in cases {
            let err = Config::load(Some(file("").path()), env(&[(name, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("(from {name})")), "{err}");
        }
    }

    #[test]
    fn other_telebind_variables_are_ignored() {
        let c = Config::load(
            Some(file("").path()),
            env(&[("TELEBIND_API_KEY", "tb_0123"), ("TELEBIND_URL", "http://x")]),
        )
        .unwrap();
        assert_eq!(c.server.bind.to_string(), "127.0.0.1:8000");
    }

    #[test]
    fn metrics_bind_is_off_when_empty() {
        let c = Config::load(Some(file("").path()), env(&[])).unwrap();
        assert_eq!(c.server.metrics_bind, None);
        let c = Config::load(
            Some(file("").path()),
            env(&[("TELEBIND_SERVER__METRICS_BIND", "127.0.0.1:9100")]),
        )
        .unwrap();
        assert_eq!(c.server.metrics_bind, Some(SocketAddr::from(([127, 0, 0, 1], 9100))));
    }

    #[test]
    fn masked_settings_hide_url_passwords() {
        let c = Config::load(
            Some(file("").path()),
            env(&[(
                "TELEBIND_PROVIDERS__TWILIO_BASE_URL",
                "https://me:s3cret@proxy.example.com/tw",
            )]),
        )
        .unwrap();
        let masked = c.masked().to_string();
        assert!(!masked.contains("s3cret"), "{masked}");
        assert!(masked.contains("https://me:********@proxy.example.com/tw"), "{masked}");
        assert!(masked.contains("bind = \"127.0.0.1:8000\""), "{masked}");
    }

    #[test]
    fn the_encryption_key_is_masked_checked_and_kept_out_of_debug_output() {
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let c = Config::load(
            Some(file("").path()),
            env(&[
                ("TELEBIND_SECURITY__ENCRYPTION_KEY", key),
                ("TELEBIND_SECURITY__KEY_FILE", "/etc/telebind/key"),
            ]),
        )
        .unwrap();
        let masked = c.masked().to_string();
        assert!(
            !masked.contains(key) && masked.contains("encryption_key = \"********\""),
            "{masked}"
        );
        assert!(
            masked.contains("key_file = \"/etc/telebind/key\""),
            "a path is no secret: {masked}"
        );
        let debug = format!("{c:?}");
        assert!(!debug.contains(key) && debug.contains("/etc/telebind/key"), "{debug}");
        let f = file("[inbound]\nws_token_secret = \"0123456789abcdef-token\"\n");
        let debug = format!("{:?}", Config::load(Some(f.path()), env(&[])).unwrap());
        assert!(!debug.contains("0123456789abcdef-token"), "{debug}");

        let err = Config::load(
            Some(file("").path()),
            env(&[("TELEBIND_SECURITY__ENCRYPTION_KEY", "short")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("security.encryption_key (from TELEBIND_SECURITY__ENCRYPTION_KEY)"),
            "{err}"
        );
        assert!(!err.contains("short"), "the rejected value is not echoed: {err}");
    }

    #[test]
    fn the_key_file_defaults_to_beside_the_database() {
        let c = Config::load(
            Some(file("").path()),
            env(&[("TELEBIND_DATABASE__PATH", "/var/lib/tb/main.db")]),
        )
        .unwrap();
        assert_eq!(
            c.security.key_file_for(&c.database.path),
            PathBuf::from("/var/lib/tb/main.key")
        );
        let c = Config::load(Some(file("[security]\nkey_file = \"/k\"\n").path()), env(&[])).unwrap();
        assert_eq!(c.security.key_file_for(&c.database.path), PathBuf::from("/k"));
    }

    #[test]
    fn aliases_come_from_a_comma_separated_variable() {
        let c = Config::load(
            Some(file("").path()),
            env(&[(
                "TELEBIND_SERVER__PUBLIC_BASE_URL_ALIASES",
                "https://old.example.com/, http://older.example.com",
            )]),
        )
        .unwrap();
        assert_eq!(
            c.server.public_base_url_aliases,
            ["https://old.example.com", "http://older.example.com"]
        );
    }

    #[test]
    fn a_media_template_with_a_token_and_a_secret_starts() {
        let f = file(
            "[inbound]\nmedia_ws_url = \"wss://agent.example.com/ws/{workflow_id}/{organization_id}/{call_ref}/{token}\"\nws_token_secret = \"0123456789abcdef\"\n",
        );
        let c = Config::load(Some(f.path()), env(&[])).unwrap();
        assert!(c.inbound.media_ws_url.ends_with("{token}"));
        assert_eq!(c.inbound.call_log_days, 30);
    }

    #[test]
    fn a_missing_explicit_file_is_an_error() {
        let err = Config::load(Some(Path::new("/nonexistent/telebind.toml")), env(&[])).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/telebind.toml"));
    }

    #[test]
    fn the_example_file_documents_exactly_the_defaults() {
        let example: toml::Table = include_str!("../config.example.toml").parse().unwrap();
        let defaults = toml::Table::try_from(Config::default()).unwrap();
        assert_eq!(example, defaults);
    }
}
