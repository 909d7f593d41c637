//! The inbound router for Telnyx, Vonage and Cloudonix through the real
//! server (INBOUND.md §8 items 1, 3, 5, 6, 7, 8, 10; §4.4–§4.6), against a
//! local mock of Telnyx's Call Control API. Signatures are made here with
//! the vectors' keys and pinned by the §4 vectors; the clock is at the
//! vectors' 1767225600.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use telebind::config::Config;
use telebind::inbound::Clock;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::helpers::{set_carrier_urls, spawn_app_at, MockCarrier, TestApp};
use crate::inbound::{
    assert_well_formed, hmac256, logged_calls, BASE, DECLARATION, REJECT_LINE, RUN, TEMPLATE, WS_SECRET,
};

/// The vectors' clock: 2026-01-01T00:00:00Z.
const NOW: i64 = 1767225600;

const TELNYX_API_KEY: &str = "KEY-telnyx-0123456789-secret";
const TELNYX_CONNECTION: &str = "1234567890123456789";
const TELNYX_PUBLIC_KEY: &str = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=";
const TELNYX_BODY: &str = r#"{"data":{"event_type":"call.initiated","id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0","occurred_at":"2026-01-01T00:00:00.000000Z","payload":{"call_control_id":"v3:call-control-id-0001","call_leg_id":"leg-0001","call_session_id":"session-0001","client_state":null,"connection_id":"1234567890123456789","direction":"incoming","from":"+14155550199","start_time":"2026-01-01T00:00:00.000000Z","state":"parked","to":"+14155550100"},"record_type":"event"},"meta":{"attempt":1,"delivered_to":"https://telebind.example.com/api/v1/telephony/inbound/run"}}"#;
const TELNYX_SIG: &str = "ZNx3q+/VmaYVvXHU7xS2u+L5yqVslshC1Y65KYbdV0N0OXmpgfTZ3vdxlzqQxcMUNW3k8jTqupozndWUT59aDg==";
const TELNYX_CALL: &str = "v3:call-control-id-0001";
/// Call Control commands, as the mock sees their paths.
const COMMANDS: &str = "^/v2/calls/[^/]+/actions/(answer|reject)$";

const VONAGE_SECRET: &str = "vonage-signature-secret-0123456789";
const VONAGE_API_KEY: &str = "a1b2c3d4";
const VONAGE_APPLICATION: &str = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab";
const VONAGE_BODY: &str = r#"{"from":"14155550199","to":"14155550100","uuid":"aaaaaaaa-bbbb-cccc-dddd-000000000001","conversation_uuid":"CON-aaaaaaaa-bbbb-cccc-dddd-000000000002","region_url":"https://api-us-3.vonage.com"}"#;
const VONAGE_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3NjcyMjU2MDAsImp0aSI6IjBiMGIwYjBiLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMyIsImlzcyI6IlZvbmFnZSIsInBheWxvYWRfaGFzaCI6ImQzOTE0ZDJkMTM4NDI5OGE2ZDExZDNiMjY1OWZkNjJjYmU3N2ZjNWFjYWQ2ZDQ3YmY3ZWM4NDNiNmFhYmNhY2UiLCJhcGlfa2V5IjoiYTFiMmMzZDQiLCJhcHBsaWNhdGlvbl9pZCI6ImFhYWFhYWFhLWJiYmItY2NjYy1kZGRkLTAxMjM0NTY3ODlhYiJ9.hrzBUIkOzk6Wzk-_BnioioG28YqGPv9bmPXFvxv_DCE";
const VONAGE_UUID: &str = "aaaaaaaa-bbbb-cccc-dddd-000000000001";

const CX_KEY: &str = "XI0123456789abcdef";
const CX_DOMAIN: &str = "acme.cloudonix.net";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Carrier {
    Telnyx,
    Vonage,
    Cloudonix,
}

const CARRIERS: [Carrier; 3] = [Carrier::Telnyx, Carrier::Vonage, Carrier::Cloudonix];

// ------------------------------------------------------------ the mock Telnyx API

/// Telnyx's Call Control commands as documented
/// (https://developers.telnyx.com/api-reference/call-commands/answer-call.md,
/// …/reject-a-call.md): the API key as a Bearer token or 401; "Telnyx will
/// ignore any command with the same command_id for the same
/// call_control_id"; `{"data":{"result":"ok"}}`. Keeps the commands it
/// carried out (every request is also in the mock's record).
#[derive(Clone, Default)]
struct CallControl {
    seen: Arc<Mutex<HashSet<(String, String)>>>,
    done: Arc<Mutex<Vec<(String, String)>>>,
}

impl CallControl {
    /// `(call_control_id, action)` of each command carried out, in order.
    fn done(&self) -> Vec<(String, String)> {
        self.done.lock().unwrap().clone()
    }
}

