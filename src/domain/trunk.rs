//! SIP trunks (TRUNKS.md §2): request bodies, the per-provider settings, and
//! the Cloudonix regions that both a trunk's remote payload and a
//! configuration's `sip_connectivity` are made from.

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::credentials::Credentials;
use super::input::{Fields, FromBody, Need, Patch, Reader, Text};
use super::provider::ProviderKind;

const NAME: Text = Text::name(64);
const NAME_RULE: &str = "Outbound trunk name may only contain letters, digits and hyphens";
/// Settings strings are trimmed; blank ones get their own message.
const SETTING: Text = Text::trimmed();

/// `POST …/trunks`.
#[derive(Debug, Clone, utoipa::ToSchema)]
pub struct TrunkCreateRequest {
    /// Letters, digits and hyphens; unique within the configuration.
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    #[schema(required = false, default = true)]
    pub enabled: bool,
    /// Checked against the provider's schema once the configuration is known
    /// (Cloudonix: `region`, `sip_domain`).
    #[schema(value_type = Object, required = false)]
    pub settings: Map<String, Value>,
}

/// `PUT …/trunks/{trunk_id}`: absent or `null` keeps the stored value;
/// `settings` replaces the stored ones whole.
#[derive(Debug, Clone, Default, utoipa::ToSchema)]
pub struct TrunkUpdateRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub name: Option<String>,
    pub enabled: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Map<String, Value>>,
}

/// Trimmed, 1–64 characters, then the reference's own rule, which its
/// server never enforced (W2).
fn read_name(r: &mut Reader, f: &Fields, need: Need) -> Option<String> {
    let name = r.text(f, "name", need, NAME)?;
    if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Some(name);
    }
    let sent = match f.get("name") {
        Patch::Value(v) => v.clone(),
        _ => Value::Null,
    };
    r.field_value_error(f.loc("name"), NAME_RULE, sent);
    None
}

impl FromBody for TrunkCreateRequest {
    fn from_body(body: &Value, r: &mut Reader) -> Option<Self> {
        let f = r.object(body, vec!["body".into()])?;
        let name = read_name(r, &f, Need::Required);
        let enabled = r.bool(&f, "enabled", Need::NotNull).unwrap_or(true);
        let settings = r.dict(&f, "settings", Need::NotNull).unwrap_or_default();
        Some(TrunkCreateRequest {
            name: name?,
            enabled,
            settings,
        })
    }
}

impl FromBody for TrunkUpdateRequest {
    fn from_body(body: &Value, r: &mut Reader) -> Option<Self> {
        let f = r.object(body, vec!["body".into()])?;
        Some(TrunkUpdateRequest {
            name: read_name(r, &f, Need::Optional),
            enabled: r.bool(&f, "enabled", Need::Optional),
            settings: r.dict(&f, "settings", Need::Optional),
        })
    }
}

/// `settings` of a trunk of a `kind` configuration, as stored: validated
/// into the provider's schema, unknown keys dropped. Errors are reported at
/// `["body", "settings", <field>]` (the reference answered most with 500, W1).
pub fn read_settings(kind: ProviderKind, settings: &Map<String, Value>, r: &mut Reader) -> Option<Value> {
    let whole = Value::Object(settings.clone());
    let f = r.object(&whole, vec!["body".into(), "settings".into()])?;
    match kind {
        ProviderKind::Cloudonix => {
            let region = read_setting(r, &f, "region").and_then(|(raw, region)| match Region::parse(&region) {
                Some(known) => Some(known),
                None => {
                    let text = format!(
                        "Unknown Cloudonix region '{region}'. Expected one of: {}",
                        Region::names()
                    );
                    r.field_value_error(f.loc("region"), &text, raw);
                    None
                }
            });
            let sip_domain = read_setting(r, &f, "sip_domain");
            Some(json!({"region": region?.name(), "sip_domain": sip_domain?.1}))
        }
        // The routes refuse trunks on these before their settings are read.
        _ => None,
    }
}

