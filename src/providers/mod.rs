//! The carriers: one file per provider behind one trait, HTTP only (no actix,
//! no database). Every call blocks; callers run it off the async workers.

mod ari;
mod cloudonix;
pub mod http;
mod plivo;
mod telnyx;
mod twilio;
mod vobiz;
mod vonage;

use std::cmp::Reverse;
use std::time::Duration;

use serde_json::Value;

use crate::config::{Config, ProvidersConfig};
use crate::domain::address::AddressType;
use crate::domain::credentials::{self, Credentials};
use crate::domain::provider::mask;

pub use self::cloudonix::{Applied, RemoteTrunk};
pub use self::http::Http;
use self::http::Reply;
pub use crate::domain::phone_number::SyncResult;

/// Longest message handed back: carriers echo whole response bodies.
const MAX_MESSAGE_CHARS: usize = 500;

/// Ownership check of a new number (PROVIDERS.md §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    Owned,
    /// The carrier answered and the number is not in the account: the route answers 400.
    NotOwned(String),
    /// No answer could be had: the route answers 502.
    LookupFailed(String),
}

/// A save-time provisioning failure (PROVIDERS.md §3, and a trunk's, TRUNKS.md
/// §3.5): the save is refused with this status and detail, and nothing is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionError {
    pub status: u16,
    pub detail: String,
}

/// A number as a carrier is told of it: its normalized address and the
/// type stored with it (never derived again from the text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Number<'a> {
    pub address: &'a str,
    pub kind: AddressType,
}

impl Number<'_> {
    /// Only PSTN numbers are carrier resources; SIP forms are the PBX's.
    fn is_pstn(self) -> bool {
        self.kind == AddressType::Pstn
    }
}

/// One trait, one implementation per carrier file.
pub trait Provider {
    /// Attach (`webhook = Some(url)`) or detach (`None`) the inbound webhook of `number`.
    fn configure_inbound(&self, http: &mut Http, number: Number, webhook: Option<&str>) -> SyncResult;
    fn check_ownership(&self, http: &mut Http, number: Number) -> Ownership;
}

/// Built once from `Config` at start-up and shared by all requests.
#[derive(Clone)]
pub struct Carriers {
    agent: ureq::Agent,
    base_urls: ProvidersConfig,
    public_base_url: String,
    timeout: Duration,
}

impl Carriers {
    pub fn new(config: &Config) -> Carriers {
        Carriers {
            agent: http::agent(),
            base_urls: config.providers.clone(),
            public_base_url: config.server.public_base_url.clone(),
            timeout: Duration::from_millis(config.sync.timeout_ms),
        }
    }

    /// `server.public_base_url`, which every pushed webhook starts with.
    pub fn public_base_url(&self) -> &str {
        &self.public_base_url
    }

    /// `<server.public_base_url>/api/v1/telephony/inbound/run`
    pub fn webhook_url(&self) -> String {
        format!("{}{}", self.public_base_url, crate::inbound::WEBHOOK_PATH)
    }

    /// `<server.public_base_url>/api/v1/telephony/vonage/events`: where Vonage
    /// posts call events once its application answers on our webhook.
    pub fn vonage_event_url(&self) -> String {
        format!("{}/api/v1/telephony/vonage/events", self.public_base_url)
    }

    /// Blocking. Attaches the webhook when `attach`, else detaches it; one
    /// deadline (`sync.timeout_ms`) covers every request of the operation.
    pub fn configure_inbound(&self, creds: &Credentials, number: Number, attach: bool) -> SyncResult {
        let webhook = attach.then(|| self.webhook_url());
        let result = self
            .provider_for(creds)
            .configure_inbound(&mut self.http(), number, webhook.as_deref());
        SyncResult {
            ok: result.ok,
            message: result.message.map(|m| scrub(creds, &m)),
        }
    }

    /// Blocking, under the same one-deadline rule.
    pub fn check_ownership(&self, creds: &Credentials, number: Number) -> Ownership {
        match self.provider_for(creds).check_ownership(&mut self.http(), number) {
            Ownership::Owned => Ownership::Owned,
            Ownership::NotOwned(m) => Ownership::NotOwned(scrub(creds, &m)),
            Ownership::LookupFailed(m) => Ownership::LookupFailed(scrub(creds, &m)),
        }
    }

