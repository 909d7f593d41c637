//! The sync engine against a fake Twilio (PROVIDERS.md §4–§5, API.md §5.4–§5.7,
//! CARRIER-AUDIT.md T1/T2 and decision 2).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use wiremock::{Request, Respond, ResponseTemplate};

use crate::helpers::{assert_honest, numbers_path, CarrierSetup, MockCarrier, RoutesCalls, SYNC_TIMEOUT_MS, WEBHOOK};

pub(crate) const SID: &str = "AC0123456789abcdef0123456789abcd";
pub(crate) const TOKEN: &str = "twilio-token-0123456789";
const BASIC: &str = "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2Q6dHdpbGlvLXRva2VuLTAxMjM0NTY3ODk=";
pub(crate) const NUMBER: &str = "+14155550100";
const LOOKUP: &str = "^/2010-04-01/Accounts/AC0123456789abcdef0123456789abcd/IncomingPhoneNumbers.json$";
const UPDATE: &str = "^/2010-04-01/Accounts/AC0123456789abcdef0123456789abcd/IncomingPhoneNumbers/PN123.json$";
/// Every request of the fake's account.
const ACCOUNT: &str = "^/2010-04-01/Accounts/AC0123456789abcdef0123456789abcd/";

/// One IncomingPhoneNumber resource, with the fields that decide where its calls go.
#[derive(Clone, Default)]
struct IncomingNumber {
    sid: String,
    phone_number: String,
    /// Empty when unset.
    voice_url: String,
    voice_method: String,
    voice_application_sid: Option<String>,
    trunk_sid: Option<String>,
}

impl IncomingNumber {
    fn new(sid: &str, phone_number: &str) -> IncomingNumber {
        IncomingNumber {
            sid: sid.into(),
            phone_number: phone_number.into(),
            // VoiceMethod "defaults to POST": https://www.twilio.com/docs/phone-numbers/api/incomingphonenumber-resource
            voice_method: "POST".into(),
            ..IncomingNumber::default()
        }
    }

    /// As the list example of the docs shows it: an unset URL and trunk are
    /// `null`, an unset application is `""` (https://www.twilio.com/docs/phone-numbers/api/incomingphonenumber-resource).
    fn to_json(&self) -> Value {
        json!({
            "sid": self.sid,
            "account_sid": SID,
            "phone_number": self.phone_number,
            "voice_url": (!self.voice_url.is_empty()).then_some(&self.voice_url),
            "voice_method": self.voice_method,
            "voice_application_sid": self.voice_application_sid.clone().unwrap_or_default(),
            "trunk_sid": self.trunk_sid,
        })
    }
}

/// A Twilio account that keeps its numbers and answers the IncomingPhoneNumber
/// list and update requests as Twilio documents them.
#[derive(Clone, Default)]
pub(crate) struct FakeTwilio {
    numbers: Arc<Mutex<Vec<IncomingNumber>>>,
}

impl FakeTwilio {
    /// An account holding `NUMBER` (PN123) and +14155550999 (PN999), both unrouted.
    pub(crate) fn owning() -> FakeTwilio {
        let fake = FakeTwilio::default();
        fake.add(IncomingNumber::new("PN999", "+14155550999"));
        fake.add(IncomingNumber::new("PN123", NUMBER));
        fake
    }

    fn add(&self, number: IncomingNumber) {
        self.numbers.lock().unwrap().push(number);
    }

    fn number(&self, e164: &str) -> Option<IncomingNumber> {
        self.numbers
            .lock()
            .unwrap()
            .iter()
            .find(|n| n.phone_number == e164)
            .cloned()
    }

    pub(crate) async fn mount(&self, carrier: &MockCarrier) {
        carrier.serve("GET", ACCOUNT, self.clone()).await;
        carrier.serve("POST", ACCOUNT, self.clone()).await;
    }

