//! Telnyx against a fake Telnyx: one call-control application serves every
//! number, and each number is linked to it by its `connection_id`
//! (PROVIDERS.md §3 telnyx, §4 telnyx, §5; CARRIER-AUDIT.md X1–X5, decisions 1
//! and 3).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use telebind::domain::provider::mask;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::helpers::{
    assert_headers, assert_honest, assert_not_sent, bind_while_unreachable, calls, json_body, numbers_path, query,
    refused_creations, refused_while_unreachable, spawn_app_with_carrier, Answer, CarrierSetup, MockCarrier,
    RefusedCreation, RoutesCalls, SYNC_TIMEOUT_MS, WEBHOOK,
};

pub const KEY: &str = "KEYtelnyx-0123456789-secret";
const BEARER: &str = "Bearer KEYtelnyx-0123456789-secret";
const CONNECTION: &str = "conn-7001";
const OTHER: &str = "conn-other";
const NUMBER: &str = "+14155550100";
/// The id of `NUMBER`'s phone-number resource.
const NUMBER_ID: &str = "1293384261075731002";
const NUMBERS: &str = "^/v2/phone_numbers$";
const NUMBER_RESOURCE: &str = "^/v2/phone_numbers/1293384261075731002$";
const APPLICATION: &str = "^/v2/call_control_applications/conn-7001$";
const APPLICATIONS: &str = "^/v2/call_control_applications$";
const DETACHED: &str =
    "Telnyx routes every number of the application to one URL; detaching one number leaves it in place";

fn config(connection_id: Option<&str>) -> Value {
    json!({"provider": "telnyx", "api_key": KEY, "connection_id": connection_id})
}

#[derive(Clone)]
struct Application {
    name: String,
    webhook_event_url: String,
    webhook_api_version: String,
}

#[derive(Clone)]
struct PhoneNumber {
    id: String,
    phone_number: String,
    connection_id: Option<String>,
}

impl PhoneNumber {
    fn to_json(&self) -> Value {
        json!({"id": self.id, "record_type": "phone_number", "phone_number": self.phone_number,
               "connection_id": self.connection_id, "status": "active"})
    }
}

#[derive(Default)]
struct Account {
    applications: BTreeMap<String, Application>,
    numbers: Vec<PhoneNumber>,
}

/// A Telnyx account that keeps its call-control applications and phone
/// numbers and answers the requests telebind makes as Telnyx documents them.
#[derive(Clone, Default)]
struct FakeTelnyx {
    account: Arc<Mutex<Account>>,
}

impl FakeTelnyx {
    /// Application `CONNECTION` made by hand (so on webhook format "1"),
    /// application `OTHER` of another platform, `NUMBER` linked to
    /// `number_on`, and +14155550999 on `OTHER`.
    fn with_number_on(number_on: Option<&str>) -> FakeTelnyx {
        let fake = FakeTelnyx::default();
        fake.add_application(CONNECTION, "support-line", "https://old", "1");
        fake.add_application(OTHER, "other-platform", "https://other.example/calls", "2");
        fake.add_number("1293384261075731999", "+14155550999", Some(OTHER));
        fake.add_number(NUMBER_ID, NUMBER, number_on);
        fake
    }

    fn add_application(&self, id: &str, name: &str, url: &str, version: &str) {
        let application = Application {
            name: name.into(),
            webhook_event_url: url.into(),
            webhook_api_version: version.into(),
        };
        self.account.lock().unwrap().applications.insert(id.into(), application);
    }

    fn add_number(&self, id: &str, e164: &str, connection_id: Option<&str>) {
        self.account.lock().unwrap().numbers.push(PhoneNumber {
            id: id.into(),
            phone_number: e164.into(),
            connection_id: connection_id.map(Into::into),
        });
    }

    fn remove_number(&self, e164: &str) {
        self.account.lock().unwrap().numbers.retain(|n| n.phone_number != e164);
    }

    fn application(&self, id: &str) -> Option<Application> {
        self.account.lock().unwrap().applications.get(id).cloned()
    }

