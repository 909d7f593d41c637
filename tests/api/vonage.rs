//! Vonage against a fake of its applications and numbers APIs
//! (PROVIDERS.md §4 vonage, §5; CARRIER-AUDIT.md V3, V4; API.md §5.7).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use telebind::domain::provider::mask;
use wiremock::{Request, Respond, ResponseTemplate};

use crate::helpers::{
    assert_honest, assert_no_secret, calls, json_body, unreachable_carrier_messages, CarrierSetup, MockBody,
    MockCarrier, RoutesCalls, SYNC_TIMEOUT_MS, WEBHOOK,
};

const APP_ID: &str = "vonage-app-1";
pub const API_KEY: &str = "vonagekey123";
const API_SECRET: &str = "vonage-secret-xyz";
const PRIVATE_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----";
const SIGNATURE_SECRET: &str = "sig-secret-abc";
pub const SECRETS: [&str; 4] = [API_KEY, API_SECRET, PRIVATE_KEY, SIGNATURE_SECRET];
const BASIC: &str = "Basic dm9uYWdla2V5MTIzOnZvbmFnZS1zZWNyZXQteHl6";
const NUMBER: &str = "+14155550100";
const EVENTS: &str = "http://telebind.test/api/v1/telephony/vonage/events";
const APPLICATION: &str = "^/v2/applications/vonage-app-1$";
const APPLICATIONS: &str = "^/v2/applications/[^/]+$";
const NUMBERS: &str = "^/account/numbers$";
const UPDATE: &str = "^/number/update$";
const NO_OP: &str = "Vonage routes every number of the application to one URL; detaching one number leaves it in place";
const OTHER_APP: &str = "other-app-9";
const OTHER_ANSWER: &str = "https://other.example/answer";

fn config(signature_secret: Option<&str>) -> Value {
    json!({"provider": "vonage", "application_id": APP_ID, "private_key": PRIVATE_KEY,
           "api_key": API_KEY, "api_secret": API_SECRET, "signature_secret": signature_secret})
}

/// The application as Vonage holds it: its key, timeouts, other capabilities
/// and settings, all of which a bind must keep.
fn application() -> Value {
    json!({
        "id": APP_ID, "name": "Support line",
        "keys": {"public_key": "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----"},
        "privacy": {"improve_ai": true},
        "capabilities": {
            "voice": {"webhooks": {"answer_url": {"address": "https://old.example/answer", "http_method": "GET",
                                                  "connection_timeout": 500, "socket_timeout": 3000},
                                   "event_url": {"address": "https://old.example/events", "http_method": "POST",
                                                 "socket_timeout": 9000},
                                   "fallback_answer_url": {"address": "https://fallback.example", "http_method": "POST"}},
                      "conversations_ttl": 9000},
            "rtc": {"webhooks": {"event_url": {"address": "https://rtc.example", "http_method": "POST"}}}
        },
        "_links": {"self": {"href": "/v2/applications/vonage-app-1"}}
    })
}

/// Another application of the account, answering elsewhere.
fn other_application() -> Value {
    json!({"id": OTHER_APP, "name": "Other platform",
           "capabilities": {"voice": {"webhooks": {"answer_url": {"address": OTHER_ANSWER, "http_method": "POST"}}}}})
}

/// A number of the account as `GET /account/numbers` lists it, with the
/// routing fields `link` gives.
fn listed(msisdn: &str, link: Value) -> Value {
    let mut number = json!({"country": "US", "msisdn": msisdn, "type": "mobile-lvn", "features": ["VOICE", "SMS"]});
    number
        .as_object_mut()
        .unwrap()
        .extend(link.as_object().unwrap().clone());
    number
}

fn linked_to(app_id: &str) -> Value {
    json!({"app_id": app_id})
}

// ---------------------------------------------------------------------------
// The fake

/// One Vonage account, as the Numbers API (https://developer.vonage.com/en/api/numbers,
/// `definitions/numbers.yml`) and the Application API v2
/// (https://developer.vonage.com/en/api/application.v2) describe it.
#[derive(Clone)]
struct FakeVonage {
    account: Arc<Mutex<Account>>,
}

