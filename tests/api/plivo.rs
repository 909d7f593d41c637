//! Plivo against the mock carrier (PROVIDERS.md §3 plivo, §4 plivo, §5; API.md §5.7).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use telebind::domain::provider::mask;
use wiremock::Request;

use crate::helpers::{
    assert_no_secret, spawn_app, spawn_app_with_carrier, unreachable_carrier_messages, CarrierSetup, MockBody,
    MockCarrier, SYNC_TIMEOUT_MS,
};

const AUTH_ID: &str = "MAPLIVO0123456789";
const AUTH_TOKEN: &str = "plivo-token-abcdef";
const SECRETS: [&str; 2] = [AUTH_ID, AUTH_TOKEN];
const BASIC: &str = "Basic TUFQTElWTzAxMjM0NTY3ODk6cGxpdm8tdG9rZW4tYWJjZGVm";
const APP_ID: &str = "plivo-app-1";
const NUMBER: &str = "+14155550100";
const WEBHOOK: &str = "http://telebind.test/api/v1/telephony/inbound/run";
const CONFIGS: &str = "/api/v1/organizations/telephony-configs";
const CREATE_APP: &str = "^/v1/Account/MAPLIVO0123456789/Application/$";
const APPLICATION: &str = "^/v1/Account/MAPLIVO0123456789/Application/plivo-app-1/$";
const OWNED: &str = "^/v1/Account/MAPLIVO0123456789/Number/14155550100/$";
const NO_OP: &str = "Plivo routes every number of the application to one URL; detaching one number leaves it in place";

fn config(application_id: Option<&str>) -> Value {
    json!({"provider": "plivo", "auth_id": AUTH_ID, "auth_token": AUTH_TOKEN, "application_id": application_id})
}

/// Plivo that has `NUMBER` in the account and accepts application updates.
async fn accepting(carrier: &MockCarrier) {
    let number =
        json!({"number": "14155550100", "application": "/v1/Account/MAPLIVO0123456789/Application/plivo-app-1/"});
    carrier.answer("GET", OWNED, 200, number, Duration::ZERO).await;
    carrier
        .answer("POST", APPLICATION, 202, json!({"message": "changed"}), Duration::ZERO)
        .await;
}

async fn setup() -> CarrierSetup {
    let s = CarrierSetup::start(config(Some(APP_ID)), &SECRETS).await;
    accepting(&s.carrier).await;
    s
}

fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).expect("a JSON body")
}

/// The auth id is part of Plivo's paths and the Basic credentials; the body
/// never needs either secret.
fn assert_sent_as_plivo_needs(request: &Request) {
    assert_eq!(request.headers.get("authorization").unwrap(), BASIC, "{}", request.url);
    assert_no_secret(&String::from_utf8_lossy(&request.body), &SECRETS);
    assert_no_secret(request.url.as_str(), &[AUTH_TOKEN]);
}

#[tokio::test]
async fn binding_posts_the_webhook_as_the_applications_answer_url() {
    let requests = setup().await.requests_of_a_bind(NUMBER).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (requests[0].method.as_str(), requests[0].url.path()),
        ("POST", "/v1/Account/MAPLIVO0123456789/Application/plivo-app-1/")
    );
    assert_eq!(requests[0].headers.get("content-type").unwrap(), "application/json");
    assert_eq!(
        body(&requests[0]),
        json!({"answer_url": WEBHOOK, "answer_method": "POST"})
    );
    assert_sent_as_plivo_needs(&requests[0]);
}

#[tokio::test]
async fn unbinding_one_number_leaves_the_shared_url_in_place_and_says_so() {
    setup().await.assert_unbinding_is_a_no_op(NUMBER, NO_OP).await;
}