/// A required, non-blank string setting: as sent, and trimmed.
fn read_setting(r: &mut Reader, f: &Fields, name: &str) -> Option<(Value, String)> {
    let value = r.text(f, name, Need::Required, SETTING)?;
    let Patch::Value(raw) = f.get(name) else {
        unreachable!("a required text was read")
    };
    if value.is_empty() {
        r.field_value_error(f.loc(name), "Value cannot be empty", raw.clone());
        return None;
    }
    Some((raw.clone(), value))
}

/// The Cloudonix regions (the reference's `CLOUDONIX_REGIONS`): where a
/// trunk's calls leave Cloudonix, and where a domain's calls arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    India,
    Uae,
    Global,
}

impl Region {
    pub const ALL: [Region; 3] = [Region::India, Region::Uae, Region::Global];

    pub fn name(self) -> &'static str {
        match self {
            Region::India => "India",
            Region::Uae => "UAE",
            Region::Global => "Global",
        }
    }

    /// A region by name, in any case, around any whitespace.
    pub fn parse(name: &str) -> Option<Region> {
        let name = name.trim();
        Region::ALL.into_iter().find(|r| r.name().eq_ignore_ascii_case(name))
    }

    /// `India, UAE, Global`, as the messages list them.
    pub fn names() -> String {
        Region::ALL.map(Region::name).join(", ")
    }

    /// The edge outbound calls leave from: a trunk's `ip`, and the origin a
    /// carrier must allow.
    pub fn edge_ip(self) -> &'static str {
        match self {
            Region::India => "128.199.27.19",
            Region::Uae => "20.233.60.70",
            Region::Global => "18.219.128.166",
        }
    }

    pub fn sip_port(self) -> u16 {
        match self {
            Region::India => 9060,
            Region::Uae => 9081,
            Region::Global => 5060,
        }
    }

    pub fn tls_port(self) -> u16 {
        match self {
            Region::India | Region::Uae => 9443,
            Region::Global => 443,
        }
    }

    fn hostname_suffix(self) -> &'static str {
        match self {
            Region::India => "in.dimi.tel",
            Region::Uae => "uae.dimi.tel",
            Region::Global => "sip.cloudonix.net",
        }
    }
}

/// Where a carrier sends a configuration's calls and expects them from
/// (TRUNKS.md §6.6): `sip_connectivity` of the Detail.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = SIPConnectivityDetails)]
pub struct SipConnectivityDetails {
    pub provider_display_name: &'static str,
    pub regions: Vec<SipRegionDetails>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = SIPRegionDetails)]
pub struct SipRegionDetails {
    pub region: &'static str,
    pub inbound_transports: Vec<SipTransportDetails>,
    pub outbound_origin_ip: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = SIPTransportDetails)]
pub struct SipTransportDetails {
    pub transport: &'static str,
    pub hostname: String,
    pub port: u16,
    pub uri: String,
}

