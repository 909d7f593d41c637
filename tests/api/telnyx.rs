//! Telnyx against the mock carrier: one call-control application serves every
//! number (PROVIDERS.md §3 telnyx, §4 telnyx, §5).

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use telebind::domain::provider::mask;
use wiremock::Request;

use crate::helpers::{
    assert_headers, assert_not_sent, bind_while_unreachable, calls, json_body, numbers_path, query, refused_creations,
    refused_while_unreachable, spawn_app_with_carrier, Answer, CarrierSetup, MockCarrier, RefusedCreation,
    SYNC_TIMEOUT_MS,
};

const KEY: &str = "KEYtelnyx-0123456789-secret";
const BEARER: &str = "Bearer KEYtelnyx-0123456789-secret";
const CONNECTION: &str = "conn-7001";
const NUMBER: &str = "+14155550100";
const WEBHOOK: &str = "http://telebind.test/api/v1/telephony/inbound/run";
const NUMBERS: &str = "^/v2/phone_numbers$";
const APPLICATION: &str = "^/v2/call_control_applications/conn-7001$";
const APPLICATIONS: &str = "^/v2/call_control_applications$";
const DETACHED: &str =
    "Telnyx routes every number of the application to one URL; detaching one number leaves it in place";

fn config(connection_id: Option<&str>) -> Value {
    json!({"provider": "telnyx", "api_key": KEY, "connection_id": connection_id})
}

/// Telnyx that owns `NUMBER` and whose application accepts the webhook.
async fn cooperative(carrier: &MockCarrier) {
    let numbers = json!({"data": [{"phone_number": "+14155550999"}, {"phone_number": NUMBER}]});
    carrier.answer("GET", NUMBERS, 200, numbers, Duration::ZERO).await;
    let app =
        json!({"data": {"id": CONNECTION, "application_name": "support-line", "webhook_event_url": "https://old"}});
    carrier
        .answer("GET", APPLICATION, 200, app.clone(), Duration::ZERO)
        .await;
    carrier.answer("PATCH", APPLICATION, 200, app, Duration::ZERO).await;
}

/// A Telnyx configuration with its application given, on a cooperative carrier.
async fn setup() -> CarrierSetup {
    let s = CarrierSetup::start(config(Some(CONNECTION)), &[KEY]).await;
    cooperative(&s.carrier).await;
    s
}

fn assert_telnyx_headers(request: &Request) {
    let headers = [
        ("authorization", BEARER),
        ("accept", "application/json"),
        ("content-type", "application/json"),
    ];
    assert_headers(request, &headers);
}

#[tokio::test]
async fn binding_gets_the_application_then_patches_its_webhook_under_the_same_name() {
    let s = setup().await;
    s.bound_number(NUMBER).await;
    let requests = s.carrier.requests().await;
    let application = "/v2/call_control_applications/conn-7001";
    assert_eq!(
        calls(&requests),
        [
            ("GET".into(), "/v2/phone_numbers".into()),
            ("GET".into(), application.into()),
            ("PATCH".into(), application.into())
        ]
    );
    assert_eq!(
        query(&requests[0]),
        [
            ("filter[phone_number]".into(), NUMBER.into()),
            ("page[size]".into(), "100".into())
        ]
    );
    assert_eq!(
        json_body(&requests[2]),
        json!({"application_name": "support-line", "webhook_event_url": WEBHOOK})
    );
    requests.iter().for_each(assert_telnyx_headers);
    assert_not_sent(&requests, KEY);
}

#[tokio::test]
async fn a_bound_number_reports_a_clean_sync() {
    let s = setup().await;
    let path = s.bound_number(NUMBER).await;
    let read = s.app.call(Method::GET, &path, None, 200).await;
    assert_eq!(read["last_provider_sync"]["ok"], true);
    assert_eq!(read["last_provider_sync"]["message"], Value::Null);
}

#[tokio::test]
async fn unbinding_or_deleting_one_number_leaves_the_application_in_place() {
    let s = setup().await;
    let path = s.bound_number(NUMBER).await;
    let before = s.carrier.requests().await.len();
    let cleared = s.unbind(&path).await;
    assert_eq!(cleared["provider_sync"], json!({"ok": true, "message": DETACHED}));
    assert_eq!(cleared["last_provider_sync"]["attached"], false);
    s.app
        .call(
            Method::PUT,
            &path,
            Some(json!({"inbound_workflow_id": s.workflow["id"]})),
            200,
        )
        .await;
    let after_rebind = s.carrier.requests().await.len();
    let deleted = s.app.call(Method::DELETE, &path, None, 200).await;
    assert_eq!(
        deleted,
        json!({"message": "Phone number deleted", "provider_sync": {"ok": true, "message": DETACHED}})
    );
    assert_eq!(after_rebind - before, 2, "only the rebind talks to Telnyx");
    assert_eq!(s.carrier.requests().await.len(), after_rebind, "the delete does not");
}

