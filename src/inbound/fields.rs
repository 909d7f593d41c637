//! What the router reads from a carrier's start request (INBOUND.md §4):
//! the claimed account, the call, and whether it starts a call at all.

use serde_json::Value;

use super::jwt;
use super::request::{Headers, Params, Payload};
use super::Carrier;
use crate::domain::credentials::{normalize_cloudonix_domain, Credentials};

/// Fields of one request; any may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFields {
    /// The account the request claims: it only selects candidates.
    pub account: Option<String>,
    pub call_id: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// The carrier's own country of `to`, a hint for national digits.
    pub to_country: Option<String>,
    /// A new inbound call, not a hangup callback or another event.
    pub is_start: bool,
}

const HANGUP_MARKERS: [&str; 4] = ["HangupCause", "HangupCauseName", "Duration", "BillDuration"];

impl CallFields {
    /// The fields of `payload`; `None` when the body is not of the kind the
    /// carrier sends (a form where JSON is expected, or the reverse).
    pub fn read(carrier: Carrier, payload: &Payload, headers: &Headers) -> Option<CallFields> {
        match (carrier, payload) {
            (Carrier::Twilio | Carrier::Plivo | Carrier::Vobiz, Payload::Form(params)) => {
                Some(CallFields::form(carrier, params))
            }
            (Carrier::Telnyx, Payload::Json(value)) => Some(CallFields::telnyx(value)),
            (Carrier::Vonage, Payload::Json(value)) => Some(CallFields::vonage(value, headers)),
            // Cloudonix posts JSON; the reference also takes its form.
            (Carrier::Cloudonix, payload) => Some(CallFields::cloudonix(payload, headers)),
            _ => None,
        }
    }

    fn form(carrier: Carrier, p: &Params) -> CallFields {
        let text = |key: &str| p.get(key).filter(|v| !v.is_empty()).map(str::to_string);
        let first = |keys: &[&str]| keys.iter().find_map(|k| text(k));
        let inbound = p.get("Direction") == Some("inbound");
        let hung_up = HANGUP_MARKERS.iter().any(|k| p.get(k).is_some());
        let (account, call_id, is_start) = match carrier {
            Carrier::Plivo => (
                first(&["AuthID", "ParentAuthID"]),
                first(&["CallUUID", "RequestUUID"]),
                inbound && matches!(p.get("CallStatus"), Some("ringing" | "in-progress")) && !hung_up,
            ),
            Carrier::Vobiz => (
                first(&["ParentAuthID", "AuthID", "auth_id"]),
                text("CallUUID"),
                inbound && !hung_up && matches!(p.get("Event"), None | Some("StartApp" | "Ring")),
            ),
            _ => (text("AccountSid"), text("CallSid"), inbound),
        };
        CallFields {
            account,
            call_id,
            from: text("From"),
            to: text("To"),
            to_country: first(&["ToCountry", "CalledCountry"]),
            is_start,
        }
    }

    /// Call Control's webhook: every event of the application arrives here;
    /// only an incoming `call.initiated` starts a call (§4.4).
    fn telnyx(value: &Value) -> CallFields {
        let text = |pointer: &str| json_text(value, pointer);
        let event = text("/data/event_type").map(|e| e.replace('_', "."));
        CallFields {
            account: text("/data/payload/connection_id"),
            call_id: text("/data/payload/call_control_id"),
            from: text("/data/payload/from"),
            to: text("/data/payload/to"),
            to_country: None,
            is_start: event.as_deref() == Some("call.initiated")
                && text("/data/payload/direction").as_deref() == Some("incoming"),
        }
    }

    /// The answer webhook: the account is the token's `api_key` claim, read
    /// unverified to pick candidates (§4.5). Event webhooks carry a `status`
    /// and, for inbound calls, `direction: inbound` too: they start nothing.
    fn vonage(value: &Value, headers: &Headers) -> CallFields {
        let text = |key: &str| json_text(value, &format!("/{key}"));
        let claims = jwt::bearer(headers).and_then(jwt::unverified_claims);
        let account = claims.and_then(|c| c.get("api_key")?.as_str().map(str::to_string));
        let direction = value.get("direction");
        CallFields {
            account,
            call_id: text("uuid"),
            from: text("from"),
            to: text("to"),
            to_country: None,
            is_start: value.get("status").is_none()
                && (direction.is_none() || direction.and_then(Value::as_str) == Some("inbound")),
        }
    }