    fn connection_of(&self, e164: &str) -> Option<String> {
        let account = self.account.lock().unwrap();
        account
            .numbers
            .iter()
            .find(|n| n.phone_number == e164)?
            .connection_id
            .clone()
    }

    async fn mount(&self, carrier: &MockCarrier) {
        for verb in ["GET", "POST", "PATCH"] {
            carrier.serve(verb, "^/v2/", self.clone()).await;
        }
    }

    /// Create: `application_name` and `webhook_event_url` are required, and
    /// `webhook_api_version` is "1" or "2"
    /// (https://developers.telnyx.com/api/call-control/create-call-control-application).
    /// PROVIDERS.md §3: without it Telnyx uses "1" (the docs' examples show "1").
    fn create_application(&self, body: &Value) -> ResponseTemplate {
        let (name, url, version) = match application_fields(body) {
            Ok(fields) => fields,
            Err(detail) => return telnyx_error(422, "10015", detail),
        };
        let id = {
            let mut account = self.account.lock().unwrap();
            let id = format!("12933842610757{:05}", account.applications.len());
            let application = Application {
                name,
                webhook_event_url: url,
                webhook_api_version: version.unwrap_or_else(|| "1".into()),
            };
            account.applications.insert(id.clone(), application);
            id
        };
        self.application_json(201, &id)
    }

    /// Update: `application_name` and `webhook_event_url` are Required on the
    /// PATCH too; a version not sent is left as it was
    /// (https://developers.telnyx.com/api-reference/call-control-applications/update-a-call-control-application).
    fn update_application(&self, id: &str, body: &Value) -> ResponseTemplate {
        let (name, url, version) = match application_fields(body) {
            Ok(fields) => fields,
            Err(detail) => return telnyx_error(422, "10015", detail),
        };
        {
            let mut account = self.account.lock().unwrap();
            let Some(application) = account.applications.get_mut(id) else {
                return telnyx_error(404, "10005", "Resource not found");
            };
            application.name = name;
            application.webhook_event_url = url;
            if let Some(version) = version {
                application.webhook_api_version = version;
            }
        }
        self.application_json(200, id)
    }

    fn application_json(&self, status: u16, id: &str) -> ResponseTemplate {
        let Some(application) = self.application(id) else {
            return telnyx_error(404, "10005", "Resource not found");
        };
        ResponseTemplate::new(status).set_body_json(json!({"data": {
            "id": id, "record_type": "call_control_application", "application_name": application.name,
            "webhook_event_url": application.webhook_event_url,
            "webhook_api_version": application.webhook_api_version}}))
    }

    /// `filter[phone_number]`: "Requires at least three digits. Non-numerical
    /// characters will result in no values being returned"
    /// (https://developers.telnyx.com/api-reference/phone-number-configurations;
    /// telnyx-python `phone_number_list_params.py`); the docs do not say how a
    /// shorter filter is refused, so a 400 here. `page[size]` is at most 250,
    /// numbers are shown with their `+`, and the filter matches part of a
    /// number (CARRIER-AUDIT.md X4, PROVIDERS.md §5).
    fn list_numbers(&self, request: &Request) -> ResponseTemplate {
        let param = |name: &str| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        if param("page[size]")
            .and_then(|size| size.parse::<u32>().ok())
            .is_some_and(|size| size > 250)
        {
            return telnyx_error(400, "10015", "page[size] must be at most 250");
        }
        let filter = param("filter[phone_number]");
        if filter
            .as_ref()
            .is_some_and(|f| f.chars().filter(char::is_ascii_digit).count() < 3)
        {
            return telnyx_error(400, "10015", "filter[phone_number] requires at least three digits");
        }
        let numerical = filter.as_ref().is_none_or(|f| f.chars().all(|c| c.is_ascii_digit()));
        let account = self.account.lock().unwrap();
        let listed: Vec<Value> = account
            .numbers
            .iter()
            .filter(|n| numerical && filter.as_ref().is_none_or(|f| n.phone_number.contains(f.as_str())))
            .map(PhoneNumber::to_json)
            .collect();
        let total = listed.len();
        ResponseTemplate::new(200).set_body_json(json!({"data": listed,
            "meta": {"total_results": total, "total_pages": 1, "page_number": 1, "page_size": 100}}))
    }