    /// PhoneNumber: "You can specify partial numbers and use '*' as a
    /// wildcard for any digit" (https://www.twilio.com/docs/phone-numbers/api/incomingphonenumber-resource).
    /// The value is form-decoded first, so a literal `+` arrives as a space
    /// and matches no number.
    fn list(&self, request: &Request) -> ResponseTemplate {
        let pattern = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "PhoneNumber")
            .map(|(_, v)| v.into_owned());
        let numbers = self.numbers.lock().unwrap();
        let listed: Vec<Value> = numbers
            .iter()
            .filter(|n| pattern.as_deref().is_none_or(|p| partial_match(p, &n.phone_number)))
            .map(IncomingNumber::to_json)
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({
            "incoming_phone_numbers": listed, "page": 0, "page_size": 50, "next_page_uri": null
        }))
    }

    /// Update: form fields; VoiceMethod "Can be: GET or POST"; "Setting a
    /// `trunk_sid` will automatically delete your `voice_application_sid` and
    /// vice versa" (https://www.twilio.com/docs/phone-numbers/api/incomingphonenumber-resource).
    fn update(&self, sid: &str, request: &Request) -> ResponseTemplate {
        let mut numbers = self.numbers.lock().unwrap();
        let Some(number) = numbers.iter_mut().find(|n| n.sid == sid) else {
            return twilio_error(404, 20404, "The requested resource was not found");
        };
        let optional = |value: String| (!value.is_empty()).then_some(value);
        for (field, value) in url::form_urlencoded::parse(&request.body).into_owned() {
            match field.as_str() {
                "VoiceUrl" => number.voice_url = value,
                "VoiceMethod" if value == "GET" || value == "POST" => number.voice_method = value,
                "VoiceMethod" => return twilio_error(400, 21209, "VoiceMethod is not valid"),
                "VoiceApplicationSid" => {
                    number.voice_application_sid = optional(value);
                    number.trunk_sid = None;
                }
                "TrunkSid" => {
                    number.trunk_sid = optional(value);
                    number.voice_application_sid = None;
                }
                _ => {}
            }
        }
        ResponseTemplate::new(200).set_body_json(number.to_json())
    }
}

impl RoutesCalls for FakeTwilio {
    /// Where Twilio would send an inbound call to `e164` now: "If a
    /// `trunk_sid` is present, we ignore all of the voice urls and voice
    /// applications"; "The `voice_url` will not be used if a
    /// `voice_application_sid` or a `trunk_sid` is set" (https://www.twilio.com/docs/phone-numbers/api/incomingphonenumber-resource).
    /// A GET would not reach telebind's POST-only inbound route.
    fn inbound_url(&self, e164: &str) -> Option<String> {
        let number = self.number(e164)?;
        let overridden = number.trunk_sid.is_some() || number.voice_application_sid.is_some();
        (!overridden && !number.voice_url.is_empty() && number.voice_method == "POST").then_some(number.voice_url)
    }
}

impl Respond for FakeTwilio {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        // HTTP Basic auth with the Account SID and Auth Token: https://www.twilio.com/docs/usage/requests-to-twilio
        let authorized = request.headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(BASIC);
        if !authorized {
            return twilio_error(401, 20003, "Authenticate");
        }
        let path = request.url.path();
        let resource = path
            .rsplit_once("/IncomingPhoneNumbers/")
            .and_then(|(_, file)| file.strip_suffix(".json"));
        match (request.method.as_str(), resource) {
            ("GET", None) if path.ends_with("/IncomingPhoneNumbers.json") => self.list(request),
            ("POST", Some(sid)) => self.update(sid, request),
            _ => twilio_error(404, 20404, "The requested resource was not found"),
        }
    }
}

/// Twilio's error body.
fn twilio_error(status: u16, code: u32, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"code": code, "message": message, "status": status}))
}

fn partial_match(pattern: &str, number: &str) -> bool {
    let (pattern, number) = (pattern.as_bytes(), number.as_bytes());
    pattern.len() <= number.len()
        && number.windows(pattern.len()).any(|window| {
            window
                .iter()
                .zip(pattern)
                .all(|(n, p)| n == p || (*p == b'*' && n.is_ascii_digit()))
        })
}

/// A Twilio configuration on an account that owns `NUMBER`, and a workflow.
async fn setup() -> (CarrierSetup, FakeTwilio) {
    setup_with(FakeTwilio::owning()).await
}

async fn setup_with(twilio: FakeTwilio) -> (CarrierSetup, FakeTwilio) {
    let s = CarrierSetup::start(
        json!({"provider": "twilio", "account_sid": SID, "auth_token": TOKEN}),
        &[SID, TOKEN],
    )
    .await;
    twilio.mount(&s.carrier).await;
    (s, twilio)
}

fn form(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body).into_owned().collect()
}

