//! What the router reads from a carrier's start request (INBOUND.md §4.1–§4.3):
//! the claimed account, the call, and whether it starts a call at all.

use super::request::Params;
use super::Carrier;
use crate::domain::credentials::Credentials;

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
    pub fn read(carrier: Carrier, p: &Params) -> CallFields {
        let text = |key: &str| p.get(key).filter(|v| !v.is_empty()).map(str::to_string);
        let first = |keys: &[&str]| keys.iter().find_map(|k| text(k));
        let inbound = p.get("Direction") == Some("inbound");
        let hung_up = HANGUP_MARKERS.iter().any(|k| p.get(k).is_some());
        let (account, call_id, is_start) = match carrier {
            Carrier::Twilio => (text("AccountSid"), text("CallSid"), inbound),
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
            Carrier::Telnyx | Carrier::Vonage | Carrier::Cloudonix => (None, None, false),
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
}

/// The credential a carrier signs with, when the configuration is of that carrier.
pub fn signing_secret(carrier: Carrier, credentials: &Credentials) -> Option<&str> {
    match (carrier, credentials) {
        (Carrier::Twilio, Credentials::Twilio(c)) => Some(c.auth_token.as_str()),
        (Carrier::Plivo, Credentials::Plivo(c)) | (Carrier::Vobiz, Credentials::Vobiz(c)) => {
            Some(c.auth_token.as_str())
        }
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(carrier: Carrier, body: &str) -> CallFields {
        CallFields::read(carrier, &Params::parse(body.as_bytes()).unwrap())
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
}
