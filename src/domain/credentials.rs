//! The `config` payload of a telephony configuration: one type per provider
//! behind one enum discriminated by `provider` (API.md §4.1).

use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::openapi::schema::{Discriminator, OneOfBuilder, Schema};
use utoipa::openapi::{ObjectBuilder, Ref, RefOr, Type};
use utoipa::{PartialSchema, ToSchema};

use super::input::{Chars, Fields, Need, Reader, Text};
use super::provider::{self, ProviderKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum Credentials {
    Twilio(Twilio),
    Vonage(Vonage),
    Plivo(AppAccount),
    Telnyx(Telnyx),
    Vobiz(AppAccount),
    Cloudonix(Cloudonix),
    Ari(Ari),
}

// Each struct's schema is what a request sends for its provider
// (`Credentials`' schema adds `provider`); required strings must not be
// blank once trimmed.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Twilio {
    #[schema(min_length = 1)]
    pub account_sid: String,
    #[schema(min_length = 1)]
    pub auth_token: String,
    /// Answering-machine detection on outbound calls.
    #[schema(required = false, default = false)]
    pub amd_enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Vonage {
    #[schema(min_length = 1)]
    pub application_id: String,
    #[schema(min_length = 1)]
    pub private_key: String,
    #[schema(min_length = 1)]
    pub api_key: String,
    #[schema(min_length = 1)]
    pub api_secret: String,
    /// Verifies Vonage's signed webhooks.
    pub signature_secret: Option<String>,
}

/// Plivo and Vobiz: an account id and token, and the application numbers answer on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AppAccount {
    #[schema(min_length = 1)]
    pub auth_id: String,
    #[schema(min_length = 1)]
    pub auth_token: String,
    /// Created at save time when omitted.
    pub application_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Telnyx {
    #[schema(min_length = 1)]
    pub api_key: String,
    /// The Call Control Application; created at save time when omitted.
    pub connection_id: Option<String>,
    pub webhook_public_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Cloudonix {
    #[schema(min_length = 1)]
    pub bearer_token: String,
    /// Trimmed, lower-cased, `.cloudonix.net` appended when it has no dot.
    #[schema(min_length = 1)]
    pub domain_id: String,
    /// The Voice Application; created at save time when omitted.
    pub application_name: Option<String>,
    /// Server-managed: resolved at save time, never accepted from clients nor shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub domain_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub application_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub application_uuid: Option<String>,
}

/// Cloudonix keys clients never send and never see.
const CLOUDONIX_MANAGED: [&str; 5] = [
    "domain_uuid",
    "application_id",
    "application_uuid",
    "managed_by",
    "provisioning_id",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Ari {
    /// An `http://` or `https://` URL, e.g. `http://asterisk.example.com:8088`.
    #[schema(min_length = 1)]
    pub ari_endpoint: String,
    #[schema(min_length = 1)]
    pub app_name: String,
    #[schema(min_length = 1)]
    pub app_password: String,
    #[schema(required = false, default = "")]
    pub ws_client_name: String,
    /// Minted on create, carried over on update; shown, not sensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub stasis_app_name: Option<String>,
    /// Stored as sent (masked on read); nothing acts on it.
    #[schema(value_type = Option<Object>)]
    pub external_pbx: Option<Value>,
}

/// The schema of a request's `config` for `kind`, as the reference names it.
fn request_schema_name(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Ari => "ARIConfigurationRequest",
        ProviderKind::Cloudonix => "CloudonixConfigurationRequest",
        ProviderKind::Plivo => "PlivoConfigurationRequest",
        ProviderKind::Telnyx => "TelnyxConfigurationRequest",
        ProviderKind::Twilio => "TwilioConfigurationRequest",
        ProviderKind::Vobiz => "VobizConfigurationRequest",
        ProviderKind::Vonage => "VonageConfigurationRequest",
    }
}

/// A provider's fields with the `provider` tag that `Credentials::read` requires.
fn request_schema(kind: ProviderKind) -> Schema {
    let fields = match kind {
        ProviderKind::Ari => Ari::schema(),
        ProviderKind::Cloudonix => Cloudonix::schema(),
        ProviderKind::Plivo | ProviderKind::Vobiz => AppAccount::schema(),
        ProviderKind::Telnyx => Telnyx::schema(),
        ProviderKind::Twilio => Twilio::schema(),
        ProviderKind::Vonage => Vonage::schema(),
    };
    let RefOr::T(Schema::Object(fields)) = fields else {
        unreachable!("a struct's schema is an object")
    };
    let tag = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([kind.as_str()]));
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(format!(
            "The credentials of a {} configuration.",
            kind.display_name()
        )))
        .property("provider", tag)
        .required("provider")
        .build();
    object.properties.extend(fields.properties);
    object.required.extend(fields.required);
    Schema::Object(object)
}