impl Respond for CallControl {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let authorized = request.headers.get("authorization").and_then(|v| v.to_str().ok())
            == Some(format!("Bearer {TELNYX_API_KEY}").as_str());
        if !authorized {
            return ResponseTemplate::new(401)
                .set_body_json(json!({"errors": [{"code": "10009", "title": "Authentication failed"}]}));
        }
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return ResponseTemplate::new(422).set_body_json(json!({"errors": [{"title": "Invalid JSON"}]}));
        };
        let segments: Vec<&str> = request.url.path().split('/').collect();
        let (call, action) = (segments[3].to_string(), segments[5].to_string());
        let command_id = body["command_id"].as_str().unwrap_or_default().to_string();
        if command_id.is_empty() || self.seen.lock().unwrap().insert((call.clone(), command_id)) {
            self.done.lock().unwrap().push((call, action));
        }
        ResponseTemplate::new(200).set_body_json(json!({"data": {"result": "ok"}}))
    }
}

/// Call Control answering every command after `delay`.
async fn slow_call_control(carrier: &MockCarrier, delay: Duration) {
    carrier.server.reset().await;
    let ok = json!({"data": {"result": "ok"}});
    carrier.answer("POST", COMMANDS, 200, ok, delay).await;
}

/// The Call Control requests the mock received (binds' pushes aside).
async fn commands(carrier: &MockCarrier) -> Vec<Request> {
    carrier
        .requests()
        .await
        .into_iter()
        .filter(|r| r.url.path().starts_with("/v2/calls/"))
        .collect()
}

// ------------------------------------------------------------ set-up

/// A server at the vectors' public URL and clock, its carriers on a local
/// mock that serves Telnyx's Call Control and Cloudonix's domain lookup.
async fn router_with(configure: impl FnOnce(&mut Config)) -> (TestApp, MockCarrier, CallControl) {
    let carrier = MockCarrier::start().await;
    let control = CallControl::default();
    carrier.serve("POST", COMMANDS, control.clone()).await;
    carrier
        .answer(
            "GET",
            "^/customers/self/domains/acme\\.cloudonix\\.net$",
            200,
            json!({"uuid": "dom-uuid-1", "domain": CX_DOMAIN}),
            Duration::ZERO,
        )
        .await;
    let url = carrier.url();
    let app = spawn_app_at(Clock::Fixed(NOW), |c| {
        set_carrier_urls(c, &url);
        c.sync.verify_ownership = false;
        c.sync.timeout_ms = 1000;
        c.server.public_base_url = BASE.into();
        c.inbound.media_ws_url = TEMPLATE.into();
        c.inbound.ws_token_secret = WS_SECRET.into();
        configure(c);
    })
    .await;
    (app, carrier, control)
}

fn telnyx_config() -> Value {
    json!({"provider": "telnyx", "api_key": TELNYX_API_KEY, "connection_id": TELNYX_CONNECTION,
           "webhook_public_key": TELNYX_PUBLIC_KEY})
}

fn vonage_config() -> Value {
    json!({"provider": "vonage", "application_id": VONAGE_APPLICATION, "api_key": VONAGE_API_KEY,
           "api_secret": "vonage-api-secret-0123", "signature_secret": VONAGE_SECRET,
           "private_key": "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----"})
}

fn cloudonix_config() -> Value {
    json!({"provider": "cloudonix", "bearer_token": CX_KEY, "domain_id": "acme", "application_name": "telebind-app"})
}

fn config_of(carrier: Carrier) -> Value {
    match carrier {
        Carrier::Telnyx => telnyx_config(),
        Carrier::Vonage => vonage_config(),
        Carrier::Cloudonix => cloudonix_config(),
    }
}

/// One carrier line: its configuration, `+14155550100` bound to a workflow.
struct Line {
    app: TestApp,
    carrier: MockCarrier,
    control: CallControl,
    cfg: Value,
    workflow: Value,
}

async fn line(carrier: Carrier) -> Line {
    line_with(carrier, |_| {}).await
}

async fn line_with(carrier: Carrier, configure: impl FnOnce(&mut Config)) -> Line {
    let (app, mock, control) = router_with(configure).await;
    let cfg = app.create_config(&format!("{carrier:?}"), config_of(carrier)).await["id"].clone();
    let workflow = app.create_workflow("Support").await;
    let body = json!({"address": "+14155550100", "inbound_workflow_id": workflow["id"]});
    app.create_number(&cfg, body).await;
    Line {
        app,
        carrier: mock,
        control,
        cfg,
        workflow,
    }
}

// ------------------------------------------------------------ requests

/// A request as a carrier sends it: headers and a body.
struct Sent {
    headers: Vec<(&'static str, String)>,
    content_type: &'static str,
    body: String,
}

/// What came back: the status is asserted 200, the body parses as its
/// `Content-Type` says (§8.10).
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    content_type: String,
    body: String,
}

fn request(app: &TestApp, sent: &Sent) -> reqwest::RequestBuilder {
    let mut request = app
        .client
        .post(format!("{}{RUN}", app.address))
        .header("Content-Type", sent.content_type)
        .body(sent.body.clone());
    for (name, value) in &sent.headers {
        request = request.header(*name, value.as_str());
    }
    request
}