    /// Update a phone number: JSON `connection_id`, "Identifies the connection
    /// associated with the phone number"; answers 200 with the number
    /// (https://developers.telnyx.com/api-reference/phone-number-configurations/update-a-phone-number;
    /// telnyx-python `phone_number_update_params.py`).
    fn update_number(&self, id: &str, body: &Value) -> ResponseTemplate {
        let mut account = self.account.lock().unwrap();
        let Some(number) = account.numbers.iter_mut().find(|n| n.id == id) else {
            return telnyx_error(404, "10005", "Resource not found");
        };
        if let Some(connection_id) = body.get("connection_id") {
            number.connection_id = connection_id.as_str().map(Into::into);
        }
        ResponseTemplate::new(200).set_body_json(json!({"data": number.to_json()}))
    }
}

impl RoutesCalls for FakeTelnyx {
    /// Where Telnyx would send the webhook of an inbound call to `e164` now:
    /// "When you place an incoming call to a number associated with your Call
    /// Control Application, you will receive a callback"
    /// (https://developers.telnyx.com/docs/v2/voice/programmable_voice/resources/recieving_webhooks/recieving_webhooks/),
    /// at that application's `webhook_event_url`. Only format "2" counts:
    /// `webhook_api_version` "Determines which webhook format will be used,
    /// Telnyx API v1 or v2" (https://developers.telnyx.com/api/call-control/create-call-control-application),
    /// and telebind's inbound route reads v2 only.
    fn inbound_url(&self, e164: &str) -> Option<String> {
        let application = self.application(&self.connection_of(e164)?)?;
        (application.webhook_api_version == "2").then_some(application.webhook_event_url)
    }
}

impl Respond for FakeTelnyx {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        // "Bearer authentication header of the form Bearer <token>, where <token>
        // is your auth token": https://developers.telnyx.com/api-reference/phone-number-configurations/update-a-phone-number
        let authorized = request.headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(BEARER);
        if !authorized {
            return telnyx_error(401, "10009", "Authentication failed");
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let segments: Vec<&str> = request.url.path().trim_start_matches("/v2/").split('/').collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("POST", ["call_control_applications"]) => self.create_application(&body),
            ("GET", ["call_control_applications", id]) => self.application_json(200, id),
            ("PATCH", ["call_control_applications", id]) => self.update_application(id, &body),
            ("GET", ["phone_numbers"]) => self.list_numbers(request),
            ("PATCH", ["phone_numbers", id]) => self.update_number(id, &body),
            _ => telnyx_error(404, "10005", "Resource not found"),
        }
    }
}

/// Telnyx's error body.
fn telnyx_error(status: u16, code: &str, detail: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"errors": [{"code": code, "title": detail, "detail": detail}]}))
}

/// The name, URL and (if sent) webhook version of an application create or
/// update, or why Telnyx refuses it: name and URL are required, the version is
/// "1" or "2".
fn application_fields(body: &Value) -> Result<(String, String, Option<String>), &'static str> {
    let text = |field: &str| body.get(field).and_then(Value::as_str).filter(|v| !v.is_empty());
    let (Some(name), Some(url)) = (text("application_name"), text("webhook_event_url")) else {
        return Err("application_name and webhook_event_url are required");
    };
    let version = match body.get("webhook_api_version") {
        None => None,
        Some(Value::String(v)) if v == "1" || v == "2" => Some(v.clone()),
        Some(_) => return Err("webhook_api_version must be \"1\" or \"2\""),
    };
    Ok((name.into(), url.into(), version))
}

/// A Telnyx configuration with its application given, `NUMBER` already
/// linked to it.
async fn setup() -> (CarrierSetup, FakeTelnyx) {
    setup_with(FakeTelnyx::with_number_on(Some(CONNECTION))).await
}