/// A request's `config`: one schema per provider, chosen by `provider`.
impl PartialSchema for Credentials {
    fn schema() -> RefOr<Schema> {
        let kinds = ProviderKind::ALL;
        let mapping = kinds.map(|k| (k.as_str(), format!("#/components/schemas/{}", request_schema_name(k))));
        let one_of = kinds
            .into_iter()
            .fold(OneOfBuilder::new(), |one_of, k| {
                one_of.item(Ref::from_schema_name(request_schema_name(k)))
            })
            .discriminator(Some(Discriminator::with_mapping("provider", mapping)));
        Schema::OneOf(one_of.build()).into()
    }
}

impl ToSchema for Credentials {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.extend(ProviderKind::ALL.map(|k| (request_schema_name(k).to_string(), request_schema(k).into())));
    }
}

/// A submitted `config` of another provider than the stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderChanged;

impl Credentials {
    pub fn kind(&self) -> ProviderKind {
        match self {
            Credentials::Twilio(_) => ProviderKind::Twilio,
            Credentials::Vonage(_) => ProviderKind::Vonage,
            Credentials::Plivo(_) => ProviderKind::Plivo,
            Credentials::Telnyx(_) => ProviderKind::Telnyx,
            Credentials::Vobiz(_) => ProviderKind::Vobiz,
            Credentials::Cloudonix(_) => ProviderKind::Cloudonix,
            Credentials::Ari(_) => ProviderKind::Ari,
        }
    }

    /// The account inbound calls are routed on; empty when the provider has none.
    pub fn routing_account(&self) -> &str {
        match self {
            Credentials::Twilio(c) => &c.account_sid,
            Credentials::Vonage(c) => &c.api_key,
            Credentials::Plivo(c) | Credentials::Vobiz(c) => &c.auth_id,
            Credentials::Telnyx(c) => c.connection_id.as_deref().unwrap_or(""),
            Credentials::Cloudonix(c) => &c.domain_id,
            Credentials::Ari(_) => "",
        }
    }

    /// Whether the account's API credentials are all there (Cloudonix's
    /// first setup step; the others require theirs to be saved at all).
    pub fn connected(&self) -> bool {
        match self {
            Credentials::Cloudonix(c) => !c.bearer_token.is_empty() && !c.domain_id.is_empty(),
            _ => true,
        }
    }

    /// A Telnyx configuration without the key that verifies its webhooks, or
    /// a Vonage one without its signature secret (the warnings of TRUNKS.md
    /// §4); blank counts as missing, since it verifies nothing either.
    pub fn webhook_secret_missing(&self) -> bool {
        let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
        match self {
            Credentials::Telnyx(c) => blank(&c.webhook_public_key),
            Credentials::Vonage(c) => blank(&c.signature_secret),
            _ => false,
        }
    }

