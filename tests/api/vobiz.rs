//! Vobiz against the mock carrier: each number is attached to the account's
//! application, whose answer URL is the webhook (PROVIDERS.md §3 vobiz, §4
//! vobiz, §5).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use telebind::domain::provider::mask;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::helpers::{
    assert_headers, assert_not_sent, bind_while_unreachable, calls, json_body, numbers_path, query, refused_creations,
    refused_while_unreachable, spawn_app_with_carrier, Answer, CarrierSetup, MockBody, MockCarrier, RefusedCreation,
    SYNC_TIMEOUT_MS,
};

const AUTH_ID: &str = "MA_SYQRLN1K";
const TOKEN: &str = "vobiz-token-0123456789";
const APP_ID: &str = "app-3001";
const NUMBER: &str = "+14155550100";
const WEBHOOK: &str = "http://telebind.test/api/v1/telephony/inbound/run";
const NUMBERS: &str = "/api/v1/Account/MA_SYQRLN1K/numbers";
const BINDING: &str = "^/api/v1/Account/MA_SYQRLN1K/numbers/%2B14155550100/application$";
const APPLICATION: &str = "^/api/v1/Account/MA_SYQRLN1K/Application/app-3001/$";
const APPLICATIONS: &str = "^/api/v1/Account/MA_SYQRLN1K/Application/$";

fn config(application_id: Option<&str>) -> Value {
    json!({"provider": "vobiz", "auth_id": AUTH_ID, "auth_token": TOKEN, "application_id": application_id})
}