    /// The voice application's request (§4.6): the account is the domain,
    /// which an `X-CX-Domain` header, when sent, must agree with.
    fn cloudonix(payload: &Payload, headers: &Headers) -> CallFields {
        let text = |key: &str| payload.text(key).filter(|v| !v.is_empty()).map(str::to_string);
        let first = |keys: &[&str]| keys.iter().find_map(|k| text(k));
        let domain = first(&["Domain", "AccountSid"]).map(|d| normalize_cloudonix_domain(&d));
        let header = headers.get("x-cx-domain").map(normalize_cloudonix_domain);
        let account = match (domain, header) {
            (Some(domain), Some(header)) => (domain == header).then_some(domain),
            (domain, header) => domain.or(header),
        };
        let session_token = match payload {
            Payload::Json(value) => json_text(value, "/SessionData/token"),
            Payload::Form(_) => None,
        };
        CallFields {
            account: account.filter(|a| !a.is_empty()),
            call_id: first(&["Session", "CallSid"]).or(session_token),
            from: text("From"),
            to: text("To"),
            to_country: text("ToCountry"),
            is_start: matches!(payload.text("Direction"), Some("inbound" | "subscriber")),
        }
    }
}

/// A non-empty string at `pointer`; any other value is missing.
fn json_text(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The key a carrier's requests are verified with, when the configuration
/// is of that carrier and holds one: a secret, or Telnyx's public key.
pub fn signing_secret(carrier: Carrier, credentials: &Credentials) -> Option<&str> {
    match (carrier, credentials) {
        (Carrier::Twilio, Credentials::Twilio(c)) => Some(c.auth_token.as_str()),
        (Carrier::Plivo, Credentials::Plivo(c)) | (Carrier::Vobiz, Credentials::Vobiz(c)) => {
            Some(c.auth_token.as_str())
        }
        (Carrier::Telnyx, Credentials::Telnyx(c)) => c.webhook_public_key.as_deref(),
        (Carrier::Vonage, Credentials::Vonage(c)) => c.signature_secret.as_deref(),
        (Carrier::Cloudonix, Credentials::Cloudonix(c)) => Some(c.bearer_token.as_str()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(carrier: Carrier, body: &str) -> CallFields {
        let form = Payload::Form(Params::parse(body.as_bytes()).unwrap());
        CallFields::read(carrier, &form, &Headers::default()).unwrap()
    }

    fn json(carrier: Carrier, body: &str, headers: &[(&str, &str)]) -> CallFields {
        let headers = Headers::new(headers.iter().copied());
        let payload = Payload::Json(serde_json::from_str(body).unwrap());
        CallFields::read(carrier, &payload, &headers).unwrap()
    }

    #[test]
    fn plivo_hangup_callbacks_and_outbound_calls_do_not_start() {
        let start = "CallUUID=u&Direction=inbound&CallStatus=ringing&To=1";
        assert!(read(Carrier::Plivo, start).is_start);
        assert!(!read(Carrier::Plivo, &format!("{start}&HangupCause=NORMAL_CLEARING")).is_start);
        assert!(!read(Carrier::Plivo, &format!("{start}&Duration=3")).is_start);
        assert!(!read(Carrier::Plivo, "CallUUID=u&Direction=inbound&CallStatus=completed").is_start);
        assert!(!read(Carrier::Plivo, "CallUUID=u&Direction=outbound&CallStatus=ringing").is_start);
    }

    #[test]
    fn vobiz_starts_on_start_app_ring_or_no_event() {
        for event in ["", "&Event=StartApp", "&Event=Ring"] {
            assert!(read(Carrier::Vobiz, &format!("CallUUID=u&Direction=inbound{event}")).is_start);
        }
        assert!(!read(Carrier::Vobiz, "CallUUID=u&Direction=inbound&Event=Hangup").is_start);
        assert!(!read(Carrier::Vobiz, "CallUUID=u&Direction=inbound&BillDuration=0").is_start);
    }

    #[test]
    fn account_ids_in_the_carriers_order() {
        assert_eq!(
            read(Carrier::Vobiz, "AuthID=a&ParentAuthID=p").account.as_deref(),
            Some("p")
        );
        assert_eq!(read(Carrier::Vobiz, "auth_id=x").account.as_deref(), Some("x"));
        assert_eq!(
            read(Carrier::Plivo, "AuthID=a&ParentAuthID=p").account.as_deref(),
            Some("a")
        );
        assert_eq!(read(Carrier::Plivo, "CallUUID=u").account, None);
        let twilio = read(
            Carrier::Twilio,
            "AccountSid=AC1&CallSid=CA1&Direction=outbound-api&CalledCountry=US",
        );
        assert_eq!((twilio.account.as_deref(), twilio.is_start), (Some("AC1"), false));
        assert_eq!(twilio.to_country.as_deref(), Some("US"));
    }

    #[test]
    fn telnyx_starts_on_an_incoming_call_initiated_only() {
        let event = |event_type: &str, direction: &str| {
            format!(
                r#"{{"data":{{"event_type":"{event_type}","record_type":"event","payload":{{
                    "call_control_id":"v3:abc","connection_id":"123","direction":"{direction}",
                    "from":"+14155550199","to":"+14155550100"}}}}}}"#
            )
        };
        let start = json(Carrier::Telnyx, &event("call.initiated", "incoming"), &[]);
        assert!(start.is_start);
        assert_eq!(start.account.as_deref(), Some("123"));
        assert_eq!(start.call_id.as_deref(), Some("v3:abc"));
        assert_eq!(start.to.as_deref(), Some("+14155550100"));
        assert!(json(Carrier::Telnyx, &event("call_initiated", "incoming"), &[]).is_start);
        for (e, d) in [
            ("call.initiated", "outgoing"),
            ("call.answered", "incoming"),
            ("call.hangup", "incoming"),
            ("streaming.started", "incoming"),
        ] {
            assert!(!json(Carrier::Telnyx, &event(e, d), &[]).is_start, "{e} {d}");
        }
        assert_eq!(json(Carrier::Telnyx, r#"{"data":[1]}"#, &[]), CallFields::default());
    }

    #[test]
    fn vonage_reads_the_account_from_the_token_and_skips_event_webhooks() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let token = format!("Bearer h.{}.s", URL_SAFE_NO_PAD.encode(r#"{"api_key":"a1b2c3d4"}"#));
        let auth = [("Authorization", token.as_str())];
        let answer = r#"{"uuid":"u-1","conversation_uuid":"c","from":"14155550199","to":"14155550100"}"#;
        let fields = json(Carrier::Vonage, answer, &auth);
        assert_eq!(fields.account.as_deref(), Some("a1b2c3d4"));
        assert_eq!(fields.call_id.as_deref(), Some("u-1"));
        assert!(fields.is_start);
        assert_eq!(json(Carrier::Vonage, answer, &[]).account, None);
        let inbound = answer.replace('}', r#","direction":"inbound"}"#);
        assert!(json(Carrier::Vonage, &inbound, &auth).is_start);
        let outbound = answer.replace('}', r#","direction":"outbound"}"#);
        assert!(!json(Carrier::Vonage, &outbound, &auth).is_start);
        let event = inbound.replace('}', r#","status":"ringing"}"#);
        assert!(!json(Carrier::Vonage, &event, &auth).is_start);
    }

    #[test]
    fn cloudonix_reads_the_domain_session_and_direction() {
        let body = r#"{"Domain":"Acme","AccountSid":"x","CallSid":"cs","Session":"s-1","From":"1",
                       "To":"14155550100","Direction":"subscriber","ToCountry":"US"}"#;
        let fields = json(Carrier::Cloudonix, body, &[]);
        assert_eq!(fields.account.as_deref(), Some("acme.cloudonix.net"));
        assert_eq!(fields.call_id.as_deref(), Some("s-1"));
        assert_eq!(fields.to_country.as_deref(), Some("US"));
        assert!(fields.is_start);
        let agreeing = json(Carrier::Cloudonix, body, &[("X-CX-Domain", "acme.cloudonix.net.")]);
        assert_eq!(agreeing.account.as_deref(), Some("acme.cloudonix.net"));
        let other = json(Carrier::Cloudonix, body, &[("X-CX-Domain", "globex")]);
        assert_eq!(other.account, None);
        let token_only = json(
            Carrier::Cloudonix,
            r#"{"AccountSid":"acme.cloudonix.net","SessionData":{"token":"t-1"},"Direction":"outbound-api"}"#,
            &[],
        );
        assert_eq!(token_only.call_id.as_deref(), Some("t-1"));
        assert!(!token_only.is_start);
        assert_eq!(
            read(Carrier::Cloudonix, "Domain=acme&Session=s&Direction=inbound")
                .account
                .as_deref(),
            Some("acme.cloudonix.net")
        );
    }

    #[test]
    fn a_body_of_the_wrong_kind_has_no_fields() {
        let form = Payload::Form(Params::parse(b"a=1").unwrap());
        let json = Payload::Json(serde_json::json!({"a": 1}));
        assert_eq!(CallFields::read(Carrier::Telnyx, &form, &Headers::default()), None);
        assert_eq!(CallFields::read(Carrier::Vonage, &form, &Headers::default()), None);
        assert_eq!(CallFields::read(Carrier::Twilio, &json, &Headers::default()), None);
    }
}