async fn send(app: &TestApp, sent: &Sent) -> Answer {
    let response = request(app, sent).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    let body = response.text().await.unwrap();
    match content_type.as_str() {
        "application/json" => {
            serde_json::from_str::<Value>(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
        }
        "application/xml" => assert_well_formed(&body),
        other => panic!("unexpected Content-Type {other}: {body}"),
    }
    Answer { content_type, body }
}

fn telnyx_key() -> SigningKey {
    let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
    SigningKey::from_bytes(&seed)
}

/// A Telnyx webhook of `body` at `timestamp`, signed by `key`.
fn telnyx_signed(key: &SigningKey, timestamp: i64, body: &str) -> Sent {
    let signature = key.sign(format!("{timestamp}|{body}").as_bytes());
    Sent {
        headers: vec![
            ("telnyx-signature-ed25519", STANDARD.encode(signature.to_bytes())),
            ("telnyx-timestamp", timestamp.to_string()),
        ],
        content_type: "application/json",
        body: body.to_string(),
    }
}

/// A Call Control event for call `call` of `connection` to `to`.
fn telnyx_event(event_type: &str, call: &str, connection: &str, to: &str) -> String {
    json!({"data": {"event_type": event_type, "id": format!("ev-{event_type}-{call}"), "record_type": "event",
        "payload": {"call_control_id": call, "connection_id": connection, "direction": "incoming",
                    "from": "+14155550199", "to": to, "state": "parked"}},
        "meta": {"attempt": 1}})
    .to_string()
}

fn telnyx_start(call: &str, to: &str) -> Sent {
    telnyx_signed(
        &telnyx_key(),
        NOW,
        &telnyx_event("call.initiated", call, TELNYX_CONNECTION, to),
    )
}

/// A Vonage token with `claims`, signed (HS256) with `secret`.
fn vonage_token(claims: &Value, secret: &str) -> String {
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(hmac256(secret, &signed)))
}

/// The claims Vonage signs `body` with.
fn vonage_claims(body: &str, jti: &str) -> Value {
    json!({"iat": NOW, "jti": jti, "iss": "Vonage", "payload_hash": hex::encode(Sha256::digest(body)),
           "api_key": VONAGE_API_KEY, "application_id": VONAGE_APPLICATION})
}

fn vonage_sent(token: &str, body: &str) -> Sent {
    Sent {
        headers: vec![("Authorization", format!("Bearer {token}"))],
        content_type: "application/json",
        body: body.to_string(),
    }
}

fn vonage_body(uuid: &str, to: &str) -> String {
    format!(
        r#"{{"from":"14155550199","to":"{to}","uuid":"{uuid}","conversation_uuid":"CON-{uuid}","region_url":"https://api-us-3.vonage.com"}}"#
    )
}

/// A Vonage answer webhook for `uuid` to `to`, signed with a fresh `jti`.
fn vonage_start(uuid: &str, to: &str, jti: &str) -> Sent {
    let body = vonage_body(uuid, to);
    vonage_sent(&vonage_token(&vonage_claims(&body, jti), VONAGE_SECRET), &body)
}

fn cloudonix_body(session: &str, to: &str, direction: &str) -> String {
    json!({"CallSid": format!("CA-{session}"), "Session": session, "Domain": CX_DOMAIN, "AccountSid": CX_DOMAIN,
           "ApiVersion": "2010-04-01", "From": "+14155550199", "To": to, "Direction": direction})
    .to_string()
}

fn cloudonix_sent(key: Option<&str>, body: &str) -> Sent {
    Sent {
        headers: key.map(|k| vec![("X-CX-APIKey", k.to_string())]).unwrap_or_default(),
        content_type: "application/json",
        body: body.to_string(),
    }
}

fn cloudonix_start(session: &str, to: &str) -> Sent {
    cloudonix_sent(Some(CX_KEY), &cloudonix_body(session, to, "inbound"))
}

/// A start of `carrier` for call `id` to `to`, correctly signed.
fn start(carrier: Carrier, id: &str, to: &str) -> Sent {
    match carrier {
        Carrier::Telnyx => telnyx_start(id, to),
        Carrier::Vonage => vonage_start(id, to, &format!("jti-{id}-{}", next_serial())),
        Carrier::Cloudonix => cloudonix_start(id, to),
    }
}

/// Fresh `jti`s for each Vonage request of a test.
fn next_serial() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

// ------------------------------------------------------------ expected documents

/// The media stream URL of call `call_ref` (org 1).
fn stream_url(workflow: &Value, call_ref: &Value) -> String {
    let token = hex::encode(hmac256(WS_SECRET, &format!("{workflow}:1:{call_ref}")));
    format!("wss://agent.example.com/ws/{workflow}/1/{call_ref}/{token}")
}

fn json_answer(value: Value) -> Answer {
    Answer {
        content_type: "application/json".into(),
        body: value.to_string(),
    }
}

fn xml_answer(inner: &str) -> Answer {
    Answer {
        content_type: "application/xml".into(),
        body: format!("{DECLARATION}{inner}"),
    }
}

/// The one pre-auth reject of each carrier, with the default line.
fn rejected(carrier: Carrier) -> Answer {
    match carrier {
        Carrier::Telnyx => telnyx_status("ok"),
        Carrier::Vonage => json_answer(json!([{"action": "talk", "text": REJECT_LINE}])),
        Carrier::Cloudonix => xml_answer(&format!(
            r#"<Response><Say voice="alice">{REJECT_LINE}</Say><Hangup/></Response>"#
        )),
    }
}

fn telnyx_status(status: &str) -> Answer {
    json_answer(json!({ "status": status }))
}

