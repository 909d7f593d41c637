//! Plivo against a fake of its Application and Number APIs
//! (PROVIDERS.md §3 plivo, §4 plivo, §5; CARRIER-AUDIT.md P1, P3; API.md §5.7).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use telebind::domain::provider::mask;
use wiremock::{Request, Respond, ResponseTemplate};

use crate::helpers::{
    assert_honest, assert_no_secret, calls, json_body, spawn_app, spawn_app_with_carrier, unreachable_carrier_messages,
    CarrierSetup, MockBody, MockCarrier, RoutesCalls, SYNC_TIMEOUT_MS, WEBHOOK,
};

pub const AUTH_ID: &str = "MAPLIVO0123456789";
const AUTH_TOKEN: &str = "plivo-token-abcdef";
pub const SECRETS: [&str; 2] = [AUTH_ID, AUTH_TOKEN];
const BASIC: &str = "Basic TUFQTElWTzAxMjM0NTY3ODk6cGxpdm8tdG9rZW4tYWJjZGVm";
const APP_ID: &str = "plivo-app-1";
const OTHER_APP: &str = "other-app-7";
const OTHER_ANSWER: &str = "https://other.example/answer";
const NUMBER: &str = "+14155550100";
const DIGITS: &str = "14155550100";
const CONFIGS: &str = "/api/v1/organizations/telephony-configs";
const CREATE_APP: &str = "^/v1/Account/MAPLIVO0123456789/Application/$";
const APPLICATION: &str = "^/v1/Account/MAPLIVO0123456789/Application/plivo-app-1/$";
const APPLICATIONS: &str = "^/v1/Account/MAPLIVO0123456789/Application/([^/]+/)?$";
const OWNED: &str = "^/v1/Account/MAPLIVO0123456789/Number/14155550100/$";
const NUMBERS: &str = "^/v1/Account/MAPLIVO0123456789/Number/[^/]+/$";
const NO_OP: &str = "Plivo routes every number of the application to one URL; detaching one number leaves it in place";
const APPLICATION_PATH: &str = "/v1/Account/MAPLIVO0123456789/Application/plivo-app-1/";
const NUMBER_PATH: &str = "/v1/Account/MAPLIVO0123456789/Number/14155550100/";

fn config(application_id: Option<&str>) -> Value {
    json!({"provider": "plivo", "auth_id": AUTH_ID, "auth_token": AUTH_TOKEN, "application_id": application_id})
}

// ---------------------------------------------------------------------------
// The fake

/// One Plivo account, as its Application API
/// (https://www.plivo.com/docs/account/api/application/) and Account Phone
/// Number API (https://www.plivo.com/docs/numbers/api/account-phone-number/)
/// describe it.
#[derive(Clone)]
struct FakePlivo {
    account: Arc<Mutex<Account>>,
}

struct Account {
    /// Each application's fields by `app_id`.
    applications: HashMap<String, Value>,
    /// Each number of the account (digits, no `+`) and the id of the
    /// application linked to it, if any.
    numbers: HashMap<String, Option<String>>,
    /// The account's `default_number_app`, if one was chosen.
    default_number_app: Option<String>,
    created: u64,
}

impl FakePlivo {
    /// The account holds the configuration's application, another one, and
    /// `NUMBER` linked to `linked` (other numbers may come and go).
    fn new(linked: Option<&str>) -> FakePlivo {
        let app = |id: &str, answer_url: &str| {
            json!({"app_id": id, "app_name": id, "answer_url": answer_url, "answer_method": "POST",
                   "hangup_url": answer_url, "default_number_app": false})
        };
        let applications = HashMap::from([
            (APP_ID.to_string(), app(APP_ID, "https://old.example/answer")),
            (OTHER_APP.to_string(), app(OTHER_APP, OTHER_ANSWER)),
        ]);
        let numbers = HashMap::from([(DIGITS.to_string(), linked.map(str::to_string))]);
        FakePlivo {
            account: Arc::new(Mutex::new(Account {
                applications,
                numbers,
                default_number_app: None,
                created: 0,
            })),
        }
    }