#[tokio::test]
async fn a_number_the_account_does_not_own_is_refused_with_400() {
    let s = setup().await;
    let answer = s.claim("+14155550123", 400).await;
    assert_eq!(
        answer,
        json!({"detail": "Phone number +14155550123 is not owned by this Telnyx account. Add it in the Telnyx Mission Control Portal first."})
    );
    let listed = s.app.call(Method::GET, &numbers_path(&s.cfg), None, 200).await;
    assert_eq!(listed["phone_numbers"], json!([]));
}

#[tokio::test]
async fn a_failed_ownership_lookup_is_a_502_without_the_key() {
    let s = setup().await;
    s.carrier.server.reset().await;
    let echo = format!("invalid key {KEY}");
    s.carrier
        .answer("GET", NUMBERS, 401, echo.as_str(), Duration::ZERO)
        .await;
    let answer = s.claim(NUMBER, 502).await;
    assert_eq!(
        answer,
        json!({"detail": format!("Telnyx API 401: invalid key {}", mask(KEY))})
    );
    s.carrier.server.reset().await;
    s.carrier.answer("GET", NUMBERS, 200, "<html>", Duration::ZERO).await;
    let answer = s.claim(NUMBER, 502).await;
    let detail = answer["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("Telnyx phone-number lookup failed: response is not JSON"),
        "{detail}"
    );
}

#[tokio::test]
async fn sip_addresses_need_no_ownership_lookup() {
    let s = setup().await;
    s.app
        .create_number(&s.cfg, json!({"address": "sip:100@pbx.example.com"}))
        .await;
    assert!(s.carrier.requests().await.is_empty());
}

/// Each way the carrier can fail a bind, and the message it gives.
#[tokio::test]
async fn every_failed_bind_is_ok_false_with_the_documented_message() {
    let app_named = json!({"data": {"application_name": "support-line"}});
    let cases: Vec<(Vec<Answer>, String)> = vec![
        (
            vec![("GET", APPLICATION, 404, "no such application".into(), 0)],
            "Telnyx API 404: no such application".into(),
        ),
        (
            vec![("GET", APPLICATION, 503, format!("down for {KEY}").as_str().into(), 0)],
            format!("Telnyx API 503: down for {}", mask(KEY)),
        ),
        (
            vec![("GET", APPLICATION, 200, json!({"data": {"id": CONNECTION}}).into(), 0)],
            "Telnyx Call Control Application conn-7001 did not return an application_name; cannot PATCH without it."
                .into(),
        ),
        (
            vec![
                ("GET", APPLICATION, 200, app_named.clone().into(), 0),
                ("PATCH", APPLICATION, 422, "bad url".into(), 0),
            ],
            "Telnyx API 422: bad url".into(),
        ),
        (
            vec![
                ("GET", APPLICATION, 200, app_named.clone().into(), 0),
                ("PATCH", APPLICATION, 500, "boom".into(), 0),
            ],
            "Telnyx API 500: boom".into(),
        ),
        (
            // Only 200 counts as a successful PATCH.
            vec![
                ("GET", APPLICATION, 200, app_named.clone().into(), 0),
                ("PATCH", APPLICATION, 201, "{}".into(), 0),
            ],
            "Telnyx API 201: {}".into(),
        ),
        (
            // The first request answers, the second hangs past the one deadline.
            vec![
                ("GET", APPLICATION, 200, app_named.clone().into(), 300),
                ("PATCH", APPLICATION, 200, "{}".into(), 10_000),
            ],
            format!("Telnyx update failed: timed out after {SYNC_TIMEOUT_MS} ms"),
        ),
    ];
    for (answers, expected) in cases {
        let s = setup().await;
        let (updated, elapsed) = s.bind_with(NUMBER, answers).await;
        assert_eq!(updated["provider_sync"], json!({"ok": false, "message": expected}));
        assert!(!updated.to_string().contains(KEY), "{updated}");
        assert!(elapsed < Duration::from_millis(SYNC_TIMEOUT_MS + 800), "{elapsed:?}");
    }
}