fn connected(carrier: Carrier, workflow: &Value, call: &Value) -> Answer {
    let url = stream_url(workflow, &call["id"]);
    match carrier {
        Carrier::Telnyx => telnyx_status("ok"),
        Carrier::Vonage => json_answer(
            json!([{"action": "connect", "endpoint": [{"type": "websocket", "uri": url,
            "content-type": "audio/l16;rate=16000",
            "headers": {"call_ref": call["id"].to_string(), "call_uuid": call["call_id"]}}]}]),
        ),
        Carrier::Cloudonix => xml_answer(&format!(
            r#"<Response><Connect><Stream url="{url}"></Stream></Connect><Pause length="40"/></Response>"#
        )),
    }
}

fn acknowledged(carrier: Carrier) -> Answer {
    match carrier {
        Carrier::Telnyx | Carrier::Vonage => json_answer(json!({})),
        Carrier::Cloudonix => xml_answer("<Response/>"),
    }
}

/// JSON documents compare as JSON: key order is not the contract.
fn same(a: &Answer, b: &Answer) -> bool {
    let parsed = |x: &Answer| serde_json::from_str::<Value>(&x.body).ok();
    a.content_type == b.content_type
        && match (parsed(a), parsed(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a.body == b.body,
        }
}

fn assert_same(got: &Answer, expected: &Answer, what: &str) {
    assert!(same(got, expected), "{what}: got {got:?}, expected {expected:?}");
}

// ------------------------------------------------------------ §8.1: Telnyx

#[tokio::test]
async fn the_telnyx_vector_is_answered_through_call_control_with_the_stream() {
    // The test's signer is the vector's: Ed25519 is deterministic.
    let vector = telnyx_signed(&telnyx_key(), NOW, TELNYX_BODY);
    assert_eq!(vector.headers[0].1, TELNYX_SIG);
    assert_eq!(
        STANDARD.encode(telnyx_key().verifying_key().as_bytes()),
        TELNYX_PUBLIC_KEY
    );

    let l = line(Carrier::Telnyx).await;
    let answer = send(&l.app, &vector).await;
    assert_eq!(answer, telnyx_status("ok"));
    let calls = logged_calls(&l.app).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["outcome"], "routed");
    assert_eq!(calls[0]["provider"], "telnyx");
    assert_eq!(calls[0]["call_id"], TELNYX_CALL);
    assert_eq!(calls[0]["telephony_configuration_id"], l.cfg);
    assert_eq!(calls[0]["to_normalized"], "+14155550100");

    let sent = commands(&l.carrier).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].url.path(), "/v2/calls/v3:call-control-id-0001/actions/answer");
    let bearer = format!("Bearer {TELNYX_API_KEY}");
    crate::helpers::assert_headers(
        &sent[0],
        &[
            ("authorization", bearer.as_str()),
            ("content-type", "application/json"),
            ("accept", "application/json"),
        ],
    );
    assert_eq!(
        crate::helpers::json_body(&sent[0]),
        json!({"stream_url": stream_url(&l.workflow["id"], &calls[0]["id"]), "stream_track": "inbound_track",
               "stream_bidirectional_mode": "rtp", "stream_bidirectional_codec": "PCMU",
               "command_id": "answer-v3:call-control-id-0001"})
    );
    assert_eq!(l.control.done(), [(TELNYX_CALL.to_string(), "answer".to_string())]);
}

#[tokio::test]
async fn a_flipped_telnyx_body_timestamp_or_key_is_refused_without_an_api_call() {
    let l = line(Carrier::Telnyx).await;
    let mut flipped_body = telnyx_signed(&telnyx_key(), NOW, TELNYX_BODY);
    flipped_body.body = TELNYX_BODY.replace("+14155550199", "+14155550198");
    let mut flipped_timestamp = telnyx_signed(&telnyx_key(), NOW, TELNYX_BODY);
    flipped_timestamp.headers[1].1 = (NOW + 1).to_string();
    let other_key = SigningKey::from_bytes(&[9; 32]);
    let cases = [
        ("a body byte", flipped_body),
        ("the signed timestamp", flipped_timestamp),
        (
            "signed 301 s ahead",
            telnyx_signed(&telnyx_key(), NOW + 301, TELNYX_BODY),
        ),
        ("signed 301 s ago", telnyx_signed(&telnyx_key(), NOW - 301, TELNYX_BODY)),
        ("another key", telnyx_signed(&other_key, NOW, TELNYX_BODY)),
    ];
    for (what, sent) in &cases {
        assert_eq!(send(&l.app, sent).await, rejected(Carrier::Telnyx), "{what}");
    }
    assert!(logged_calls(&l.app).await.is_empty());
    assert!(commands(&l.carrier).await.is_empty(), "no API call before auth");
    // The edges of the window hold.
    let at_edge = telnyx_signed(&telnyx_key(), NOW - 300, TELNYX_BODY);
    assert_eq!(send(&l.app, &at_edge).await, telnyx_status("ok"));
    assert_eq!(logged_calls(&l.app).await[0]["outcome"], "routed");
}

