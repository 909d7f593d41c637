//! Which carrier sent a request (INBOUND.md §3). Unauthenticated: it only
//! picks the verification and the configurations tried, so a wrong guess
//! ends in a reject, never in acceptance. Every check is a total function:
//! odd JSON shapes and missing fields simply do not match.

use serde_json::Value;

use super::jwt;
use super::request::{Headers, Payload};
use crate::domain::provider::ProviderKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Carrier {
    Telnyx,
    Vonage,
    Plivo,
    Vobiz,
    Cloudonix,
    Twilio,
}

impl Carrier {
    pub fn kind(self) -> ProviderKind {
        match self {
            Carrier::Telnyx => ProviderKind::Telnyx,
            Carrier::Vonage => ProviderKind::Vonage,
            Carrier::Plivo => ProviderKind::Plivo,
            Carrier::Vobiz => ProviderKind::Vobiz,
            Carrier::Cloudonix => ProviderKind::Cloudonix,
            Carrier::Twilio => ProviderKind::Twilio,
        }
    }
}

/// telebind's order: header signals first; Cloudonix ahead of Twilio,
/// whose payload shape it shares.
pub fn detect(headers: &Headers, body: Option<&Payload>) -> Option<Carrier> {
    let field = |key: &str| body.and_then(|b| b.text(key));
    let user_agent = headers.get("user-agent").unwrap_or("").to_ascii_lowercase();
    if is_telnyx(headers, body) {
        Some(Carrier::Telnyx)
    } else if is_vonage(headers, body) {
        Some(Carrier::Vonage)
    } else if [
        "x-plivo-signature-v3",
        "x-plivo-signature-ma-v3",
        "x-plivo-signature-v2",
    ]
    .iter()
    .any(|h| headers.has(h))
        && field("CallUUID").is_some()
    {
        Some(Carrier::Plivo)
    } else if [
        "x-vobiz-signature-v3",
        "x-vobiz-signature-ma-v3",
        "x-vobiz-signature-v2",
        "x-vobiz-signature-ma-v2",
    ]
    .iter()
    .any(|h| headers.has(h))
        || user_agent.contains("vobiz")
    {
        Some(Carrier::Vobiz)
    } else if user_agent.contains("cloudonix")
        || ["x-cx-apikey", "x-cx-domain", "x-cx-session", "x-cx-source"]
            .iter()
            .any(|h| headers.has(h))
        || (body.is_some_and(|b| has_key(b, "SessionData"))
            && field("Domain").is_some_and(|d| d.ends_with(".cloudonix.net")))
        || field("AccountSid").is_some_and(|a| a.ends_with(".cloudonix.net"))
    {
        Some(Carrier::Cloudonix)
    } else if user_agent.contains("twilioproxy")
        || ["x-twilio-signature", "i-twilio-idempotency-token", "x-home-region"]
            .iter()
            .any(|h| headers.has(h))
        || (field("CallSid").is_some()
            && field("ApiVersion").is_some()
            && field("AccountSid").is_some_and(|a| a.starts_with("AC") && !a.contains('.')))
    {
        Some(Carrier::Twilio)
    } else {
        None
    }
}

fn has_key(body: &Payload, key: &str) -> bool {
    match body {
        Payload::Form(params) => params.get(key).is_some(),
        Payload::Json(value) => value.get(key).is_some(),
    }
}

fn is_telnyx(headers: &Headers, body: Option<&Payload>) -> bool {
    if headers.has("telnyx-signature-ed25519") {
        return true;
    }
    let Some(Payload::Json(value)) = body else {
        return false;
    };
    let data = value.get("data");
    let record = data.and_then(|d| d.get("record_type")).and_then(Value::as_str);
    let event = data.and_then(|d| d.get("event_type")).and_then(Value::as_str);
    record == Some("event") && event.is_some_and(|e| e.replace('_', ".").starts_with("call."))
}

