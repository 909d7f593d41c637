//! Vonage against the mock carrier (PROVIDERS.md §4 vonage, §5; API.md §5.7).

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use telebind::domain::provider::mask;
use wiremock::Request;

use crate::helpers::{
    assert_no_secret, unreachable_carrier_messages, CarrierSetup, MockBody, MockCarrier, SYNC_TIMEOUT_MS,
};

const APP_ID: &str = "vonage-app-1";
const API_KEY: &str = "vonagekey123";
const API_SECRET: &str = "vonage-secret-xyz";
const PRIVATE_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----";
const SIGNATURE_SECRET: &str = "sig-secret-abc";
const SECRETS: [&str; 4] = [API_KEY, API_SECRET, PRIVATE_KEY, SIGNATURE_SECRET];
const BASIC: &str = "Basic dm9uYWdla2V5MTIzOnZvbmFnZS1zZWNyZXQteHl6";
const NUMBER: &str = "+14155550100";
const WEBHOOK: &str = "http://telebind.test/api/v1/telephony/inbound/run";
const EVENTS: &str = "http://telebind.test/api/v1/telephony/vonage/events";
const APPLICATION: &str = "^/v2/applications/vonage-app-1$";
const NUMBERS: &str = "^/account/numbers$";
const NO_OP: &str = "Vonage routes every number of the application to one URL; detaching one number leaves it in place";

fn config(signature_secret: Option<&str>) -> Value {
    json!({"provider": "vonage", "application_id": APP_ID, "private_key": PRIVATE_KEY,
           "api_key": API_KEY, "api_secret": API_SECRET, "signature_secret": signature_secret})
}

/// The application as Vonage holds it: other capabilities and settings that a
/// bind must keep.
fn application() -> Value {
    json!({
        "id": APP_ID, "name": "Support line",
        "keys": {"public_key": "-----BEGIN PUBLIC KEY-----"},
        "privacy": {"improve_ai": true},
        "capabilities": {
            "voice": {"webhooks": {"answer_url": {"address": "https://old.example/answer", "http_method": "GET"},
                                   "fallback_answer_url": {"address": "https://fallback.example", "http_method": "POST"}},
                      "conversations_ttl": 9000},
            "rtc": {"webhooks": {"event_url": {"address": "https://rtc.example", "http_method": "POST"}}}
        },
        "_links": {"self": {"href": "/v2/applications/vonage-app-1"}}
    })
}

/// Vonage that lists `NUMBER` in the account and accepts application updates.
async fn accepting(carrier: &MockCarrier) {
    let listing = json!({"count": 2, "numbers": [{"country": "US", "msisdn": "14155550999"},
                                                  {"country": "US", "msisdn": "14155550100"}]});
    carrier.answer("GET", NUMBERS, 200, listing, Duration::ZERO).await;
    carrier
        .answer("GET", APPLICATION, 200, application(), Duration::ZERO)
        .await;
    carrier
        .answer("PUT", APPLICATION, 200, json!({"id": APP_ID}), Duration::ZERO)
        .await;
}

async fn setup_with(signature_secret: Option<&str>) -> CarrierSetup {
    let s = CarrierSetup::start(config(signature_secret), &SECRETS).await;
    accepting(&s.carrier).await;
    s
}

async fn setup() -> CarrierSetup {
    setup_with(Some(SIGNATURE_SECRET)).await
}

fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).expect("a JSON body")
}

fn assert_basic_auth(requests: &[Request]) {
    for request in requests {
        assert_eq!(request.headers.get("authorization").unwrap(), BASIC, "{}", request.url);
    }
}

#[tokio::test]
async fn binding_gets_the_application_then_puts_it_back_with_our_webhooks_and_everything_else_kept() {
    let requests = setup().await.requests_of_a_bind(NUMBER).await;
    let calls: Vec<(&str, &str)> = requests.iter().map(|r| (r.method.as_str(), r.url.path())).collect();
    assert_eq!(
        calls,
        [
            ("GET", "/v2/applications/vonage-app-1"),
            ("PUT", "/v2/applications/vonage-app-1")
        ]
    );
    assert_basic_auth(&requests);
    assert_eq!(requests[1].headers.get("content-type").unwrap(), "application/json");
    assert_eq!(
        body(&requests[1]),
        json!({
            "name": "Support line",
            "privacy": {"improve_ai": true},
            "capabilities": {
                "voice": {"webhooks": {"answer_url": {"address": WEBHOOK, "http_method": "POST"},
                                       "event_url": {"address": EVENTS, "http_method": "POST"},
                                       "fallback_answer_url": {"address": "https://fallback.example", "http_method": "POST"}},
                          "conversations_ttl": 9000, "signed_callbacks": true},
                "rtc": {"webhooks": {"event_url": {"address": "https://rtc.example", "http_method": "POST"}}}
            }
        })
    );
    for request in &requests {
        let sent = format!("{} {}", request.url, String::from_utf8_lossy(&request.body));
        assert_no_secret(&sent, &SECRETS);
    }
}

#[tokio::test]
async fn creating_a_number_looks_it_up_in_the_accounts_number_search() {
    let s = setup().await;
    let before = s.request_count().await;
    s.app
        .create_number(&s.cfg, json!({"address": "(415) 555-0100", "country_code": "US"}))
        .await;
    let requests = s.requests_after(before).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (requests[0].method.as_str(), requests[0].url.path()),
        ("GET", "/account/numbers")
    );
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
    let s = setup().await;
    assert_eq!(s.request_count().await, 0);
    let path = format!("/api/v1/organizations/telephony-configs/{}", s.cfg);
    s.app
        .call(Method::PUT, &path, Some(json!({"config": config(None)})), 200)
        .await;
    assert_eq!(s.request_count().await, 0);
}

#[tokio::test]
async fn unbinding_one_number_leaves_the_shared_url_in_place_and_says_so() {
    setup().await.assert_unbinding_is_a_no_op(NUMBER, NO_OP).await;
}

#[tokio::test]
async fn a_number_missing_from_the_search_is_refused_with_400_naming_the_masked_key() {
    let s = setup().await;
    let answer = s.refused_number("+14155550123", 400).await;
    let expected = format!(
        "Phone number +14155550123 is not owned by this Vonage account ({}). Add it in the Vonage dashboard first.",
        mask(API_KEY)
    );
    assert_eq!(answer, json!({ "detail": expected }));
}

#[tokio::test]
async fn a_failed_number_search_is_a_502_and_nothing_is_stored() {
    let s = setup().await;
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

/// Binds `NUMBER` while the application's routes give `answers`, and returns
/// the failed push's message and the methods Vonage received.
async fn a_failed_bind(answers: Vec<(&str, u16, MockBody, Duration)>) -> (String, Vec<String>) {
    let s = setup().await;
    let path = s.unbound_number(NUMBER).await;
    s.carrier.server.reset().await;
    for (verb, status, reply, delay) in answers {
        s.carrier.answer(verb, APPLICATION, status, reply, delay).await;
    }
    let message = s.failed_bind(&path).await;
    let methods = s.requests_after(0).await.iter().map(|r| r.method.to_string()).collect();
    (message, methods)
}

const NOW: Duration = Duration::ZERO;

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
        ("PUT", 200, json!({}).into(), Duration::from_secs(10)),
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

#[tokio::test]
async fn binding_without_a_signature_secret_fails_before_any_request() {
    let s = setup_with(None).await;
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
