//! Vobiz against the mock carrier: each number is attached to the account's
//! application, whose answer URL is the webhook (PROVIDERS.md §3 vobiz, §4
//! vobiz, §5).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use telebind::domain::provider::mask;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::helpers::{
    assert_headers, assert_honest, assert_not_sent, bind_while_unreachable, calls, json_body, numbers_path, query,
    refused_creations, refused_while_unreachable, spawn_app_with_carrier, Answer, CarrierSetup, MockBody, MockCarrier,
    RefusedCreation, RoutesCalls, SYNC_TIMEOUT_MS, WEBHOOK,
};

pub const AUTH_ID: &str = "MA_SYQRLN1K";
pub const TOKEN: &str = "vobiz-token-0123456789";
const APP_ID: &str = "app-3001";
const NUMBER: &str = "+14155550100";
const NUMBERS: &str = "/api/v1/Account/MA_SYQRLN1K/numbers";
const BINDING: &str = "^/api/v1/Account/MA_SYQRLN1K/numbers/%2B14155550100/application$";
const APPLICATION: &str = "^/api/v1/Account/MA_SYQRLN1K/Application/app-3001/$";
const APPLICATIONS: &str = "^/api/v1/Account/MA_SYQRLN1K/Application/$";
/// Where an application answers before telebind binds it.
const ELSEWHERE: &str = "https://ivr.example.com/answer";

/// Vobiz as its documentation describes it: the account's numbers, the
/// application each is attached to, and each application's answer URL.
#[derive(Clone)]
struct FakeVobiz {
    state: Arc<Mutex<VobizState>>,
}

struct VobizState {
    /// E.164 → the app_id it is attached to.
    numbers: BTreeMap<String, Option<String>>,
    applications: BTreeMap<String, VobizApplication>,
    /// What creating and updating an application answer: the documentation
    /// shows their bodies but not their status codes
    /// (https://docs.vobiz.ai/applications/create-application,
    /// https://docs.vobiz.ai/applications/update-application).
    create_status: u16,
    update_status: u16,
}

struct VobizApplication {
    answer_url: String,
    hangup_url: String,
}

impl FakeVobiz {
    /// Owns `NUMBER`, attached to nothing; application `APP_ID` answers `ELSEWHERE`.
    fn new() -> FakeVobiz {
        let state = VobizState {
            numbers: BTreeMap::from([(NUMBER.to_string(), None)]),
            applications: BTreeMap::new(),
            create_status: 200,
            update_status: 200,
        };
        FakeVobiz {
            state: Arc::new(Mutex::new(state)),
        }
        .with_application(APP_ID, ELSEWHERE)
    }

    fn with_application(self, app_id: &str, answer_url: &str) -> FakeVobiz {
        let app = VobizApplication {
            answer_url: answer_url.into(),
            hangup_url: answer_url.into(),
        };
        self.state.lock().unwrap().applications.insert(app_id.into(), app);
        self
    }

    fn with_attachment(self, e164: &str, app_id: &str) -> FakeVobiz {
        self.state
            .lock()
            .unwrap()
            .numbers
            .insert(e164.into(), Some(app_id.into()));
        self
    }

    fn answering(self, create_status: u16, update_status: u16) -> FakeVobiz {
        {
            let mut state = self.state.lock().unwrap();
            state.create_status = create_status;
            state.update_status = update_status;
        }
        self
    }

    /// The number leaves the account (released, or moved to another one).
    fn release(&self, e164: &str) {
        self.state.lock().unwrap().numbers.remove(e164);
    }

    /// Answers every request to the mock carrier.
    async fn serve(&self, carrier: &MockCarrier) {
        for verb in ["GET", "POST", "DELETE"] {
            carrier.serve(verb, "^/", self.clone()).await;
        }
    }

    /// Where Vobiz posts the hangup of a call handled by `app_id`.
    fn hangup_url(&self, app_id: &str) -> Option<String> {
        let state = self.state.lock().unwrap();
        state.applications.get(app_id).map(|a| a.hangup_url.clone())
    }
}

impl RoutesCalls for FakeVobiz {
    /// Where Vobiz would send an inbound call to `e164` now: the answer URL
    /// of the application the number is attached to
    /// (https://docs.vobiz.ai/applications/attach-number: "all incoming calls
    /// to that number are routed through the application's answer_url").
    fn inbound_url(&self, e164: &str) -> Option<String> {
        let state = self.state.lock().unwrap();
        let app_id = state.numbers.get(e164)?.as_ref()?;
        state.applications.get(app_id).map(|a| a.answer_url.clone())
    }
}