struct Account {
    /// Each application's whole JSON, as GET returns it.
    applications: HashMap<String, Value>,
    /// Owned numbers as the number search lists them.
    numbers: Vec<Value>,
}

impl FakeVonage {
    fn new(numbers: Vec<Value>) -> FakeVonage {
        let applications = [application(), other_application()]
            .into_iter()
            .map(|app| (app["id"].as_str().unwrap().to_string(), app))
            .collect();
        FakeVonage {
            account: Arc::new(Mutex::new(Account { applications, numbers })),
        }
    }

    async fn mount(&self, carrier: &MockCarrier) {
        carrier.serve("GET", APPLICATIONS, self.clone()).await;
        carrier.serve("PUT", APPLICATIONS, self.clone()).await;
        carrier.serve("GET", NUMBERS, self.clone()).await;
        carrier.serve("POST", UPDATE, self.clone()).await;
    }

    /// The application as Vonage now holds it.
    fn application(&self) -> Value {
        self.account.lock().unwrap().applications[APP_ID].clone()
    }

    /// The number as Vonage now lists it.
    fn number(&self, digits: &str) -> Value {
        self.account.lock().unwrap().number(digits).unwrap().clone()
    }

    /// The number leaves the account (cancelled, or moved to another account).
    fn release(&self, digits: &str) {
        self.account.lock().unwrap().numbers.retain(|n| n["msisdn"] != digits);
    }
}

impl RoutesCalls for FakeVonage {
    /// Where Vonage would send an inbound call to `e164` right now: a number's
    /// `voiceCallbackType` of `sip` or `tel` wins ("If set, `sip` or `tel` are
    /// prioritized over the Voice capability in your Application",
    /// https://developer.vonage.com/en/api/numbers); otherwise its `app_id`, or
    /// on older accounts `voiceCallbackValue` with type `app`, names the
    /// application whose voice `answer_url` Vonage requests
    /// (https://developer.vonage.com/en/application/technical-details).
    fn inbound_url(&self, e164: &str) -> Option<String> {
        let account = self.account.lock().unwrap();
        let number = account.number(e164.trim_start_matches('+'))?;
        let text = |key: &str| number.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
        match text("voiceCallbackType") {
            Some("sip" | "tel") => text("voiceCallbackValue").map(str::to_string),
            kind => {
                let app = text("app_id").or(if kind == Some("app") {
                    text("voiceCallbackValue")
                } else {
                    None
                })?;
                let address = account
                    .applications
                    .get(app)?
                    .pointer("/capabilities/voice/webhooks/answer_url/address");
                address.and_then(Value::as_str).map(str::to_string)
            }
        }
    }
}

impl Account {
    fn number(&self, digits: &str) -> Option<&Value> {
        self.numbers.iter().find(|n| n["msisdn"] == digits)
    }

    fn get_application(&self, id: &str) -> ResponseTemplate {
        match self.applications.get(id) {
            Some(app) => ResponseTemplate::new(200).set_body_json(app),
            None => not_found(),
        }
    }

    /// PUT replaces the application with the body: what the body leaves out
    /// (such as `keys`) is gone. `name` is required (application.v2.yml
    /// `updateApplication`, https://developer.vonage.com/en/api/application.v2#updateApplication).
    fn put_application(&mut self, id: &str, request: &Request) -> ResponseTemplate {
        if !self.applications.contains_key(id) {
            return not_found();
        }
        let body: Value = match serde_json::from_slice(&request.body) {
            Ok(Value::Object(body)) => Value::Object(body),
            _ => return invalid_payload("the body is not a JSON object"),
        };
        if !body.get("name").is_some_and(Value::is_string) {
            return invalid_payload("name is required");
        }
        let mut app = body;
        app["id"] = json!(id);
        self.applications.insert(id.to_string(), app.clone());
        ResponseTemplate::new(200).set_body_json(app)
    }

