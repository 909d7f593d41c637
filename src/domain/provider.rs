//! The seven providers and what the contract says about each: names,
//! connectivity, the routing account field, and the UI metadata whose
//! `sensitive` flags decide what is masked.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    Ari,
    Cloudonix,
    Plivo,
    Telnyx,
    Twilio,
    Vobiz,
    Vonage,
}

impl ProviderKind {
    /// Sorted by name, as the metadata endpoint lists them.
    pub const ALL: [ProviderKind; 7] = [
        ProviderKind::Ari,
        ProviderKind::Cloudonix,
        ProviderKind::Plivo,
        ProviderKind::Telnyx,
        ProviderKind::Twilio,
        ProviderKind::Vobiz,
        ProviderKind::Vonage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Ari => "ari",
            ProviderKind::Cloudonix => "cloudonix",
            ProviderKind::Plivo => "plivo",
            ProviderKind::Telnyx => "telnyx",
            ProviderKind::Twilio => "twilio",
            ProviderKind::Vobiz => "vobiz",
            ProviderKind::Vonage => "vonage",
        }
    }

    pub fn parse(name: &str) -> Option<ProviderKind> {
        ProviderKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The credential inbound calls are routed on, with the number; `None` for ARI.
    pub fn routing_account_field(self) -> Option<&'static str> {
        match self {
            ProviderKind::Twilio => Some("account_sid"),
            ProviderKind::Vonage => Some("api_key"),
            ProviderKind::Plivo | ProviderKind::Vobiz => Some("auth_id"),
            ProviderKind::Telnyx => Some("connection_id"),
            ProviderKind::Cloudonix => Some("domain_id"),
            ProviderKind::Ari => None,
        }
    }

    /// The credentials the carrier receives verbatim in an HTTP header
    /// (`providers/`); Basic credentials travel base64-encoded and may hold anything.
    pub fn header_fields(self) -> &'static [&'static str] {
        match self {
            ProviderKind::Telnyx => &["api_key"],
            ProviderKind::Cloudonix => &["bearer_token"],
            ProviderKind::Vobiz => &["auth_id", "auth_token"],
            _ => &[],
        }
    }

    pub fn metadata(self) -> &'static ProviderMetadata {
        metadata()
            .providers
            .iter()
            .find(|p| p.provider == self.as_str())
            .expect("every provider has metadata")
    }

    pub fn display_name(self) -> &'static str {
        &self.metadata().display_name
    }

    pub fn connectivity(self) -> &'static str {
        &self.metadata().connectivity
    }

    pub fn docs_url(self) -> Option<&'static str> {
        self.metadata().docs_url.as_deref()
    }

    /// Dotted paths of the credential fields masked on read.
    pub fn sensitive_fields(self) -> impl Iterator<Item = &'static str> {
        let gated: &[&str] = match self {
            // Feature-gated fields the metadata endpoint does not list, masked all the same.
            ProviderKind::Ari => &[
                "external_pbx.agent_api.username",
                "external_pbx.agent_api.password",
                "external_pbx.non_agent_api.username",
                "external_pbx.non_agent_api.password",
            ],
            _ => &[],
        };
        let listed = self
            .metadata()
            .fields
            .iter()
            .filter(|f| f.sensitive)
            .map(|f| f.name.as_str());
        listed.chain(gated.iter().copied())
    }
}

/// What a configuration still needs before it can carry calls.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetupChecklist {
    pub ready_for_outbound: bool,
    pub outbound_blocked_reason: Option<String>,
    pub steps: Vec<SetupStep>,
    pub docs_url: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetupStep {
    pub key: &'static str,
    pub title: &'static str,
    pub description: String,
    pub complete: bool,
    pub blocks_outbound: bool,
}

