//! Twilio: the voice URL lives on each incoming-number resource, found by
//! looking the number up (PROVIDERS.md §4 twilio, §5).

use serde_json::Value;

use super::http::encode;
use super::{Http, Number, Ownership, Provider, SyncResult};
use crate::domain::credentials;

pub struct Twilio<'a> {
    base_url: &'a str,
    creds: &'a credentials::Twilio,
}

/// A number's incoming-number resource, as the lookup reads it.
struct Incoming {
    sid: String,
    /// What routes the number's calls instead of its Voice URL, e.g. `SIP trunk TK…`.
    overridden_by: Option<String>,
}

/// Why the number lookup gave no list; the two operations word them differently.
enum LookupError {
    /// Twilio answered other than 200: `Twilio API {status}: {body}`.
    Api(String),
    /// No usable answer: transport failure or a body that is not JSON.
    Failed(String),
}

impl<'a> Twilio<'a> {
    pub fn new(base_url: &'a str, creds: &'a credentials::Twilio) -> Twilio<'a> {
        Twilio { base_url, creds }
    }

    fn has_credentials(&self) -> bool {
        !self.creds.account_sid.is_empty() && !self.creds.auth_token.is_empty()
    }

    fn account_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}",
            self.base_url,
            encode(&self.creds.account_sid)
        )
    }

    /// `e164`'s incoming-number resource; only the first page is read.
    fn lookup(&self, http: &Http, e164: &str) -> Result<Option<Incoming>, LookupError> {
        let url = format!(
            "{}/IncomingPhoneNumbers.json?PhoneNumber={}",
            self.account_url(),
            encode(e164)
        );
        let reply = http
            .get(&url)
            .basic(&self.creds.account_sid, &self.creds.auth_token)
            .send()
            .map_err(LookupError::Failed)?;
        if reply.status != 200 {
            return Err(LookupError::Api(format!("Twilio API {}: {}", reply.status, reply.body)));
        }
        let body = reply.json().map_err(LookupError::Failed)?;
        let incoming = body
            .get("incoming_phone_numbers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|n| n.get("phone_number").and_then(Value::as_str) == Some(e164))
            .and_then(|n| {
                let sid = n.get("sid").and_then(Value::as_str)?.to_owned();
                Some(Incoming {
                    sid,
                    overridden_by: overridden_by(n),
                })
            });
        Ok(incoming)
    }

    fn not_owned(&self, e164: &str) -> String {
        format!(
            "Phone number {e164} is not owned by this Twilio account ({}). Add it in the Twilio console first.",
            self.creds.account_sid
        )
    }
}

/// Twilio ignores a number's Voice URL while a SIP trunk or a TwiML App is set
/// on it, and a trunk overrides the app too: "If a `trunk_sid` is present, we
/// ignore all of the voice urls and voice applications"
/// (https://www.twilio.com/docs/phone-numbers/api/incomingphonenumber-resource).
/// Twilio shows an unset one as `null` or `""`.
fn overridden_by(number: &Value) -> Option<String> {
    let set = |field: &str| number.get(field).and_then(Value::as_str).filter(|sid| !sid.is_empty());
    set("trunk_sid")
        .map(|sid| format!("SIP trunk {sid}"))
        .or_else(|| set("voice_application_sid").map(|sid| format!("TwiML App {sid}")))
}