#[tokio::test]
async fn binding_without_an_application_fails_before_any_request() {
    let (app, carrier) = spawn_app_with_carrier().await;
    accepting(&carrier).await;
    let cfg = app.create_config("Plivo", config(Some(APP_ID))).await;
    let id = cfg["id"].as_i64().unwrap();
    // A configuration stored before provisioning existed, with no application.
    let conn = rusqlite::Connection::open(app.db_path()).unwrap();
    let stored = serde_json::to_string(&config(None)).unwrap();
    conn.execute(
        "UPDATE telephony_configurations SET credentials = ?1 WHERE id = ?2",
        rusqlite::params![stored, id],
    )
    .unwrap();
    let workflow = app.create_workflow("W").await;
    let before = carrier.requests().await.len();
    let created = app
        .create_number(
            &cfg["id"],
            json!({"address": NUMBER, "inbound_workflow_id": workflow["id"]}),
        )
        .await;
    assert_eq!(
        created["provider_sync"],
        json!({"ok": false, "message": "Plivo application_id is not configured. Set it in the telephony configuration so inbound webhooks can be synced to the right Application."})
    );
    let requests: Vec<String> = carrier.requests().await[before..]
        .iter()
        .map(|r| r.method.to_string())
        .collect();
    assert_eq!(requests, ["GET"], "only the ownership check");
}

/// Binds `NUMBER` while the application answers `reply`, and returns the
/// failed push's message.
async fn a_failed_bind(status: u16, reply: MockBody, delay: Duration) -> String {
    let s = setup().await;
    let path = s.unbound_number(NUMBER).await;
    s.carrier.server.reset().await;
    s.carrier.answer("POST", APPLICATION, status, reply, delay).await;
    s.failed_bind(&path).await
}

#[tokio::test]
async fn a_rejected_answer_url_update_fails_the_push_with_the_status_and_body() {
    let message = a_failed_bind(404, json!({"error": "not found"}).into(), Duration::ZERO).await;
    assert_eq!(message, r#"Plivo API 404: {"error":"not found"}"#);
    let message = a_failed_bind(500, "<html>oops".into(), Duration::ZERO).await;
    assert_eq!(message, "Plivo API 500: <html>oops");
    // Only 200 and 202 are success, as in the reference.
    let message = a_failed_bind(201, "{}".into(), Duration::ZERO).await;
    assert_eq!(message, "Plivo API 201: {}");
}

#[tokio::test]
async fn an_answer_url_update_that_hangs_times_out_within_the_deadline() {
    let message = a_failed_bind(200, "{}".into(), Duration::from_secs(10)).await;
    assert_eq!(
        message,
        format!("Plivo update failed: timed out after {SYNC_TIMEOUT_MS} ms")
    );
}

#[tokio::test]
async fn a_carrier_echoing_the_credentials_has_them_masked() {
    let echo = format!("bad auth {AUTH_ID}/{AUTH_TOKEN}");
    let message = a_failed_bind(401, echo.as_str().into(), Duration::ZERO).await;
    assert_eq!(
        message,
        format!("Plivo API 401: bad auth {}/{}", mask(AUTH_ID), mask(AUTH_TOKEN))
    );
}

#[tokio::test]
async fn creating_a_number_checks_it_at_its_number_resource() {
    let s = setup().await;
    let before = s.request_count().await;
    let created = s
        .app
        .create_number(&s.cfg, json!({"address": "(415) 555-0100", "country_code": "US"}))
        .await;
    assert_eq!(created["provider_sync"], Value::Null);
    let requests = s.requests_after(before).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (
            requests[0].method.as_str(),
            requests[0].url.path(),
            requests[0].url.query()
        ),
        ("GET", "/v1/Account/MAPLIVO0123456789/Number/14155550100/", None)
    );
    assert_sent_as_plivo_needs(&requests[0]);
}

#[tokio::test]
async fn a_number_plivo_does_not_know_is_refused_with_400_naming_the_masked_account() {
    let s = setup().await;
    s.carrier.server.reset().await;
    s.carrier
        .answer("GET", OWNED, 404, json!({"error": "not found"}), Duration::ZERO)
        .await;
    let answer = s.refused_number(NUMBER, 400).await;
    let expected = format!(
        "Phone number {NUMBER} is not owned by this Plivo account ({}). Add it in the Plivo console first.",
        mask(AUTH_ID)
    );
    assert_eq!(answer, json!({ "detail": expected }));
}