fn is_lookup(request: &Request) -> bool {
    request.method.as_str() == "GET"
        && request.url.path().ends_with("/IncomingPhoneNumbers.json")
        && request
            .url
            .query_pairs()
            .any(|(k, v)| k == "PhoneNumber" && v == NUMBER)
}

#[tokio::test]
async fn binding_a_number_looks_it_up_then_posts_the_webhook() {
    let (s, twilio) = setup().await;
    let (_, path) = s
        .number(json!({"address": "(415) 555-0100", "country_code": "US"}))
        .await;
    let before = s.request_count().await;

    let updated = s
        .app
        .call(
            Method::PUT,
            &path,
            Some(json!({"inbound_workflow_id": s.workflow["id"]})),
            200,
        )
        .await;
    assert_eq!(updated["provider_sync"], json!({"ok": true, "message": null}));
    assert_honest(&updated["provider_sync"], &twilio, NUMBER);
    assert_eq!(updated["last_provider_sync"]["ok"], true);
    assert_eq!(updated["last_provider_sync"]["attached"], true);
    assert!(updated["last_provider_sync"]["at"].as_str().unwrap().ends_with('Z'));

    let requests = s.requests_after(before).await;
    assert_eq!(requests.len(), 2);
    assert!(
        is_lookup(&requests[0]),
        "the normalized number is looked up: {:?}",
        requests[0].url
    );
    assert_eq!(requests[1].method.as_str(), "POST");
    assert!(requests[1].url.path().ends_with("/IncomingPhoneNumbers/PN123.json"));
    assert_eq!(
        form(&requests[1]),
        [
            ("VoiceUrl".into(), WEBHOOK.into()),
            ("VoiceMethod".into(), "POST".into())
        ]
    );
    for request in &requests {
        assert_eq!(request.headers.get("authorization").unwrap(), BASIC);
    }
}

#[tokio::test]
async fn clearing_the_workflow_empties_the_voice_url() {
    let (s, twilio) = setup().await;
    let path = s.bound_number(NUMBER).await;
    let before = s.request_count().await;
    let cleared = s
        .app
        .call(Method::PUT, &path, Some(json!({"clear_inbound_workflow": true})), 200)
        .await;
    assert_eq!(cleared["provider_sync"]["ok"], true);
    assert_eq!(cleared["last_provider_sync"]["attached"], false);
    let requests = s.requests_after(before).await;
    assert_eq!(
        form(requests.last().unwrap()),
        [("VoiceUrl".to_string(), String::new())]
    );
    assert_eq!(twilio.inbound_url(NUMBER), None);
}

#[tokio::test]
async fn deactivating_a_bound_number_detaches_it() {
    let (s, twilio) = setup().await;
    let path = s.bound_number(NUMBER).await;
    let inactive = s
        .app
        .call(Method::PUT, &path, Some(json!({"is_active": false})), 200)
        .await;
    assert_eq!(inactive["last_provider_sync"]["attached"], false);
    let requests = s.carrier.requests().await;
    assert_eq!(
        form(requests.last().unwrap()),
        [("VoiceUrl".to_string(), String::new())]
    );
    assert_eq!(twilio.inbound_url(NUMBER), None);
}

#[tokio::test]
async fn a_label_only_edit_makes_no_carrier_request() {
    let (s, _) = setup().await;
    let path = s.bound_number(NUMBER).await;
    let before = s.request_count().await;
    let edited = s
        .app
        .call(
            Method::PUT,
            &path,
            Some(json!({"label": "Front desk", "extra_metadata": {"x": 1}, "is_active": true})),
            200,
        )
        .await;
    assert_eq!(edited["provider_sync"], Value::Null);
    assert_eq!(edited["label"], "Front desk");
    assert_eq!(s.requests_after(before).await.len(), 0);
}

/// The carrier misbehaving in the ways a push must survive.
enum Failure {
    ServerError,
    Garbage,
    Hang,
}