impl ProviderKind {
    /// Every provider but ARI needs a caller-id number; ARI has no checklist.
    pub fn setup_checklist(self, active_numbers: i64) -> Option<SetupChecklist> {
        if self == ProviderKind::Ari {
            return None;
        }
        let step = SetupStep {
            key: "caller_id",
            title: "Add a phone number to use as caller ID",
            description: format!(
                "Outbound calls need a number to dial from. Add at least one number from your {} account under Phone numbers below.",
                self.display_name()
            ),
            complete: active_numbers > 0,
            blocks_outbound: true,
        };
        let blocked = [&step]
            .into_iter()
            .find(|s| s.blocks_outbound && !s.complete)
            .map(|s| s.description.clone());
        Some(SetupChecklist {
            ready_for_outbound: blocked.is_none(),
            outbound_blocked_reason: blocked,
            steps: vec![step],
            docs_url: self.docs_url(),
        })
    }
}

/// One provider of `GET /telephony-providers/metadata`.
#[derive(Debug, Deserialize)]
pub struct ProviderMetadata {
    pub provider: String,
    pub display_name: String,
    pub connectivity: String,
    pub fields: Vec<FieldMetadata>,
    pub docs_url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct FieldMetadata {
    pub name: String,
    pub sensitive: bool,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    providers: Vec<ProviderMetadata>,
}

/// The metadata response, served as written: labels and descriptions are the
/// reference's, byte for byte.
pub const METADATA_JSON: &str = include_str!("providers-metadata.json");

fn metadata() -> &'static Metadata {
    static METADATA: OnceLock<Metadata> = OnceLock::new();
    METADATA.get_or_init(|| serde_json::from_str(METADATA_JSON).expect("providers-metadata.json is valid"))
}

/// `"*" × (len − 4)` then the last 4 characters; all `*` when 4 or fewer.
pub fn mask(secret: &str) -> String {
    let len = secret.chars().count();
    let shown = if len > 4 { 4 } else { 0 };
    let tail: String = secret.chars().skip(len - shown).collect();
    format!("{}{tail}", "*".repeat(len - shown))
}

/// Masks every non-empty sensitive string of `credentials` in place.
pub fn mask_credentials(kind: ProviderKind, credentials: &mut Value) {
    for path in kind.sensitive_fields() {
        if let Some(Value::String(s)) = field_mut(credentials, path) {
            if !s.is_empty() {
                *s = mask(s);
            }
        }
    }
}

/// On update: a submitted sensitive value equal to the mask of the stored one
/// means "unchanged", so a GET body sent back as a PUT keeps every secret.
pub fn preserve_masked(kind: ProviderKind, submitted: &mut Value, stored: &Value) {
    for path in kind.sensitive_fields() {
        let Some(Value::String(old)) = field(stored, path) else {
            continue;
        };
        if let Some(Value::String(new)) = field_mut(submitted, path) {
            if !new.is_empty() && *new == mask(old) {
                *new = old.clone();
            }
        }
    }
}