#[tokio::test]
async fn an_application_body_that_is_not_json_fails_the_bind() {
    let s = setup().await;
    let (updated, _) = s
        .bind_with(NUMBER, vec![("GET", APPLICATION, 200, "<html>".into(), 0)])
        .await;
    assert_eq!(updated["provider_sync"]["ok"], false);
    let message = updated["provider_sync"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Telnyx lookup failed: response is not JSON"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unreachable_telnyx_fails_the_bind_not_the_update() {
    let message = bind_while_unreachable(config(Some(CONNECTION)), NUMBER).await;
    assert!(message.starts_with("Telnyx lookup failed: "), "{message}");
}

/// The one create request of save-time provisioning.
fn creation(requests: &[Request]) -> &Request {
    let request = &requests[0];
    assert_eq!(
        calls(requests),
        [("POST".into(), "/v2/call_control_applications".into())]
    );
    assert_headers(
        request,
        &[("authorization", BEARER), ("content-type", "application/json")],
    );
    assert_not_sent(requests, KEY);
    request
}

fn is_minted(name: &str) -> bool {
    name.len() == 21 && name.starts_with("telebind-") && name[9..].chars().all(|c| c.is_ascii_hexdigit())
}

#[tokio::test]
async fn a_config_without_a_connection_creates_a_call_control_application_and_routes_on_it() {
    let (app, carrier) = spawn_app_with_carrier().await;
    let created = json!({"data": {"id": "1293384261075731499", "application_name": "x"}});
    carrier.answer("POST", APPLICATIONS, 201, created, Duration::ZERO).await;
    let cfg = app.create_config("Telnyx", config(None)).await;
    assert_eq!(cfg["credentials"]["connection_id"], "1293384261075731499");
    let stored = app.stored_credentials(cfg["id"].as_i64().unwrap());
    assert_eq!(stored["connection_id"], "1293384261075731499");

    let requests = carrier.requests().await;
    let body = json_body(creation(&requests));
    assert_eq!(body["webhook_event_url"], WEBHOOK);
    let name = body["application_name"].as_str().unwrap();
    assert!(is_minted(name), "{name}");
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
}

#[tokio::test]
async fn a_numeric_application_id_is_stored_as_text() {
    let (app, carrier) = spawn_app_with_carrier().await;
    carrier
        .answer("POST", APPLICATIONS, 200, json!({"data": {"id": 42}}), Duration::ZERO)
        .await;
    let cfg = app.create_config("Telnyx", config(None)).await;
    assert_eq!(cfg["credentials"]["connection_id"], "42");
}

#[tokio::test]
async fn updating_a_config_to_no_connection_creates_an_application() {
    let s = setup().await;
    s.carrier
        .answer(
            "POST",
            APPLICATIONS,
            200,
            json!({"data": {"id": "conn-new"}}),
            Duration::ZERO,
        )
        .await;
    let path = format!("{}/{}", crate::helpers::CONFIGS, s.cfg);
    let masked = json!({"provider": "telnyx", "api_key": mask(KEY), "connection_id": null});
    let updated = s
        .app
        .call(Method::PUT, &path, Some(json!({"config": masked})), 200)
        .await;
    assert_eq!(updated["credentials"]["connection_id"], "conn-new");
    let requests = s.carrier.requests().await;
    assert_eq!(
        creation(&requests).headers.get("authorization").unwrap(),
        BEARER,
        "the stored key"
    );
}

#[tokio::test]
async fn every_failed_creation_refuses_the_save_and_stores_nothing() {
    let rejected = "Failed to auto-create Telnyx Call Control Application";
    let unreachable = "Failed to reach Telnyx to auto-create Call Control Application";
    let cases: Vec<RefusedCreation> = vec![
        (
            422,
            r#"{"errors":[{"code":"10015"}]}"#.into(),
            0,
            422,
            format!(r#"{rejected}: HTTP 422 {{"errors":[{{"code":"10015"}}]}}"#),
        ),
        (
            401,
            format!("bad key {KEY}").as_str().into(),
            0,
            401,
            format!("{rejected}: HTTP 401 bad key {}", mask(KEY)),
        ),
        (500, "boom".into(), 0, 500, format!("{rejected}: HTTP 500 boom")),
        (
            201,
            json!({"data": {"name": "x"}}).into(),
            0,
            502,
            r#"Telnyx callControlApplicationCreate response missing data.id: {"data":{"name":"x"}}"#.into(),
        ),
        (
            200,
            "<html>".into(),
            0,
            502,
            format!("{unreachable}: response is not JSON"),
        ),
        (
            201,
            json!({"data": {"id": "late"}}).into(),
            10_000,
            502,
            format!("{unreachable}: timed out after {SYNC_TIMEOUT_MS} ms"),
        ),
    ];
    for (detail, requests) in refused_creations(&config(None), APPLICATIONS, cases).await {
        assert!(!detail.contains(KEY));
        creation(&requests);
    }
}

#[tokio::test]
async fn an_unreachable_telnyx_refuses_the_save() {
    let detail = refused_while_unreachable(config(None)).await;
    assert!(
        detail.starts_with("Failed to reach Telnyx to auto-create Call Control Application: "),
        "{detail}"
    );
}