#[tokio::test]
async fn configurations_that_cannot_verify_fail_closed_with_the_carriers_reject() {
    for carrier in [Carrier::Telnyx, Carrier::Vonage] {
        let (app, mock, _) = router_with(|_| {}).await;
        let mut config = config_of(carrier);
        let key = match carrier {
            Carrier::Telnyx => "webhook_public_key",
            _ => "signature_secret",
        };
        config.as_object_mut().unwrap().remove(key);
        let cfg = app.create_config("Keyless", config).await["id"].clone();
        let workflow = app.create_workflow("W").await;
        app.create_number(
            &cfg,
            json!({"address": "+14155550100", "inbound_workflow_id": workflow["id"]}),
        )
        .await;
        let answer = send(&app, &start(carrier, "call-keyless", "+14155550100")).await;
        assert_eq!(answer, rejected(carrier), "{carrier:?}");
        assert!(logged_calls(&app).await.is_empty(), "{carrier:?}");
        assert!(commands(&mock).await.is_empty(), "{carrier:?}");
    }
}

// ------------------------------------------------------------ §8.1, §8.7: Vonage

#[tokio::test]
async fn the_vonage_vector_connects_the_call_to_a_websocket_in_ncco() {
    let l = line(Carrier::Vonage).await;
    let answer = send(&l.app, &vonage_sent(VONAGE_TOKEN, VONAGE_BODY)).await;
    let calls = logged_calls(&l.app).await;
    assert_eq!(calls.len(), 1);
    assert_same(
        &answer,
        &connected(Carrier::Vonage, &l.workflow["id"], &calls[0]),
        "vector",
    );
    assert_eq!(calls[0]["outcome"], "routed");
    assert_eq!(calls[0]["call_id"], VONAGE_UUID);
    assert_eq!(calls[0]["to_number"], "14155550100");
    assert_eq!(calls[0]["to_normalized"], "+14155550100");
}

#[tokio::test]
async fn vonage_refuses_unhashed_stale_replayed_and_unsigned_tokens_with_ncco() {
    let l = line(Carrier::Vonage).await;
    let body = vonage_body("uuid-refused", "14155550100");
    let signed = |claims: &Value| vonage_sent(&vonage_token(claims, VONAGE_SECRET), &body);
    let mut no_hash = vonage_claims(&body, "j-1");
    no_hash.as_object_mut().unwrap().remove("payload_hash");
    let mut stale = vonage_claims(&body, "j-2");
    stale["iat"] = json!(NOW - 301);
    let mut ahead = vonage_claims(&body, "j-3");
    ahead["iat"] = json!(NOW + 301);
    let mut expired = vonage_claims(&body, "j-4");
    expired["exp"] = json!(NOW - 1);
    let mut other_app = vonage_claims(&body, "j-5");
    other_app["application_id"] = json!("bbbbbbbb-bbbb-cccc-dddd-0123456789ab");
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(vonage_claims(&body, "j-6").to_string())
    );
    let hs512 = {
        let token = vonage_token(&vonage_claims(&body, "j-7"), VONAGE_SECRET);
        let (_, rest) = token.split_once('.').unwrap();
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode(r#"{"alg":"HS512","typ":"JWT"}"#))
    };
    let mut flipped = signed(&vonage_claims(&body, "j-8"));
    flipped.body = body.replace("14155550199", "14155550198");
    let cases = [
        ("no payload_hash", signed(&no_hash)),
        ("iat 301 s ago", signed(&stale)),
        ("iat 301 s ahead", signed(&ahead)),
        ("exp passed", signed(&expired)),
        ("another application", signed(&other_app)),
        ("alg none", vonage_sent(&unsigned, &body)),
        ("alg HS512", vonage_sent(&hs512, &body)),
        ("a body byte", flipped),
        (
            "another secret",
            vonage_sent(
                &vonage_token(&vonage_claims(&body, "j-9"), "vonage-signature-secret-0123456788"),
                &body,
            ),
        ),
        (
            "no token",
            Sent {
                headers: vec![],
                content_type: "application/json",
                body: body.clone(),
            },
        ),
    ];
    for (what, sent) in &cases {
        assert_eq!(send(&l.app, sent).await, rejected(Carrier::Vonage), "{what}");
    }
    assert!(logged_calls(&l.app).await.is_empty());

    // A genuine token is accepted once: its jti is spent.
    let genuine = signed(&vonage_claims(&body, "j-genuine"));
    let first = send(&l.app, &genuine).await;
    assert_ne!(first, rejected(Carrier::Vonage));
    assert_eq!(send(&l.app, &genuine).await, rejected(Carrier::Vonage), "replayed jti");
    assert_eq!(logged_calls(&l.app).await.len(), 1);
}

// ------------------------------------------------------------ §8.1, §8.8: Cloudonix

#[tokio::test]
async fn cloudonix_routes_only_with_its_api_key() {
    let l = line(Carrier::Cloudonix).await;
    let body = cloudonix_body("sess-1", "14155550100", "inbound");
    for (what, key) in [
        ("a wrong key", Some("XI0123456789abcdeg")),
        ("a shorter key", Some("XI0123456789abcde")),
        ("no key", None),
    ] {
        let mut sent = cloudonix_sent(key, &body);
        // Without the key header, the body still says Cloudonix (its domain).
        sent.headers.push(("User-Agent", "Cloudonix-Voice/1.0".into()));
        assert_eq!(send(&l.app, &sent).await, rejected(Carrier::Cloudonix), "{what}");
    }
    assert!(
        logged_calls(&l.app).await.is_empty(),
        "the reference would have routed them"
    );

    // A TwiML-shaped body (CallSid, ApiVersion) is still Cloudonix's.
    let answer = send(&l.app, &cloudonix_sent(Some(CX_KEY), &body)).await;
    let calls = logged_calls(&l.app).await;
    assert_eq!(answer, connected(Carrier::Cloudonix, &l.workflow["id"], &calls[0]));
    assert_eq!(calls[0]["provider"], "cloudonix");
    assert_eq!(calls[0]["call_id"], "sess-1");
    assert_eq!(calls[0]["to_normalized"], "+14155550100");
}