    /// Blocking. Makes at the carrier what a configuration needs before it is
    /// stored (PROVIDERS.md §3) and records it in `creds`; one deadline covers
    /// every request. Carriers with nothing to make return Ok at once.
    pub fn provision(&self, creds: &mut Credentials) -> Result<(), ProvisionError> {
        let (http, urls, webhook) = (self.http(), &self.base_urls, self.webhook_url());
        let result: Result<(), ProvisionError> = match creds {
            Credentials::Telnyx(c) => telnyx::provision(&http, base(&urls.telnyx_base_url), c, &webhook),
            Credentials::Vobiz(c) => vobiz::provision(&http, base(&urls.vobiz_base_url), c, &webhook),
            Credentials::Plivo(c) => plivo::provision(&http, base(&urls.plivo_base_url), c, &webhook),
            Credentials::Twilio(_) | Credentials::Vonage(_) | Credentials::Ari(_) => Ok(()),
            Credentials::Cloudonix(c) => cloudonix::provision(&http, base(&urls.cloudonix_base_url), c, &webhook),
        };
        result.map_err(|e| scrubbed(creds, e))
    }

    /// Blocking. Makes the carrier's trunk match `trunk` (TRUNKS.md §3.2),
    /// the one recorded as `external_id` if there is one; `held`: the carrier
    /// ids other trunks of ours on the same account hold. One deadline covers
    /// every request. Providers without trunks have nothing to make.
    pub fn apply_trunk(
        &self,
        creds: &Credentials,
        trunk: &RemoteTrunk,
        external_id: Option<&str>,
        held: &[String],
    ) -> Result<Applied, ProvisionError> {
        let Credentials::Cloudonix(c) = creds else {
            return Ok(Applied {
                external_id: external_id.map(str::to_owned),
                created: false,
            });
        };
        let carrier = cloudonix::Cloudonix::new(base(&self.base_urls.cloudonix_base_url), c);
        cloudonix::apply_trunk(&self.http(), &carrier, trunk, external_id, held).map_err(|e| scrubbed(creds, e))
    }

    /// Blocking. Deactivates the carrier's trunks `external_ids` (TRUNKS.md
    /// §3.3) within one deadline.
    pub fn remove_trunks(&self, creds: &Credentials, external_ids: &[String]) -> Result<(), ProvisionError> {
        let Credentials::Cloudonix(c) = creds else {
            return Ok(());
        };
        let carrier = cloudonix::Cloudonix::new(base(&self.base_urls.cloudonix_base_url), c);
        cloudonix::remove_trunks(&self.http(), &carrier, external_ids).map_err(|e| scrubbed(creds, e))
    }

    fn http(&self) -> Http {
        Http::new(self.agent.clone(), self.timeout)
    }

    fn provider_for<'a>(&'a self, creds: &'a Credentials) -> Box<dyn Provider + 'a> {
        let urls = &self.base_urls;
        match creds {
            Credentials::Twilio(c) => Box::new(twilio::Twilio::new(base(&urls.twilio_base_url), c)),
            Credentials::Cloudonix(c) => Box::new(cloudonix::Cloudonix::new(base(&urls.cloudonix_base_url), c)),
            Credentials::Telnyx(c) => Box::new(telnyx::Telnyx::new(base(&urls.telnyx_base_url), c)),
            Credentials::Vobiz(c) => Box::new(vobiz::Vobiz::new(base(&urls.vobiz_base_url), c)),
            Credentials::Vonage(c) => Box::new(vonage::Vonage::new(
                base(&urls.vonage_api_base_url),
                base(&urls.vonage_rest_base_url),
                self.vonage_event_url(),
                c,
            )),
            Credentials::Plivo(c) => Box::new(plivo::Plivo::new(base(&urls.plivo_base_url), c)),
            Credentials::Ari(_) => Box::new(ari::Ari),
        }
    }
}

/// Base URLs are joined with paths that start with `/`.
fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}

/// Detaching one number at a carrier that routes every number of an
/// application to one URL: removing that URL would unbind all the others.
fn application_level_detach(carrier: &str) -> SyncResult {
    SyncResult {
        ok: true,
        message: Some(format!(
            "{carrier} routes every number of the application to one URL; detaching one number leaves it in place"
        )),
    }
}

/// Where a carrier sends a number's calls, as its number lookup reads it.
trait NumberRoute: std::fmt::Display {
    fn is_application(&self, id: &str) -> bool;
    /// Routed nowhere: linking it replaces nothing worth a mention.
    fn is_nowhere(&self) -> bool;
}