    async fn mount(&self, carrier: &MockCarrier) {
        carrier.serve("POST", APPLICATIONS, self.clone()).await;
        carrier.serve("GET", NUMBERS, self.clone()).await;
        carrier.serve("POST", NUMBERS, self.clone()).await;
    }

    fn application(&self, id: &str) -> Value {
        self.account.lock().unwrap().applications[id].clone()
    }

    /// The account's default application for numbers updated without one.
    fn choose_default_number_app(&self, id: &str) {
        self.account.lock().unwrap().default_number_app = Some(id.to_string());
    }

    /// The number is unrented (or moved to another account).
    fn release(&self, digits: &str) {
        self.account.lock().unwrap().numbers.remove(digits);
    }
}

impl RoutesCalls for FakePlivo {
    /// Where Plivo would send an inbound call to `e164` right now: to the
    /// `answer_url` of the application linked to the number ("On receiving an
    /// incoming call on a number … attached to an Application, Plivo sends a
    /// request to the answer_url",
    /// https://www.plivo.com/docs/account/api/application/the-application-object).
    fn inbound_url(&self, e164: &str) -> Option<String> {
        let account = self.account.lock().unwrap();
        let app = account.numbers.get(e164.trim_start_matches('+'))?.as_ref()?;
        account.applications.get(app)?["answer_url"]
            .as_str()
            .map(str::to_string)
    }
}

impl Account {
    /// Create an application: `app_name` (letters, digits, `-`, `_`) and
    /// `answer_url` are required, `hangup_url` "Defaults to answer_url"; 201
    /// with the new `app_id`
    /// (https://www.plivo.com/docs/account/api/application/create-an-application/).
    fn create_application(&mut self, body: &Value) -> ResponseTemplate {
        let name = body["app_name"].as_str().unwrap_or_default();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return bad_request("app_name is invalid");
        }
        let Some(answer_url) = body["answer_url"].as_str().filter(|u| !u.is_empty()) else {
            return bad_request("answer_url is required");
        };
        // The API's handling of an empty hangup_url is undocumented; this
        // mirrors the official plivo-python client, which validates hangup_url
        // with optional(is_url()) and refuses "" before sending.
        if body.get("hangup_url").is_some_and(|u| u == "") {
            return bad_request("hangup_url is not a valid URL");
        }
        self.created += 1;
        let id = format!("2037263121278278{}", self.created);
        let mut app = json!({"app_id": id, "app_name": name, "answer_url": answer_url, "answer_method": "POST",
                             "hangup_url": answer_url, "default_number_app": false});
        merge(&mut app, body);
        self.applications.insert(id.clone(), app);
        ResponseTemplate::new(201).set_body_json(json!({"api_id": "c1", "app_id": id, "message": "created"}))
    }

    /// Modify an application: the fields sent change, the others stay; 202
    /// (https://www.plivo.com/docs/account/api/application/update-an-application/).
    fn update_application(&mut self, id: &str, body: &Value) -> ResponseTemplate {
        let Some(app) = self.applications.get_mut(id) else {
            return not_found();
        };
        merge(app, body);
        changed()
    }

    /// Retrieve a number of the account: `application` is the linked
    /// application's URI, `/v1/Account/{auth_id}/Application/{app_id}/`
    /// (https://www.plivo.com/docs/numbers/api/account-phone-number/the-accountphonenumber-object/).
    fn get_number(&self, digits: &str) -> ResponseTemplate {
        let Some(linked) = self.numbers.get(digits) else {
            return not_found();
        };
        let application = linked
            .as_ref()
            .map(|id| format!("/v1/Account/{AUTH_ID}/Application/{id}/"));
        ResponseTemplate::new(200).set_body_json(json!({
            "number": digits, "alias": null, "sub_account": null, "application": application,
            "carrier": "Plivo", "number_type": "local", "voice_enabled": true, "sms_enabled": true,
            "resource_uri": format!("/v1/Account/{AUTH_ID}/Number/{digits}/")
        }))
    }

    /// Update a number: `app_id` is "The application to be assigned to the
    /// phone number. If not specified, the application selected as the
    /// default_number_app of the account is assigned"; 202
    /// (https://www.plivo.com/docs/numbers/api/account-phone-number/update-a-number/).
    /// So an update that names the application any other way unlinks it.
    fn update_number(&mut self, digits: &str, body: &Value) -> ResponseTemplate {
        let default = self.default_number_app.clone();
        let Some(linked) = self.numbers.get_mut(digits) else {
            return not_found();
        };
        *linked = body["app_id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .or(default);
        changed()
    }
}