    /// Reads `value` (at `loc`) as a `config` payload, reporting every problem.
    pub fn read(value: &Value, loc: Vec<Value>, r: &mut Reader) -> Option<Credentials> {
        let f = r.object(value, loc.clone())?;
        let kind = read_tag(&f, value, loc.clone(), r)?;
        let mut loc = loc;
        loc.push(kind.as_str().into());
        let f = r.object(value, loc)?;
        let required =
            |r: &mut Reader, name| r.text(&f, name, Need::Required, Text::name(usize::MAX).with(chars(kind, name)));
        let optional = |r: &mut Reader, name| optional_text(r, &f, kind, name);
        Some(match kind {
            ProviderKind::Twilio => {
                let (account_sid, auth_token) = (required(r, "account_sid"), required(r, "auth_token"));
                let amd_enabled = r.bool(&f, "amd_enabled", Need::Optional).unwrap_or(false);
                Credentials::Twilio(Twilio {
                    account_sid: account_sid?,
                    auth_token: auth_token?,
                    amd_enabled,
                })
            }
            ProviderKind::Vonage => {
                let application_id = required(r, "application_id");
                let private_key = required(r, "private_key");
                let api_key = required(r, "api_key");
                let api_secret = required(r, "api_secret");
                let signature_secret = optional(r, "signature_secret");
                Credentials::Vonage(Vonage {
                    application_id: application_id?,
                    private_key: private_key?,
                    api_key: api_key?,
                    api_secret: api_secret?,
                    signature_secret,
                })
            }
            ProviderKind::Plivo | ProviderKind::Vobiz => {
                let (auth_id, auth_token) = (required(r, "auth_id"), required(r, "auth_token"));
                let account = AppAccount {
                    auth_id: auth_id?,
                    auth_token: auth_token?,
                    application_id: optional(r, "application_id"),
                };
                match kind {
                    ProviderKind::Plivo => Credentials::Plivo(account),
                    _ => Credentials::Vobiz(account),
                }
            }
            ProviderKind::Telnyx => {
                let api_key = required(r, "api_key");
                let connection_id = optional(r, "connection_id");
                let webhook_public_key = optional(r, "webhook_public_key");
                Credentials::Telnyx(Telnyx {
                    api_key: api_key?,
                    connection_id,
                    webhook_public_key,
                })
            }
            ProviderKind::Cloudonix => {
                let bearer_token = required(r, "bearer_token");
                let domain_id = r
                    .text(&f, "domain_id", Need::Required, Text::name(usize::MAX))
                    .and_then(|d| {
                        let domain = normalize_cloudonix_domain(&d);
                        if domain.is_empty() {
                            r.value_error(f.loc("domain_id"), "domain_id must name a Cloudonix domain", d.into());
                            return None;
                        }
                        Some(domain)
                    });
                let application_name = optional(r, "application_name");
                Credentials::Cloudonix(Cloudonix {
                    bearer_token: bearer_token?,
                    domain_id: domain_id?,
                    application_name,
                    domain_uuid: None,
                    application_id: None,
                    application_uuid: None,
                })
            }
            ProviderKind::Ari => {
                let ari_endpoint = required(r, "ari_endpoint").and_then(|url| {
                    if is_http_url(&url) {
                        return Some(url);
                    }
                    let text = "ari_endpoint must be an http:// or https:// URL, e.g. http://asterisk.example.com:8088";
                    r.value_error(f.loc("ari_endpoint"), text, url.into());
                    None
                });
                let app_name = required(r, "app_name");
                let app_password = required(r, "app_password");
                let ws_client_name = r
                    .text(&f, "ws_client_name", Need::Optional, Text::trimmed())
                    .unwrap_or_default();
                let external_pbx = r.dict(&f, "external_pbx", Need::Optional).map(Value::Object);
                Credentials::Ari(Ari {
                    ari_endpoint: ari_endpoint?,
                    app_name: app_name?,
                    app_password: app_password?,
                    ws_client_name,
                    stasis_app_name: None,
                    external_pbx,
                })
            }
        })
    }

    /// Server-side values of a new configuration (ARI's Stasis app name).
    pub fn mint(&mut self) {
        if let Credentials::Ari(ari) = self {
            ari.stasis_app_name = Some(format!("telebind_{}", random_hex()));
        }
    }

    /// The credentials to store when `self` is submitted over `stored`: masked
    /// secrets keep the stored value and server-managed values carry over.
    pub fn update_over(self, stored: &Credentials) -> Result<Credentials, ProviderChanged> {
        if self.kind() != stored.kind() {
            return Err(ProviderChanged);
        }
        let mut submitted = self.to_stored();
        provider::preserve_masked(self.kind(), &mut submitted, &stored.to_stored());
        let mut merged = Credentials::from_stored(&submitted).expect("a stored shape reads back");
        match (&mut merged, stored) {
            (Credentials::Ari(new), Credentials::Ari(old)) => new.stasis_app_name.clone_from(&old.stasis_app_name),
            // Account-scoped values belong to the old domain when it changed.
            (Credentials::Cloudonix(new), Credentials::Cloudonix(old)) if new.domain_id == old.domain_id => {
                new.domain_uuid.clone_from(&old.domain_uuid);
                new.application_id = old.application_id;
                new.application_uuid.clone_from(&old.application_uuid);
            }
            _ => {}
        }
        Ok(merged)
    }

    /// The JSON stored in the database.
    pub fn to_stored(&self) -> Value {
        serde_json::to_value(self).expect("credentials serialize")
    }

    pub fn from_stored(value: &Value) -> Result<Credentials, serde_json::Error> {
        // Through text, as from the database: a `Value` would hand the tag's
        // buffer integers of 65 to 128 bits as u128, which it refuses.
        serde_json::from_str(&value.to_string())
    }

    /// The `credentials` of a response: masked, without the tag or server-managed keys.
    pub fn display(&self) -> Value {
        let mut value = self.to_stored();
        if let Value::Object(map) = &mut value {
            map.remove("provider");
            if self.kind() == ProviderKind::Cloudonix {
                for key in CLOUDONIX_MANAGED {
                    map.remove(key);
                }
            }
        }
        provider::mask_credentials(self.kind(), &mut value);
        value
    }
}

