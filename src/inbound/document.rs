//! The documents carriers get back (INBOUND.md §2.5, §4, §6): always HTTP
//! 200; every interpolated value XML-escaped (XML) or JSON-encoded (JSON).

use serde_json::json;

use super::Carrier;
use crate::domain::ids::CallId;

const XML: &str = "application/xml";
const JSON: &str = "application/json";
const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub content_type: &'static str,
    pub body: String,
}

fn xml(inner: &str) -> Document {
    Document {
        content_type: XML,
        body: format!("{DECLARATION}{inner}"),
    }
}

fn json(value: serde_json::Value) -> Document {
    Document {
        content_type: JSON,
        body: value.to_string(),
    }
}

/// Unknown carrier, unsupported body, oversize, internal error.
pub fn generic_hangup() -> Document {
    xml("<Response><Hangup/></Response>")
}

/// The one reject of a carrier, before and after auth: `message` is the
/// configured neutral line, so every cause gets the same bytes. Telnyx
/// ignores webhook bodies: before auth it gets this and no API call (its
/// `call_control_id` is the sender's choice); after auth, `actions/reject`
/// and `telnyx("rejected")`.
pub fn reject(carrier: Carrier, message: &str) -> Document {
    let text = escape(message);
    match carrier {
        Carrier::Twilio | Carrier::Cloudonix => xml(&format!(
            r#"<Response><Say voice="alice">{text}</Say><Hangup/></Response>"#
        )),
        Carrier::Plivo => xml(&format!("<Response><Speak>{text}</Speak><Hangup/></Response>")),
        Carrier::Vobiz => xml(&format!(
            r#"<Response><Speak voice="WOMAN">{text}</Speak><Hangup/></Response>"#
        )),
        // NCCO has no hangup action: the call ends when the NCCO does.
        Carrier::Vonage => json(json!([{"action": "talk", "text": message}])),
        Carrier::Telnyx => telnyx("ok"),
    }
}

/// A verified request that does not start a call (hangup callbacks, other events).
pub fn ack(carrier: Carrier) -> Document {
    match carrier {
        Carrier::Twilio | Carrier::Plivo | Carrier::Vobiz | Carrier::Cloudonix => xml("<Response/>"),
        Carrier::Telnyx | Carrier::Vonage => json(json!({})),
    }
}

/// Hands call `call_ref` (the carrier's `call_id`) to `media_url`:
/// bidirectional μ-law 8 kHz, or for Vonage 16 kHz linear PCM. Telnyx is
/// answered through its API instead, and gets `telnyx("ok")`.
pub fn connect(carrier: Carrier, media_url: &str, call_ref: CallId, call_id: &str) -> Document {
    let url = escape(media_url);
    match carrier {
        // `<Pause>` runs only once the stream closes; without it the call ends at once.
        Carrier::Twilio | Carrier::Cloudonix => xml(&format!(
            r#"<Response><Connect><Stream url="{url}"></Stream></Connect><Pause length="40"/></Response>"#
        )),
        Carrier::Plivo | Carrier::Vobiz => xml(&format!(
            r#"<Response><Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000">{url}</Stream></Response>"#
        )),
        // The headers travel on the websocket handshake; events go to the
        // application's event URL, as telebind serves no per-call one.
        Carrier::Vonage => json(json!([{
            "action": "connect",
            "endpoint": [{
                "type": "websocket",
                "uri": media_url,
                "content-type": "audio/l16;rate=16000",
                "headers": {"call_ref": call_ref.to_string(), "call_uuid": call_id},
            }],
        }])),
        Carrier::Telnyx => telnyx("ok"),
    }
}

/// Telnyx's acknowledgement: `ok`, `rejected` or `error` (its answer failed).
pub fn telnyx(status: &str) -> Document {
    json(json!({ "status": status }))
}

/// XML text and attribute escaping.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let d = reject(Carrier::Twilio, r#"Tom & "Jerry" <3"#);
        assert!(d.body.contains("Tom &amp; &quot;Jerry&quot; &lt;3"), "{}", d.body);
        let d = connect(Carrier::Twilio, "wss://a.example/x?a=1&b='2'", CallId(1), "CA1");
        assert!(
            d.body.contains(r#"url="wss://a.example/x?a=1&amp;b=&apos;2&apos;""#),
            "{}",
            d.body
        );
    }

    #[test]
    fn the_stream_url_is_the_text_of_plivo_and_vobiz_streams() {
        for carrier in [Carrier::Plivo, Carrier::Vobiz] {
            let d = connect(carrier, "wss://agent.example.com/ws/1", CallId(1), "u-1");
            assert!(
                d.body.ends_with(">wss://agent.example.com/ws/1</Stream></Response>"),
                "{}",
                d.body
            );
            assert_eq!(d.content_type, "application/xml");
        }
    }

    #[test]
    fn vonage_documents_are_ncco_json_with_the_line_as_json_text() {
        let d = reject(Carrier::Vonage, r#"Say "no" & <go>"#);
        assert_eq!(d.content_type, "application/json");
        let ncco: serde_json::Value = serde_json::from_str(&d.body).unwrap();
        assert_eq!(ncco, json!([{"action": "talk", "text": r#"Say "no" & <go>"#}]));
        let d = connect(Carrier::Vonage, "wss://a.example/ws/1?x=\"", CallId(7), "u-1");
        let ncco: serde_json::Value = serde_json::from_str(&d.body).unwrap();
        assert_eq!(ncco[0]["action"], "connect");
        assert_eq!(ncco[0]["endpoint"][0]["uri"], "wss://a.example/ws/1?x=\"");
        assert_eq!(
            ncco[0]["endpoint"][0]["headers"],
            json!({"call_ref": "7", "call_uuid": "u-1"})
        );
        assert_eq!(ack(Carrier::Vonage).body, "{}");
    }

    #[test]
    fn cloudonix_speaks_cxml_and_telnyx_is_acknowledged_in_json() {
        assert_eq!(reject(Carrier::Cloudonix, "x"), reject(Carrier::Twilio, "x"));
        assert_eq!(ack(Carrier::Cloudonix).content_type, "application/xml");
        assert_eq!(reject(Carrier::Telnyx, "x").body, r#"{"status":"ok"}"#);
        assert_eq!(telnyx("rejected").content_type, "application/json");
    }
}