/// The names `link_number` words its messages with.
struct LinkWords<'a> {
    carrier: &'static str,
    /// Where a user links a number by hand, e.g. "the Vonage dashboard".
    console: &'static str,
    /// The account as the user knows it (`scrub` masks it when secret).
    account: &'a str,
}

/// Decision 3 (CARRIER-AUDIT.md): once the application's URL is set, the
/// number is linked to that application unless the carrier already routes it
/// there, then read back, as only the read-back shows where calls go. `read`
/// gives the number's route (None: not in the account), `link` changes it;
/// their errors say what failed.
fn link_number<R: NumberRoute>(
    words: &LinkWords,
    e164: &str,
    app: &str,
    read: impl Fn() -> Result<Option<R>, String>,
    link: impl FnOnce(&R) -> Result<(), String>,
) -> SyncResult {
    let LinkWords {
        carrier,
        console,
        account,
    } = words;
    let not_in_account = || {
        SyncResult::failed(format!(
            "{carrier} number {e164} is not in this {carrier} account ({account}), so it cannot be linked to application {app}. Add it to the account in {console}, then sync again."
        ))
    };
    let could_not_link = |why: String| {
        SyncResult::failed(format!(
            "{carrier} could not link number {e164} to application {app}: {why}. Link it to the application in {console}, or sync again."
        ))
    };
    let before = match read() {
        Ok(Some(route)) => route,
        Ok(None) => return not_in_account(),
        Err(e) => return could_not_link(e),
    };
    if before.is_application(app) {
        return SyncResult::ok();
    }
    if let Err(e) = link(&before) {
        return could_not_link(e);
    }
    match read() {
        Ok(Some(after)) if after.is_application(app) => SyncResult {
            ok: true,
            message: (!before.is_nowhere()).then(|| {
                format!("{carrier} number {e164} was routed to {before}; it is now linked to application {app}.")
            }),
        },
        Ok(Some(after)) => SyncResult::failed(format!(
            "{carrier} number {e164} still routes to {after} after telebind linked it to application {app}. Link it to the application in {console}, then sync again."
        )),
        Ok(None) => not_in_account(),
        Err(e) => SyncResult::failed(format!(
            "{carrier} could not confirm that number {e164} is linked to application {app}: {e}. Check it in {console}, or sync again."
        )),
    }
}

/// The name of an application created at save time (PROVIDERS.md §3).
fn minted_name() -> String {
    format!("telebind-{}", credentials::random_hex())
}

/// How a carrier words the failures of creating its application at save time.
struct CreationWords {
    /// Followed by `: HTTP {status} {body}`; the save answers with the carrier's status.
    rejected: &'static str,
    /// Followed by `: {error}`; the save answers 502.
    unreachable: &'static str,
    /// Followed by `: {body}`; the save answers 502.
    missing_id: &'static str,
}

/// The id (at JSON `pointer`) of what a save-time creation made, or why the
/// save must be refused.
fn created_id(
    reply: Result<Reply, String>,
    success: &[u16],
    pointer: &str,
    words: &CreationWords,
) -> Result<String, ProvisionError> {
    let bad_gateway = |detail: String| ProvisionError { status: 502, detail };
    let reply = reply.map_err(|e| bad_gateway(format!("{}: {e}", words.unreachable)))?;
    if !success.contains(&reply.status) {
        let detail = format!("{}: HTTP {} {}", words.rejected, reply.status, reply.body);
        // A refusal answered with a success-looking status would read as a saved config.
        let status = if reply.status >= 400 { reply.status } else { 502 };
        return Err(ProvisionError { status, detail });
    }
    let body = reply
        .json()
        .map_err(|e| bad_gateway(format!("{}: {e}", words.unreachable)))?;
    match body.pointer(pointer) {
        Some(Value::String(id)) if !id.trim().is_empty() => Ok(id.clone()),
        Some(Value::Number(id)) => Ok(id.to_string()),
        _ => Err(bad_gateway(format!("{}: {body}", words.missing_id))),
    }
}

fn scrubbed(creds: &Credentials, e: ProvisionError) -> ProvisionError {
    ProvisionError {
        detail: scrub(creds, &e.detail),
        ..e
    }
}