/// Masks, anywhere in `value`, every string under a key that names a sensitive
/// field of some provider: error reports echo request bodies, and a secret
/// must not come back even to the client that sent it.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(s) if is_sensitive(key) => *s = mask(s),
                    _ => redact(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// `redact` for the `input` of an error at `loc`: also masks a secret
/// reported on its own, as when the error is about that very field.
pub fn redact_input(loc: &[Value], input: &mut Value) {
    match (loc.last().and_then(Value::as_str), &mut *input) {
        (Some(key), Value::String(s)) if is_sensitive(key) => *s = mask(s),
        _ => redact(input),
    }
}

/// Whether `key` names a sensitive field of some provider.
fn is_sensitive(key: &str) -> bool {
    ProviderKind::ALL
        .iter()
        .any(|k| k.sensitive_fields().any(|path| path.rsplit('.').next() == Some(key)))
}

fn field<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

fn field_mut<'a>(value: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    path.split('.').try_fold(value, |v, key| v.get_mut(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_checklist_blocks_outbound_until_a_number_is_active() {
        let blocked = ProviderKind::Twilio.setup_checklist(0).unwrap();
        assert!(!blocked.ready_for_outbound);
        assert_eq!(
            blocked.outbound_blocked_reason.as_deref(),
            Some(blocked.steps[0].description.as_str())
        );
        assert!(blocked.steps[0].description.contains("your Twilio account"));
        let ready = ProviderKind::Twilio.setup_checklist(1).unwrap();
        assert!(ready.ready_for_outbound && ready.outbound_blocked_reason.is_none());
        assert_eq!(ProviderKind::Ari.setup_checklist(0), None);
    }

    #[test]
    fn redaction_masks_sensitive_keys_at_any_depth() {
        let mut body = json!({"name": "n", "config": {"auth_token": "tok-12345", "account_sid": "AC9999",
            "external_pbx": {"agent_api": {"password": "pw-5678"}}}, "auth_id": 5});
        redact(&mut body);
        assert_eq!(body["config"]["auth_token"], "*****2345");
        assert_eq!(body["config"]["account_sid"], "**9999");
        assert_eq!(body["config"]["external_pbx"]["agent_api"]["password"], "***5678");
        assert_eq!((body["name"].clone(), body["auth_id"].clone()), (json!("n"), json!(5)));
    }

    #[test]
    fn an_error_about_a_secret_field_does_not_echo_it() {
        let loc = [json!("body"), json!("config"), json!("telnyx"), json!("api_key")];
        let mut input = json!("KEY\u{0}0123456789");
        redact_input(&loc, &mut input);
        assert_eq!(input, json!("**********6789"));
        let mut name = json!("Main\u{0}line");
        redact_input(&[json!("body"), json!("name")], &mut name);
        assert_eq!(name, json!("Main\u{0}line"));
    }

    #[test]
    fn masks_keep_length_and_the_last_four() {
        assert_eq!(
            mask("AC0123456789abcdef0123456789abcd"),
            format!("{}abcd", "*".repeat(28))
        );
        assert_eq!(mask("sk-1234567890abcdef"), "***************cdef");
        assert_eq!(mask("abcd"), "****");
        assert_eq!(mask("ab"), "**");
        assert_eq!(mask(""), "");
    }

    #[test]
    fn metadata_lists_every_provider_sorted() {
        let names: Vec<&str> = metadata().providers.iter().map(|p| p.provider.as_str()).collect();
        let kinds: Vec<&str> = ProviderKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, kinds);
    }

    #[test]
    fn sensitive_fields_follow_the_metadata() {
        let twilio: Vec<_> = ProviderKind::Twilio.sensitive_fields().collect();
        assert_eq!(twilio, ["account_sid", "auth_token"]);
        let telnyx: Vec<_> = ProviderKind::Telnyx.sensitive_fields().collect();
        assert_eq!(telnyx, ["api_key"], "webhook_public_key is not sensitive");
        assert!(ProviderKind::Ari
            .sensitive_fields()
            .any(|f| f == "external_pbx.agent_api.password"));
    }

    #[test]
    fn masking_reaches_nested_fields_and_skips_empty_ones() {
        let mut creds = json!({"app_password": "secret-pw", "ari_endpoint": "http://pbx",
            "external_pbx": {"agent_api": {"username": "agent", "password": ""}}});
        mask_credentials(ProviderKind::Ari, &mut creds);
        assert_eq!(creds["app_password"], "*****t-pw");
        assert_eq!(creds["ari_endpoint"], "http://pbx");
        assert_eq!(creds["external_pbx"]["agent_api"]["username"], "*gent");
        assert_eq!(creds["external_pbx"]["agent_api"]["password"], "");
    }

    #[test]
    fn masked_values_are_replaced_by_the_stored_secret_and_others_kept() {
        let stored = json!({"account_sid": "AC111122223333", "auth_token": "tok-old-9999"});
        let mut same = json!({"account_sid": mask("AC111122223333"), "auth_token": mask("tok-old-9999")});
        preserve_masked(ProviderKind::Twilio, &mut same, &stored);
        assert_eq!(same, stored);
        let mut rotated = json!({"account_sid": mask("AC111122223333"), "auth_token": "tok-new-0000"});
        preserve_masked(ProviderKind::Twilio, &mut rotated, &stored);
        assert_eq!(rotated["auth_token"], "tok-new-0000");
        assert_eq!(rotated["account_sid"], "AC111122223333");
    }
}
