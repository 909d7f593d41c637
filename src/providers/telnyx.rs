//! Telnyx: one call-control application holds the webhook of every number it
//! routes, and a number reaches it through the number's `connection_id`
//! (PROVIDERS.md §3 telnyx, §4 telnyx, §5; CARRIER-AUDIT.md X1–X5).

use serde_json::{json, Value};

use super::http::{encode, Call, Reply};
use super::{
    application_level_detach, created_id, minted_name, CreationWords, Http, Number, Ownership, Provider,
    ProvisionError, SyncResult,
};
use crate::domain::credentials;

/// The webhook format telebind's inbound route reads; Telnyx sends format "1"
/// to an application that does not ask for "2" (PROVIDERS.md §3, §4 telnyx).
const WEBHOOK_API_VERSION: &str = "2";

pub struct Telnyx<'a> {
    base_url: &'a str,
    creds: &'a credentials::Telnyx,
}

impl<'a> Telnyx<'a> {
    pub fn new(base_url: &'a str, creds: &'a credentials::Telnyx) -> Telnyx<'a> {
        Telnyx { base_url, creds }
    }

    /// The headers the reference sends on every configure and lookup request
    /// (`json` adds the Content-Type of requests with a body).
    fn authed<'h>(&self, call: Call<'h>) -> Call<'h> {
        call.bearer(&self.creds.api_key).header("Accept", "application/json")
    }

    fn get(&self, http: &Http, url: &str) -> Result<Reply, String> {
        self.authed(http.get(url))
            .header("Content-Type", "application/json")
            .send()
    }

    /// GET the application for its name (the PATCH must repeat it), then PATCH
    /// its webhook URL. `Err` is the sync's failure message.
    fn set_webhook(&self, http: &Http, connection_id: &str, webhook: &str) -> Result<(), String> {
        let url = format!(
            "{}/v2/call_control_applications/{}",
            self.base_url,
            encode(connection_id)
        );
        let lookup_failed = |e: String| format!("Telnyx lookup failed: {e}");
        let reply = self.get(http, &url).map_err(lookup_failed)?;
        if reply.status != 200 {
            return Err(api_error(&reply));
        }
        let app = reply.json().map_err(lookup_failed)?;
        let name = app
            .pointer("/data/application_name")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .ok_or_else(|| {
                format!(
                    "Telnyx Call Control Application {connection_id} did not return an application_name; \
                     cannot PATCH without it."
                )
            })?;
        let reply = self
            .authed(http.patch(&url))
            .json(&json!({
                "application_name": name,
                "webhook_event_url": webhook,
                "webhook_api_version": WEBHOOK_API_VERSION,
            }))
            .map_err(|e| format!("Telnyx update failed: {e}"))?;
        match reply.status {
            200 => Ok(()),
            _ => Err(api_error(&reply)),
        }
    }

    /// `e164` among the account's numbers (the filter matches partially, so
    /// the number is compared whole); `Err` is the lookup-failed message.
    fn find_number(&self, http: &Http, e164: &str) -> Result<Option<Listed>, String> {
        let url = format!(
            "{}/v2/phone_numbers?{}={}&{}=100",
            self.base_url,
            encode("filter[phone_number]"),
            digits(e164),
            encode("page[size]")
        );
        let failed = |e: String| format!("Telnyx phone-number lookup failed: {e}");
        let reply = self.get(http, &url).map_err(failed)?;
        if reply.status != 200 {
            return Err(api_error(&reply));
        }
        let body = reply.json().map_err(failed)?;
        let mut numbers = body.get("data").and_then(Value::as_array).into_iter().flatten();
        let number = numbers
            .find(|n| n.get("phone_number").and_then(Value::as_str) == Some(e164))
            .and_then(|n| {
                Some(Listed {
                    id: n.get("id").and_then(Value::as_str)?.to_owned(),
                    connection_id: n.get("connection_id").and_then(Value::as_str).map(str::to_owned),
                })
            });
        Ok(number)
    }

    /// Calls reach a call-control application only from the numbers linked to
    /// it by their `connection_id` (CARRIER-AUDIT.md X5, decision 3): links
    /// `e164` to `connection_id` if it is elsewhere, then reads it back, since
    /// only the number's state says where its calls go.
    fn link(&self, http: &Http, e164: &str, connection_id: &str) -> SyncResult {
        let number = match self.find_number(http, e164) {
            Ok(Some(number)) => number,
            Ok(None) => return SyncResult::failed(not_in_account(e164)),
            Err(e) => return SyncResult::failed(unchecked(e164, &e)),
        };
        if number.connection_id.as_deref() == Some(connection_id) {
            return SyncResult::ok();
        }
        let url = format!("{}/v2/phone_numbers/{}", self.base_url, encode(&number.id));
        let not_linked = |e: String| {
            SyncResult::failed(format!(
                "Telnyx did not link number {e164} to connection {connection_id}; \
                 link it in the Telnyx Mission Control Portal, then sync again. {e}"
            ))
        };
        match self
            .authed(http.patch(&url))
            .json(&json!({"connection_id": connection_id}))
        {
            // The read-back, not the status, says whether the link took.
            Ok(reply) if (200..300).contains(&reply.status) => {}
            Ok(reply) => return not_linked(api_error(&reply)),
            Err(e) => return not_linked(format!("Telnyx update failed: {e}")),
        }
        match self.find_number(http, e164) {
            Ok(Some(now)) if now.connection_id.as_deref() == Some(connection_id) => SyncResult {
                ok: true,
                message: Some(format!(
                    "Telnyx number {e164} was on {}; it now uses connection {connection_id}.",
                    on(number.connection_id.as_deref())
                )),
            },
            Ok(Some(now)) => SyncResult::failed(format!(
                "Telnyx number {e164} is still on {} after being linked to connection {connection_id}; \
                 link it in the Telnyx Mission Control Portal, then sync again.",
                on(now.connection_id.as_deref())
            )),
            Ok(None) => SyncResult::failed(not_in_account(e164)),
            Err(e) => SyncResult::failed(unchecked(e164, &e)),
        }
    }
}