#[tokio::test]
async fn a_failed_number_lookup_is_a_502_and_nothing_is_stored() {
    let s = setup().await;
    for (status, reply, delay, expected) in [
        (
            401,
            "unauthorized",
            Duration::ZERO,
            "Plivo API 401: unauthorized".to_string(),
        ),
        (503, "busy", Duration::ZERO, "Plivo API 503: busy".to_string()),
        (
            200,
            "{}",
            Duration::from_secs(10),
            format!("Plivo phone-number lookup failed: timed out after {SYNC_TIMEOUT_MS} ms"),
        ),
    ] {
        s.carrier.server.reset().await;
        s.carrier.answer("GET", OWNED, status, reply, delay).await;
        let answer = s.refused_number(NUMBER, 502).await;
        assert_eq!(answer, json!({ "detail": expected }));
    }
}

#[tokio::test]
async fn an_unreachable_carrier_fails_the_lookup_with_502_and_the_push_but_not_the_create() {
    let (refused, pushed) = unreachable_carrier_messages(config(Some(APP_ID)), NUMBER).await;
    assert!(refused.starts_with("Plivo phone-number lookup failed: "), "{refused}");
    assert!(pushed.starts_with("Plivo update failed: "), "{pushed}");
}

// Save-time provisioning (PROVIDERS.md §3).

#[tokio::test]
async fn a_config_without_an_application_gets_one_created_and_stores_its_id() {
    let (app, carrier) = spawn_app_with_carrier().await;
    carrier
        .answer(
            "POST",
            CREATE_APP,
            201,
            json!({"api_id": "x", "app_id": "20372631212782780", "message": "created"}),
            Duration::ZERO,
        )
        .await;
    let created = app.create_config("Plivo", config(None)).await;
    assert_no_secret(&created.to_string(), &SECRETS);
    assert_eq!(created["credentials"]["application_id"], "20372631212782780");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(app.stored_credentials(id)["application_id"], "20372631212782780");

    let requests = carrier.requests().await;
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        (request.method.as_str(), request.url.path()),
        ("POST", "/v1/Account/MAPLIVO0123456789/Application/")
    );
    assert_eq!(request.headers.get("content-type").unwrap(), "application/json");
    assert_sent_as_plivo_needs(request);
    let sent = body(request);
    let name = sent["app_name"].as_str().unwrap();
    assert!(
        name.len() == 21 && name.starts_with("telebind-") && name[9..].chars().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );
    assert_eq!(
        sent,
        json!({"app_name": name, "answer_url": WEBHOOK, "answer_method": "POST", "hangup_url": ""})
    );
}

#[tokio::test]
async fn a_numeric_app_id_is_stored_as_text() {
    let (app, carrier) = spawn_app_with_carrier().await;
    carrier
        .answer("POST", CREATE_APP, 200, json!({"app_id": 42}), Duration::ZERO)
        .await;
    let created = app.create_config("Plivo", config(None)).await;
    assert_eq!(created["credentials"]["application_id"], "42");
}

#[tokio::test]
async fn a_config_with_an_application_is_saved_without_any_carrier_request() {
    let (app, carrier) = spawn_app_with_carrier().await;
    let created = app.create_config("Plivo", config(Some(APP_ID))).await;
    let path = format!("{CONFIGS}/{}", created["id"]);
    let masked = json!({"provider": "plivo", "auth_id": mask(AUTH_ID), "auth_token": mask(AUTH_TOKEN),
                        "application_id": APP_ID});
    let updated = app.call(Method::PUT, &path, Some(json!({"config": masked})), 200).await;
    assert_eq!(updated["credentials"]["application_id"], APP_ID);
    assert_eq!(carrier.requests().await.len(), 0);
}