// ------------------------------------------------------------ §8.3: the oracle test

#[tokio::test]
async fn unsigned_requests_get_identical_bytes_whatever_exists_and_telnyx_is_never_called() {
    for carrier in CARRIERS {
        let (app, mock, _) = router_with(|_| {}).await;
        let cfg = app.create_config("C", config_of(carrier)).await["id"].clone();
        let workflow = app.create_workflow("W").await;
        app.create_number(&cfg, json!({"address": "+14155550101"})).await;
        app.create_number(
            &cfg,
            json!({"address": "+14155550102", "inbound_workflow_id": workflow["id"]}),
        )
        .await;
        let forged = |to: &str| match carrier {
            Carrier::Telnyx => telnyx_signed(
                &SigningKey::from_bytes(&[9; 32]),
                NOW,
                &telnyx_event("call.initiated", "v3:forged", TELNYX_CONNECTION, to),
            ),
            Carrier::Vonage => {
                let body = vonage_body("uuid-forged", to);
                vonage_sent(&vonage_token(&vonage_claims(&body, "j"), "not-the-secret"), &body)
            }
            Carrier::Cloudonix => cloudonix_sent(Some("XI-not-the-key"), &cloudonix_body("s", to, "inbound")),
        };
        let mut answers = Vec::new();
        for to in ["+14155550199", "+14155550101", "+14155550102"] {
            answers.push(send(&app, &forged(to)).await);
        }
        // A correctly signed request for an account nobody configured.
        let unknown = match carrier {
            Carrier::Telnyx => telnyx_signed(
                &telnyx_key(),
                NOW,
                &telnyx_event("call.initiated", "v3:unknown", "999", "+14155550102"),
            ),
            Carrier::Vonage => {
                let body = vonage_body("uuid-unknown", "+14155550102");
                let mut claims = vonage_claims(&body, "j-unknown");
                claims["api_key"] = json!("ffffffff");
                vonage_sent(&vonage_token(&claims, VONAGE_SECRET), &body)
            }
            Carrier::Cloudonix => {
                let body = cloudonix_body("s", "+14155550102", "inbound").replace(CX_DOMAIN, "globex.cloudonix.net");
                cloudonix_sent(Some(CX_KEY), &body)
            }
        };
        answers.push(send(&app, &unknown).await);
        for answer in &answers {
            assert_eq!(answer, &rejected(carrier), "{carrier:?}");
        }
        assert!(logged_calls(&app).await.is_empty(), "{carrier:?}");
        assert!(
            commands(&mock).await.is_empty(),
            "{carrier:?}: a Telnyx API call before auth"
        );
    }
}

// ------------------------------------------------------------ §8.5: non-start requests

