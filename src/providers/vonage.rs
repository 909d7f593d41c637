//! Vonage: one application answers every number, so binding rewrites the
//! application's voice webhooks (GET, change, PUT back), then links the number
//! to that application; ownership is a number search on the REST host
//! (PROVIDERS.md §4 vonage, §5; CARRIER-AUDIT.md V3, V4 and decisions 3, 7).

use serde_json::{json, Map, Value};

use super::http::{encode, Call};
use super::{
    application_level_detach, link_number, Http, LinkWords, Number, NumberRoute, Ownership, Provider, SyncResult,
};
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

    fn basic<'h>(&self, call: Call<'h>) -> Call<'h> {
        call.basic(&self.creds.api_key, &self.creds.api_secret)
    }

    /// Points the application's voice webhooks at us; Err is the failed push.
    fn point_application_at(&self, http: &Http, webhook: &str) -> Result<(), SyncResult> {
        let url = self.application_url();
        let application = match self.basic(http.get(&url)).send() {
            Ok(r) if r.status == 200 => r
                .json()
                .and_then(|app| bound_application(app, webhook, &self.event_url)),
            Ok(r) => return Err(SyncResult::failed(format!("Vonage API {}: {}", r.status, r.body))),
            Err(e) => Err(e),
        };
        let application = application.map_err(|e| SyncResult::failed(format!("Vonage lookup failed: {e}")))?;
        match self.basic(http.put(&url)).json(&application) {
            Ok(r) if r.status == 200 || r.status == 201 => Ok(()),
            Ok(r) => Err(SyncResult::failed(format!("Vonage API {}: {}", r.status, r.body))),
            Err(e) => Err(SyncResult::failed(format!("Vonage update failed: {e}"))),
        }
    }

    /// The account's entry for the number with these digits, None when the
    /// number search does not list it; Err says why there is no answer.
    fn listed(&self, http: &Http, digits: &str) -> Result<Option<Value>, String> {
        let url = format!(
            "{}/account/numbers?pattern={}&search_pattern=0&size=100",
            self.rest_base_url,
            encode(digits)
        );
        let listing = match self.basic(http.get(&url)).send() {
            Ok(r) if r.status == 200 => r.json(),
            Ok(r) => return Err(format!("Vonage API {}: {}", r.status, r.body)),
            Err(e) => Err(e),
        };
        let listing = listing.map_err(|e| format!("Vonage phone-number lookup failed: {e}"))?;
        // The search matches by prefix, and a body without matches has no `numbers`.
        let found = listing
            .get("numbers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|n| listed_number(n).is_some_and(|m| m.trim_start_matches('+') == digits));
        Ok(found.cloned())
    }

    /// `POST /number/update`, a form (numbers.yml `updateANumber`). A `sip` or
    /// `tel` forward must be replaced explicitly: the only documented way is
    /// `voiceCallbackType=app` with the application's id, which is deprecated,
    /// so it is sent only when there is a forward to replace.
    fn update_number(&self, http: &Http, digits: &str, number: &Listed) -> Result<(), String> {
        let app = self.creds.application_id.as_str();
        let mut fields = vec![
            ("country", number.country.as_str()),
            ("msisdn", digits),
            ("app_id", app),
        ];
        if let Route::Forward { .. } = number.route {
            fields.extend([("voiceCallbackType", "app"), ("voiceCallbackValue", app)]);
        }
        let url = format!("{}/number/update", self.rest_base_url);
        let reply = self.basic(http.post(&url)).form(&fields)?;
        // Vonage may refuse with HTTP 200 and its own `error-code` in the body,
        // which is what the official SDK checks.
        let accepted = reply.status == 200
            && reply
                .json()
                .is_ok_and(|body| matches!(body.get("error-code"), Some(c) if c == "200" || c == 200));
        if accepted {
            Ok(())
        } else {
            Err(format!("Vonage API {}: {}", reply.status, reply.body))
        }
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
    /// A phone number is linked to the application; any other address only
    /// gets the application's URL, as Vonage has no number to link.
    fn configure_inbound(&self, http: &mut Http, number: Number, webhook: Option<&str>) -> SyncResult {
        let address = number.address;
        let Some(webhook) = webhook else {
            return application_level_detach("Vonage");
        };
        if let Some(reason) = self.unusable() {
            return SyncResult::failed(reason);
        }
        if let Err(failed) = self.point_application_at(http, webhook) {
            return failed;
        }
        if !number.is_pstn() {
            return SyncResult::ok();
        }
        // The application's URL reaches only linked numbers, and a `sip` or
        // `tel` forward overrides the link (CARRIER-AUDIT.md V4).
        let words = LinkWords {
            carrier: "Vonage",
            console: "the Vonage dashboard",
            account: &self.creds.api_key,
        };
        let digits = address.trim_start_matches('+');
        let read = || Ok(self.listed(http, digits)?.map(|number| Listed::of(&number)));
        link_number(&words, address, &self.creds.application_id, read, |number| {
            self.update_number(http, digits, number)
        })
    }

    fn check_ownership(&self, http: &mut Http, number: Number) -> Ownership {
        let address = number.address;
        if !number.is_pstn() {
            return Ownership::Owned;
        }
        if !self.has_api_credentials() {
            return Ownership::LookupFailed(
                "Vonage API key and secret are required to validate phone-number ownership".into(),
            );
        }
        match self.listed(http, address.trim_start_matches('+')) {
            Ok(Some(_)) => Ownership::Owned,
            Ok(None) => Ownership::NotOwned(format!(
                "Phone number {address} is not owned by this Vonage account ({}). Add it in the Vonage dashboard first.",
                self.creds.api_key
            )),
            Err(e) => Ownership::LookupFailed(e),
        }
    }
}

/// A number as the number search lists it: its country, which an update must
/// repeat, and where Vonage sends its calls.
struct Listed {
    country: String,
    route: Route,
}

impl Listed {
    fn of(number: &Value) -> Listed {
        let country = number.get("country").and_then(Value::as_str).unwrap_or_default();
        Listed {
            country: country.into(),
            route: Route::of(number),
        }
    }
}

impl NumberRoute for Listed {
    fn is_application(&self, id: &str) -> bool {
        matches!(&self.route, Route::Application(linked) if linked == id)
    }

    fn is_nowhere(&self) -> bool {
        self.route == Route::Nowhere
    }
}

impl std::fmt::Display for Listed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.route {
            Route::Forward { kind, to } if kind == "sip" => write!(f, "SIP URI {to}"),
            Route::Forward { to, .. } => write!(f, "phone number {to}"),
            Route::Application(id) => write!(f, "application {id}"),
            Route::Nowhere => write!(f, "no application"),
        }
    }
}