async fn setup_with(telnyx: FakeTelnyx) -> (CarrierSetup, FakeTelnyx) {
    let s = CarrierSetup::start(config(Some(CONNECTION)), &[KEY]).await;
    telnyx.mount(&s.carrier).await;
    (s, telnyx)
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
async fn binding_patches_the_application_webhook_under_the_same_name_then_checks_the_number() {
    let (s, telnyx) = setup().await;
    let (bound, _) = s
        .number(json!({"address": NUMBER, "inbound_workflow_id": s.workflow["id"]}))
        .await;
    assert_eq!(bound["provider_sync"], json!({"ok": true, "message": null}));
    assert_honest(&bound["provider_sync"], &telnyx, NUMBER);
    let requests = s.carrier.requests().await;
    let application = "/v2/call_control_applications/conn-7001";
    assert_eq!(
        calls(&requests),
        [
            ("GET".into(), "/v2/phone_numbers".into()),
            ("GET".into(), application.into()),
            ("PATCH".into(), application.into()),
            ("GET".into(), "/v2/phone_numbers".into()),
        ],
        "a number already on the connection is not linked again"
    );
    let lookup = [
        ("filter[phone_number]".into(), "14155550100".into()),
        ("page[size]".into(), "100".into()),
    ];
    assert_eq!(query(&requests[0]), lookup);
    assert_eq!(query(&requests[3]), lookup);
    assert_eq!(
        json_body(&requests[2]),
        json!({"application_name": "support-line", "webhook_event_url": WEBHOOK, "webhook_api_version": "2"})
    );
    requests.iter().for_each(assert_telnyx_headers);
    assert_not_sent(&requests, KEY);
}

#[tokio::test]
async fn a_bound_number_reports_a_clean_sync() {
    let (s, telnyx) = setup().await;
    let path = s.bound_number(NUMBER).await;
    let read = s.app.call(Method::GET, &path, None, 200).await;
    assert_eq!(read["last_provider_sync"]["ok"], true);
    assert_eq!(read["last_provider_sync"]["message"], Value::Null);
    assert_eq!(telnyx.inbound_url(NUMBER).as_deref(), Some(WEBHOOK));
}

#[tokio::test]
async fn unbinding_or_deleting_one_number_leaves_the_application_in_place() {
    let (s, telnyx) = setup().await;
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
    assert_eq!(after_rebind - before, 3, "only the rebind talks to Telnyx");
    assert_eq!(telnyx.inbound_url(NUMBER).as_deref(), Some(WEBHOOK), "the URL stays");
    assert_eq!(s.carrier.requests().await.len(), after_rebind, "the delete does not");
}

#[tokio::test]
async fn a_number_the_account_does_not_own_is_refused_with_400() {
    let (s, _) = setup().await;
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
    let (s, _) = setup().await;
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
    let (s, _) = setup().await;
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
        let (s, _) = setup().await;
        let (updated, elapsed) = s.bind_with(NUMBER, answers).await;
        assert_eq!(updated["provider_sync"], json!({"ok": false, "message": expected}));
        assert!(!updated.to_string().contains(KEY), "{updated}");
        assert!(elapsed < Duration::from_millis(SYNC_TIMEOUT_MS + 800), "{elapsed:?}");
    }
}