/// A number of the account, as the phone-number list shows it.
struct Listed {
    id: String,
    connection_id: Option<String>,
}

/// What a number is linked to, for a message.
fn on(connection_id: Option<&str>) -> String {
    connection_id.map_or_else(|| "no connection".into(), |id| format!("connection {id}"))
}

fn not_in_account(e164: &str) -> String {
    format!(
        "Phone number {e164} is not in this Telnyx account, so Telnyx cannot route its calls to telebind. \
         Add it in the Telnyx Mission Control Portal, then sync again."
    )
}

/// The number's lookup failed; what to do comes first, since long carrier
/// bodies are cut.
fn unchecked(e164: &str, error: &str) -> String {
    format!("Telnyx number {e164} could not be checked; sync again once Telnyx answers. {error}")
}

/// Telnyx's number filter wants digits only: "Non-numerical characters will
/// result in no values being returned" (filter[phone_number],
/// https://developers.telnyx.com/api-reference/phone-number-configurations).
fn digits(e164: &str) -> &str {
    e164.trim_start_matches('+')
}

fn api_error(reply: &Reply) -> String {
    format!("Telnyx API {}: {}", reply.status, reply.body)
}

impl Provider for Telnyx<'_> {
    fn configure_inbound(&self, http: &mut Http, number: Number, webhook: Option<&str>) -> SyncResult {
        let address = number.address;
        let Some(webhook) = webhook else {
            return application_level_detach("Telnyx");
        };
        // The reference's validate_config also wants outbound numbers; telebind
        // keeps none in credentials, so only the fields the push needs count.
        let connection_id = match &self.creds.connection_id {
            Some(id) if !self.creds.api_key.is_empty() => id,
            _ => return SyncResult::failed("Telnyx provider not properly configured"),
        };
        if let Err(message) = self.set_webhook(http, connection_id, webhook) {
            return SyncResult::failed(message);
        }
        // A SIP address has no phone-number resource to link.
        if !number.is_pstn() {
            return SyncResult::ok();
        }
        self.link(http, address, connection_id)
    }

    fn check_ownership(&self, http: &mut Http, number: Number) -> Ownership {
        let address = number.address;
        if !number.is_pstn() {
            return Ownership::Owned;
        }
        if self.creds.api_key.is_empty() {
            return Ownership::LookupFailed("Telnyx API key is required to validate phone-number ownership".into());
        }
        match self.find_number(http, address) {
            Ok(Some(_)) => Ownership::Owned,
            Ok(None) => Ownership::NotOwned(format!(
                "Phone number {address} is not owned by this Telnyx account. \
                 Add it in the Telnyx Mission Control Portal first."
            )),
            Err(message) => Ownership::LookupFailed(message),
        }
    }
}

/// A Call Control command on an inbound call (INBOUND.md §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallCommand {
    /// Answer and stream the call's audio to `stream_url`.
    Answer { stream_url: String },
    /// Refuse the call without answering it, so it is not billed.
    Reject,
}