fn is_vonage(headers: &Headers, body: Option<&Payload>) -> bool {
    let claims = jwt::bearer(headers).and_then(jwt::unverified_claims);
    if claims.is_some_and(|c| {
        c.get("iss").and_then(Value::as_str) == Some("Vonage")
            || c.get("api_key").is_some()
            || c.get("application_id").is_some()
    }) {
        return true;
    }
    let Some(Payload::Json(value)) = body else {
        return false;
    };
    ["uuid", "conversation_uuid", "from", "to"]
        .iter()
        .all(|k| value.get(k).and_then(Value::as_str).is_some_and(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::*;
    use crate::inbound::request::Params;

    fn headers<'a>(pairs: &[(&'a str, &'a str)]) -> Headers<'a> {
        Headers::new(pairs.iter().copied())
    }

    fn form(body: &str) -> Payload<'_> {
        Payload::Form(Params::parse(body.as_bytes()).unwrap())
    }

    fn json(text: &str) -> Payload<'_> {
        Payload::Json(serde_json::from_str(text).unwrap())
    }

    #[test]
    fn signature_headers_pick_the_carrier_whatever_the_body() {
        let plivo = form("CallUUID=1&AccountSid=AC1&CallSid=CA1&ApiVersion=x");
        assert_eq!(
            detect(&headers(&[("X-Plivo-Signature-V3", "s")]), Some(&plivo)),
            Some(Carrier::Plivo)
        );
        assert_eq!(
            detect(&headers(&[("X-Vobiz-Signature-V2", "s")]), None),
            Some(Carrier::Vobiz)
        );
        assert_eq!(
            detect(&headers(&[("User-Agent", "Vobiz/1.0")]), None),
            Some(Carrier::Vobiz)
        );
        assert_eq!(
            detect(&headers(&[("X-Twilio-Signature", "s")]), None),
            Some(Carrier::Twilio)
        );
        assert_eq!(
            detect(&headers(&[("telnyx-signature-ed25519", "s")]), None),
            Some(Carrier::Telnyx)
        );
        assert_eq!(
            detect(&headers(&[("X-CX-APIKey", "k")]), None),
            Some(Carrier::Cloudonix)
        );
    }

    #[test]
    fn a_plivo_header_without_a_call_uuid_is_not_plivo() {
        assert_eq!(
            detect(&headers(&[("X-Plivo-Signature-V3", "s")]), Some(&form("a=1"))),
            None
        );
    }

    #[test]
    fn twilio_shaped_cloudonix_bodies_stay_cloudonix() {
        let cx = form("CallSid=CA1&ApiVersion=1&AccountSid=acme.cloudonix.net");
        assert_eq!(detect(&headers(&[]), Some(&cx)), Some(Carrier::Cloudonix));
        let twilio = form("CallSid=CA1&ApiVersion=2010-04-01&AccountSid=AC123");
        assert_eq!(detect(&headers(&[]), Some(&twilio)), Some(Carrier::Twilio));
    }

    #[test]
    fn odd_shapes_never_fail_and_never_match() {
        let bodies = [
            json(r#"{"data":"x"}"#),
            json(r#"{"data":{"record_type":1,"event_type":["call.initiated"]}}"#),
            json(r#"{"uuid":1,"conversation_uuid":"c","from":"a","to":"b"}"#),
            json(r#"{"AccountSid":{"x":1},"CallSid":null}"#),
        ];
        let weird = headers(&[("Authorization", "Bearer not.a-jwt!.x"), ("User-Agent", "")]);
        for body in &bodies {
            assert_eq!(detect(&weird, Some(body)), None, "{body:?}");
        }
        assert_eq!(detect(&headers(&[("Authorization", "Bearer ...")]), None), None);
    }

    #[test]
    fn json_shapes_of_telnyx_and_vonage() {
        let telnyx = json(r#"{"data":{"record_type":"event","event_type":"call_initiated"}}"#);
        assert_eq!(detect(&headers(&[]), Some(&telnyx)), Some(Carrier::Telnyx));
        let vonage = json(r#"{"uuid":"u","conversation_uuid":"c","from":"1","to":"2"}"#);
        assert_eq!(detect(&headers(&[]), Some(&vonage)), Some(Carrier::Vonage));
        let jwt = format!("Bearer x.{}.y", URL_SAFE_NO_PAD.encode(br#"{"api_key":"k"}"#));
        assert_eq!(
            detect(&headers(&[("Authorization", &jwt)]), None),
            Some(Carrier::Vonage)
        );
    }
}
