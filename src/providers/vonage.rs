//! Vonage: one application answers every number, so binding rewrites the
//! application's voice webhooks (GET, change, PUT back); ownership is a number
//! search on the REST host (PROVIDERS.md §4 vonage, §5).

use serde_json::{json, Map, Value};

use super::http::encode;
use super::{application_level_detach, is_pstn, Http, Ownership, Provider, SyncResult};
use crate::domain::credentials;

pub struct Vonage<'a> {
    /// api.nexmo.com: applications.
    api_base_url: &'a str,
    /// rest.nexmo.com: numbers.
    rest_base_url: &'a str,
    event_url: String,
    creds: &'a credentials::Vonage,
}

impl<'a> Vonage<'a> {
    pub fn new(
        api_base_url: &'a str,
        rest_base_url: &'a str,
        event_url: String,
        creds: &'a credentials::Vonage,
    ) -> Vonage<'a> {
        Vonage {
            api_base_url,
            rest_base_url,
            event_url,
            creds,
        }
    }

    fn has_api_credentials(&self) -> bool {
        !self.creds.api_key.is_empty() && !self.creds.api_secret.is_empty()
    }

    fn application_url(&self) -> String {
        format!(
            "{}/v2/applications/{}",
            self.api_base_url,
            encode(&self.creds.application_id)
        )
    }

    /// Why the application cannot be bound before asking Vonage, if it cannot.
    fn unusable(&self) -> Option<&'static str> {
        let c = self.creds;
        if c.application_id.is_empty() || c.private_key.is_empty() {
            return Some("Vonage provider not properly configured");
        }
        if !self.has_api_credentials() {
            return Some("Vonage api_key and api_secret are required to update the application's answer_url");
        }
        if c.signature_secret.as_deref().is_none_or(str::is_empty) {
            return Some("Vonage signature_secret is required because inbound calls use signed webhook verification");
        }
        None
    }
}

impl Provider for Vonage<'_> {
    /// The address plays no part: the application's URL serves every number.
    fn configure_inbound(&self, http: &mut Http, _address: &str, webhook: Option<&str>) -> SyncResult {
        let Some(webhook) = webhook else {
            return application_level_detach("Vonage");
        };
        if let Some(reason) = self.unusable() {
            return SyncResult::failed(reason);
        }
        let (key, secret) = (&self.creds.api_key, &self.creds.api_secret);
        let url = self.application_url();
        let application = match http.get(&url).basic(key, secret).send() {
            Ok(r) if r.status == 200 => r
                .json()
                .and_then(|app| bound_application(app, webhook, &self.event_url)),
            Ok(r) => return SyncResult::failed(format!("Vonage API {}: {}", r.status, r.body)),
            Err(e) => Err(e),
        };
        let application = match application {
            Ok(app) => app,
            Err(e) => return SyncResult::failed(format!("Vonage lookup failed: {e}")),
        };
        match http.put(&url).basic(key, secret).json(&application) {
            Ok(r) if r.status == 200 || r.status == 201 => SyncResult::ok(),
            Ok(r) => SyncResult::failed(format!("Vonage API {}: {}", r.status, r.body)),
            Err(e) => SyncResult::failed(format!("Vonage update failed: {e}")),
        }
    }

    fn check_ownership(&self, http: &mut Http, address: &str) -> Ownership {
        if !is_pstn(address) {
            return Ownership::Owned;
        }
        if !self.has_api_credentials() {
            return Ownership::LookupFailed(
                "Vonage API key and secret are required to validate phone-number ownership".into(),
            );
        }
        let digits = address.trim_start_matches('+');
        let url = format!(
            "{}/account/numbers?pattern={}&search_pattern=0&size=100",
            self.rest_base_url,
            encode(digits)
        );
        let listing = match http.get(&url).basic(&self.creds.api_key, &self.creds.api_secret).send() {
            Ok(r) if r.status == 200 => r.json(),
            Ok(r) => return Ownership::LookupFailed(format!("Vonage API {}: {}", r.status, r.body)),
            Err(e) => Err(e),
        };
        let listing = match listing {
            Ok(listing) => listing,
            Err(e) => return Ownership::LookupFailed(format!("Vonage phone-number lookup failed: {e}")),
        };
        let owned = listing
            .get("numbers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|n| listed_number(n).is_some_and(|m| m.trim_start_matches('+') == digits));
        if owned {
            return Ownership::Owned;
        }
        Ownership::NotOwned(format!(
            "Phone number {address} is not owned by this Vonage account ({}). Add it in the Vonage dashboard first.",
            self.creds.api_key
        ))
    }
}

/// The PUT body: the fetched application's name, privacy (only when it has
/// the key) and capabilities, with the voice webhooks pointing at us and
/// signed; every other capability is kept as Vonage returned it.
fn bound_application(application: Value, webhook: &str, event_url: &str) -> Result<Value, String> {
    let Value::Object(mut application) = application else {
        return Err("the application is not a JSON object".into());
    };
    let mut capabilities = take_object(&mut application, "capabilities");
    let mut voice = take_object(&mut capabilities, "voice");
    let mut webhooks = take_object(&mut voice, "webhooks");
    webhooks.insert("answer_url".into(), json!({"address": webhook, "http_method": "POST"}));
    webhooks.insert("event_url".into(), json!({"address": event_url, "http_method": "POST"}));
    voice.insert("webhooks".into(), Value::Object(webhooks));
    voice.insert("signed_callbacks".into(), Value::Bool(true));
    capabilities.insert("voice".into(), Value::Object(voice));
    let mut body = json!({
        "name": application.remove("name").unwrap_or(Value::Null),
        "capabilities": capabilities,
    });
    if let Some(privacy) = application.remove("privacy") {
        body["privacy"] = privacy;
    }
    Ok(body)
}

