//! The seven providers and what the contract says about each: names,
//! connectivity, the routing account field, and the UI metadata whose
//! `sensitive` flags decide what is masked.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

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
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = ProviderSetupChecklist)]
pub struct SetupChecklist {
    pub ready_for_outbound: bool,
    #[schema(required = true)]
    pub outbound_blocked_reason: Option<String>,
    pub steps: Vec<SetupStep>,
    pub docs_url: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SetupStep {
    pub key: &'static str,
    pub title: &'static str,
    pub description: String,
    pub complete: bool,
    #[schema(required = false)]
    pub blocks_outbound: bool,
}

/// What a configuration's checklist is computed from (TRUNKS.md §6.1): its
/// stored rows, counted in the query that reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetupCounts {
    /// Numbers with `is_active`.
    pub active_numbers: i64,
    /// Active numbers bound to an inbound workflow.
    pub inbound_routed: i64,
    /// Enabled trunks (providers with trunks only).
    pub enabled_trunks: i64,
    /// Active numbers that no enabled trunk carries: unpinned, or pinned to
    /// a disabled trunk, whose calls go out unpinned all the same (W13).
    pub unassigned_active: i64,
}

impl SetupStep {
    fn new(key: &'static str, title: &'static str, description: String, complete: bool, blocks: bool) -> SetupStep {
        SetupStep {
            key,
            title,
            description,
            complete,
            blocks_outbound: blocks,
        }
    }
}

impl ProviderKind {
    /// Only Cloudonix models trunks (the reference's `trunk_settings_cls`).
    pub fn supports_trunks(self) -> bool {
        self == ProviderKind::Cloudonix
    }

    /// The checklist of a configuration of this provider (TRUNKS.md §6.2):
    /// Cloudonix's own, none for ARI (it needs no caller id), and a caller-id
    /// step for the others. `connected`: the account's credentials are all
    /// there (read by Cloudonix's first step).
    pub fn setup_checklist(self, counts: &SetupCounts, connected: bool) -> Option<SetupChecklist> {
        let caller_id_title = "Add a phone number to use as caller ID";
        let has_caller_id = counts.active_numbers > 0;
        let steps = match self {
            ProviderKind::Ari => return None,
            ProviderKind::Cloudonix => {
                // telebind has no managed Cloudonix domains (§6.4): the
                // self-serve texts, and the trunk step never blocks.
                let mut steps = vec![
                    SetupStep::new(
                        "sip_domain",
                        "Cloudonix credentials saved",
                        "Your Cloudonix bearer token and domain are stored and used for every call on this configuration.".into(),
                        connected,
                        true,
                    ),
                    SetupStep::new(
                        "outbound_trunk",
                        "Connect your SIP carrier for outbound calls",
                        "Optional: add a trunk under Outbound trunks to pin telebind's calls to one route. Without it Cloudonix picks among the active trunks on your domain.".into(),
                        counts.enabled_trunks > 0,
                        false,
                    ),
                    SetupStep::new(
                        "caller_id",
                        caller_id_title,
                        "Add at least one number your carrier delivers to you. Cloudonix requires a caller ID on every outbound call and rejects the call without one.".into(),
                        has_caller_id,
                        true,
                    ),
                ];
                if counts.enabled_trunks > 1 {
                    steps.push(SetupStep::new(
                        "trunk_assignment",
                        "Tell telebind which trunk each number dials out on",
                        "This configuration has more than one trunk, so a number's carrier is no longer obvious. Assign each phone number to the trunk whose carrier authorised it \u{2014} otherwise telebind cannot pin the call and Cloudonix picks among your active trunks.".into(),
                        counts.unassigned_active == 0,
                        false,
                    ));
                }
                steps.push(SetupStep::new(
                    "inbound_routing",
                    "Point a number at an agent for inbound calls",
                    "Only needed to receive calls: set an inbound workflow on a phone number below, and bind its DNID to the Voice Application in your Cloudonix Cockpit.".into(),
                    counts.inbound_routed > 0,
                    false,
                ));
                steps
            }
            _ => vec![SetupStep::new(
                "caller_id",
                caller_id_title,
                format!(
                    "Outbound calls need a number to dial from. Add at least one number from your {} account under Phone numbers below.",
                    self.display_name()
                ),
                has_caller_id,
                true,
            )],
        };
        let blocked = steps
            .iter()
            .find(|s| s.blocks_outbound && !s.complete)
            .map(|s| s.description.clone());
        Some(SetupChecklist {
            ready_for_outbound: blocked.is_none(),
            outbound_blocked_reason: blocked,
            steps,
            docs_url: self.docs_url(),
        })
    }
}