impl Respond for FakePlivo {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        // Every request is Basic auth_id:auth_token (https://www.plivo.com/docs/api/overview).
        if request.headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(BASIC) {
            return ResponseTemplate::new(401).set_body_json(json!({"error": "authentication failed"}));
        }
        let body: Value = if request.body.is_empty() {
            json!({})
        } else {
            match serde_json::from_slice(&request.body) {
                Ok(body @ Value::Object(_)) => body,
                _ => return bad_request("the body is not a JSON object"),
            }
        };
        let mut account = self.account.lock().unwrap();
        let segments: Vec<&str> = request.url.path().split('/').filter(|s| !s.is_empty()).collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("POST", [.., "Application"]) => account.create_application(&body),
            ("POST", [.., "Application", id]) => account.update_application(id, &body),
            ("GET", [.., "Number", digits]) => account.get_number(digits),
            ("POST", [.., "Number", digits]) => account.update_number(digits, &body),
            _ => not_found(),
        }
    }
}

/// `target` with every field of `fields` set.
fn merge(target: &mut Value, fields: &Value) {
    for (key, value) in fields.as_object().into_iter().flatten() {
        target[key] = value.clone();
    }
}

fn changed() -> ResponseTemplate {
    ResponseTemplate::new(202).set_body_json(json!({"api_id": "c2", "message": "changed"}))
}

fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({"api_id": "c3", "error": "not found"}))
}

fn bad_request(error: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({"api_id": "c4", "error": error}))
}

// ---------------------------------------------------------------------------
// Setups and assertions

/// The configuration names its application; `NUMBER` is linked to `linked`.
async fn setup_linked(linked: Option<&str>) -> (CarrierSetup, FakePlivo) {
    let s = CarrierSetup::start(config(Some(APP_ID)), &SECRETS).await;
    let fake = FakePlivo::new(linked);
    fake.mount(&s.carrier).await;
    (s, fake)
}

/// `NUMBER` already linked to the configuration's application.
async fn setup() -> (CarrierSetup, FakePlivo) {
    setup_linked(Some(APP_ID)).await
}

/// The auth id is part of Plivo's paths and the Basic credentials; the body
/// never needs either secret.
fn assert_sent_as_plivo_needs(request: &Request) {
    assert_eq!(request.headers.get("authorization").unwrap(), BASIC, "{}", request.url);
    assert_no_secret(&String::from_utf8_lossy(&request.body), &SECRETS);
    assert_no_secret(request.url.as_str(), &[AUTH_TOKEN]);
}

/// The first `n` requests of a bind that links the number: the application's
/// update, the number, the number's update, the read-back.
fn linking(n: usize) -> Vec<(String, String)> {
    [
        ("POST", APPLICATION_PATH),
        ("GET", NUMBER_PATH),
        ("POST", NUMBER_PATH),
        ("GET", NUMBER_PATH),
    ]
    .iter()
    .take(n)
    .map(|(verb, path)| (verb.to_string(), path.to_string()))
    .collect()
}

// ---------------------------------------------------------------------------
// Binding

#[tokio::test]
async fn binding_sets_the_applications_answer_url_and_checks_the_numbers_application() {
    let (s, fake) = setup().await;
    let requests = s.requests_of_a_bind(NUMBER).await;
    assert_eq!(fake.inbound_url(NUMBER).as_deref(), Some(WEBHOOK));
    assert_eq!(calls(&requests), linking(2), "a number already linked is not updated");
    assert_eq!(requests[0].headers.get("content-type").unwrap(), "application/json");
    assert_eq!(
        json_body(&requests[0]),
        json!({"answer_url": WEBHOOK, "answer_method": "POST"})
    );
    for request in &requests {
        assert_sent_as_plivo_needs(request);
    }
}