impl Respond for FakeVobiz {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        // Every request authenticates with these two headers
        // (https://docs.vobiz.ai/applications/attach-number).
        let sent = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
        if sent("x-auth-id") != Some(AUTH_ID) || sent("x-auth-token") != Some(TOKEN) {
            return reply(401, json!({"error": "invalid credentials"}));
        }
        let Some(route) = request.url.path().strip_prefix("/api/v1/Account/MA_SYQRLN1K/") else {
            return not_found();
        };
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let mut state = self.state.lock().unwrap();
        match (request.method.as_str(), route.split('/').collect::<Vec<_>>().as_slice()) {
            ("GET", ["numbers"]) => state.list(request),
            ("POST", ["numbers", number, "application"]) => state.attach(number, &body),
            ("DELETE", ["numbers", number, "application"]) => state.detach(number),
            ("POST", ["Application", ""]) => state.create(&body),
            ("POST", ["Application", app_id, ""]) => state.update(app_id, &body),
            _ => not_found(),
        }
    }
}

impl VobizState {
    /// https://docs.vobiz.ai/account-phone-number/list-account-phone-numbers
    fn list(&self, request: &Request) -> ResponseTemplate {
        // Query values are form-decoded, so a literal `+` reads as a space and
        // `search=+91…` finds nothing: "Include the country code and
        // URL-encode a leading plus sign." (vobiz-ai/Vobiz-Python-SDK,
        // src/vobiz/phone_numbers/raw_client.py)
        let query: BTreeMap<String, String> = request.url.query_pairs().into_owned().collect();
        let search = query.get("search").cloned().unwrap_or_default();
        let page = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1usize).max(1);
        // "Default: 25. Maximum: 100."
        let per_page = query
            .get("per_page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(25usize)
            .min(100);
        let found: Vec<Value> = self
            .numbers
            .iter()
            .filter(|(e164, _)| e164.contains(&search))
            .map(|(e164, app)| json!({"e164": e164, "status": "active", "application_id": app}))
            .collect();
        let items: Vec<&Value> = found.iter().skip((page - 1) * per_page).take(per_page).collect();
        reply(
            200,
            json!({"items": items, "page": page, "per_page": per_page, "total": found.len()}),
        )
    }

    /// https://docs.vobiz.ai/applications/attach-number
    fn attach(&mut self, number: &str, body: &Value) -> ResponseTemplate {
        // "A raw + in the path will not match; use %2B"; "Number not in your
        // account or unknown application_id returns a 404."
        let number = path_number(number);
        let app_id = body["application_id"]
            .as_str()
            .filter(|id| self.applications.contains_key(*id));
        let (Some(attached), Some(app_id)) = (number.as_ref().and_then(|n| self.numbers.get_mut(n)), app_id) else {
            return not_found();
        };
        // "Re-attaching an already-linked number overwrites the previous binding."
        *attached = Some(app_id.to_string());
        reply(
            200,
            json!({"message": "Number attached to application", "number": number, "application": {"app_id": app_id}}),
        )
    }

    /// https://docs.vobiz.ai/applications/detach-number
    fn detach(&mut self, number: &str) -> ResponseTemplate {
        let number = path_number(number);
        let Some(attached) = number.as_ref().and_then(|n| self.numbers.get_mut(n)) else {
            return not_found();
        };
        *attached = None;
        reply(
            200,
            json!({"message": "Number detached from application", "number": number}),
        )
    }

    /// https://docs.vobiz.ai/applications/create-application
    fn create(&mut self, body: &Value) -> ResponseTemplate {
        let text = |field: &str| body.get(field).and_then(Value::as_str);
        // "app_name … Allowed values: letters (upper and lower case), numbers (0–9), and only two special
        // characters: - (hyphen) and _ (underscore)"; app_name and answer_url are required.
        let name_ok = text("app_name")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        let (true, Some(answer_url)) = (name_ok, text("answer_url")) else {
            return reply(400, json!({"error": "app_name and answer_url are required"}));
        };
        // Vobiz does not document what it answers to an empty hangup_url; the
        // Plivo-family official client refuses one before sending
        // (plivo/plivo-python plivo/resources/applications.py:
        // `hangup_url=[optional(is_url())]`), so this fake refuses it too.
        if text("hangup_url").is_some_and(|url| !url.starts_with("http")) {
            return reply(400, json!({"error": "hangup_url must be a valid URL"}));
        }
        // "hangup_url … Defaults to answer_url."
        let hangup_url = text("hangup_url").unwrap_or(answer_url).to_string();
        let app_id = format!("2057760961660{:04}", self.applications.len());
        let app = VobizApplication {
            answer_url: answer_url.into(),
            hangup_url,
        };
        self.applications.insert(app_id.clone(), app);
        reply(
            self.create_status,
            json!({"api_id": "fake-api-id", "app_id": app_id, "message": "created"}),
        )
    }