    /// `pattern` with `search_pattern` 0 (starts with), 1 (contains) or 2 (ends
    /// with), at most `size` (≤ 100) numbers (numbers.yml `getOwnedNumbers`);
    /// when nothing matches the body has no `numbers` at all (the official SDK
    /// guards for it: vonage-python-sdk `list_owned_numbers`).
    fn list_numbers(&self, request: &Request) -> ResponseTemplate {
        let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let pattern = query.get("pattern").cloned().unwrap_or_default();
        let size: usize = query.get("size").and_then(|s| s.parse().ok()).unwrap_or(10).min(100);
        let matches = |msisdn: &str| match query.get("search_pattern").map(String::as_str) {
            Some("1") => msisdn.contains(&pattern),
            Some("2") => msisdn.ends_with(&pattern),
            _ => msisdn.starts_with(&pattern),
        };
        let found: Vec<Value> = self
            .numbers
            .iter()
            .filter(|n| matches(n["msisdn"].as_str().unwrap()))
            .cloned()
            .collect();
        let mut body = json!({"count": found.len()});
        if !found.is_empty() {
            body["numbers"] = Value::Array(found.into_iter().take(size).collect());
        }
        ResponseTemplate::new(200).set_body_json(body)
    }

    /// `POST /number/update` takes a **form** with the required `country` and
    /// `msisdn` of a number of the account; `app_id` links it to an
    /// application; `voiceCallbackType` (`sip`, `tel`, or the deprecated `app`)
    /// "must be used with the `voiceCallbackValue` parameter"
    /// (numbers.yml `updateANumber`, https://developer.vonage.com/en/api/numbers).
    /// The docs do not say that an omitted field is cleared, so here it is
    /// kept: only an explicit `voiceCallbackType` replaces a sip/tel forward.
    /// A refused update is HTTP 200 with `error-code` 420, as the official SDK's
    /// tests model it (vonage-python-sdk `number_management/tests/data/no_number.json`;
    /// the SDK reads `error-code`, not the status).
    fn update_number(&mut self, request: &Request) -> ResponseTemplate {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&request.body).into_owned().collect();
        let field = |key: &str| form.get(key).filter(|v| !v.is_empty());
        let (Some(country), Some(msisdn)) = (field("country"), field("msisdn")) else {
            return method_failed();
        };
        let kind = field("voiceCallbackType");
        if kind.is_some() != field("voiceCallbackValue").is_some()
            || kind.is_some_and(|k| !["sip", "tel", "app"].contains(&k.as_str()))
        {
            return method_failed();
        }
        let Some(number) = self
            .numbers
            .iter_mut()
            .find(|n| n["msisdn"] == msisdn.as_str() && n["country"] == country.as_str())
        else {
            return method_failed();
        };
        for key in ["app_id", "voiceCallbackType", "voiceCallbackValue"] {
            if let Some(value) = field(key) {
                number[key] = json!(value);
            }
        }
        ResponseTemplate::new(200).set_body_json(json!({"error-code": "200", "error-code-label": "success"}))
    }
}

impl Respond for FakeVonage {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        // Both APIs take Basic `api_key:api_secret` (numbers.yml, application.v2.yml `basicAuth`).
        if request.headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(BASIC) {
            return ResponseTemplate::new(401)
                .set_body_json(json!({"error-code": "401", "error-code-label": "authentication failed"}));
        }
        let mut account = self.account.lock().unwrap();
        let id = request.url.path().rsplit('/').next().unwrap_or_default().to_string();
        match (request.method.as_str(), request.url.path()) {
            ("GET", "/account/numbers") => account.list_numbers(request),
            ("POST", "/number/update") => account.update_number(request),
            ("GET", _) => account.get_application(&id),
            ("PUT", _) => account.put_application(&id, request),
            _ => not_found(),
        }
    }
}

fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({"title": "Not found."}))
}

fn invalid_payload(detail: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({"title": "Bad Request", "detail": detail}))
}

fn method_failed() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"error-code": "420", "error-code-label": "method failed"}))
}

// ---------------------------------------------------------------------------
// Setups and assertions

/// The account holds `NUMBER` with the routing fields `link`, next to a
/// longer number the prefix search also finds, and another number.
async fn setup_with(signature_secret: Option<&str>, link: Value) -> (CarrierSetup, FakeVonage) {
    let s = CarrierSetup::start(config(signature_secret), &SECRETS).await;
    let fake = FakeVonage::new(vec![
        listed("141555501001", linked_to(OTHER_APP)),
        listed("14155550100", link),
        listed("14155550999", json!({})),
    ]);
    fake.mount(&s.carrier).await;
    (s, fake)
}