/// `map[key]` as an object; null, missing or another type counts as empty.
fn take_object(map: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match map.remove(key) {
        Some(Value::Object(object)) => object,
        _ => Map::new(),
    }
}

/// A listed number's `msisdn`, else its `number`; Vonage may send either as
/// a string or as a JSON number.
fn listed_number(entry: &Value) -> Option<String> {
    ["msisdn", "number"].into_iter().find_map(|key| match entry.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::credentials::Credentials;
    use crate::providers::testing::carriers;

    fn creds(api_secret: &str, signature_secret: Option<&str>) -> Credentials {
        Credentials::Vonage(credentials::Vonage {
            application_id: "app-1".into(),
            private_key: "-----BEGIN PRIVATE KEY-----".into(),
            api_key: "key-1234".into(),
            api_secret: api_secret.into(),
            signature_secret: signature_secret.map(str::to_owned),
        })
    }

    #[test]
    fn missing_secrets_fail_before_any_request() {
        // A deadline already passed: any request would fail otherwise.
        let carriers = carriers("http://127.0.0.1:9", 0);
        assert_eq!(
            carriers.configure_inbound(&creds("", Some("sig")), "+15551230002", true),
            SyncResult::failed("Vonage api_key and api_secret are required to update the application's answer_url")
        );
        assert_eq!(
            carriers.configure_inbound(&creds("secret-1234", Some("")), "+15551230002", true),
            SyncResult::failed(
                "Vonage signature_secret is required because inbound calls use signed webhook verification"
            )
        );
        assert_eq!(
            carriers.check_ownership(&creds("", None), "+15551230002"),
            Ownership::LookupFailed("Vonage API key and secret are required to validate phone-number ownership".into())
        );
    }

    #[test]
    fn sip_addresses_are_owned_without_a_request() {
        let carriers = carriers("http://127.0.0.1:9", 0);
        let creds = creds("secret-1234", None);
        assert_eq!(
            carriers.check_ownership(&creds, "sip:100@pbx.example.com"),
            Ownership::Owned
        );
        assert_eq!(carriers.check_ownership(&creds, "1001"), Ownership::Owned);
    }

    const HOOK: &str = "http://backend.test/api/v1/telephony/inbound/run";
    const EVENTS: &str = "http://backend.test/api/v1/telephony/vonage/events";

    #[test]
    fn binding_keeps_every_other_capability_and_setting() {
        let fetched = json!({
            "id": "app-1", "name": "Support", "keys": {"public_key": "PEM"},
            "privacy": {"improve_ai": false},
            "capabilities": {
                "messages": {"webhooks": {"inbound_url": {"address": "https://m"}}},
                "voice": {"webhooks": {"fallback_answer_url": {"address": "https://f"},
                                       "answer_url": {"address": "https://old", "http_method": "GET"}},
                          "conversations_ttl": 48, "signed_callbacks": false}
            }
        });
        let body = bound_application(fetched, HOOK, EVENTS).unwrap();
        assert_eq!(
            body,
            json!({
                "name": "Support",
                "privacy": {"improve_ai": false},
                "capabilities": {
                    "messages": {"webhooks": {"inbound_url": {"address": "https://m"}}},
                    "voice": {"webhooks": {"fallback_answer_url": {"address": "https://f"},
                                           "answer_url": {"address": HOOK, "http_method": "POST"},
                                           "event_url": {"address": EVENTS, "http_method": "POST"}},
                              "conversations_ttl": 48, "signed_callbacks": true}
                }
            })
        );
    }

    #[test]
    fn null_or_missing_objects_are_filled_in_and_privacy_only_sent_when_present() {
        let body = bound_application(json!({"name": "A", "capabilities": {"voice": null}}), HOOK, EVENTS).unwrap();
        assert_eq!(body.get("privacy"), None);
        assert_eq!(body["capabilities"]["voice"]["signed_callbacks"], true);
        assert_eq!(body["capabilities"]["voice"]["webhooks"]["answer_url"]["address"], HOOK);
        let bare = bound_application(json!({}), HOOK, EVENTS).unwrap();
        assert_eq!(bare["name"], Value::Null);
        assert_eq!(
            bare["capabilities"]["voice"]["webhooks"]["event_url"]["address"],
            EVENTS
        );
    }

    #[test]
    fn an_application_that_is_not_an_object_is_refused() {
        assert!(bound_application(json!([1]), HOOK, EVENTS).is_err());
    }

    #[test]
    fn listed_numbers_are_read_from_msisdn_else_number_as_text_or_digits() {
        assert_eq!(
            listed_number(&json!({"msisdn": "447700900000"})).as_deref(),
            Some("447700900000")
        );
        assert_eq!(
            listed_number(&json!({"msisdn": 447700900000_u64})).as_deref(),
            Some("447700900000")
        );
        assert_eq!(
            listed_number(&json!({"msisdn": "", "number": "+447700900000"})).as_deref(),
            Some("+447700900000")
        );
        assert_eq!(listed_number(&json!({"country": "GB"})), None);
    }
}