/// Sends `command` for call `call_control_id`. Its `command_id` is derived
/// from the call, so a retry of the same command is one Telnyx drops
/// ("Telnyx will ignore any command with the same command_id for the same
/// call_control_id", https://developers.telnyx.com/api-reference/call-commands/answer-call).
/// `Err` says why it did not take.
pub fn call_command(
    http: &Http,
    base_url: &str,
    creds: &credentials::Telnyx,
    call_control_id: &str,
    command: &CallCommand,
) -> Result<(), String> {
    let (action, body) = match command {
        CallCommand::Answer { stream_url } => (
            "answer",
            json!({
                "stream_url": stream_url,
                "stream_track": "inbound_track",
                "stream_bidirectional_mode": "rtp",
                "stream_bidirectional_codec": "PCMU",
                "command_id": format!("answer-{call_control_id}"),
            }),
        ),
        CallCommand::Reject => (
            "reject",
            json!({"cause": "CALL_REJECTED", "command_id": format!("reject-{call_control_id}")}),
        ),
    };
    // A path segment; Telnyx's ids carry a `:` (`v3:…`), which may stay literal.
    let id = encode(call_control_id).replace("%3A", ":");
    let url = format!("{base_url}/v2/calls/{id}/actions/{action}");
    let telnyx = Telnyx::new(base_url, creds);
    match telnyx.authed(http.post(&url)).json(&body) {
        Ok(reply) if reply.status == 200 => Ok(()),
        Ok(reply) => Err(api_error(&reply)),
        Err(e) => Err(format!("Telnyx {action} failed: {e}")),
    }
}

/// Save-time provisioning: without a `connection_id`, a call-control
/// application pointed at `webhook` is created, and its id becomes the
/// configuration's `connection_id` — and so its routing account.
pub fn provision(
    http: &Http,
    base_url: &str,
    creds: &mut credentials::Telnyx,
    webhook: &str,
) -> Result<(), ProvisionError> {
    if creds.connection_id.is_some() || creds.api_key.is_empty() {
        return Ok(());
    }
    let reply = http
        .post(&format!("{base_url}/v2/call_control_applications"))
        .bearer(&creds.api_key)
        .json(&json!({
            "application_name": minted_name(),
            "webhook_event_url": webhook,
            "webhook_api_version": WEBHOOK_API_VERSION,
        }));
    let words = CreationWords {
        rejected: "Failed to auto-create Telnyx Call Control Application",
        unreachable: "Failed to reach Telnyx to auto-create Call Control Application",
        missing_id: "Telnyx callControlApplicationCreate response missing data.id",
    };
    creds.connection_id = Some(created_id(reply, &[200, 201], "/data/id", &words)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::domain::credentials::{self, Credentials};
    use crate::providers::testing::{carriers, number};
    use crate::providers::{Ownership, SyncResult};

    fn creds(api_key: &str, connection_id: Option<&str>) -> Credentials {
        Credentials::Telnyx(credentials::Telnyx {
            api_key: api_key.into(),
            connection_id: connection_id.map(Into::into),
            webhook_public_key: None,
        })
    }

    #[test]
    fn missing_credentials_fail_before_any_request() {
        // A deadline already passed: any request would fail otherwise.
        let carriers = carriers("http://127.0.0.1:9", 0);
        let not_configured = SyncResult::failed("Telnyx provider not properly configured");
        for creds in [creds("KEY-1234", None), creds("", Some("conn-1"))] {
            assert_eq!(
                carriers.configure_inbound(&creds, number("+15551230002"), true),
                not_configured
            );
        }
        assert_eq!(
            carriers.check_ownership(&creds("", Some("conn-1")), number("+15551230002")),
            Ownership::LookupFailed("Telnyx API key is required to validate phone-number ownership".into())
        );
    }

    #[test]
    fn detaching_needs_no_request_even_without_credentials() {
        let carriers = carriers("http://127.0.0.1:9", 0);
        let result = carriers.configure_inbound(&creds("", None), number("+15551230002"), false);
        assert!(result.ok);
        assert!(result.message.unwrap().starts_with("Telnyx routes every number"));
    }

    #[test]
    fn provisioning_skips_a_config_that_has_its_application() {
        let carriers = carriers("http://127.0.0.1:9", 0);
        let mut given = creds("KEY-1234", Some("conn-1"));
        assert_eq!(carriers.provision(&mut given), Ok(()));
        assert_eq!(given, creds("KEY-1234", Some("conn-1")));
    }
}