#[tokio::test]
async fn an_application_body_that_is_not_json_fails_the_bind() {
    let (s, _) = setup().await;
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
    assert_eq!(body["webhook_api_version"], "2");
    let name = body["application_name"].as_str().unwrap();
    assert!(is_minted(name), "{name}");
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
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
    let (s, telnyx) = setup().await;
    let path = format!("{}/{}", crate::helpers::CONFIGS, s.cfg);
    let masked = json!({"provider": "telnyx", "api_key": mask(KEY), "connection_id": null});
    let updated = s
        .app
        .call(Method::PUT, &path, Some(json!({"config": masked})), 200)
        .await;
    let connection = updated["credentials"]["connection_id"].as_str().unwrap();
    assert_ne!(connection, CONNECTION);
    let created = telnyx.application(connection).expect("made at Telnyx");
    assert_eq!(created.webhook_event_url, WEBHOOK);
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

#[tokio::test]
async fn ownership_is_checked_with_the_digits_of_the_number() {
    let (s, _) = setup().await;
    let created = s.claim(NUMBER, 200).await;
    assert_eq!(created["address_normalized"], NUMBER);
    let requests = s.carrier.requests().await;
    assert_eq!(
        query(&requests[0]),
        [
            ("filter[phone_number]".into(), "14155550100".into()),
            ("page[size]".into(), "100".into())
        ]
    );
}

#[tokio::test]
async fn the_fake_telnyx_number_filter_answers_as_telnyx_documents() {
    let carrier = MockCarrier::start().await;
    FakeTelnyx::with_number_on(None).mount(&carrier).await;
    let list = |filter: &'static str| {
        let url = format!("{}/v2/phone_numbers?filter[phone_number]={filter}", carrier.url());
        async move {
            let answer = reqwest::Client::new()
                .get(url)
                .header("authorization", BEARER)
                .send()
                .await
                .unwrap();
            let status = answer.status().as_u16();
            let body: Value = answer.json().await.unwrap();
            let numbers = body["data"].as_array().cloned().unwrap_or_default();
            let numbers: Vec<String> = numbers
                .iter()
                .map(|n| n["phone_number"].as_str().unwrap().into())
                .collect();
            (status, numbers)
        }
    };
    assert_eq!(list("14155550100").await, (200, vec![NUMBER.into()]));
    assert_eq!(list("%2B14155550100").await, (200, vec![]), "a + is non-numerical");
    assert_eq!(list("+14155550100").await, (200, vec![]), "a literal + is a space");
    assert_eq!(list("4155550").await.1.len(), 2, "part of a number matches");
    assert_eq!(list("41").await.0, 400, "at least three digits");
}

#[tokio::test]
async fn a_created_application_speaks_webhook_v2_and_a_bound_number_is_linked_to_it() {
    let (app, carrier) = spawn_app_with_carrier().await;
    let telnyx = FakeTelnyx::default();
    telnyx.add_number(NUMBER_ID, NUMBER, None);
    telnyx.mount(&carrier).await;
    let cfg = app.create_config("Telnyx", config(None)).await;
    let connection = cfg["credentials"]["connection_id"].as_str().unwrap().to_string();
    let created = telnyx
        .application(&connection)
        .expect("the application exists at Telnyx");
    assert_eq!(
        (created.webhook_event_url.as_str(), created.webhook_api_version.as_str()),
        (WEBHOOK, "2")
    );

    let workflow = app.create_workflow("Support").await;
    let number = app
        .create_number(
            &cfg["id"],
            json!({"address": NUMBER, "inbound_workflow_id": workflow["id"]}),
        )
        .await;
    assert_eq!(
        number["provider_sync"],
        json!({"ok": true, "message": format!("Telnyx number {NUMBER} was on no connection; it now uses connection {connection}.")})
    );
    assert_honest(&number["provider_sync"], &telnyx, NUMBER);
}

#[tokio::test]
async fn binding_switches_a_hand_made_application_to_webhook_v2() {
    let (s, telnyx) = setup().await;
    assert_eq!(telnyx.application(CONNECTION).unwrap().webhook_api_version, "1");
    let path = s.unbound_number(NUMBER).await;
    let bound = s.bind(&path).await;
    assert_eq!(telnyx.application(CONNECTION).unwrap().webhook_api_version, "2");
    assert_eq!(bound["provider_sync"], json!({"ok": true, "message": null}));
    assert_honest(&bound["provider_sync"], &telnyx, NUMBER);
}