/// Cloudonix's, once the domain's UUID is known (it names the inbound
/// hosts); `None` for every other provider.
pub fn sip_connectivity(credentials: &Credentials) -> Option<SipConnectivityDetails> {
    let Credentials::Cloudonix(c) = credentials else {
        return None;
    };
    let uuid = c.domain_uuid.as_deref().map(str::trim).filter(|u| !u.is_empty())?;
    let regions = Region::ALL
        .into_iter()
        .map(|region| {
            let host = format!("{uuid}.{}", region.hostname_suffix());
            let transport = |transport, port: u16, params: &str| SipTransportDetails {
                transport,
                hostname: host.clone(),
                port,
                uri: format!("{host}:{port}{params}"),
            };
            SipRegionDetails {
                region: region.name(),
                inbound_transports: vec![
                    transport("UDP", region.sip_port(), ""),
                    transport("TCP", region.sip_port(), ";transport=tcp;"),
                    transport("TLS", region.tls_port(), ";transport=tls;"),
                ],
                outbound_origin_ip: region.edge_ip(),
            }
        })
        .collect();
    Some(SipConnectivityDetails {
        provider_display_name: ProviderKind::Cloudonix.display_name(),
        regions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::credentials;
    use crate::domain::input::FieldError;

    fn create(body: Value) -> Result<TrunkCreateRequest, Vec<FieldError>> {
        let mut r = Reader::new();
        let parsed = TrunkCreateRequest::from_body(&body, &mut r);
        r.finish(parsed)
    }

    fn settings(value: Value) -> Result<Value, Vec<FieldError>> {
        let mut r = Reader::new();
        let parsed = read_settings(ProviderKind::Cloudonix, value.as_object().unwrap(), &mut r);
        r.finish(parsed)
    }

    #[test]
    fn names_are_trimmed_then_measured_then_matched() {
        assert_eq!(create(json!({"name": "  carrier-1 "})).unwrap().name, "carrier-1");
        let spaced = create(json!({"name": "my trunk"})).unwrap_err();
        assert_eq!(
            (spaced[0].kind, spaced[0].msg.as_str(), spaced[0].ctx.clone()),
            (
                "value_error",
                "Value error, Outbound trunk name may only contain letters, digits and hyphens",
                Some(json!({"error": {}}))
            )
        );
        assert_eq!(spaced[0].input, json!("my trunk"));
        assert_eq!(create(json!({"name": "   "})).unwrap_err()[0].kind, "string_too_short");
        let long = create(json!({"name": "a".repeat(65)})).unwrap_err();
        assert_eq!(long.len(), 1, "one error per field: length first");
        assert_eq!(long[0].kind, "string_too_long");
        assert_eq!(create(json!({"name": "é"})).unwrap_err()[0].kind, "value_error");
    }

    #[test]
    fn enabled_and_settings_default_and_refuse_null() {
        let made = create(json!({"name": "a"})).unwrap();
        assert!(made.enabled && made.settings.is_empty());
        let errors = create(json!({"name": "a", "enabled": null, "settings": null})).unwrap_err();
        let kinds: Vec<_> = errors.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["bool_type", "dict_type"]);
    }

    #[test]
    fn cloudonix_settings_are_canonical_and_drop_unknown_keys() {
        assert_eq!(
            settings(json!({"region": " global ", "sip_domain": "  sip.b.example  ", "x": 1})).unwrap(),
            json!({"region": "Global", "sip_domain": "sip.b.example"})
        );
        assert_eq!(
            settings(json!({"region": "uae", "sip_domain": "s"})).unwrap()["region"],
            "UAE"
        );
    }

    #[test]
    fn bad_cloudonix_settings_are_each_reported_at_their_field() {
        let missing = settings(json!({})).unwrap_err();
        assert_eq!(missing.len(), 2);
        assert_eq!(
            (missing[0].kind, missing[0].loc.clone(), missing[0].input.clone()),
            (
                "missing",
                vec![json!("body"), json!("settings"), json!("region")],
                json!({})
            )
        );
        let mars = settings(json!({"region": "Mars", "sip_domain": "x"})).unwrap_err();
        assert_eq!(
            mars[0].msg,
            "Value error, Unknown Cloudonix region 'Mars'. Expected one of: India, UAE, Global"
        );
        assert_eq!(mars[0].input, json!("Mars"));
        let blank = settings(json!({"region": "India", "sip_domain": "  "})).unwrap_err();
        assert_eq!(blank[0].msg, "Value error, Value cannot be empty");
        let typed = settings(json!({"region": 5, "sip_domain": null})).unwrap_err();
        let kinds: Vec<_> = typed.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["string_type", "string_type"]);
    }

    #[test]
    fn cloudonix_connectivity_names_the_domain_uuid_in_every_region() {
        let mut cx = credentials::Cloudonix {
            bearer_token: "t".into(),
            domain_id: "acme.cloudonix.net".into(),
            application_name: None,
            domain_uuid: Some(" 24f9423e ".into()),
            application_id: None,
            application_uuid: None,
        };
        let details = sip_connectivity(&Credentials::Cloudonix(cx.clone())).unwrap();
        let india = &details.regions[0];
        assert_eq!(india.inbound_transports[0].uri, "24f9423e.in.dimi.tel:9060");
        assert_eq!(
            india.inbound_transports[2].uri,
            "24f9423e.in.dimi.tel:9443;transport=tls;"
        );
        assert_eq!(
            details.regions[2].inbound_transports[1].uri,
            "24f9423e.sip.cloudonix.net:5060;transport=tcp;"
        );
        cx.domain_uuid = Some(" ".into());
        assert_eq!(sip_connectivity(&Credentials::Cloudonix(cx)), None);
    }
}