/// Answers ownership page `page` with `items`, out of `total` numbers.
async fn numbers_page(carrier: &MockCarrier, page: u32, items: &[&str], total: Value, delay: u64) {
    let items: Vec<Value> = items.iter().map(|n| json!({"e164": n, "status": "active"})).collect();
    let body = json!({"items": items, "total": total, "page": page, "per_page": 100});
    Mock::given(method("GET"))
        .and(path(NUMBERS))
        .and(query_param("page", page.to_string()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(body)
                .set_delay(Duration::from_millis(delay)),
        )
        .mount(&carrier.server)
        .await;
}

/// Vobiz that owns `NUMBER` and accepts attach, detach and the answer URL.
async fn cooperative(carrier: &MockCarrier) {
    numbers_page(carrier, 1, &[NUMBER], json!(1), 0).await;
    carrier
        .answer("POST", BINDING, 200, json!({"message": "attached"}), Duration::ZERO)
        .await;
    carrier.answer("DELETE", BINDING, 204, "", Duration::ZERO).await;
    carrier
        .answer("POST", APPLICATION, 202, json!({"message": "changed"}), Duration::ZERO)
        .await;
}

/// A Vobiz configuration with its application given, on a cooperative carrier.
async fn setup() -> CarrierSetup {
    let s = CarrierSetup::start(config(Some(APP_ID)), &[AUTH_ID, TOKEN]).await;
    cooperative(&s.carrier).await;
    s
}

fn assert_no_secret(answer: &Value) {
    let text = answer.to_string();
    assert!(!text.contains(TOKEN) && !text.contains(AUTH_ID), "{text}");
}

fn assert_vobiz_headers(request: &Request) {
    let headers = [
        ("x-auth-id", AUTH_ID),
        ("x-auth-token", TOKEN),
        ("content-type", "application/json"),
    ];
    assert_headers(request, &headers);
    assert!(request.headers.get("authorization").is_none());
}

fn call(verb: &str, path: &str) -> (String, String) {
    (verb.to_string(), path.to_string())
}

#[tokio::test]
async fn binding_attaches_the_number_then_sets_the_application_answer_url() {
    let s = setup().await;
    s.bound_number(NUMBER).await;
    let requests = s.carrier.requests().await;
    let number = "/api/v1/Account/MA_SYQRLN1K/numbers/%2B14155550100/application";
    assert_eq!(
        calls(&requests),
        [
            call("GET", NUMBERS),
            call("POST", number),
            call("POST", "/api/v1/Account/MA_SYQRLN1K/Application/app-3001/")
        ]
    );
    assert_eq!(
        query(&requests[0]),
        [
            ("page".into(), "1".into()),
            ("per_page".into(), "100".into()),
            ("search".into(), NUMBER.into())
        ]
    );
    assert_eq!(json_body(&requests[1]), json!({"application_id": APP_ID}));
    assert_eq!(
        json_body(&requests[2]),
        json!({"answer_url": WEBHOOK, "answer_method": "POST"})
    );
    requests.iter().for_each(assert_vobiz_headers);
    assert_not_sent(&requests, TOKEN);
}

#[tokio::test]
async fn unbinding_deletes_the_numbers_attachment() {
    let s = setup().await;
    let path = s.bound_number(NUMBER).await;
    let before = s.carrier.requests().await.len();
    let cleared = s.unbind(&path).await;
    assert_eq!(cleared["provider_sync"], json!({"ok": true, "message": null}));
    let requests = s.requests_after(before).await;
    assert_eq!(
        calls(&requests),
        [call(
            "DELETE",
            "/api/v1/Account/MA_SYQRLN1K/numbers/%2B14155550100/application"
        )]
    );
    assert_vobiz_headers(&requests[0]);
    assert!(requests[0].body.is_empty());
}

#[tokio::test]
async fn deleting_a_number_vobiz_no_longer_has_attached_succeeds() {
    let s = setup().await;
    let path = s.bound_number(NUMBER).await;
    s.carrier.server.reset().await;
    s.carrier
        .answer("DELETE", BINDING, 404, "not found", Duration::ZERO)
        .await;
    let deleted = s.app.call(Method::DELETE, &path, None, 200).await;
    assert_eq!(
        deleted,
        json!({"message": "Phone number deleted", "provider_sync": {"ok": true, "message": null}})
    );
}

#[tokio::test]
async fn a_refused_detach_keeps_the_number() {
    let s = setup().await;
    let path = s.bound_number(NUMBER).await;
    s.carrier.server.reset().await;
    s.carrier
        .answer("DELETE", BINDING, 500, "cannot detach", Duration::ZERO)
        .await;
    let refused = s.app.call(Method::DELETE, &path, None, 502).await;
    assert_eq!(refused, json!({"detail": "Vobiz API 500: cannot detach"}));
    s.app.call(Method::GET, &path, None, 200).await;
}

#[tokio::test]
async fn every_failed_bind_is_ok_false_with_the_documented_message() {
    let already = format!(
        "Vobiz indicates that this phone number is already attached to an application. To enable inbound calls in \
         Dograh, review the phone number configuration in Vobiz and ensure that the number is attached to the \
         Application ID configured in Dograh ({APP_ID})."
    );
    let missing = format!(
        "Vobiz could not find this phone number or the configured Application ID. Confirm that the number belongs \
         to this Vobiz account and that Application ID {APP_ID} exists."
    );
    let rejected = |status: u16| {
        format!(
            "Vobiz rejected the phone number attachment (HTTP {status}). Review the number in Vobiz and ensure it \
             can be attached to Application ID {APP_ID}."
        )
    };
    let attached = || ("POST", BINDING, 201, MockBody::from("{}"), 0);
    let cases: Vec<(Vec<Answer>, String)> = vec![
        (vec![("POST", BINDING, 409, "conflict".into(), 0)], already.clone()),
        // "already" in the body wins over the status.
        (
            vec![("POST", BINDING, 404, "Number ALREADY assigned".into(), 0)],
            already.clone(),
        ),
        (vec![("POST", BINDING, 500, "already linked".into(), 0)], already),
        (vec![("POST", BINDING, 404, "no such number".into(), 0)], missing),
        (vec![("POST", BINDING, 403, "forbidden".into(), 0)], rejected(403)),
        (vec![("POST", BINDING, 422, "{}".into(), 0)], rejected(422)),
        (
            vec![("POST", BINDING, 503, format!("down for {TOKEN}").as_str().into(), 0)],
            format!("Vobiz API 503: down for {}", mask(TOKEN)),
        ),
        (
            vec![attached(), ("POST", APPLICATION, 500, "boom".into(), 0)],
            "Vobiz API 500: boom".into(),
        ),
        (
            // Only 200 and 202 count for the application update.
            vec![attached(), ("POST", APPLICATION, 201, "{}".into(), 0)],
            "Vobiz API 201: {}".into(),
        ),
        (
            // The attach answers, the application update hangs past the one deadline.
            vec![
                ("POST", BINDING, 200, "{}".into(), 300),
                ("POST", APPLICATION, 200, "{}".into(), 10_000),
            ],
            format!("Vobiz sync failed: timed out after {SYNC_TIMEOUT_MS} ms"),
        ),
    ];
    for (answers, expected) in cases {
        let s = setup().await;
        let (updated, elapsed) = s.bind_with(NUMBER, answers).await;
        assert_eq!(updated["provider_sync"], json!({"ok": false, "message": expected}));
        assert_no_secret(&updated);
        assert!(elapsed < Duration::from_millis(SYNC_TIMEOUT_MS + 800), "{elapsed:?}");
    }
}

#[tokio::test]
async fn a_sip_address_cannot_be_attached() {
    let s = setup().await;
    let (created, path) = s
        .number(json!({"address": "sip:100@pbx.example.com", "inbound_workflow_id": s.workflow["id"]}))
        .await;
    let expected = json!({"ok": false, "message": "Vobiz Application attachment requires a PSTN phone number"});
    assert_eq!(created["provider_sync"], expected);
    let cleared = s.unbind(&path).await;
    assert_eq!(cleared["provider_sync"], expected, "detach too");
    assert!(s.carrier.requests().await.is_empty(), "no ownership lookup, no push");
}

#[tokio::test]
async fn an_unreachable_vobiz_fails_the_bind_not_the_update() {
    let message = bind_while_unreachable(config(Some(APP_ID)), NUMBER).await;
    assert!(message.starts_with("Vobiz sync failed: "), "{message}");
}

#[tokio::test]
async fn ownership_is_found_on_a_later_page() {
    let s = setup().await;
    s.carrier.server.reset().await;
    numbers_page(&s.carrier, 1, &["+14155550998"], json!(150), 0).await;
    numbers_page(&s.carrier, 2, &["+14155550999", "+14155550123"], json!("150"), 0).await;
    s.claim("+14155550123", 200).await;
    let pages: Vec<String> = s
        .carrier
        .requests()
        .await
        .iter()
        .map(|r| r.url.query().unwrap().to_string())
        .collect();
    assert_eq!(
        pages,
        [
            "page=1&per_page=100&search=%2B14155550123",
            "page=2&per_page=100&search=%2B14155550123"
        ]
    );
}

#[tokio::test]
async fn a_number_on_no_page_is_not_owned() {
    let s = setup().await;
    s.carrier.server.reset().await;
    numbers_page(&s.carrier, 1, &["+14155550998"], json!(150), 0).await;
    numbers_page(&s.carrier, 2, &["+14155550999"], json!(150), 0).await;
    numbers_page(&s.carrier, 3, &["+14155550123"], json!(150), 0).await;
    let answer = s.claim("+14155550123", 400).await;
    assert_eq!(
        answer,
        json!({"detail": format!(
            "Phone number +14155550123 is not owned by this Vobiz account ({}). Add it in the Vobiz console first.",
            mask(AUTH_ID)
        )})
    );
    assert_eq!(s.carrier.requests().await.len(), 2, "2 × 100 covers the 150");
    let listed = s.app.call(Method::GET, &numbers_path(&s.cfg), None, 200).await;
    assert_eq!(listed["phone_numbers"], json!([]));
}

#[tokio::test]
async fn an_empty_page_ends_the_search() {
    let s = setup().await;
    s.carrier.server.reset().await;
    numbers_page(&s.carrier, 1, &[], json!(500), 0).await;
    s.claim(NUMBER, 400).await;
    assert_eq!(s.carrier.requests().await.len(), 1);
}

#[tokio::test]
async fn failed_ownership_lookups_are_502s() {
    let s = setup().await;
    let cases: Vec<(u16, MockBody, String)> = vec![
        (
            401,
            format!("bad token {TOKEN}").as_str().into(),
            format!("Vobiz API 401: bad token {}", mask(TOKEN)),
        ),
        (500, "down".into(), "Vobiz API 500: down".into()),
        (
            200,
            "<html>".into(),
            "Vobiz phone-number lookup failed: response is not JSON".into(),
        ),
        (
            200,
            json!({"items": [{"e164": "+1"}], "total": "many"}).into(),
            r#"Vobiz phone-number lookup failed: total is not an integer: "many""#.into(),
        ),
    ];
    for (status, body, expected) in cases {
        s.carrier.server.reset().await;
        s.carrier.answer("GET", NUMBERS, status, body, Duration::ZERO).await;
        let answer = s.claim(NUMBER, 502).await;
        let detail = answer["detail"].as_str().unwrap();
        assert!(detail.starts_with(&expected), "{detail} vs {expected}");
        assert_no_secret(&answer);
    }
}

#[tokio::test]
async fn one_deadline_covers_every_page() {
    let s = setup().await;
    s.carrier.server.reset().await;
    numbers_page(&s.carrier, 1, &["+14155550998"], json!(300), 600).await;
    numbers_page(&s.carrier, 2, &["+14155550999"], json!(300), 600).await;
    let started = Instant::now();
    let answer = s.claim(NUMBER, 502).await;
    let elapsed = started.elapsed();
    assert_eq!(
        answer,
        json!({"detail": format!("Vobiz phone-number lookup failed: timed out after {SYNC_TIMEOUT_MS} ms")})
    );
    assert!(
        elapsed >= Duration::from_millis(SYNC_TIMEOUT_MS) && elapsed < Duration::from_millis(SYNC_TIMEOUT_MS + 800),
        "{elapsed:?}"
    );
}

/// The one create request of save-time provisioning.
fn creation(requests: &[Request]) -> &Request {
    assert_eq!(
        calls(requests),
        [call("POST", "/api/v1/Account/MA_SYQRLN1K/Application/")]
    );
    assert_vobiz_headers(&requests[0]);
    assert_not_sent(requests, TOKEN);
    &requests[0]
}

#[tokio::test]
async fn a_config_without_an_application_creates_one() {
    let (app, carrier) = spawn_app_with_carrier().await;
    let created = json!({"app_id": "app-9", "message": "created", "api_id": "x"});
    carrier.answer("POST", APPLICATIONS, 201, created, Duration::ZERO).await;
    let cfg = app.create_config("Vobiz", config(None)).await;
    assert_eq!(cfg["credentials"]["application_id"], "app-9");
    assert_no_secret(&cfg);
    let stored = app.stored_credentials(cfg["id"].as_i64().unwrap());
    assert_eq!(stored["application_id"], "app-9");

    let requests = carrier.requests().await;
    let mut body = json_body(creation(&requests));
    let name = body["app_name"].take();
    let name = name.as_str().unwrap();
    assert!(
        name.len() == 21 && name.starts_with("telebind-") && name[9..].chars().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );
    assert_eq!(
        body,
        json!({"app_name": null, "answer_url": WEBHOOK, "answer_method": "POST", "hangup_url": ""})
    );
}

#[tokio::test]
async fn every_failed_creation_refuses_the_save_and_stores_nothing() {
    let rejected = "Failed to auto-create Vobiz Application";
    let unreachable = "Failed to reach Vobiz to auto-create application";
    let cases: Vec<RefusedCreation> = vec![
        (400, "bad name".into(), 0, 400, format!("{rejected}: HTTP 400 bad name")),
        (
            401,
            format!("who is {AUTH_ID}").as_str().into(),
            0,
            401,
            format!("{rejected}: HTTP 401 who is {}", mask(AUTH_ID)),
        ),
        (502, "upstream".into(), 0, 502, format!("{rejected}: HTTP 502 upstream")),
        // Only 200 and 201 create.
        (202, "{}".into(), 0, 502, format!("{rejected}: HTTP 202 {{}}")),
        (
            200,
            json!({"message": "created"}).into(),
            0,
            502,
            r#"Vobiz applicationCreate response missing app_id: {"message":"created"}"#.into(),
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
            json!({"app_id": "late"}).into(),
            10_000,
            502,
            format!("{unreachable}: timed out after {SYNC_TIMEOUT_MS} ms"),
        ),
    ];
    for (detail, requests) in refused_creations(&config(None), APPLICATIONS, cases).await {
        assert!(!detail.contains(TOKEN) && !detail.contains(AUTH_ID), "{detail}");
        creation(&requests);
    }
}

#[tokio::test]
async fn an_unreachable_vobiz_refuses_the_save() {
    let detail = refused_while_unreachable(config(None)).await;
    assert!(
        detail.starts_with("Failed to reach Vobiz to auto-create application: "),
        "{detail}"
    );
}