#[tokio::test]
async fn binding_a_number_of_another_application_links_it_and_says_what_it_was_linked_to() {
    let (s, fake) = setup_linked(Some(OTHER_APP)).await;
    assert_eq!(fake.inbound_url(NUMBER).as_deref(), Some(OTHER_ANSWER));
    let (bound, requests) = s.honest_bind(&fake, NUMBER).await;
    assert_eq!(
        bound["provider_sync"],
        json!({"ok": true, "message": "Plivo number +14155550100 was routed to application other-app-7; it is now linked to application plivo-app-1."})
    );
    assert_eq!(calls(&requests), linking(4));
    assert_eq!(requests[2].headers.get("content-type").unwrap(), "application/json");
    assert_eq!(json_body(&requests[2]), json!({"app_id": APP_ID}));
    for request in &requests {
        assert_sent_as_plivo_needs(request);
    }
}

#[tokio::test]
async fn binding_an_unlinked_number_links_it() {
    let (s, fake) = setup_linked(None).await;
    // Were the update to name no application, Plivo would assign this one.
    fake.choose_default_number_app(OTHER_APP);
    assert_eq!(fake.inbound_url(NUMBER), None);
    let (bound, requests) = s.honest_bind(&fake, NUMBER).await;
    assert_eq!(bound["provider_sync"], json!({"ok": true, "message": null}));
    assert_eq!(calls(&requests), linking(4));
}

#[tokio::test]
async fn binding_a_number_no_longer_in_the_account_fails_and_says_what_to_do() {
    let (s, fake) = setup_linked(Some(OTHER_APP)).await;
    let path = s.unbound_number(NUMBER).await;
    fake.release(DIGITS);
    let bound = s.bind(&path).await;
    assert_honest(&bound, &fake, NUMBER);
    assert_eq!(
        bound["provider_sync"]["message"],
        format!(
            "Plivo number +14155550100 is not in this Plivo account ({}), so it cannot be linked to application plivo-app-1. Add it to the account in the Plivo console, then sync again.",
            mask(AUTH_ID)
        )
    );
}

#[tokio::test]
async fn unbinding_one_number_leaves_the_shared_url_in_place_and_says_so() {
    setup().await.0.assert_unbinding_is_a_no_op(NUMBER, NO_OP).await;
}

