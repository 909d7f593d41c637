//! No secret in any log or answer (README, "Secrets in logs"): every
//! carrier operation against a carrier that echoes the whole request back,
//! in several encodings, while this binary logs at trace level; then the
//! answers and the log of the whole run are scanned for every form of every
//! secret.

use std::sync::atomic::{AtomicUsize, Ordering};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};
use wiremock::matchers::any;
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::helpers::{
    assert_no_secret_form, captured_log, numbers_path, spawn_app_with, MockCarrier, TestApp, CONFIGS, SYNC_TIMEOUT_MS,
};
use crate::secrets::{every_provider, Fixture};

/// Shows up in an answer only if the echo reached it.
const MARKER: &str = "echo-of-the-request";

/// A carrier, or a proxy in front of it, that refuses every request and
/// puts the request (its URL, `Authorization` header and body) in its error,
/// each time in the next of `ENCODINGS`, at the start of the body so that it
/// fits in the message telebind keeps. Cloudonix's domain lookup is
/// answered, so its configurations can be saved.
#[derive(Default)]
struct Echo(AtomicUsize);

/// How the echo writes the request: raw inside a JSON string (JSON-escaped
/// in the body), percent-encoded, base64, and JSON inside JSON.
const ENCODINGS: [&str; 4] = ["json", "percent", "base64", "json-in-json"];

impl Respond for Echo {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let authorization = request.headers.get("authorization").map(|v| v.to_str().unwrap_or(""));
        let text = format!(
            "{} {}\nauthorization: {}\n{}",
            request.method,
            request.url,
            authorization.unwrap_or("-"),
            String::from_utf8_lossy(&request.body)
        );
        let encoding = ENCODINGS[self.0.fetch_add(1, Ordering::SeqCst) % ENCODINGS.len()];
        let echoed = match encoding {
            "json" => text,
            "percent" => percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC).to_string(),
            "base64" => STANDARD.encode(&text),
            _ => json!({ "request": text }).to_string(),
        };
        // Written by hand so that the echo comes first, whatever the key order.
        let body = format!(
            "{{\"message\": {}, \"uuid\": \"dom-uuid-1\", \"domain\": \"acme.cloudonix.net\"}}",
            json!(format!("{MARKER} {encoding}: {echoed}"))
        );
        let path = request.url.path();
        let domain_lookup = request.method.as_str() == "GET"
            && path.starts_with("/customers/self/domains/")
            && path.matches('/').count() == 4;
        ResponseTemplate::new(if domain_lookup { 200 } else { 400 }).set_body_raw(body, "application/json")
    }
}

async fn echoing_app(verify_ownership: bool) -> (TestApp, MockCarrier) {
    let carrier = MockCarrier::start().await;
    Mock::given(any())
        .respond_with(Echo::default())
        .mount(&carrier.server)
        .await;
    let url = carrier.url();
    let app = spawn_app_with(|c| {
        c.sync.timeout_ms = SYNC_TIMEOUT_MS;
        c.sync.verify_ownership = verify_ownership;
        for (_, base) in c.providers.base_urls_mut() {
            *base = url.clone();
        }
    })
    .await;
    (app, carrier)
}