/// `NUMBER` already linked to the configuration's application.
async fn setup() -> (CarrierSetup, FakeVonage) {
    setup_with(Some(SIGNATURE_SECRET), linked_to(APP_ID)).await
}

async fn setup_linked(link: Value) -> (CarrierSetup, FakeVonage) {
    setup_with(Some(SIGNATURE_SECRET), link).await
}

fn form(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body).into_owned().collect()
}

fn assert_basic_auth(requests: &[Request]) {
    for request in requests {
        assert_eq!(request.headers.get("authorization").unwrap(), BASIC, "{}", request.url);
    }
}

/// The first `n` requests of a bind that links the number: the application's
/// GET and PUT, the number search, the number's update, the read-back.
fn linking(n: usize) -> Vec<(String, String)> {
    [
        ("GET", "/v2/applications/vonage-app-1"),
        ("PUT", "/v2/applications/vonage-app-1"),
        ("GET", "/account/numbers"),
        ("POST", "/number/update"),
        ("GET", "/account/numbers"),
    ]
    .iter()
    .take(n)
    .map(|(verb, path)| (verb.to_string(), path.to_string()))
    .collect()
}

// ---------------------------------------------------------------------------
// Binding

#[tokio::test]
async fn binding_puts_the_application_back_with_our_webhooks_and_everything_else_kept() {
    let (s, fake) = setup().await;
    let requests = s.requests_of_a_bind(NUMBER).await;
    assert_eq!(fake.inbound_url(NUMBER).as_deref(), Some(WEBHOOK));
    assert_eq!(calls(&requests), linking(3), "a number already linked is not updated");
    assert_basic_auth(&requests);
    assert_eq!(requests[1].headers.get("content-type").unwrap(), "application/json");
    let mut expected = application();
    let voice = &mut expected["capabilities"]["voice"];
    voice["webhooks"]["answer_url"]["address"] = json!(WEBHOOK);
    voice["webhooks"]["answer_url"]["http_method"] = json!("POST");
    voice["webhooks"]["event_url"]["address"] = json!(EVENTS);
    voice["signed_callbacks"] = json!(true);
    assert_eq!(json_body(&requests[1]), expected);
    assert_eq!(fake.application(), expected);
    for request in &requests {
        let sent = format!("{} {}", request.url, String::from_utf8_lossy(&request.body));
        assert_no_secret(&sent, &SECRETS);
    }
}

#[tokio::test]
async fn binding_keeps_the_applications_public_key_and_webhook_timeouts() {
    let (s, fake) = setup().await;
    s.honest_bind(&fake, NUMBER).await;
    let app = fake.application();
    assert_eq!(app["keys"], application()["keys"]);
    let hooks = &app["capabilities"]["voice"]["webhooks"];
    assert_eq!(
        hooks["answer_url"],
        json!({"address": WEBHOOK, "http_method": "POST", "connection_timeout": 500, "socket_timeout": 3000})
    );
    assert_eq!(
        hooks["event_url"],
        json!({"address": EVENTS, "http_method": "POST", "socket_timeout": 9000})
    );
}