    /// https://docs.vobiz.ai/applications/update-application
    fn update(&mut self, app_id: &str, body: &Value) -> ResponseTemplate {
        // An unknown application is a 404, as on attach.
        let Some(app) = self.applications.get_mut(app_id) else {
            return not_found();
        };
        // "Fields not provided will remain unchanged."
        if let Some(url) = body.get("answer_url").and_then(Value::as_str) {
            app.answer_url = url.into();
        }
        if let Some(url) = body.get("hangup_url").and_then(Value::as_str) {
            app.hangup_url = url.into();
        }
        reply(
            self.update_status,
            json!({"api_id": "fake-api-id", "message": "changed"}),
        )
    }
}

/// The E.164 number of a path segment: only a `%2B`-encoded plus matches.
fn path_number(segment: &str) -> Option<String> {
    let digits = segment.strip_prefix("%2B").or_else(|| segment.strip_prefix("%2b"))?;
    digits.chars().all(|c| c.is_ascii_digit()).then(|| format!("+{digits}"))
}

/// `status` with `body`, except a 204, which has no body.
fn reply(status: u16, body: Value) -> ResponseTemplate {
    match status {
        204 => ResponseTemplate::new(204),
        _ => ResponseTemplate::new(status).set_body_json(body),
    }
}

fn not_found() -> ResponseTemplate {
    reply(404, json!({"error": "not found"}))
}

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

/// A Vobiz configuration with its application given, on `vobiz`.
async fn setup_on(vobiz: FakeVobiz) -> (CarrierSetup, FakeVobiz) {
    let s = CarrierSetup::start(config(Some(APP_ID)), &[AUTH_ID, TOKEN]).await;
    vobiz.serve(&s.carrier).await;
    (s, vobiz)
}

/// A Vobiz configuration with its application given, on a fresh `FakeVobiz`.
async fn setup() -> (CarrierSetup, FakeVobiz) {
    setup_on(FakeVobiz::new()).await
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
    let (s, vobiz) = setup().await;
    let (created, _) = s
        .number(json!({"address": NUMBER, "inbound_workflow_id": s.workflow["id"]}))
        .await;
    assert_eq!(created["provider_sync"], json!({"ok": true, "message": null}));
    assert_honest(&created, &vobiz, NUMBER);
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
    let (s, vobiz) = setup().await;
    let path = s.bound_number(NUMBER).await;
    let before = s.carrier.requests().await.len();
    let cleared = s.unbind(&path).await;
    assert_eq!(cleared["provider_sync"], json!({"ok": true, "message": null}));
    assert_eq!(vobiz.inbound_url(NUMBER), None, "Vobiz routes the number nowhere");
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
async fn deleting_a_number_vobiz_no_longer_has_succeeds() {
    let (s, vobiz) = setup().await;
    let path = s.bound_number(NUMBER).await;
    vobiz.release(NUMBER);
    let deleted = s.app.call(Method::DELETE, &path, None, 200).await;
    assert_eq!(
        deleted,
        json!({"message": "Phone number deleted", "provider_sync": {"ok": true, "message": null}})
    );
}

#[tokio::test]
async fn a_refused_detach_keeps_the_number() {
    let (s, _) = setup().await;
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
            // The attach answers, the application update hangs past the one deadline.
            vec![
                ("POST", BINDING, 200, "{}".into(), 300),
                ("POST", APPLICATION, 200, "{}".into(), 10_000),
            ],
            format!("Vobiz sync failed: timed out after {SYNC_TIMEOUT_MS} ms"),
        ),
    ];
    for (answers, expected) in cases {
        let (s, _) = setup().await;
        let (updated, elapsed) = s.bind_with(NUMBER, answers).await;
        assert_eq!(updated["provider_sync"], json!({"ok": false, "message": expected}));
        assert_no_secret(&updated);
        assert!(elapsed < Duration::from_millis(SYNC_TIMEOUT_MS + 800), "{elapsed:?}");
    }
}

#[tokio::test]
async fn a_sip_address_cannot_be_attached() {
    let (s, _) = setup().await;
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
    let (s, _) = setup().await;
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
    let (s, _) = setup().await;
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
    let (s, _) = setup().await;
    s.carrier.server.reset().await;
    numbers_page(&s.carrier, 1, &[], json!(500), 0).await;
    s.claim(NUMBER, 400).await;
    assert_eq!(s.carrier.requests().await.len(), 1);
}

