//! The documents carriers get back (INBOUND.md §2.5, §4, §6): always HTTP
//! 200; every interpolated value XML-escaped.

use super::Carrier;

const XML: &str = "application/xml";
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

/// Unknown carrier, unsupported body, oversize, internal error.
pub fn generic_hangup() -> Document {
    xml("<Response><Hangup/></Response>")
}

/// The one reject of a carrier, before and after auth: `message` is the
/// configured neutral line, so every cause gets the same bytes.
pub fn reject(carrier: Carrier, message: &str) -> Document {
    let text = escape(message);
    match carrier {
        Carrier::Twilio => xml(&format!(
            r#"<Response><Say voice="alice">{text}</Say><Hangup/></Response>"#
        )),
        Carrier::Plivo => xml(&format!("<Response><Speak>{text}</Speak><Hangup/></Response>")),
        Carrier::Vobiz => xml(&format!(
            r#"<Response><Speak voice="WOMAN">{text}</Speak><Hangup/></Response>"#
        )),
        // Their documents are JSON or API calls (part 2); until then they are unknown.
        Carrier::Telnyx | Carrier::Vonage | Carrier::Cloudonix => generic_hangup(),
    }
}

/// A verified request that does not start a call (hangup callbacks, other events).
pub fn ack(carrier: Carrier) -> Document {
    match carrier {
        Carrier::Twilio | Carrier::Plivo | Carrier::Vobiz => xml("<Response/>"),
        Carrier::Telnyx | Carrier::Vonage | Carrier::Cloudonix => generic_hangup(),
    }
}

/// Hands the call's audio to `media_url`, bidirectional μ-law 8 kHz.
pub fn connect(carrier: Carrier, media_url: &str) -> Document {
    let url = escape(media_url);
    match carrier {
        // `<Pause>` runs only once the stream closes; without it the call ends at once.
        Carrier::Twilio => xml(&format!(
            r#"<Response><Connect><Stream url="{url}"></Stream></Connect><Pause length="40"/></Response>"#
        )),
        Carrier::Plivo | Carrier::Vobiz => xml(&format!(
            r#"<Response><Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000">{url}</Stream></Response>"#
        )),
        Carrier::Telnyx | Carrier::Vonage | Carrier::Cloudonix => generic_hangup(),
    }
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
        let d = connect(Carrier::Twilio, "wss://a.example/x?a=1&b='2'");
        assert!(
            d.body.contains(r#"url="wss://a.example/x?a=1&amp;b=&apos;2&apos;""#),
            "{}",
            d.body
        );
    }

    #[test]
    fn the_stream_url_is_the_text_of_plivo_and_vobiz_streams() {
        for carrier in [Carrier::Plivo, Carrier::Vobiz] {
            let d = connect(carrier, "wss://agent.example.com/ws/1");
            assert!(
                d.body.ends_with(">wss://agent.example.com/ws/1</Stream></Response>"),
                "{}",
                d.body
            );
            assert_eq!(d.content_type, "application/xml");
        }
    }
}