#[tokio::test]
async fn binding_a_number_of_another_application_links_it_and_says_what_it_was_linked_to() {
    let (s, fake) = setup_linked(linked_to(OTHER_APP)).await;
    assert_eq!(fake.inbound_url(NUMBER).as_deref(), Some(OTHER_ANSWER));
    let (bound, requests) = s.honest_bind(&fake, NUMBER).await;
    assert_eq!(
        bound["provider_sync"],
        json!({"ok": true, "message": "Vonage number +14155550100 was routed to application other-app-9; it is now linked to application vonage-app-1."})
    );
    assert_eq!(calls(&requests), linking(5));
    assert_basic_auth(&requests);
    let update = &requests[3];
    assert_eq!(
        update.headers.get("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        form(update),
        [("country", "US"), ("msisdn", "14155550100"), ("app_id", APP_ID)].map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert_eq!(
        fake.number("141555501001")["app_id"],
        OTHER_APP,
        "only the exact number is linked"
    );
}

#[tokio::test]
async fn binding_an_unlinked_number_links_it() {
    let (s, fake) = setup_linked(json!({})).await;
    assert_eq!(fake.inbound_url(NUMBER), None);
    let (bound, requests) = s.honest_bind(&fake, NUMBER).await;
    assert_eq!(bound["provider_sync"], json!({"ok": true, "message": null}));
    assert_eq!(calls(&requests), linking(5));
}

#[tokio::test]
async fn binding_a_number_forwarded_to_sip_or_tel_replaces_the_forward_with_the_application() {
    for (forward, was) in [
        (
            json!({"app_id": APP_ID, "voiceCallbackType": "sip", "voiceCallbackValue": "sip:desk@pbx.example.com"}),
            "SIP URI sip:desk@pbx.example.com",
        ),
        (
            json!({"voiceCallbackType": "tel", "voiceCallbackValue": "447700900001"}),
            "phone number 447700900001",
        ),
    ] {
        let (s, fake) = setup_linked(forward).await;
        assert_ne!(fake.inbound_url(NUMBER).as_deref(), Some(WEBHOOK));
        let (bound, requests) = s.honest_bind(&fake, NUMBER).await;
        assert_eq!(
            bound["provider_sync"],
            json!({"ok": true, "message": format!(
                "Vonage number +14155550100 was routed to {was}; it is now linked to application vonage-app-1.")})
        );
        assert_eq!(calls(&requests), linking(5));
        assert_eq!(
            form(&requests[3]),
            [
                ("country", "US"),
                ("msisdn", "14155550100"),
                ("app_id", APP_ID),
                ("voiceCallbackType", "app"),
                ("voiceCallbackValue", APP_ID)
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }
}

#[tokio::test]
async fn a_number_linked_the_older_way_counts_as_linked() {
    let legacy = json!({"voiceCallbackType": "app", "voiceCallbackValue": APP_ID});
    let (s, fake) = setup_linked(legacy).await;
    let (bound, requests) = s.honest_bind(&fake, NUMBER).await;
    assert_eq!(bound["provider_sync"], json!({"ok": true, "message": null}));
    assert_eq!(requests.len(), 3, "no update: {:?}", calls(&requests));
}

#[tokio::test]
async fn binding_a_number_no_longer_in_the_account_fails_and_says_what_to_do() {
    let (s, fake) = setup_linked(linked_to(OTHER_APP)).await;
    let path = s.unbound_number(NUMBER).await;
    fake.release("14155550100");
    let bound = s.bind(&path).await;
    assert_honest(&bound, &fake, NUMBER);
    assert_eq!(
        bound["provider_sync"]["message"],
        format!(
            "Vonage number +14155550100 is not in this Vonage account ({}), so it cannot be linked to application vonage-app-1. Add it to the account in the Vonage dashboard, then sync again.",
            mask(API_KEY)
        )
    );
}

// ---------------------------------------------------------------------------
// Ownership, saving, unbinding

#[tokio::test]
async fn creating_a_number_looks_it_up_in_the_accounts_number_search() {
    let (s, _) = setup().await;
    let before = s.request_count().await;
    s.app
        .create_number(&s.cfg, json!({"address": "(415) 555-0100", "country_code": "US"}))
        .await;
    let requests = s.requests_after(before).await;
    assert_eq!(calls(&requests), [("GET".into(), "/account/numbers".into())]);
    let query: Vec<(String, String)> = requests[0].url.query_pairs().into_owned().collect();
    assert_eq!(
        query,
        [
            ("pattern".to_string(), "14155550100".to_string()),
            ("search_pattern".to_string(), "0".to_string()),
            ("size".to_string(), "100".to_string())
        ]
    );
    assert_basic_auth(&requests);
}

#[tokio::test]
async fn saving_a_vonage_config_makes_no_carrier_request() {
    let (s, _) = setup().await;
    assert_eq!(s.request_count().await, 0);
    let path = format!("/api/v1/organizations/telephony-configs/{}", s.cfg);
    s.app
        .call(Method::PUT, &path, Some(json!({"config": config(None)})), 200)
        .await;
    assert_eq!(s.request_count().await, 0);
}

#[tokio::test]
async fn unbinding_one_number_leaves_the_shared_url_in_place_and_says_so() {
    setup().await.0.assert_unbinding_is_a_no_op(NUMBER, NO_OP).await;
}

#[tokio::test]
async fn a_number_missing_from_the_search_is_refused_with_400_naming_the_masked_key() {
    let (s, _) = setup().await;
    let answer = s.refused_number("+14155550123", 400).await;
    let expected = format!(
        "Phone number +14155550123 is not owned by this Vonage account ({}). Add it in the Vonage dashboard first.",
        mask(API_KEY)
    );
    assert_eq!(answer, json!({ "detail": expected }));
}

#[tokio::test]
async fn a_failed_number_search_is_a_502_and_nothing_is_stored() {
    let (s, _) = setup().await;
    for (status, reply, expected) in [
        (500, "search broke", "Vonage API 500: search broke"),
        (
            200,
            "<html>not json",
            "Vonage phone-number lookup failed: response is not JSON",
        ),
    ] {
        s.carrier.server.reset().await;
        s.carrier.answer("GET", NUMBERS, status, reply, Duration::ZERO).await;
        let answer = s.refused_number(NUMBER, 502).await;
        let detail = answer["detail"].as_str().unwrap();
        assert!(detail.starts_with(expected), "{detail}");
    }
}

// ---------------------------------------------------------------------------
// Faults: each within the one deadline, each `ok:false` and honest

const NOW: Duration = Duration::ZERO;
const HANG: Duration = Duration::from_secs(10);

/// Binds `NUMBER` (linked to another application) while Vonage answers the
/// application's routes only as `answers` say; returns the failed push's
/// message and the methods Vonage received.
async fn a_failed_bind(answers: Vec<(&str, u16, MockBody, Duration)>) -> (String, Vec<String>) {
    let (s, fake) = setup_linked(linked_to(OTHER_APP)).await;
    let path = s.unbound_number(NUMBER).await;
    s.carrier.server.reset().await;
    for (verb, status, reply, delay) in answers {
        s.carrier.answer(verb, APPLICATION, status, reply, delay).await;
    }
    let message = s.failed_bind(&path).await;
    assert_ne!(fake.inbound_url(NUMBER).as_deref(), Some(WEBHOOK));
    let methods = s.requests_after(0).await.iter().map(|r| r.method.to_string()).collect();
    (message, methods)
}

#[tokio::test]
async fn a_rejected_application_lookup_fails_the_push_with_the_status_and_body() {
    let (message, methods) = a_failed_bind(vec![("GET", 401, "Bad credentials".into(), NOW)]).await;
    assert_eq!(message, "Vonage API 401: Bad credentials");
    assert_eq!(methods, ["GET"], "no update after a failed lookup");
    let (message, _) = a_failed_bind(vec![("GET", 503, "down".into(), NOW)]).await;
    assert_eq!(message, "Vonage API 503: down");
}

#[tokio::test]
async fn an_application_that_is_not_json_fails_the_push_without_an_update() {
    let (message, methods) = a_failed_bind(vec![
        ("GET", 200, "<html>maintenance".into(), NOW),
        ("PUT", 200, json!({}).into(), NOW),
    ])
    .await;
    assert!(
        message.starts_with("Vonage lookup failed: response is not JSON"),
        "{message}"
    );
    assert_eq!(methods, ["GET"]);
}

#[tokio::test]
async fn a_rejected_update_fails_the_push_with_the_status_and_body() {
    let (message, methods) = a_failed_bind(vec![
        ("GET", 200, application().into(), NOW),
        ("PUT", 422, json!({"title": "Invalid"}).into(), NOW),
    ])
    .await;
    assert_eq!(message, r#"Vonage API 422: {"title":"Invalid"}"#);
    assert_eq!(methods, ["GET", "PUT"]);
    let (message, _) = a_failed_bind(vec![
        ("GET", 200, application().into(), NOW),
        ("PUT", 500, "oops".into(), NOW),
    ])
    .await;
    assert_eq!(message, "Vonage API 500: oops");
}

#[tokio::test]
async fn an_update_that_hangs_after_the_lookup_answered_times_out_within_the_deadline() {
    let (message, methods) = a_failed_bind(vec![
        ("GET", 200, application().into(), NOW),
        ("PUT", 200, json!({}).into(), HANG),
    ])
    .await;
    assert_eq!(
        message,
        format!("Vonage update failed: timed out after {SYNC_TIMEOUT_MS} ms")
    );
    assert_eq!(methods, ["GET", "PUT"]);
}

#[tokio::test]
async fn one_deadline_covers_the_lookup_and_the_update() {
    let slow = Duration::from_millis(SYNC_TIMEOUT_MS * 6 / 10);
    let (message, _) = a_failed_bind(vec![
        ("GET", 200, application().into(), slow),
        ("PUT", 200, json!({}).into(), slow),
    ])
    .await;
    assert_eq!(
        message,
        format!("Vonage update failed: timed out after {SYNC_TIMEOUT_MS} ms")
    );
}

#[tokio::test]
async fn a_carrier_echoing_the_credentials_has_them_masked() {
    let echo = format!("no access for {API_KEY}:{API_SECRET}");
    let (message, _) = a_failed_bind(vec![("GET", 401, echo.as_str().into(), NOW)]).await;
    assert_eq!(
        message,
        format!("Vonage API 401: no access for {}:{}", mask(API_KEY), mask(API_SECRET))
    );
}

/// Binds `NUMBER` (linked to another application) while the fake answers
/// `verb path` with `fault` after `skip` such requests; returns the failed
/// push's message, the calls Vonage received and where it now routes `NUMBER`.
async fn a_failed_link(
    verb: &str,
    path: &str,
    skip: u64,
    fault: impl Respond + 'static,
) -> (String, Vec<Request>, Option<String>) {
    let (s, fake) = setup_linked(linked_to(OTHER_APP)).await;
    let path_of_number = s.unbound_number(NUMBER).await;
    s.carrier.server.reset().await;
    s.carrier.fail_after(verb, path, skip, fake.clone(), fault).await;
    fake.mount(&s.carrier).await;
    let message = s.failed_bind(&path_of_number).await;
    (message, s.requests_after(0).await, fake.inbound_url(NUMBER))
}

/// A plain answer of `status` with `body`.
fn text(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_string(body)
}

fn json_answer(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

#[tokio::test]
async fn a_failed_number_lookup_on_bind_fails_the_push_and_says_what_to_do() {
    for (fault, why) in [
        (text(500, "search broke"), "Vonage API 500: search broke".to_string()),
        (
            text(200, "<html>"),
            "Vonage phone-number lookup failed: response is not JSON".to_string(),
        ),
        (
            json_answer(200, json!({})).set_delay(HANG),
            format!("Vonage phone-number lookup failed: timed out after {SYNC_TIMEOUT_MS} ms"),
        ),
    ] {
        let (message, requests, routed) = a_failed_link("GET", NUMBERS, 0, fault).await;
        assert_eq!(routed.as_deref(), Some(OTHER_ANSWER));
        assert!(
            message.starts_with(&format!(
                "Vonage could not link number +14155550100 to application vonage-app-1: {why}"
            )),
            "{message}"
        );
        assert!(
            message.ends_with(". Link it to the application in the Vonage dashboard, or sync again."),
            "{message}"
        );
        assert_eq!(calls(&requests)[..3], linking(3), "no update without the number");
    }
}

#[tokio::test]
async fn a_refused_link_fails_the_push_with_vonages_answer() {
    for (fault, why) in [
        (
            json_answer(200, json!({"error-code": "420", "error-code-label": "method failed"})),
            r#"Vonage API 200: {"error-code":"420","error-code-label":"method failed"}"#.to_string(),
        ),
        (
            text(401, "Bad credentials"),
            "Vonage API 401: Bad credentials".to_string(),
        ),
        (text(503, "<html>"), "Vonage API 503: <html>".to_string()),
        (
            json_answer(200, json!({"error-code": "200"})).set_delay(HANG),
            format!("timed out after {SYNC_TIMEOUT_MS} ms"),
        ),
    ] {
        let (message, requests, routed) = a_failed_link("POST", UPDATE, 0, fault).await;
        assert_eq!(routed.as_deref(), Some(OTHER_ANSWER));
        assert_eq!(
            message,
            format!("Vonage could not link number +14155550100 to application vonage-app-1: {why}. Link it to the application in the Vonage dashboard, or sync again.")
        );
        assert_eq!(calls(&requests), linking(4), "no read-back after a failed update");
    }
}

#[tokio::test]
async fn an_update_vonage_answers_but_does_not_apply_fails_the_push() {
    let success = json!({"error-code": "200", "error-code-label": "success"});
    let (message, requests, routed) = a_failed_link("POST", UPDATE, 0, json_answer(200, success)).await;
    assert_eq!(routed.as_deref(), Some(OTHER_ANSWER));
    assert_eq!(
        message,
        "Vonage number +14155550100 still routes to application other-app-9 after telebind linked it to application vonage-app-1. Link it to the application in the Vonage dashboard, then sync again."
    );
    assert_eq!(calls(&requests), linking(5));
}

/// The link was made but could not be read back: the number does route to
/// telebind, yet the push cannot know it, so it says so instead of `ok`.
#[tokio::test]
async fn a_read_back_that_hangs_fails_the_push_within_the_deadline() {
    let (message, requests, routed) =
        a_failed_link("GET", NUMBERS, 1, json_answer(200, json!({})).set_delay(HANG)).await;
    assert_eq!(routed.as_deref(), Some(WEBHOOK));
    assert_eq!(
        message,
        format!("Vonage could not confirm that number +14155550100 is linked to application vonage-app-1: Vonage phone-number lookup failed: timed out after {SYNC_TIMEOUT_MS} ms. Check it in the Vonage dashboard, or sync again.")
    );
    assert_eq!(calls(&requests), linking(5));
}

#[tokio::test]
async fn one_deadline_covers_the_application_and_the_link() {
    let (s, fake) = setup_linked(linked_to(OTHER_APP)).await;
    let path = s.unbound_number(NUMBER).await;
    s.carrier.server.reset().await;
    // Each request answers correctly, but 40% of the deadline late: the
    // deadline passes before the number is updated.
    let late = Duration::from_millis(SYNC_TIMEOUT_MS * 4 / 10);
    for (verb, route) in [
        ("GET", APPLICATIONS),
        ("PUT", APPLICATIONS),
        ("GET", NUMBERS),
        ("POST", UPDATE),
    ] {
        let fake = fake.clone();
        s.carrier
            .serve(verb, route, move |r: &Request| fake.respond(r).set_delay(late))
            .await;
    }
    let message = s.failed_bind(&path).await;
    assert!(
        message.contains(&format!("timed out after {SYNC_TIMEOUT_MS} ms")),
        "{message}"
    );
    assert!(
        message.starts_with("Vonage could not link number +14155550100"),
        "{message}"
    );
}

#[tokio::test]
async fn binding_without_a_signature_secret_fails_before_any_request() {
    let (s, _) = setup_with(None, linked_to(APP_ID)).await;
    let path = s.unbound_number(NUMBER).await;
    let before = s.request_count().await;
    let bound = s.bind(&path).await;
    assert_eq!(
        bound["provider_sync"],
        json!({"ok": false, "message":
            "Vonage signature_secret is required because inbound calls use signed webhook verification"})
    );
    assert_eq!(s.requests_after(before).await.len(), 0);
}

#[tokio::test]
async fn an_unreachable_carrier_fails_the_lookup_with_502_and_the_push_but_not_the_create() {
    let (refused, pushed) = unreachable_carrier_messages(config(Some(SIGNATURE_SECRET)), NUMBER).await;
    assert!(refused.starts_with("Vonage phone-number lookup failed: "), "{refused}");
    assert!(pushed.starts_with("Vonage lookup failed: "), "{pushed}");
}