/// Creating a configuration without an application while Plivo answers
/// `reply`: the save is refused with `status` and `detail`, within the
/// deadline, and nothing is stored.
async fn a_refused_save(status: u16, reply: MockBody, delay: Duration, expected: (u16, &str)) {
    let (app, carrier) = spawn_app_with_carrier().await;
    carrier.answer("POST", CREATE_APP, status, reply, delay).await;
    let started = Instant::now();
    let answer = app
        .call(
            Method::POST,
            CONFIGS,
            Some(json!({"name": "Plivo", "config": config(None)})),
            expected.0,
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_millis(SYNC_TIMEOUT_MS + 800),
        "answered in {:?}",
        started.elapsed()
    );
    assert_no_secret(&answer.to_string(), &SECRETS);
    let detail = answer["detail"].as_str().unwrap();
    assert!(detail.starts_with(expected.1), "{detail}");
    assert_eq!(
        app.call(Method::GET, CONFIGS, None, 200).await["configurations"],
        json!([])
    );
}

#[tokio::test]
async fn a_rejected_application_create_refuses_the_save_with_plivos_status() {
    a_refused_save(
        401,
        "unauthorized".into(),
        Duration::ZERO,
        (401, "Failed to auto-create Plivo Application: HTTP 401 unauthorized"),
    )
    .await;
    a_refused_save(
        500,
        "server error".into(),
        Duration::ZERO,
        (500, "Failed to auto-create Plivo Application: HTTP 500 server error"),
    )
    .await;
}

#[tokio::test]
async fn a_status_that_would_read_as_success_is_refused_as_502() {
    a_refused_save(
        204,
        "".into(),
        Duration::ZERO,
        (502, "Failed to auto-create Plivo Application: HTTP 204 "),
    )
    .await;
}

#[tokio::test]
async fn a_created_application_without_an_id_refuses_the_save_with_502() {
    a_refused_save(
        201,
        json!({"message": "created"}).into(),
        Duration::ZERO,
        (
            502,
            r#"Plivo applicationCreate response missing app_id: {"message":"created"}"#,
        ),
    )
    .await;
    // As for Telnyx and Vobiz: a success answer that is not JSON is no usable answer.
    a_refused_save(
        201,
        "<html>not json".into(),
        Duration::ZERO,
        (
            502,
            "Failed to reach Plivo to auto-create application: response is not JSON",
        ),
    )
    .await;
}

#[tokio::test]
async fn an_application_create_that_hangs_refuses_the_save_within_the_deadline() {
    let detail = format!("Failed to reach Plivo to auto-create application: timed out after {SYNC_TIMEOUT_MS} ms");
    a_refused_save(
        201,
        json!({"app_id": "1"}).into(),
        Duration::from_secs(10),
        (502, &detail),
    )
    .await;
}

#[tokio::test]
async fn an_unreachable_plivo_refuses_the_save_with_502() {
    let app = spawn_app().await;
    let answer = app
        .call(
            Method::POST,
            CONFIGS,
            Some(json!({"name": "Plivo", "config": config(None)})),
            502,
        )
        .await;
    let detail = answer["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("Failed to reach Plivo to auto-create application: "),
        "{detail}"
    );
    assert_eq!(
        app.call(Method::GET, CONFIGS, None, 200).await["configurations"],
        json!([])
    );
}

#[tokio::test]
async fn a_failed_provisioning_on_update_keeps_the_stored_config() {
    let (app, carrier) = spawn_app_with_carrier().await;
    let created = app.create_config("Plivo", config(Some(APP_ID))).await;
    let id = created["id"].as_i64().unwrap();
    carrier
        .answer("POST", CREATE_APP, 403, "forbidden", Duration::ZERO)
        .await;
    let path = format!("{CONFIGS}/{id}");
    let answer = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"name": "Renamed", "config": config(None)})),
            403,
        )
        .await;
    assert_eq!(
        answer,
        json!({"detail": "Failed to auto-create Plivo Application: HTTP 403 forbidden"})
    );
    let read = app.call(Method::GET, &path, None, 200).await;
    assert_eq!(read["name"], "Plivo");
    assert_eq!(app.stored_credentials(id)["application_id"], APP_ID);
}