/// One provider of `GET /telephony-providers/metadata`: the form of its
/// configuration.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = TelephonyProviderMetadata)]
pub struct ProviderMetadata {
    pub provider: String,
    pub display_name: String,
    #[schema(schema_with = connectivity_schema, required = false)]
    pub connectivity: String,
    pub fields: Vec<FieldMetadata>,
    pub docs_url: Option<String>,
}

/// `api` for carriers driven through their HTTP API, `sip` for the others.
pub fn connectivity_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["api", "sip"]))
        .build()
}

/// One field of a provider's configuration form.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = TelephonyProviderUIField)]
pub struct FieldMetadata {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub required: bool,
    /// Masked on every read.
    pub sensitive: bool,
    pub description: Option<String>,
    pub placeholder: Option<String>,
    pub options: Option<Vec<FieldOption>>,
    pub visible_when: Option<FieldCondition>,
    pub section: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = TelephonyProviderUIOption)]
pub struct FieldOption {
    pub value: String,
    pub label: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = TelephonyProviderUICondition)]
pub struct FieldCondition {
    pub field: String,
    pub equals: Value,
}

/// The metadata response.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = TelephonyProvidersMetadataResponse)]
pub struct Metadata {
    pub providers: Vec<ProviderMetadata>,
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

    fn counts(active_numbers: i64) -> SetupCounts {
        SetupCounts {
            active_numbers,
            ..SetupCounts::default()
        }
    }

    #[test]
    fn the_checklist_blocks_outbound_until_a_number_is_active() {
        let blocked = ProviderKind::Twilio.setup_checklist(&counts(0), true).unwrap();
        assert!(!blocked.ready_for_outbound);
        assert_eq!(
            blocked.outbound_blocked_reason.as_deref(),
            Some(blocked.steps[0].description.as_str())
        );
        assert!(blocked.steps[0].description.contains("your Twilio account"));
        let ready = ProviderKind::Twilio.setup_checklist(&counts(1), true).unwrap();
        assert!(ready.ready_for_outbound && ready.outbound_blocked_reason.is_none());
        assert_eq!(ProviderKind::Ari.setup_checklist(&counts(0), true), None);
    }

    fn cloudonix_keys(counts: &SetupCounts) -> Vec<(&'static str, bool)> {
        let list = ProviderKind::Cloudonix.setup_checklist(counts, true).unwrap();
        list.steps.iter().map(|s| (s.key, s.complete)).collect()
    }

    #[test]
    fn cloudonix_asks_for_a_trunk_per_number_only_with_two_enabled_trunks() {
        let empty = ProviderKind::Cloudonix.setup_checklist(&counts(0), true).unwrap();
        assert_eq!(
            cloudonix_keys(&counts(0)),
            [
                ("sip_domain", true),
                ("outbound_trunk", false),
                ("caller_id", false),
                ("inbound_routing", false)
            ]
        );
        let blocks: Vec<bool> = empty.steps.iter().map(|s| s.blocks_outbound).collect();
        assert_eq!(blocks, [true, false, true, false]);
        assert_eq!(
            empty.outbound_blocked_reason.as_deref(),
            Some(empty.steps[2].description.as_str())
        );
        let two = SetupCounts {
            active_numbers: 1,
            enabled_trunks: 2,
            unassigned_active: 1,
            inbound_routed: 1,
        };
        let list = ProviderKind::Cloudonix.setup_checklist(&two, true).unwrap();
        assert_eq!(list.steps[3].key, "trunk_assignment");
        assert!(
            !list.steps[3].complete && list.ready_for_outbound,
            "assignment never blocks"
        );
        assert!(list.steps[3].description.contains("\u{2014} otherwise telebind"));
        let one = SetupCounts {
            enabled_trunks: 1,
            ..two
        };
        assert!(!cloudonix_keys(&one).iter().any(|(k, _)| *k == "trunk_assignment"));
        assert_eq!(
            ProviderKind::Cloudonix
                .setup_checklist(&one, false)
                .unwrap()
                .outbound_blocked_reason
                .as_deref(),
            Some("Your Cloudonix bearer token and domain are stored and used for every call on this configuration.")
        );
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