/// Binds `NUMBER` while it is linked to `linked`; returns the push and the
/// requests of the bind.
async fn bind_linked_to(linked: Option<&str>) -> (Value, Vec<Request>, FakeTelnyx) {
    let (s, telnyx) = setup_with(FakeTelnyx::with_number_on(linked)).await;
    let path = s.unbound_number(NUMBER).await;
    let before = s.request_count().await;
    let bound = s.bind(&path).await;
    assert_honest(&bound["provider_sync"], &telnyx, NUMBER);
    (bound["provider_sync"].clone(), s.requests_after(before).await, telnyx)
}

#[tokio::test]
async fn binding_a_number_on_another_connection_links_it_and_says_where_it_was() {
    let (sync, requests, telnyx) = bind_linked_to(Some(OTHER)).await;
    assert_eq!(
        sync,
        json!({"ok": true, "message": format!("Telnyx number {NUMBER} was on connection {OTHER}; it now uses connection {CONNECTION}.")})
    );
    let application = "/v2/call_control_applications/conn-7001";
    let number = format!("/v2/phone_numbers/{NUMBER_ID}");
    assert_eq!(
        calls(&requests),
        [
            ("GET".into(), application.into()),
            ("PATCH".into(), application.into()),
            ("GET".into(), "/v2/phone_numbers".into()),
            ("PATCH".into(), number),
            ("GET".into(), "/v2/phone_numbers".into()),
        ],
        "the number is linked, then read back"
    );
    assert_eq!(json_body(&requests[3]), json!({"connection_id": CONNECTION}));
    requests.iter().for_each(assert_telnyx_headers);
    assert_eq!(
        telnyx.connection_of("+14155550999").as_deref(),
        Some(OTHER),
        "other numbers stay where they are"
    );
}

#[tokio::test]
async fn binding_a_number_on_no_connection_links_it() {
    let (sync, requests, _) = bind_linked_to(None).await;
    assert_eq!(
        sync,
        json!({"ok": true, "message": format!("Telnyx number {NUMBER} was on no connection; it now uses connection {CONNECTION}.")})
    );
    assert_eq!(json_body(&requests[3]), json!({"connection_id": CONNECTION}));
}

#[tokio::test]
async fn binding_a_number_the_account_no_longer_has_is_ok_false_and_says_what_to_do() {
    let (s, telnyx) = setup().await;
    let path = s.unbound_number(NUMBER).await;
    telnyx.remove_number(NUMBER);
    let before = s.request_count().await;
    let message = s.failed_bind(&path).await;
    assert_eq!(
        message,
        format!(
            "Phone number {NUMBER} is not in this Telnyx account, so Telnyx cannot route its calls to telebind. \
             Add it in the Telnyx Mission Control Portal, then sync again."
        )
    );
    let patched_numbers = s
        .requests_after(before)
        .await
        .iter()
        .filter(|r| r.method.as_str() == "PATCH" && r.url.path().starts_with("/v2/phone_numbers"))
        .count();
    assert_eq!(patched_numbers, 0);
}

fn failing(verb: &str, path: &str, answer: ResponseTemplate) -> Mock {
    Mock::given(method(verb)).and(path_regex(path)).respond_with(answer)
}