#[tokio::test]
async fn non_start_events_are_acknowledged_and_create_nothing() {
    for carrier in CARRIERS {
        let l = line(carrier).await;
        let requests = match carrier {
            Carrier::Telnyx => ["call.hangup", "call.answered", "streaming.started"]
                .iter()
                .map(|e| {
                    let body = telnyx_event(e, TELNYX_CALL, TELNYX_CONNECTION, "+14155550100");
                    telnyx_signed(&telnyx_key(), NOW, &body)
                })
                .collect::<Vec<_>>(),
            Carrier::Vonage => {
                let event = VONAGE_BODY.replace('}', r#","status":"ringing","direction":"inbound"}"#);
                let outbound = VONAGE_BODY.replace('}', r#","direction":"outbound"}"#);
                [("e-1", event), ("e-2", outbound)]
                    .iter()
                    .map(|(jti, body)| vonage_sent(&vonage_token(&vonage_claims(body, jti), VONAGE_SECRET), body))
                    .collect()
            }
            Carrier::Cloudonix => vec![cloudonix_sent(
                Some(CX_KEY),
                &cloudonix_body("sess-out", "14155550100", "outbound-api"),
            )],
        };
        for sent in &requests {
            assert_eq!(
                send(&l.app, sent).await,
                acknowledged(carrier),
                "{carrier:?} {}",
                sent.body
            );
        }
        assert!(logged_calls(&l.app).await.is_empty(), "{carrier:?}");
        assert!(commands(&l.carrier).await.is_empty(), "{carrier:?}");
    }
}

// ------------------------------------------------------------ §8.6: retries

#[tokio::test]
async fn a_retried_start_gets_the_identical_document_and_one_call_log_row() {
    for carrier in CARRIERS {
        let l = line(carrier).await;
        // Vonage's retry carries a fresh jti; the others repeat themselves.
        let first = send(&l.app, &start(carrier, "call-retried", "+14155550100")).await;
        let again = send(&l.app, &start(carrier, "call-retried", "+14155550100")).await;
        assert_eq!(first, again, "{carrier:?}");
        let calls = logged_calls(&l.app).await;
        assert_eq!(calls.len(), 1, "{carrier:?}");
        assert_same(
            &first,
            &connected(carrier, &l.workflow["id"], &calls[0]),
            &format!("{carrier:?}"),
        );
    }
}

#[tokio::test]
async fn a_retried_telnyx_start_sends_nothing_new_after_a_successful_answer() {
    let l = line(Carrier::Telnyx).await;
    let vector = telnyx_signed(&telnyx_key(), NOW, TELNYX_BODY);
    assert_eq!(send(&l.app, &vector).await, telnyx_status("ok"));
    // Telnyx's own retry: the same event, a later timestamp.
    let retry = telnyx_signed(
        &telnyx_key(),
        NOW + 20,
        &TELNYX_BODY.replace(r#""attempt":1"#, r#""attempt":2"#),
    );
    assert_eq!(send(&l.app, &retry).await, telnyx_status("ok"));
    assert_eq!(commands(&l.carrier).await.len(), 1, "one answer command");
    assert_eq!(logged_calls(&l.app).await.len(), 1);
}

#[tokio::test]
async fn after_a_failed_answer_a_retry_answers_again_with_the_same_command_id() {
    let l = line(Carrier::Telnyx).await;
    // Telnyx fails the first answer; earlier mocks win until used up.
    l.carrier.server.reset().await;
    Mock::given(method("POST"))
        .and(path_regex(COMMANDS))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"errors": [{"title": "Internal"}]})))
        .up_to_n_times(1)
        .mount(&l.carrier.server)
        .await;
    l.carrier.serve("POST", COMMANDS, l.control.clone()).await;

    let vector = telnyx_signed(&telnyx_key(), NOW, TELNYX_BODY);
    assert_eq!(send(&l.app, &vector).await, telnyx_status("error"));
    let calls = logged_calls(&l.app).await;
    assert_eq!(calls[0]["outcome"], "answer_failed");

    let retry = telnyx_signed(&telnyx_key(), NOW + 30, TELNYX_BODY);
    assert_eq!(send(&l.app, &retry).await, telnyx_status("ok"));
    let sent = commands(&l.carrier).await;
    assert_eq!(sent.len(), 2);
    for request in &sent {
        assert_eq!(
            crate::helpers::json_body(request)["command_id"],
            "answer-v3:call-control-id-0001"
        );
    }
    let calls = logged_calls(&l.app).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["outcome"], "routed", "the retry's answer took");
    // A third delivery changes nothing.
    assert_eq!(send(&l.app, &retry).await, telnyx_status("ok"));
    assert_eq!(commands(&l.carrier).await.len(), 2);
}

// ------------------------------------------------------------ Telnyx: rejects and deadlines

#[tokio::test]
async fn a_verified_telnyx_call_that_cannot_be_routed_is_rejected_through_the_api() {
    let l = line(Carrier::Telnyx).await;
    let answer = send(&l.app, &telnyx_start("v3:unknown-number", "+14155550199")).await;
    assert_eq!(answer, telnyx_status("rejected"));
    let sent = commands(&l.carrier).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].url.path(), "/v2/calls/v3:unknown-number/actions/reject");
    assert_eq!(
        crate::helpers::json_body(&sent[0]),
        json!({"cause": "CALL_REJECTED", "command_id": "reject-v3:unknown-number"})
    );
    assert_eq!(logged_calls(&l.app).await[0]["outcome"], "number_not_configured");
}

#[tokio::test]
async fn a_telnyx_answer_that_hangs_returns_within_the_deadline_as_answer_failed() {
    let l = line(Carrier::Telnyx).await;
    slow_call_control(&l.carrier, Duration::from_secs(30)).await;
    let started = Instant::now();
    let answer = send(&l.app, &telnyx_signed(&telnyx_key(), NOW, TELNYX_BODY)).await;
    let elapsed = started.elapsed();
    assert_eq!(answer, telnyx_status("error"));
    // sync.timeout_ms is 1000 here; the carrier would take 30 s.
    assert!(elapsed < Duration::from_millis(1000 + 4000), "answered in {elapsed:?}");
    assert_eq!(commands(&l.carrier).await.len(), 1);
    assert_eq!(logged_calls(&l.app).await[0]["outcome"], "answer_failed");
}