/// Every sensitive credential value in `message` masked, then the message cut
/// to `MAX_MESSAGE_CHARS`: carriers may echo what we sent them.
fn scrub(creds: &Credentials, message: &str) -> String {
    let stored = creds.to_stored();
    let mut secrets: Vec<&str> = creds
        .kind()
        .sensitive_fields()
        .filter_map(|field| stored.pointer(&format!("/{}", field.replace('.', "/"))))
        .filter_map(Value::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    // Longest first, so a secret that contains another is masked whole.
    secrets.sort_by_key(|s| Reverse(s.len()));
    let mut text = message.to_string();
    for secret in secrets {
        text = text.replace(secret, &mask(secret));
    }
    if text.chars().count() <= MAX_MESSAGE_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_MESSAGE_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::testing::{blocking, carriers, number, twilio_creds, AUTH_TOKEN};
    use super::*;
    use crate::domain::provider::ProviderKind;

    fn creds(value: Value) -> Credentials {
        Credentials::from_stored(&value).unwrap()
    }

    #[test]
    fn carriers_are_shared_by_every_request_thread() {
        fn shared<T: Clone + Send + Sync + 'static>() {}
        shared::<Carriers>();
    }

    #[test]
    fn the_webhook_url_is_built_from_the_public_base_url() {
        let mut config = Config::default();
        config.server.public_base_url = "https://tb.example.com".into();
        assert_eq!(
            Carriers::new(&config).webhook_url(),
            "https://tb.example.com/api/v1/telephony/inbound/run"
        );
    }

    #[test]
    fn scrub_masks_every_sensitive_value_including_nested_ones() {
        let ari = creds(
            json!({"provider": "ari", "ari_endpoint": "http://pbx", "app_name": "app",
            "app_password": "pw-secret", "ws_client_name": "", "external_pbx":
            {"agent_api": {"url": "http://v", "username": "agent-user", "password": ""}}}),
        );
        let text = scrub(&ari, "pw-secret and agent-user at http://pbx as app");
        assert_eq!(text, "*****cret and ******user at http://pbx as app");
    }

    #[test]
    fn scrub_masks_a_longer_secret_whole_when_it_contains_a_shorter_one() {
        let twilio = creds(json!({"provider": "twilio", "account_sid": "AC12",
            "auth_token": "xxAC12yy", "amd_enabled": false}));
        assert_eq!(scrub(&twilio, "token xxAC12yy"), "token ****12yy");
    }

    #[test]
    fn scrub_cuts_long_messages_on_a_char_boundary() {
        let text = scrub(&twilio_creds(), &"é".repeat(600));
        assert_eq!(text.chars().count(), MAX_MESSAGE_CHARS);
        assert!(text.ends_with("é…"));
        let exact = "a".repeat(MAX_MESSAGE_CHARS);
        assert_eq!(scrub(&twilio_creds(), &exact), exact);
    }

    #[test]
    fn minted_names_are_telebind_and_12_hex() {
        let name = minted_name();
        let hex = name.strip_prefix("telebind-").unwrap();
        assert!(hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
        assert_ne!(minted_name(), name);
    }

    #[test]
    fn ari_is_always_ok_without_http() {
        let ari = creds(
            json!({"provider": "ari", "ari_endpoint": "http://pbx", "app_name": "app",
            "app_password": "pw", "ws_client_name": "", "external_pbx": null}),
        );
        assert_eq!(ari.kind(), ProviderKind::Ari);
        // A deadline already passed: any request would fail.
        let carriers = carriers("http://127.0.0.1:9", 0);
        assert_eq!(
            carriers.configure_inbound(&ari, number("sip:100@pbx"), true),
            SyncResult::ok()
        );
        assert_eq!(
            carriers.configure_inbound(&ari, number("+15551230002"), false),
            SyncResult::ok()
        );
        assert_eq!(carriers.check_ownership(&ari, number("+15551230002")), Ownership::Owned);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_message_echoing_the_auth_token_is_scrubbed() {
        use wiremock::matchers::method;
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(401).set_body_string(format!("bad token {AUTH_TOKEN}")))
            .mount(&server)
            .await;
        let carriers = carriers(&server.uri(), 1000);
        let result = blocking(move || carriers.configure_inbound(&twilio_creds(), number("+15551230002"), true)).await;
        let message = result.message.unwrap();
        assert!(!message.contains(AUTH_TOKEN), "{message}");
        assert!(
            message.ends_with(&format!("bad token {}", mask(AUTH_TOKEN))),
            "{message}"
        );
    }
}