async fn an_update_survives(failure: Failure) {
    let (s, _) = setup().await;
    let (_, path) = s.number(json!({"address": NUMBER})).await;
    s.carrier.server.reset().await;
    match failure {
        Failure::ServerError => {
            s.carrier
                .answer("GET", LOOKUP, 500, "upstream exploded", Duration::ZERO)
                .await
        }
        Failure::Garbage => {
            s.carrier
                .answer("GET", LOOKUP, 200, "<html>not json", Duration::ZERO)
                .await
        }
        Failure::Hang => {
            s.carrier
                .answer("GET", LOOKUP, 200, json!({}), Duration::from_secs(10))
                .await
        }
    }
    let started = Instant::now();
    let updated = s
        .app
        .call(
            Method::PUT,
            &path,
            Some(json!({"inbound_workflow_id": s.workflow["id"]})),
            200,
        )
        .await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(SYNC_TIMEOUT_MS + 800),
        "answered in {elapsed:?}"
    );
    assert_eq!(updated["inbound_workflow_id"], s.workflow["id"], "the row changed");
    assert_eq!(updated["provider_sync"]["ok"], false);
    let message = updated["provider_sync"]["message"].as_str().unwrap();
    assert!(message.starts_with("Twilio lookup failed: "), "{message}");
    assert!(!message.contains(TOKEN));
    let read = s.app.call(Method::GET, &path, None, 200).await;
    assert_eq!(read["last_provider_sync"]["ok"], false);
    assert_eq!(read["last_provider_sync"]["message"], message);
    assert_eq!(read["inbound_workflow_id"], s.workflow["id"]);
}

#[tokio::test]
async fn a_carrier_answering_500_fails_the_push_not_the_update() {
    an_update_survives(Failure::ServerError).await;
}

#[tokio::test]
async fn a_carrier_answering_garbage_fails_the_push_not_the_update() {
    an_update_survives(Failure::Garbage).await;
}

#[tokio::test]
async fn a_carrier_that_never_answers_fails_the_push_within_the_deadline() {
    an_update_survives(Failure::Hang).await;
}

#[tokio::test]
async fn a_refused_connection_fails_the_push_not_the_update() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = crate::helpers::spawn_app_with(|c| {
        c.providers.twilio_base_url = url;
        c.sync.verify_ownership = false;
    })
    .await;
    let cfg = app
        .create_config(
            "T",
            json!({"provider": "twilio", "account_sid": SID, "auth_token": TOKEN}),
        )
        .await["id"]
        .clone();
    let workflow = app.create_workflow("W").await;
    let created = app
        .create_number(&cfg, json!({"address": NUMBER, "inbound_workflow_id": workflow["id"]}))
        .await;
    assert_eq!(created["provider_sync"]["ok"], false, "{created}");
    assert_eq!(created["inbound_workflow_id"], workflow["id"]);
}

#[tokio::test]
async fn a_failed_push_is_retried_by_the_next_edit() {
    let (s, twilio) = setup().await;
    let (_, path) = s.number(json!({"address": NUMBER})).await;
    s.carrier.server.reset().await;
    s.carrier.answer("GET", LOOKUP, 503, "busy", Duration::ZERO).await;
    let failed = s
        .app
        .call(
            Method::PUT,
            &path,
            Some(json!({"inbound_workflow_id": s.workflow["id"]})),
            200,
        )
        .await;
    assert_eq!(failed["provider_sync"]["ok"], false);
    s.carrier.server.reset().await;
    twilio.mount(&s.carrier).await;
    let retried = s
        .app
        .call(Method::PUT, &path, Some(json!({"label": "again"})), 200)
        .await;
    assert_eq!(retried["provider_sync"], json!({"ok": true, "message": null}));
    assert_honest(&retried["provider_sync"], &twilio, NUMBER);
    assert_eq!(s.request_count().await, 2, "lookup and POST");
}

#[tokio::test]
async fn a_hanging_carrier_does_not_hold_up_other_requests() {
    let (s, _) = setup().await;
    let (_, slow) = s.number(json!({"address": NUMBER})).await;
    let (_, other) = s.number(json!({"address": "+14155550999"})).await;
    s.carrier.server.reset().await;
    s.carrier
        .answer("GET", LOOKUP, 200, json!({}), Duration::from_secs(10))
        .await;

    let hanging = s.app.call(
        Method::PUT,
        &slow,
        Some(json!({"inbound_workflow_id": s.workflow["id"]})),
        200,
    );
    let others = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        for _ in 0..5 {
            s.app.call(Method::GET, &other, None, 200).await;
            s.app.call(Method::GET, &numbers_path(&s.cfg), None, 200).await;
            s.app
                .call(Method::PUT, &other, Some(json!({"label": "busy day"})), 200)
                .await;
        }
        started.elapsed()
    };
    let (pushed, elapsed) = tokio::join!(hanging, others);
    assert_eq!(pushed["provider_sync"]["ok"], false);
    assert!(
        elapsed < Duration::from_millis(SYNC_TIMEOUT_MS / 2),
        "others waited {elapsed:?}"
    );
}