fn read_tag(f: &Fields, value: &Value, loc: Vec<Value>, r: &mut Reader) -> Option<ProviderKind> {
    let expected = ProviderKind::ALL.map(|k| format!("'{}'", k.as_str())).join(", ");
    let tag = match f.get("provider") {
        super::input::Patch::Value(Value::String(tag)) => tag.clone(),
        super::input::Patch::Value(other) => other.to_string(),
        _ => {
            let msg = "Unable to extract tag using discriminator 'provider'";
            r.error(
                "union_tag_not_found",
                loc,
                msg,
                value.clone(),
                Some(json!({"discriminator": "'provider'"})),
            );
            return None;
        }
    };
    let kind = ProviderKind::parse(&tag);
    if kind.is_none() {
        let msg =
            format!("Input tag '{tag}' found using 'provider' does not match any of the expected tags: {expected}");
        let ctx = json!({"discriminator": "'provider'", "tag": tag, "expected_tags": expected});
        r.error("union_tag_invalid", loc, msg, value.clone(), Some(ctx));
    }
    kind
}

/// An optional string: blank counts as not given.
fn optional_text(r: &mut Reader, f: &Fields, kind: ProviderKind, name: &str) -> Option<String> {
    r.text(f, name, Need::Optional, Text::trimmed().with(chars(kind, name)))
        .filter(|s| !s.is_empty())
}

/// The characters credential `name` may hold: what its carrier receives in
/// an HTTP header must be valid there, keys in PEM form span lines, and
/// nothing else may hold control characters.
fn chars(kind: ProviderKind, name: &str) -> Chars {
    if kind.header_fields().contains(&name) {
        Chars::Header
    } else if name == "private_key" || name == "webhook_public_key" {
        Chars::Lines
    } else {
        Chars::Line
    }
}

/// 6 random bytes as 12 hex digits: the unique part of names telebind mints.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 6];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Trimmed, trailing `.` removed, lower-cased; a bare name gets `.cloudonix.net`.
pub fn normalize_cloudonix_domain(raw: &str) -> String {
    let domain = raw.trim().trim_end_matches('.').to_lowercase();
    if domain.is_empty() || domain.contains('.') {
        domain
    } else {
        format!("{domain}.cloudonix.net")
    }
}