/// The raw text of an answer.
async fn answer(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> String {
    app.send(method, path, Some(&app.key), body).await.text().await.unwrap()
}

/// What a provider's configuration without its application makes telebind
/// ask the carrier at save time.
fn without_application(fixture: &Fixture) -> Value {
    let mut config = fixture.config.clone();
    if let Some(map) = config.as_object_mut() {
        for key in ["application_id", "connection_id", "application_name"] {
            map.remove(key);
        }
    }
    config
}

#[tokio::test]
async fn echoed_requests_leave_no_secret_in_answers_stored_messages_or_the_trace_log() {
    let mut answers = Vec::new();
    let (checked, _c1) = echoing_app(true).await;
    let (pushed, carrier) = echoing_app(false).await;
    let workflow = pushed.create_workflow("W").await;
    for fixture in every_provider() {
        // Save-time provisioning: the save is refused with the carrier's words.
        let provider = fixture.config["provider"].as_str().unwrap();
        let provisioned = json!({"name": format!("{provider} provisioned"), "config": without_application(&fixture)});
        answers.push(answer(&checked, Method::POST, CONFIGS, Some(provisioned)).await);
        for app in [&checked, &pushed] {
            let named = json!({"name": provider, "config": fixture.config});
            answers.push(answer(app, Method::POST, CONFIGS, Some(named)).await);
        }
        let listed: Value = serde_json::from_str(&answer(&pushed, Method::GET, CONFIGS, None).await).unwrap();
        let cfg = listed["configurations"].as_array().unwrap().last().unwrap()["id"].clone();
        let listed: Value = serde_json::from_str(&answer(&checked, Method::GET, CONFIGS, None).await).unwrap();
        let checked_cfg = listed["configurations"].as_array().unwrap().last().unwrap()["id"].clone();

        // The ownership check of a new number: refused with the carrier's words.
        let number = json!({"address": "+14155550100"});
        answers.push(answer(&checked, Method::POST, &numbers_path(&checked_cfg), Some(number)).await);

        // A bound number: every push fails with the carrier's words, which are stored.
        let bound = json!({"address": "+14155550100", "inbound_workflow_id": workflow["id"]});
        let created = answer(&pushed, Method::POST, &numbers_path(&cfg), Some(bound)).await;
        answers.push(created.clone());
        let Some(id) = serde_json::from_str::<Value>(&created)
            .ok()
            .and_then(|v| v.get("id").cloned())
        else {
            continue;
        };
        let path = format!("{}/{id}", numbers_path(&cfg));
        answers.push(answer(&pushed, Method::POST, &format!("{path}/sync"), None).await);
        answers.push(
            answer(
                &pushed,
                Method::PUT,
                &path,
                Some(json!({"clear_inbound_workflow": true})),
            )
            .await,
        );
        answers.push(answer(&pushed, Method::GET, &path, None).await);
        answers.push(answer(&pushed, Method::GET, &numbers_path(&cfg), None).await);
        answers.push(
            answer(
                &pushed,
                Method::PUT,
                &path,
                Some(json!({"inbound_workflow_id": workflow["id"]})),
            )
            .await,
        );
        answers.push(answer(&pushed, Method::DELETE, &path, None).await);
        answers.push(answer(&pushed, Method::DELETE, &format!("{path}?force=true"), None).await);
    }
    let answers = answers.join("\n");
    for encoding in ENCODINGS {
        let seen = format!("{MARKER} {encoding}: ");
        assert!(
            answers.contains(&seen),
            "the {encoding} echo reached the answers: {answers}"
        );
    }
    assert!(
        answers.contains("Basic") || answers.contains("Bearer"),
        "authorization was echoed"
    );
    assert!(!carrier.requests().await.is_empty());

    let mut secrets = Vec::new();
    let mut users = Vec::new();
    for fixture in every_provider() {
        secrets.extend(fixture.secrets);
        secrets.extend(fixture.account);
        users.extend(fixture.account);
    }
    users.extend(["ari-app", "pbx-user-5ecret"]);
    assert_no_secret_form(&answers, &secrets, &users, "an answer");

    let log = captured_log().read();
    assert!(
        log.contains("ureq"),
        "the HTTP client's own lines are in the captured log"
    );
    assert!(
        log.contains(MARKER),
        "the pushes' failures are logged with the carrier's words"
    );
    assert!(!log.contains("ureq_proto"), "no byte dump of the wire is logged");
    assert_no_secret_form(&log, &secrets, &users, "the trace log");
}

/// `.ci/run` runs the whole suite at `RUST_LOG=trace` into the file named by
/// `TELEBIND_TEST_LOG`, then this scan of it: no carrier test, whatever it
/// made a carrier answer, left a credential in the log.
#[test]
#[ignore = "run by .ci/run after the whole suite has written its log"]
fn the_trace_log_of_the_whole_run_holds_no_secret() {
    let path = std::env::var_os("TELEBIND_TEST_LOG").expect("TELEBIND_TEST_LOG names the log of the run");
    let log = String::from_utf8_lossy(&std::fs::read(&path).expect("the run's log")).into_owned();
    assert!(log.contains("ureq"), "the log of a whole run at trace level");
    let mut secrets = vec![
        crate::twilio::SID,
        crate::twilio::TOKEN,
        crate::vobiz::AUTH_ID,
        crate::vobiz::TOKEN,
        crate::telnyx::KEY,
        crate::cloudonix::TOKEN,
    ];
    secrets.extend(crate::vonage::SECRETS);
    secrets.extend(crate::plivo::SECRETS);
    let mut users = vec![
        crate::twilio::SID,
        crate::vobiz::AUTH_ID,
        crate::vonage::API_KEY,
        crate::plivo::AUTH_ID,
    ];
    for fixture in every_provider() {
        secrets.extend(fixture.secrets);
        secrets.extend(fixture.account);
        users.extend(fixture.account);
    }
    assert_no_secret_form(&log, &secrets, &users, "the log of the whole run");
    eprintln!("scanned {} bytes of trace log for {} secrets", log.len(), secrets.len());
}