#[tokio::test]
async fn deleting_a_bound_number_detaches_it_first_and_keeps_it_when_that_fails() {
    let (s, _) = setup().await;
    let path = s.bound_number(NUMBER).await;
    s.carrier.server.reset().await;
    s.carrier
        .answer(
            "GET",
            LOOKUP,
            200,
            json!({"incoming_phone_numbers": [{"sid": "PN123", "phone_number": NUMBER}]}),
            Duration::ZERO,
        )
        .await;
    s.carrier
        .answer("POST", UPDATE, 500, "cannot update", Duration::ZERO)
        .await;

    let refused = s.app.call(Method::DELETE, &path, None, 502).await;
    assert_eq!(refused, json!({"detail": "Twilio API 500: cannot update"}));
    assert_eq!(
        s.app.call(Method::GET, &path, None, 200).await["last_provider_sync"]["ok"],
        false,
        "row kept"
    );

    let forced = s
        .app
        .call(Method::DELETE, &format!("{path}?force=true"), None, 200)
        .await;
    assert_eq!(forced["message"], "Phone number deleted");
    assert_eq!(forced["provider_sync"]["ok"], false);
    s.app.call(Method::GET, &path, None, 404).await;
    let detach = s
        .carrier
        .requests()
        .await
        .into_iter()
        .rfind(|r| r.method.as_str() == "POST")
        .unwrap();
    assert_eq!(form(&detach), [("VoiceUrl".to_string(), String::new())]);
}

#[tokio::test]
async fn deleting_a_bound_number_detaches_it() {
    let (s, twilio) = setup().await;
    let path = s.bound_number(NUMBER).await;
    let deleted = s.app.call(Method::DELETE, &path, None, 200).await;
    assert_eq!(
        deleted,
        json!({"message": "Phone number deleted", "provider_sync": {"ok": true, "message": null}})
    );
    assert_eq!(twilio.inbound_url(NUMBER), None);
}

#[tokio::test]
async fn deleting_a_never_bound_number_makes_no_carrier_request() {
    let (s, _) = setup().await;
    let (_, path) = s.number(json!({"address": NUMBER})).await;
    let before = s.request_count().await;
    let deleted = s.app.call(Method::DELETE, &path, None, 200).await;
    assert_eq!(
        deleted,
        json!({"message": "Phone number deleted", "provider_sync": null})
    );
    assert_eq!(s.requests_after(before).await.len(), 0);
}

#[tokio::test]
async fn creating_a_bound_number_checks_ownership_then_attaches() {
    let (s, twilio) = setup().await;
    let (created, _) = s
        .number(json!({"address": NUMBER, "inbound_workflow_id": s.workflow["id"]}))
        .await;
    assert_eq!(created["provider_sync"], json!({"ok": true, "message": null}));
    assert_honest(&created["provider_sync"], &twilio, NUMBER);
    let requests = s.carrier.requests().await;
    let kinds: Vec<&str> = requests.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(kinds, ["GET", "GET", "POST"], "ownership, lookup, attach");
    assert!(is_lookup(&requests[0]));
}