#[tokio::test]
async fn failed_ownership_lookups_are_502s() {
    let (s, _) = setup().await;
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
    let (s, _) = setup().await;
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
        json!({"app_name": null, "answer_url": WEBHOOK, "answer_method": "POST"}),
        "no hangup_url: Vobiz then posts hangups to the answer URL"
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

// ---------------------------------------------- what Vobiz then does with calls

#[tokio::test]
async fn a_bind_moves_a_number_from_another_application_to_telebinds() {
    let other = "31985999331899218";
    let vobiz = FakeVobiz::new()
        .with_application(other, "https://other.example.com/answer")
        .with_attachment(NUMBER, other);
    let (s, vobiz) = setup_on(vobiz).await;
    let path = s.unbound_number(NUMBER).await;
    let bound = s.bind(&path).await;
    assert_eq!(bound["provider_sync"], json!({"ok": true, "message": null}));
    assert_honest(&bound, &vobiz, NUMBER);
}

#[tokio::test]
async fn a_bind_to_an_application_vobiz_does_not_have_fails_and_says_what_to_do() {
    let gone = "19999999999999999";
    let s = CarrierSetup::start(config(Some(gone)), &[AUTH_ID, TOKEN]).await;
    let vobiz = FakeVobiz::new();
    vobiz.serve(&s.carrier).await;
    let path = s.unbound_number(NUMBER).await;
    let bound = s.bind(&path).await;
    let expected = format!(
        "Vobiz could not find this phone number or the configured Application ID. Confirm that the number belongs \
         to this Vobiz account and that Application ID {gone} exists."
    );
    assert_eq!(bound["provider_sync"], json!({"ok": false, "message": expected}));
    assert_honest(&bound, &vobiz, NUMBER);
}

#[tokio::test]
async fn the_ownership_search_sends_the_plus_percent_encoded() {
    let (s, _) = setup().await;
    // The fake reads a literal `+` in `search` as a space, as Vobiz does.
    let literal = reqwest::Client::new()
        .get(format!("{}{NUMBERS}?search=+14155550100", s.carrier.url()))
        .header("X-Auth-ID", AUTH_ID)
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(literal.json::<Value>().await.unwrap()["total"], 0);

    let before = s.request_count().await;
    s.claim(NUMBER, 200).await;
    let requests = s.requests_after(before).await;
    assert_eq!(
        requests[0].url.query(),
        Some("page=1&per_page=100&search=%2B14155550100")
    );
    s.claim("+14155550199", 400).await;
}

#[tokio::test]
async fn any_2xx_from_vobiz_counts_as_success() {
    // Vobiz shows these answers' bodies, not their status codes (decision 6).
    for (create, update) in [(201, 204), (202, 202), (200, 201)] {
        let (app, carrier) = spawn_app_with_carrier().await;
        let vobiz = FakeVobiz::new().answering(create, update);
        vobiz.serve(&carrier).await;
        let cfg = app.create_config("Vobiz", config(None)).await;
        assert!(cfg["credentials"]["application_id"].is_string(), "{cfg}");
        let workflow = app.create_workflow("Support").await;
        let body = json!({"address": NUMBER, "inbound_workflow_id": workflow["id"]});
        let created = app.create_number(&cfg["id"], body).await;
        assert_eq!(
            created["provider_sync"],
            json!({"ok": true, "message": null}),
            "create {create}, update {update}"
        );
        assert_honest(&created, &vobiz, NUMBER);
    }
}

#[tokio::test]
async fn the_created_application_leaves_hangups_to_its_answer_url() {
    let (app, carrier) = spawn_app_with_carrier().await;
    let vobiz = FakeVobiz::new();
    vobiz.serve(&carrier).await;
    let cfg = app.create_config("Vobiz", config(None)).await;
    let app_id = cfg["credentials"]["application_id"].as_str().unwrap();
    // The inbound router acknowledges and ignores hangups (decision 5).
    assert_eq!(vobiz.hangup_url(app_id).as_deref(), Some(WEBHOOK));
    let workflow = app.create_workflow("Support").await;
    let body = json!({"address": NUMBER, "inbound_workflow_id": workflow["id"]});
    let created = app.create_number(&cfg["id"], body).await;
    assert_honest(&created, &vobiz, NUMBER);
    assert_eq!(created["provider_sync"]["ok"], true);
}