#[tokio::test]
async fn a_hanging_telnyx_answer_holds_up_no_other_request() {
    let l = line_with(Carrier::Telnyx, |c| c.sync.timeout_ms = 5000).await;
    slow_call_control(&l.carrier, Duration::from_secs(30)).await;
    let app = Arc::new(l.app);
    let pending = {
        let app = app.clone();
        tokio::spawn(async move { send(&app, &telnyx_signed(&telnyx_key(), NOW, TELNYX_BODY)).await })
    };
    // Wait for the answer command to be in flight at the carrier.
    let deadline = Instant::now() + Duration::from_secs(10);
    while commands(&l.carrier).await.is_empty() {
        assert!(Instant::now() < deadline, "the answer command never left");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // New connections are spread over every actix worker: had the answer
    // blocked one, some of these would wait for its deadline.
    for _ in 0..8 {
        let fresh = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        let health = fresh.get(format!("{}/healthz", app.address)).send().await.unwrap();
        assert_eq!(health.status(), 200);
    }
    assert!(!pending.is_finished(), "the answer is still waiting for its deadline");
    assert_eq!(pending.await.unwrap(), telnyx_status("error"));
}

#[tokio::test]
async fn a_telnyx_answer_is_recorded_even_when_telnyx_stops_waiting_for_the_webhook() {
    let l = line_with(Carrier::Telnyx, |c| c.sync.timeout_ms = 10_000).await;
    slow_call_control(&l.carrier, Duration::from_millis(1500)).await;
    let vector = telnyx_signed(&telnyx_key(), NOW, TELNYX_BODY);
    let impatient = request(&l.app, &vector)
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(impatient.is_err(), "the webhook gave up before the answer came back");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let calls = logged_calls(&l.app).await;
        if calls.first().is_some_and(|c| c["outcome"] == "routed") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the answer that took was never recorded: {calls:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(commands(&l.carrier).await.len(), 1);
}

#[tokio::test]
async fn the_reject_line_is_json_encoded_for_vonage_and_escaped_for_cloudonix() {
    let line_text = r#"Closed <today> & "tomorrow""#;
    for carrier in [Carrier::Vonage, Carrier::Cloudonix] {
        let l = line_with(carrier, |c| c.inbound.reject_message = line_text.into()).await;
        let answer = send(&l.app, &start(carrier, "call-unknown", "+14155550199")).await;
        match carrier {
            Carrier::Vonage => assert_eq!(
                serde_json::from_str::<Value>(&answer.body).unwrap(),
                json!([{"action": "talk", "text": line_text}])
            ),
            _ => assert!(
                answer
                    .body
                    .contains("<Say voice=\"alice\">Closed &lt;today&gt; &amp; &quot;tomorrow&quot;</Say>"),
                "{}",
                answer.body
            ),
        }
        assert_eq!(logged_calls(&l.app).await[0]["outcome"], "number_not_configured");
    }
}

// ------------------------------------------------------------ bad input

#[tokio::test]
async fn malformed_json_carrier_requests_are_pre_auth_rejects_that_write_nothing() {
    let l = line(Carrier::Telnyx).await;
    let vonage_cfg = l.app.create_config("Vonage", vonage_config()).await["id"].clone();
    l.app
        .create_number(&vonage_cfg, json!({"address": "+14155550109"}))
        .await;
    let vector = telnyx_signed(&telnyx_key(), NOW, TELNYX_BODY);
    let with_headers = |headers: Vec<(&'static str, String)>, body: &str| Sent {
        headers,
        content_type: "application/json",
        body: body.to_string(),
    };
    let telnyx_cases = [
        (
            "a timestamp that is not a number",
            with_headers(
                vec![
                    ("telnyx-signature-ed25519", TELNYX_SIG.into()),
                    ("telnyx-timestamp", "tomorrow".into()),
                ],
                TELNYX_BODY,
            ),
        ),
        (
            "a signature that is not base64",
            with_headers(
                vec![
                    ("telnyx-signature-ed25519", "%%% not base64 %%%".into()),
                    ("telnyx-timestamp", NOW.to_string()),
                ],
                TELNYX_BODY,
            ),
        ),
        (
            "a signature of the wrong length",
            with_headers(
                vec![
                    ("telnyx-signature-ed25519", STANDARD.encode([7u8; 32])),
                    ("telnyx-timestamp", NOW.to_string()),
                ],
                TELNYX_BODY,
            ),
        ),
        (
            "a body that is not JSON",
            with_headers(vector.headers.clone(), "{\"data\": not json"),
        ),
        (
            "a JSON body that is not an object",
            with_headers(vector.headers.clone(), "[1, 2]"),
        ),
        (
            "a body of odd shapes",
            with_headers(vector.headers.clone(), r#"{"data":{"payload":[],"event_type":7}}"#),
        ),
    ];
    for (what, sent) in &telnyx_cases {
        assert_eq!(send(&l.app, sent).await, rejected(Carrier::Telnyx), "{what}");
    }

    let claims = vonage_claims(VONAGE_BODY, "j-bad");
    let token = vonage_token(&claims, VONAGE_SECRET);
    let parts: Vec<&str> = token.split('.').collect();
    let huge_header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS256","pad":"{}"}}"#, "x".repeat(6000)));
    let vonage_cases = [
        (
            "a JWT with a huge header",
            vonage_sent(&format!("{huge_header}.{}.{}", parts[1], parts[2]), VONAGE_BODY),
        ),
        (
            "a signature that is not base64",
            vonage_sent(&format!("{}.{}.%%%!", parts[0], parts[1]), VONAGE_BODY),
        ),
        ("a token that is not a JWT", vonage_sent("not-a-jwt", VONAGE_BODY)),
        ("a body that is not JSON", vonage_sent(&token, "uuid=1&to=2")),
    ];
    for (what, sent) in &vonage_cases {
        assert_eq!(send(&l.app, sent).await, rejected(Carrier::Vonage), "{what}");
    }
    assert!(logged_calls(&l.app).await.is_empty());
    assert!(commands(&l.carrier).await.is_empty());
}