#[tokio::test]
async fn a_number_the_account_does_not_own_is_refused_with_400() {
    let (s, _) = setup().await;
    let answer = s
        .app
        .call(
            Method::POST,
            &numbers_path(&s.cfg),
            Some(json!({"address": "+14155550123"})),
            400,
        )
        .await;
    let detail = answer["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("Phone number +14155550123 is not owned by this Twilio account ("),
        "{detail}"
    );
    assert!(
        detail.ends_with("abcd). Add it in the Twilio console first."),
        "{detail}"
    );
    assert!(!detail.contains(SID), "the SID is masked");
    assert_eq!(
        s.app.call(Method::GET, &numbers_path(&s.cfg), None, 200).await["phone_numbers"],
        json!([])
    );
}

#[tokio::test]
async fn a_failed_ownership_lookup_is_a_502_and_nothing_is_stored() {
    let (s, _) = setup().await;
    s.carrier.server.reset().await;
    s.carrier
        .answer("GET", LOOKUP, 500, "lookup broke", Duration::ZERO)
        .await;
    let answer = s
        .app
        .call(
            Method::POST,
            &numbers_path(&s.cfg),
            Some(json!({"address": NUMBER})),
            502,
        )
        .await;
    assert_eq!(answer, json!({"detail": "Twilio API 500: lookup broke"}));
    assert_eq!(
        s.app.call(Method::GET, &numbers_path(&s.cfg), None, 200).await["phone_numbers"],
        json!([])
    );
}

#[tokio::test]
async fn sync_pushes_the_current_binding_again() {
    let (s, twilio) = setup().await;
    let path = s.bound_number(NUMBER).await;
    let before = s.request_count().await;
    let synced = s.app.call(Method::POST, &format!("{path}/sync"), None, 200).await;
    assert_eq!(synced["provider_sync"], json!({"ok": true, "message": null}));
    assert_honest(&synced["provider_sync"], &twilio, NUMBER);
    let requests = s.requests_after(before).await;
    assert_eq!(
        form(&requests[1]),
        [
            ("VoiceUrl".into(), WEBHOOK.into()),
            ("VoiceMethod".into(), "POST".into())
        ]
    );
}

/// Twilio applying each update at once and answering it late, as a slow
/// network or a busy API would.
struct AnswersUpdatesLate(FakeTwilio);

impl Respond for AnswersUpdatesLate {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.respond(request).set_delay(Duration::from_millis(400))
    }
}

/// The clear lands while the bind's push is in flight: by itself it would
/// push nothing (the carrier was last told "not attached"), but that push
/// read the state the clear replaced, so the clear pushes after it and
/// answers with the carrier in the stored state.
#[tokio::test]
async fn a_clear_that_lands_during_the_bind_push_answers_once_the_carrier_has_it() {
    let twilio = FakeTwilio::owning();
    let s = CarrierSetup::start(
        json!({"provider": "twilio", "account_sid": SID, "auth_token": TOKEN}),
        &[SID, TOKEN],
    )
    .await;
    s.carrier.serve("GET", ACCOUNT, twilio.clone()).await;
    s.carrier
        .serve("POST", ACCOUNT, AnswersUpdatesLate(twilio.clone()))
        .await;
    let (_, path) = s.number(json!({"address": NUMBER})).await;

    let bind = s.app.call(
        Method::PUT,
        &path,
        Some(json!({"inbound_workflow_id": s.workflow["id"]})),
        200,
    );
    let clear = async {
        // The carrier has applied the bind; its answer is still on the way.
        wait_for(|| twilio.inbound_url(NUMBER).is_some(), "the bind reaches Twilio").await;
        s.app
            .call(Method::PUT, &path, Some(json!({"clear_inbound_workflow": true})), 200)
            .await
    };
    let (_, cleared) = tokio::join!(bind, clear);
    assert_eq!(cleared["inbound_workflow_id"], Value::Null);
    assert_eq!(cleared["provider_sync"], json!({"ok": true, "message": null}));
    assert_eq!(cleared["last_provider_sync"]["attached"], false);
    assert_eq!(twilio.inbound_url(NUMBER), None, "answered before Twilio was told");
}