/// Where Vonage sends a number's calls.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// `voiceCallbackType` `sip` or `tel`: "prioritized over the Voice
    /// capability in your Application" (https://developer.vonage.com/en/api/numbers).
    Forward {
        kind: String,
        to: String,
    },
    Application(String),
    Nowhere,
}

impl Route {
    /// `app_id`, or on older accounts `voiceCallbackType` `app` with the id in
    /// `voiceCallbackValue`, names the application.
    fn of(number: &Value) -> Route {
        let text = |key: &str| number.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
        let kind = text("voiceCallbackType");
        if let Some(kind @ ("sip" | "tel")) = kind {
            let to = text("voiceCallbackValue").unwrap_or_default();
            return Route::Forward {
                kind: kind.into(),
                to: to.into(),
            };
        }
        let legacy = if kind == Some("app") {
            text("voiceCallbackValue")
        } else {
            None
        };
        match text("app_id").or(legacy) {
            Some(id) => Route::Application(id.into()),
            None => Route::Nowhere,
        }
    }
}

/// The PUT body: the fetched application whole (`keys` included, as the docs
/// do not say that a PUT keeps what it leaves out), its voice answer and event
/// URLs pointing at us with POST, their timeouts kept, and callbacks signed.
fn bound_application(application: Value, webhook: &str, event_url: &str) -> Result<Value, String> {
    let Value::Object(mut application) = application else {
        return Err("the application is not a JSON object".into());
    };
    let mut capabilities = take_object(&mut application, "capabilities");
    let mut voice = take_object(&mut capabilities, "voice");
    let mut webhooks = take_object(&mut voice, "webhooks");
    for (name, address) in [("answer_url", webhook), ("event_url", event_url)] {
        let mut hook = take_object(&mut webhooks, name);
        hook.insert("address".into(), json!(address));
        hook.insert("http_method".into(), json!("POST"));
        webhooks.insert(name.into(), Value::Object(hook));
    }
    voice.insert("webhooks".into(), Value::Object(webhooks));
    voice.insert("signed_callbacks".into(), Value::Bool(true));
    capabilities.insert("voice".into(), Value::Object(voice));
    application.insert("capabilities".into(), Value::Object(capabilities));
    Ok(Value::Object(application))
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
    use crate::providers::testing::{carriers, number};

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
            carriers.configure_inbound(&creds("", Some("sig")), number("+15551230002"), true),
            SyncResult::failed("Vonage api_key and api_secret are required to update the application's answer_url")
        );
        assert_eq!(
            carriers.configure_inbound(&creds("secret-1234", Some("")), number("+15551230002"), true),
            SyncResult::failed(
                "Vonage signature_secret is required because inbound calls use signed webhook verification"
            )
        );
        assert_eq!(
            carriers.check_ownership(&creds("", None), number("+15551230002")),
            Ownership::LookupFailed("Vonage API key and secret are required to validate phone-number ownership".into())
        );
    }

    #[test]
    fn sip_addresses_are_owned_without_a_request() {
        let carriers = carriers("http://127.0.0.1:9", 0);
        let creds = creds("secret-1234", None);
        assert_eq!(
            carriers.check_ownership(&creds, number("sip:100@pbx.example.com")),
            Ownership::Owned
        );
        assert_eq!(carriers.check_ownership(&creds, number("1001")), Ownership::Owned);
    }

    const HOOK: &str = "http://backend.test/api/v1/telephony/inbound/run";
    const EVENTS: &str = "http://backend.test/api/v1/telephony/vonage/events";

    #[test]
    fn binding_copies_the_whole_application_and_changes_only_the_voice_webhooks() {
        let fetched = json!({
            "id": "app-1", "name": "Support", "keys": {"public_key": "PEM"},
            "privacy": {"improve_ai": false},
            "capabilities": {
                "messages": {"webhooks": {"inbound_url": {"address": "https://m"}}},
                "voice": {"webhooks": {"fallback_answer_url": {"address": "https://f"},
                                       "answer_url": {"address": "https://old", "http_method": "GET",
                                                      "connection_timeout": 500, "socket_timeout": 3000}},
                          "conversations_ttl": 48, "signed_callbacks": false}
            },
            "_links": {"self": {"href": "/v2/applications/app-1"}}
        });
        let body = bound_application(fetched, HOOK, EVENTS).unwrap();
        assert_eq!(
            body,
            json!({
                "id": "app-1", "name": "Support", "keys": {"public_key": "PEM"},
                "privacy": {"improve_ai": false},
                "capabilities": {
                    "messages": {"webhooks": {"inbound_url": {"address": "https://m"}}},
                    "voice": {"webhooks": {"fallback_answer_url": {"address": "https://f"},
                                           "answer_url": {"address": HOOK, "http_method": "POST",
                                                          "connection_timeout": 500, "socket_timeout": 3000},
                                           "event_url": {"address": EVENTS, "http_method": "POST"}},
                              "conversations_ttl": 48, "signed_callbacks": true}
                },
                "_links": {"self": {"href": "/v2/applications/app-1"}}
            })
        );
    }

    #[test]
    fn null_or_missing_objects_are_filled_in_and_absent_fields_stay_absent() {
        let body = bound_application(json!({"name": "A", "capabilities": {"voice": null}}), HOOK, EVENTS).unwrap();
        assert_eq!(body.get("privacy"), None);
        assert_eq!(body.get("keys"), None);
        assert_eq!(body["capabilities"]["voice"]["signed_callbacks"], true);
        assert_eq!(body["capabilities"]["voice"]["webhooks"]["answer_url"]["address"], HOOK);
        let bare = bound_application(json!({}), HOOK, EVENTS).unwrap();
        assert_eq!(bare.get("name"), None);
        assert_eq!(
            bare["capabilities"]["voice"]["webhooks"]["event_url"]["address"],
            EVENTS
        );
    }

    #[test]
    fn a_number_routes_by_its_sip_or_tel_forward_first_then_its_application() {
        let route = |number: Value| Route::of(&number);
        assert_eq!(
            route(json!({"app_id": "a", "voiceCallbackType": "sip", "voiceCallbackValue": "sip:x@pbx"})),
            Route::Forward {
                kind: "sip".into(),
                to: "sip:x@pbx".into()
            }
        );
        assert_eq!(route(json!({"app_id": "a"})), Route::Application("a".into()));
        assert_eq!(
            route(json!({"voiceCallbackType": "app", "voiceCallbackValue": "a"})),
            Route::Application("a".into()),
            "the older accounts' shape"
        );
        assert_eq!(route(json!({"app_id": "", "voiceCallbackType": null})), Route::Nowhere);
    }

    #[test]
    fn a_listed_number_says_where_it_routes() {
        let listed = |number: Value| Listed::of(&number);
        let tel = listed(json!({"country": "GB", "voiceCallbackType": "tel", "voiceCallbackValue": "4477"}));
        assert_eq!(tel.country, "GB");
        assert_eq!(tel.to_string(), "phone number 4477");
        assert!(listed(json!({"app_id": "a"})).is_application("a"));
        assert!(!listed(json!({"app_id": "b"})).is_application("a"));
        assert!(listed(json!({})).is_nowhere());
        assert_eq!(listed(json!({})).to_string(), "no application");
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