/// Each way Telnyx can fail the number's lookup, link or read-back, while
/// `NUMBER` is on `OTHER`: the bind is ok:false within the one deadline, says
/// what to do, and (unless the read-back is what failed) the number is indeed
/// not routed to telebind.
#[tokio::test]
async fn every_failed_link_step_is_ok_false_within_the_deadline() {
    let unchecked = format!("Telnyx number {NUMBER} could not be checked; sync again once Telnyx answers. ");
    let unlinked = format!(
        "Telnyx did not link number {NUMBER} to connection {CONNECTION}; \
         link it in the Telnyx Mission Control Portal, then sync again. "
    );
    let hang = || ResponseTemplate::new(200).set_delay(Duration::from_secs(10));
    let timed_out = format!("timed out after {SYNC_TIMEOUT_MS} ms");
    // The first lookup is the fake's; the read-back answers as the case says.
    let read_back = |telnyx: &FakeTelnyx, answer: ResponseTemplate| {
        vec![
            Mock::given(method("GET"))
                .and(path_regex(NUMBERS))
                .respond_with(telnyx.clone())
                .up_to_n_times(1),
            failing("GET", NUMBERS, answer),
        ]
    };
    type Case = (Box<dyn Fn(&FakeTelnyx) -> Vec<Mock>>, String, bool);
    let cases: Vec<Case> = vec![
        (
            Box::new(|_| {
                vec![failing(
                    "GET",
                    NUMBERS,
                    ResponseTemplate::new(500).set_body_string("boom"),
                )]
            }),
            format!("{unchecked}Telnyx API 500: boom"),
            true,
        ),
        (
            Box::new(|_| {
                vec![failing(
                    "GET",
                    NUMBERS,
                    ResponseTemplate::new(200).set_body_string("<html>"),
                )]
            }),
            format!("{unchecked}Telnyx phone-number lookup failed: response is not JSON"),
            true,
        ),
        (
            Box::new(move |_| vec![failing("GET", NUMBERS, hang())]),
            format!("{unchecked}Telnyx phone-number lookup failed: {timed_out}"),
            true,
        ),
        (
            Box::new(|_| {
                vec![failing(
                    "PATCH",
                    NUMBER_RESOURCE,
                    ResponseTemplate::new(422).set_body_string("nope"),
                )]
            }),
            format!("{unlinked}Telnyx API 422: nope"),
            true,
        ),
        (
            Box::new(move |_| vec![failing("PATCH", NUMBER_RESOURCE, hang())]),
            format!("{unlinked}Telnyx update failed: {timed_out}"),
            true,
        ),
        (
            // Telnyx answers the link but the number stays where it was.
            Box::new(|_| {
                vec![failing(
                    "PATCH",
                    NUMBER_RESOURCE,
                    ResponseTemplate::new(200).set_body_string("{}"),
                )]
            }),
            format!(
                "Telnyx number {NUMBER} is still on connection {OTHER} after being linked to connection {CONNECTION}; \
                 link it in the Telnyx Mission Control Portal, then sync again."
            ),
            true,
        ),
        (
            Box::new(move |telnyx| read_back(telnyx, ResponseTemplate::new(503).set_body_string("busy"))),
            format!("{unchecked}Telnyx API 503: busy"),
            false,
        ),
        (
            Box::new(move |telnyx| read_back(telnyx, hang())),
            format!("{unchecked}Telnyx phone-number lookup failed: {timed_out}"),
            false,
        ),
    ];
    for (failures, expected, truthful) in cases {
        let (s, telnyx) = setup_with(FakeTelnyx::with_number_on(Some(OTHER))).await;
        let path = s.unbound_number(NUMBER).await;
        s.carrier.server.reset().await;
        for failure in failures(&telnyx) {
            failure.mount(&s.carrier.server).await;
        }
        telnyx.mount(&s.carrier).await;
        let message = s.failed_bind(&path).await;
        assert!(message.starts_with(&expected), "{message}\nvs {expected}");
        if truthful {
            assert_eq!(telnyx.connection_of(NUMBER).as_deref(), Some(OTHER));
            assert_ne!(telnyx.inbound_url(NUMBER).as_deref(), Some(WEBHOOK));
        }
    }
}

#[tokio::test]
async fn binding_a_sip_address_sets_the_application_url_and_links_no_number() {
    let (s, telnyx) = setup().await;
    let path = s.unbound_number("sip:100@pbx.example.com").await;
    let before = s.request_count().await;
    let bound = s.bind(&path).await;
    assert_eq!(bound["provider_sync"], json!({"ok": true, "message": null}));
    let application = "/v2/call_control_applications/conn-7001";
    assert_eq!(
        calls(&s.requests_after(before).await),
        [("GET".into(), application.into()), ("PATCH".into(), application.into())]
    );
    assert_eq!(telnyx.application(CONNECTION).unwrap().webhook_event_url, WEBHOOK);
}