/// Waits (up to 10 s) for `done`, polling.
async fn wait_for(done: impl Fn() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn after_concurrent_updates_the_carrier_holds_the_final_stored_binding() {
    let (s, twilio) = setup().await;
    let (_, path) = s.number(json!({"address": NUMBER})).await;
    let updates = (0..12).map(|i| {
        let body = if i % 2 == 0 {
            json!({"inbound_workflow_id": s.workflow["id"]})
        } else {
            json!({"clear_inbound_workflow": true})
        };
        s.app.call(Method::PUT, &path, Some(body), 200)
    });
    futures_util::future::join_all(updates).await;
    let stored = s.app.call(Method::GET, &path, None, 200).await;
    let expected = (!stored["inbound_workflow_id"].is_null()).then_some(WEBHOOK);
    assert_eq!(twilio.inbound_url(NUMBER).as_deref(), expected, "stored: {stored}");
    assert_eq!(
        stored["last_provider_sync"]["attached"],
        !stored["inbound_workflow_id"].is_null()
    );
}

/// `NUMBER` routed by a SIP trunk or a TwiML App: binding it is ok:false with
/// decision 2's message, leaves the number as it was, and succeeds once the
/// owner has detached it in Twilio and syncs again.
async fn an_overridden_number_is_not_claimed(trunk: Option<&str>, app: Option<&str>, router: &str) {
    let twilio = FakeTwilio::default();
    twilio.add(IncomingNumber {
        voice_url: "https://other.example/voice".into(),
        voice_application_sid: app.map(Into::into),
        trunk_sid: trunk.map(Into::into),
        ..IncomingNumber::new("PN123", NUMBER)
    });
    let (s, twilio) = setup_with(twilio).await;
    let path = s.unbound_number(NUMBER).await;
    let before = s.request_count().await;

    let message = s.failed_bind(&path).await;
    assert_eq!(
        message,
        format!("Twilio number {NUMBER} is routed by {router}, so Twilio ignores its Voice URL. Detach it in Twilio, then sync again.")
    );
    let requests = s.requests_after(before).await;
    assert!(
        requests.iter().all(|r| r.method.as_str() == "GET"),
        "telebind changes nothing on a number it does not route"
    );
    let untouched = twilio.number(NUMBER).unwrap();
    assert_eq!(
        (
            untouched.trunk_sid.as_deref(),
            untouched.voice_application_sid.as_deref()
        ),
        (trunk, app)
    );
    assert_eq!(untouched.voice_url, "https://other.example/voice");
    assert_eq!(twilio.inbound_url(NUMBER), None);

    // The owner detaches the number in Twilio and syncs again.
    twilio.numbers.lock().unwrap()[0] = IncomingNumber {
        voice_url: "https://other.example/voice".into(),
        ..IncomingNumber::new("PN123", NUMBER)
    };
    let synced = s.app.call(Method::POST, &format!("{path}/sync"), None, 200).await;
    assert_eq!(synced["provider_sync"], json!({"ok": true, "message": null}));
    assert_honest(&synced["provider_sync"], &twilio, NUMBER);
}

#[tokio::test]
async fn binding_a_number_on_a_sip_trunk_is_refused_and_leaves_the_trunk() {
    let trunk = "TK0123456789abcdef0123456789abcdef";
    an_overridden_number_is_not_claimed(Some(trunk), None, &format!("SIP trunk {trunk}")).await;
}

#[tokio::test]
async fn binding_a_number_on_a_twiml_app_is_refused_and_leaves_the_app() {
    let app = "AP0123456789abcdef0123456789abcdef";
    an_overridden_number_is_not_claimed(None, Some(app), &format!("TwiML App {app}")).await;
}

#[tokio::test]
async fn a_lookup_showing_both_a_trunk_and_an_app_names_the_trunk() {
    // Twilio documents the two as exclusive, and the trunk as overriding the
    // app, so a listing that shows both is answered by naming the trunk.
    let (s, _) = setup().await;
    let path = s.unbound_number(NUMBER).await;
    s.carrier.server.reset().await;
    let listed = json!({"incoming_phone_numbers": [{"sid": "PN123", "phone_number": NUMBER,
        "voice_application_sid": "AP1", "trunk_sid": "TK1"}]});
    s.carrier.answer("GET", LOOKUP, 200, listed, Duration::ZERO).await;
    let message = s.failed_bind(&path).await;
    assert!(
        message.starts_with(&format!("Twilio number {NUMBER} is routed by SIP trunk TK1,")),
        "{message}"
    );
    assert_eq!(s.request_count().await, 1, "only the lookup");
}

#[tokio::test]
async fn the_fake_twilio_matches_partial_numbers_and_reads_a_literal_plus_as_a_space() {
    let carrier = MockCarrier::start().await;
    FakeTwilio::owning().mount(&carrier).await;
    let list = |query: &'static str| {
        let url = format!(
            "{}/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json?{query}",
            carrier.url()
        );
        async move {
            let answer = reqwest::Client::new()
                .get(url)
                .header("authorization", BASIC)
                .send()
                .await
                .unwrap();
            let body: Value = answer.json().await.unwrap();
            let numbers = body["incoming_phone_numbers"].as_array().unwrap().clone();
            numbers
                .iter()
                .map(|n| n["sid"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list("PhoneNumber=%2B14155550100").await, ["PN123"]);
    assert_eq!(list("PhoneNumber=+14155550100").await, Vec::<String>::new());
    assert_eq!(list("PhoneNumber=41555501*0").await, ["PN123"]);
    assert_eq!(list("PhoneNumber=415555").await, ["PN999", "PN123"]);
}