fn is_http_url(url: &str) -> bool {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !r.contains(char::is_whitespace)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(value: Value) -> Result<Credentials, Vec<super::super::input::FieldError>> {
        let mut r = Reader::new();
        let creds = Credentials::read(&value, vec!["body".into(), "config".into()], &mut r);
        r.finish(creds)
    }

    #[test]
    fn cloudonix_domains_are_normalized() {
        assert_eq!(normalize_cloudonix_domain(" Acme. "), "acme.cloudonix.net");
        assert_eq!(normalize_cloudonix_domain("Voice.Example.COM."), "voice.example.com");
    }

    #[test]
    fn required_fields_are_missing_at_their_provider_loc() {
        let errors = read(json!({"provider": "twilio", "account_sid": "AC1"})).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].kind, "missing");
        assert_eq!(
            errors[0].loc,
            vec![json!("body"), json!("config"), json!("twilio"), json!("auth_token")]
        );
    }

    #[test]
    fn blank_required_strings_are_rejected() {
        let errors = read(json!({"provider": "plivo", "auth_id": "  ", "auth_token": "t"})).unwrap_err();
        assert_eq!(errors[0].kind, "string_too_short");
    }

    #[test]
    fn unknown_and_missing_tags_are_union_errors() {
        assert_eq!(
            read(json!({"account_sid": "x"})).unwrap_err()[0].kind,
            "union_tag_not_found"
        );
        let invalid = read(json!({"provider": "sinch"})).unwrap_err();
        assert_eq!(invalid[0].kind, "union_tag_invalid");
        assert_eq!(invalid[0].loc, vec![json!("body"), json!("config")]);
    }

    #[test]
    fn ari_endpoint_must_be_an_http_url() {
        let base = |url: &str| json!({"provider": "ari", "ari_endpoint": url, "app_name": "a", "app_password": "p"});
        assert!(read(base("http://pbx.local:8088")).is_ok());
        assert!(read(base("https://pbx.local")).is_ok());
        for bad in ["pbx.local:8088", "ftp://pbx", "http://", "http://a b"] {
            assert_eq!(read(base(bad)).unwrap_err()[0].kind, "value_error", "{bad}");
        }
    }

    #[test]
    fn unknown_keys_are_dropped_and_optional_blanks_are_none() {
        let creds =
            read(json!({"provider": "telnyx", "api_key": "KEY1234", "connection_id": " ", "extra": 1})).unwrap();
        assert_eq!(
            creds,
            Credentials::Telnyx(Telnyx {
                api_key: "KEY1234".into(),
                connection_id: None,
                webhook_public_key: None
            })
        );
    }

    #[test]
    fn routing_accounts_come_from_the_contracts_field() {
        for (kind, value) in [
            ("twilio", json!({"account_sid": "ACX", "auth_token": "t"})),
            (
                "vonage",
                json!({"application_id": "a", "private_key": "k", "api_key": "ACX", "api_secret": "s"}),
            ),
            ("plivo", json!({"auth_id": "ACX", "auth_token": "t"})),
            ("vobiz", json!({"auth_id": "ACX", "auth_token": "t"})),
            ("telnyx", json!({"api_key": "k", "connection_id": "ACX"})),
        ] {
            let mut value = value;
            value["provider"] = kind.into();
            let creds = read(value).unwrap();
            assert_eq!(creds.routing_account(), "ACX", "{kind}");
            let field = creds.kind().routing_account_field().unwrap();
            assert_eq!(creds.to_stored()[field], "ACX", "{kind}");
        }
    }

    #[test]
    fn updates_keep_masked_secrets_and_server_values_and_refuse_another_provider() {
        let mut stored = read(
            json!({"provider": "ari", "ari_endpoint": "http://pbx", "app_name": "a", "app_password": "pass-1234"}),
        )
        .unwrap();
        stored.mint();
        let round_trip =
            json!({"provider": "ari", "ari_endpoint": "http://pbx2", "app_name": "a", "app_password": "*****1234"});
        let updated = read(round_trip).unwrap().update_over(&stored).unwrap();
        let Credentials::Ari(ari) = &updated else { panic!() };
        assert_eq!(ari.app_password, "pass-1234");
        assert_eq!(ari.ari_endpoint, "http://pbx2");
        assert_eq!(
            ari.stasis_app_name,
            match &stored {
                Credentials::Ari(a) => a.stasis_app_name.clone(),
                _ => None,
            }
        );
        let twilio = read(json!({"provider": "twilio", "account_sid": "AC", "auth_token": "t"})).unwrap();
        assert_eq!(twilio.update_over(&stored), Err(ProviderChanged));
    }

    #[test]
    fn display_masks_and_hides_server_managed_cloudonix_fields() {
        let mut creds =
            read(json!({"provider": "cloudonix", "bearer_token": "tok-abcdef", "domain_id": "acme"})).unwrap();
        if let Credentials::Cloudonix(c) = &mut creds {
            c.domain_uuid = Some("uuid-1".into());
            c.application_id = Some(7);
        }
        let shown = creds.display();
        assert_eq!(
            shown,
            json!({"bearer_token": "******cdef", "domain_id": "acme.cloudonix.net", "application_name": null})
        );
    }

    #[test]
    fn numbers_of_any_size_in_external_pbx_survive_storage_and_updates() {
        let text = r#"{"provider": "ari", "ari_endpoint": "http://pbx", "app_name": "a", "app_password": "pass-1234",
            "external_pbx": {"n": 123456789012345678901234567890, "m": 1234567890123456789012345678901234567890, "f": 1.50}}"#;
        let stored = read(serde_json::from_str(text).unwrap()).unwrap();
        let expected = r#""external_pbx":{"f":1.50,"m":1234567890123456789012345678901234567890,"n":123456789012345678901234567890}"#;
        let from_db: Credentials = serde_json::from_str(&stored.to_stored().to_string()).unwrap();
        assert!(from_db.to_stored().to_string().contains(expected));
        let updated = from_db.clone().update_over(&stored).unwrap();
        assert!(updated.to_stored().to_string().contains(expected));
    }

    #[test]
    fn ari_stasis_name_is_minted_as_telebind_and_12_hex() {
        let mut creds =
            read(json!({"provider": "ari", "ari_endpoint": "http://pbx", "app_name": "a", "app_password": "p"}))
                .unwrap();
        creds.mint();
        let Credentials::Ari(ari) = creds else { panic!() };
        let name = ari.stasis_app_name.unwrap();
        assert!(name.starts_with("telebind_") && name.len() == 21 && name[9..].chars().all(|c| c.is_ascii_hexdigit()));
    }
}