#[tokio::test]
async fn binding_without_an_application_fails_before_any_request() {
    let (app, carrier) = spawn_app_with_carrier().await;
    FakePlivo::new(Some(APP_ID)).mount(&carrier).await;
    let cfg = app.create_config("Plivo", config(Some(APP_ID))).await;
    let id = cfg["id"].as_i64().unwrap();
    // A configuration stored before provisioning existed, with no application.
    let conn = app.db_conn();
    let stored = serde_json::to_string(&config(None)).unwrap();
    conn.execute(
        "UPDATE telephony_configurations SET credentials = seal_credentials(org_id, id, ?1) WHERE id = ?2",
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

// ---------------------------------------------------------------------------
// Faults: each within the one deadline, each `ok:false` and honest

/// Binds `NUMBER` (linked to another application) while the application
/// answers `reply`, and returns the failed push's message.
async fn a_failed_bind(status: u16, reply: MockBody, delay: Duration) -> String {
    let (s, fake) = setup_linked(Some(OTHER_APP)).await;
    let path = s.unbound_number(NUMBER).await;
    s.carrier.server.reset().await;
    s.carrier.answer("POST", APPLICATION, status, reply, delay).await;
    let message = s.failed_bind(&path).await;
    assert_eq!(fake.inbound_url(NUMBER).as_deref(), Some(OTHER_ANSWER));
    message
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

const HANG: Duration = Duration::from_secs(10);

/// Binds `NUMBER` (linked to another application) while the fake answers
/// `verb` on the number with `fault` after `skip` such requests; returns the
/// failed push's message, the calls Plivo received and where it now routes
/// `NUMBER`.
async fn a_failed_link(verb: &str, skip: u64, fault: ResponseTemplate) -> (String, Vec<Request>, Option<String>) {
    let (s, fake) = setup_linked(Some(OTHER_APP)).await;
    let path = s.unbound_number(NUMBER).await;
    s.carrier.server.reset().await;
    s.carrier.fail_after(verb, OWNED, skip, fake.clone(), fault).await;
    fake.mount(&s.carrier).await;
    let message = s.failed_bind(&path).await;
    (message, s.requests_after(0).await, fake.inbound_url(NUMBER))
}

fn text(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_string(body)
}

#[tokio::test]
async fn a_failed_number_lookup_on_bind_fails_the_push_and_says_what_to_do() {
    for (fault, why) in [
        (text(500, "busy"), "Plivo API 500: busy".to_string()),
        (
            text(200, "<html>"),
            "Plivo phone-number lookup failed: response is not JSON".to_string(),
        ),
        (
            text(200, "{}").set_delay(HANG),
            format!("Plivo phone-number lookup failed: timed out after {SYNC_TIMEOUT_MS} ms"),
        ),
    ] {
        let (message, requests, routed) = a_failed_link("GET", 0, fault).await;
        assert_eq!(routed.as_deref(), Some(OTHER_ANSWER));
        assert!(
            message.starts_with(&format!(
                "Plivo could not link number +14155550100 to application plivo-app-1: {why}"
            )),
            "{message}"
        );
        assert!(
            message.ends_with(". Link it to the application in the Plivo console, or sync again."),
            "{message}"
        );
        assert_eq!(calls(&requests), linking(2), "no update without the number");
    }
}

#[tokio::test]
async fn a_refused_link_fails_the_push_with_plivos_answer() {
    for (fault, why) in [
        (
            text(400, r#"{"error":"invalid app_id"}"#),
            r#"Plivo API 400: {"error":"invalid app_id"}"#.to_string(),
        ),
        (text(500, "<html>"), "Plivo API 500: <html>".to_string()),
        (
            text(202, "{}").set_delay(HANG),
            format!("timed out after {SYNC_TIMEOUT_MS} ms"),
        ),
    ] {
        let (message, requests, routed) = a_failed_link("POST", 0, fault).await;
        assert_eq!(routed.as_deref(), Some(OTHER_ANSWER));
        assert_eq!(
            message,
            format!("Plivo could not link number +14155550100 to application plivo-app-1: {why}. Link it to the application in the Plivo console, or sync again.")
        );
        assert_eq!(calls(&requests), linking(3), "no read-back after a failed update");
    }
}

#[tokio::test]
async fn an_update_plivo_answers_but_does_not_apply_fails_the_push() {
    let changed = text(202, r#"{"message":"changed"}"#);
    let (message, requests, routed) = a_failed_link("POST", 0, changed).await;
    assert_eq!(routed.as_deref(), Some(OTHER_ANSWER));
    assert_eq!(
        message,
        "Plivo number +14155550100 still routes to application other-app-7 after telebind linked it to application plivo-app-1. Link it to the application in the Plivo console, then sync again."
    );
    assert_eq!(calls(&requests), linking(4));
}

/// The link was made but could not be read back: the number does route to
/// telebind, yet the push cannot know it, so it says so instead of `ok`.
#[tokio::test]
async fn a_read_back_that_hangs_fails_the_push_within_the_deadline() {
    let (message, requests, routed) = a_failed_link("GET", 1, text(200, "{}").set_delay(HANG)).await;
    assert_eq!(routed.as_deref(), Some(WEBHOOK));
    assert_eq!(
        message,
        format!("Plivo could not confirm that number +14155550100 is linked to application plivo-app-1: Plivo phone-number lookup failed: timed out after {SYNC_TIMEOUT_MS} ms. Check it in the Plivo console, or sync again.")
    );
    assert_eq!(calls(&requests), linking(4));
}

#[tokio::test]
async fn one_deadline_covers_the_application_and_the_link() {
    let (s, fake) = setup_linked(Some(OTHER_APP)).await;
    let path = s.unbound_number(NUMBER).await;
    s.carrier.server.reset().await;
    // Each request answers correctly, but 40% of the deadline late: the
    // deadline passes before the number is updated.
    let late = Duration::from_millis(SYNC_TIMEOUT_MS * 4 / 10);
    for (verb, route) in [("POST", APPLICATIONS), ("GET", NUMBERS), ("POST", NUMBERS)] {
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
        message.starts_with("Plivo could not link number +14155550100"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------
// Ownership

#[tokio::test]
async fn creating_a_number_checks_it_at_its_number_resource() {
    let (s, _) = setup().await;
    let before = s.request_count().await;
    let created = s
        .app
        .create_number(&s.cfg, json!({"address": "(415) 555-0100", "country_code": "US"}))
        .await;
    assert_eq!(created["provider_sync"], Value::Null);
    let requests = s.requests_after(before).await;
    assert_eq!(calls(&requests), [("GET".into(), NUMBER_PATH.into())]);
    assert_eq!(requests[0].url.query(), None);
    assert_sent_as_plivo_needs(&requests[0]);
}

#[tokio::test]
async fn a_number_plivo_does_not_know_is_refused_with_400_naming_the_masked_account() {
    let (s, _) = setup().await;
    let answer = s.refused_number("+14155550123", 400).await;
    let expected = format!(
        "Phone number +14155550123 is not owned by this Plivo account ({}). Add it in the Plivo console first.",
        mask(AUTH_ID)
    );
    assert_eq!(answer, json!({ "detail": expected }));
}

#[tokio::test]
async fn a_failed_number_lookup_is_a_502_and_nothing_is_stored() {
    let (s, _) = setup().await;
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
            HANG,
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

// ---------------------------------------------------------------------------
// Save-time provisioning (PROVIDERS.md §3)

#[tokio::test]
async fn a_config_without_an_application_gets_one_created_and_stores_its_id() {
    let (app, carrier) = spawn_app_with_carrier().await;
    let fake = FakePlivo::new(None);
    fake.mount(&carrier).await;
    let created = app.create_config("Plivo", config(None)).await;
    assert_no_secret(&created.to_string(), &SECRETS);
    let app_id = created["credentials"]["application_id"].as_str().unwrap();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(app.stored_credentials(id)["application_id"], app_id);

    let requests = carrier.requests().await;
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        (request.method.as_str(), request.url.path()),
        ("POST", "/v1/Account/MAPLIVO0123456789/Application/")
    );
    assert_eq!(request.headers.get("content-type").unwrap(), "application/json");
    assert_sent_as_plivo_needs(request);
    let sent = json_body(request);
    let name = sent["app_name"].as_str().unwrap();
    assert!(
        name.len() == 21 && name.starts_with("telebind-") && name[9..].chars().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );
    // No hangup_url: Plivo then posts hangups to the answer URL (decision 5).
    assert_eq!(
        sent,
        json!({"app_name": name, "answer_url": WEBHOOK, "answer_method": "POST"})
    );
    assert_eq!(fake.application(app_id)["hangup_url"], WEBHOOK);
}

#[tokio::test]
async fn numbers_of_a_config_saved_without_an_application_reach_telebind_once_bound() {
    let (app, carrier) = spawn_app_with_carrier().await;
    let fake = FakePlivo::new(Some(OTHER_APP));
    fake.mount(&carrier).await;
    let cfg = app.create_config("Plivo", config(None)).await["id"].clone();
    let workflow = app.create_workflow("W").await;
    let created = app
        .create_number(&cfg, json!({"address": NUMBER, "inbound_workflow_id": workflow["id"]}))
        .await;
    assert_honest(&created, &fake, NUMBER);
    assert_eq!(created["provider_sync"]["ok"], true, "{created}");
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
    a_refused_save(201, json!({"app_id": "1"}).into(), HANG, (502, &detail)).await;
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