impl Provider for Twilio<'_> {
    fn configure_inbound(&self, http: &mut Http, number: Number, webhook: Option<&str>) -> SyncResult {
        let address = number.address;
        if !self.has_credentials() {
            return SyncResult::failed("Twilio provider not properly configured");
        }
        // Only PSTN numbers have a Twilio resource; SIP forms are left alone.
        if !number.is_pstn() {
            return SyncResult::ok();
        }
        let incoming = match self.lookup(http, address) {
            Ok(Some(incoming)) => incoming,
            // Detaching a number the account no longer has: nothing to undo.
            Ok(None) if webhook.is_none() => return SyncResult::ok(),
            Ok(None) => return SyncResult::failed(self.not_owned(address)),
            Err(LookupError::Api(e) | LookupError::Failed(e)) => {
                return SyncResult::failed(format!("Twilio lookup failed: {e}"))
            }
        };
        if let (Some(_), Some(router)) = (webhook, &incoming.overridden_by) {
            // Setting the URL would change nothing, and detaching another
            // trunk or app is the account owner's call, not telebind's.
            return SyncResult::failed(format!(
                "Twilio number {address} is routed by {router}, so Twilio ignores its Voice URL. \
                 Detach it in Twilio, then sync again."
            ));
        }
        let url = format!(
            "{}/IncomingPhoneNumbers/{}.json",
            self.account_url(),
            encode(&incoming.sid)
        );
        let call = http.post(&url).basic(&self.creds.account_sid, &self.creds.auth_token);
        let reply = match webhook {
            Some(webhook) => call.form(&[("VoiceUrl", webhook), ("VoiceMethod", "POST")]),
            None => call.form(&[("VoiceUrl", "")]),
        };
        match reply {
            Ok(r) if r.status == 200 || r.status == 201 => SyncResult::ok(),
            Ok(r) => SyncResult::failed(format!("Twilio API {}: {}", r.status, r.body)),
            Err(e) => SyncResult::failed(format!("Twilio update failed: {e}")),
        }
    }

    fn check_ownership(&self, http: &mut Http, number: Number) -> Ownership {
        let address = number.address;
        if !number.is_pstn() {
            return Ownership::Owned;
        }
        if !self.has_credentials() {
            return Ownership::LookupFailed(
                "Twilio account SID and auth token are required to validate phone-number ownership".into(),
            );
        }
        match self.lookup(http, address) {
            Ok(Some(_)) => Ownership::Owned,
            Ok(None) => Ownership::NotOwned(self.not_owned(address)),
            Err(LookupError::Api(e)) => Ownership::LookupFailed(e),
            Err(LookupError::Failed(e)) => Ownership::LookupFailed(format!("Twilio phone-number lookup failed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::json;
    use wiremock::matchers::{body_string, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use crate::domain::credentials::Credentials;
    use crate::domain::provider::mask;
    use crate::providers::testing::{blocking, carriers, number, refused_url, twilio_creds, ACCOUNT_SID};
    use crate::providers::{Ownership, SyncResult};

    const NUMBER: &str = "+15551230002";
    const BASIC: &str = "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2Q6dG9rLTAxMjM0NTY3ODktc2VjcmV0";

    fn numbers_path() -> String {
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json")
    }

    fn update_path() -> String {
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers/PN42.json")
    }

    fn listing(numbers: &[(&str, &str)]) -> ResponseTemplate {
        let entries: Vec<_> = numbers
            .iter()
            .map(|(sid, number)| json!({"sid": sid, "phone_number": number}))
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({"incoming_phone_numbers": entries}))
    }

    /// The lookup of `NUMBER`, answered with `response`.
    async fn mock_lookup(server: &MockServer, response: ResponseTemplate) {
        Mock::given(method("GET"))
            .and(path(numbers_path()))
            .and(query_param("PhoneNumber", NUMBER))
            .and(header("authorization", BASIC))
            .respond_with(response)
            .expect(1)
            .mount(server)
            .await;
    }

    async fn mock_update(server: &MockServer, form: &str, response: ResponseTemplate, times: u64) {
        Mock::given(method("POST"))
            .and(path(update_path()))
            .and(header("authorization", BASIC))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(body_string(form))
            .respond_with(response)
            .expect(times)
            .mount(server)
            .await;
    }

    async fn sync(server: &MockServer, attach: bool) -> SyncResult {
        let carriers = carriers(&server.uri(), 5000);
        blocking(move || carriers.configure_inbound(&twilio_creds(), number(NUMBER), attach)).await
    }

    async fn ownership(base_url: String) -> Ownership {
        let carriers = carriers(&base_url, 5000);
        blocking(move || carriers.check_ownership(&twilio_creds(), number(NUMBER))).await
    }

    fn failed(message: &str) -> SyncResult {
        SyncResult::failed(message)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn attach_looks_the_number_up_then_posts_the_voice_url() {
        let server = MockServer::start().await;
        mock_lookup(&server, listing(&[("PN1", "+15550000000"), ("PN42", NUMBER)])).await;
        let form = "VoiceUrl=http%3A%2F%2Fbackend.test%2Fapi%2Fv1%2Ftelephony%2Finbound%2Frun&VoiceMethod=POST";
        mock_update(&server, form, ResponseTemplate::new(200), 1).await;

        assert_eq!(sync(&server, true).await, SyncResult::ok());
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].method.as_str(), "GET");
        assert_eq!(requests[0].url.query(), Some("PhoneNumber=%2B15551230002"));
        assert_eq!(requests[1].method.as_str(), "POST");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn detach_posts_an_empty_voice_url() {
        let server = MockServer::start().await;
        mock_lookup(&server, listing(&[("PN42", NUMBER)])).await;
        mock_update(&server, "VoiceUrl=", ResponseTemplate::new(201), 1).await;
        assert_eq!(sync(&server, false).await, SyncResult::ok());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn detaching_a_number_the_account_lacks_is_ok_without_an_update() {
        let server = MockServer::start().await;
        mock_lookup(&server, listing(&[("PN1", "+15550000000")])).await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        assert_eq!(sync(&server, false).await, SyncResult::ok());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn attaching_a_number_the_account_lacks_names_the_masked_account() {
        let server = MockServer::start().await;
        mock_lookup(&server, listing(&[])).await;
        let expected = format!(
            "Phone number {NUMBER} is not owned by this Twilio account ({}). Add it in the Twilio console first.",
            mask(ACCOUNT_SID)
        );
        assert_eq!(sync(&server, true).await, failed(&expected));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failed_lookup_carries_the_status_and_body() {
        let server = MockServer::start().await;
        mock_lookup(&server, ResponseTemplate::new(500).set_body_string("boom")).await;
        assert_eq!(
            sync(&server, true).await,
            failed("Twilio lookup failed: Twilio API 500: boom")
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_lookup_body_that_is_not_json_fails_the_sync() {
        let server = MockServer::start().await;
        mock_lookup(&server, ResponseTemplate::new(200).set_body_string("<html>")).await;
        let message = sync(&server, true).await.message.unwrap();
        assert!(
            message.starts_with("Twilio lookup failed: response is not JSON"),
            "{message}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_rejected_update_carries_the_status_and_body() {
        let server = MockServer::start().await;
        mock_lookup(&server, listing(&[("PN42", NUMBER)])).await;
        mock_update(
            &server,
            "VoiceUrl=",
            ResponseTemplate::new(400).set_body_string("bad"),
            1,
        )
        .await;
        assert_eq!(sync(&server, false).await, failed("Twilio API 400: bad"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_unreachable_carrier_fails_the_sync() {
        let carriers = carriers(&refused_url(), 5000);
        let result = blocking(move || carriers.configure_inbound(&twilio_creds(), number(NUMBER), true)).await;
        assert!(!result.ok);
        let message = result.message.unwrap();
        assert!(message.starts_with("Twilio lookup failed: "), "{message}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn one_deadline_covers_the_lookup_and_the_update() {
        let server = MockServer::start().await;
        let delay = Duration::from_millis(600);
        mock_lookup(&server, listing(&[("PN42", NUMBER)]).set_delay(delay)).await;
        mock_update(&server, "VoiceUrl=", ResponseTemplate::new(200).set_delay(delay), 1).await;
        let carriers = carriers(&server.uri(), 1000);
        let started = Instant::now();
        let result = blocking(move || carriers.configure_inbound(&twilio_creds(), number(NUMBER), false)).await;
        let elapsed = started.elapsed();
        // Each request alone fits in 1000 ms: only a deadline shared by both times out.
        assert_eq!(result, failed("Twilio update failed: timed out after 1000 ms"));
        // Not before the deadline, and well short of the two deadlines that
        // separate ones would allow (slack for a loaded machine).
        assert!(
            elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(2000),
            "{elapsed:?}"
        );
    }

    #[test]
    fn sip_addresses_need_no_twilio_request() {
        // A deadline already passed: any request would fail.
        let carriers = carriers("http://127.0.0.1:9", 0);
        let creds = twilio_creds();
        assert_eq!(
            carriers.configure_inbound(&creds, number("sip:100@pbx.example.com"), true),
            SyncResult::ok()
        );
        assert_eq!(carriers.check_ownership(&creds, number("1001")), Ownership::Owned);
    }

    #[test]
    fn missing_credentials_fail_before_any_request() {
        let creds = Credentials::Twilio(crate::domain::credentials::Twilio {
            account_sid: ACCOUNT_SID.into(),
            auth_token: String::new(),
            amd_enabled: false,
        });
        let carriers = carriers("http://127.0.0.1:9", 0);
        assert_eq!(
            carriers.configure_inbound(&creds, number(NUMBER), true),
            failed("Twilio provider not properly configured")
        );
        assert_eq!(
            carriers.check_ownership(&creds, number(NUMBER)),
            Ownership::LookupFailed(
                "Twilio account SID and auth token are required to validate phone-number ownership".into()
            )
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_listed_number_is_owned() {
        let server = MockServer::start().await;
        mock_lookup(&server, listing(&[("PN42", NUMBER)])).await;
        assert_eq!(ownership(server.uri()).await, Ownership::Owned);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_unlisted_number_is_not_owned() {
        let server = MockServer::start().await;
        mock_lookup(&server, listing(&[("PN1", "+15550000000")])).await;
        let expected = format!(
            "Phone number {NUMBER} is not owned by this Twilio account ({}). Add it in the Twilio console first.",
            mask(ACCOUNT_SID)
        );
        assert_eq!(ownership(server.uri()).await, Ownership::NotOwned(expected));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn ownership_lookup_errors_are_lookup_failures() {
        let server = MockServer::start().await;
        mock_lookup(&server, ResponseTemplate::new(503).set_body_string("down")).await;
        assert_eq!(
            ownership(server.uri()).await,
            Ownership::LookupFailed("Twilio API 503: down".into())
        );
        let Ownership::LookupFailed(message) = ownership(refused_url()).await else {
            panic!("an unreachable carrier is a lookup failure");
        };
        assert!(message.starts_with("Twilio phone-number lookup failed: "), "{message}");
    }
}
