//! The inbound router through the real server (INBOUND.md §8 items 1–6, 9,
//! 10 for Twilio, Plivo and Vobiz) and the call log (§10). Signatures are
//! computed here independently and pinned by the §4 vectors. Telnyx, Vonage
//! and Cloudonix: `inbound_json.rs`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha1::Sha1;
use sha2::Sha256;
use telebind::config::Config;

use crate::helpers::{numbers_path, spawn_app_with, TestApp, CONFIGS};
use crate::metrics::{samples, value};

pub(crate) const BASE: &str = "https://telebind.example.com";
pub(crate) const RUN: &str = "/api/v1/telephony/inbound/run";
const CALLS: &str = "/api/v1/telephony/inbound-calls";
pub(crate) const TEMPLATE: &str = "wss://agent.example.com/ws/{workflow_id}/{organization_id}/{call_ref}/{token}";
pub(crate) const WS_SECRET: &str = "agent-shared-secret-0123456789";
pub(crate) const REJECT_LINE: &str = "This number cannot take your call right now. Goodbye.";
pub(crate) const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

const TWILIO_SID: &str = "AC00000000000000000000000000000001";
const TWILIO_TOKEN: &str = "0123456789abcdef0123456789abcdef";
pub(crate) const TWILIO_BODY: &str = "AccountSid=AC00000000000000000000000000000001&ApiVersion=2010-04-01&CallSid=CA00000000000000000000000000000002&CallStatus=ringing&Called=%2B14155550100&Caller=%2B14155550199&Direction=inbound&From=%2B14155550199&To=%2B14155550100&ToCountry=US";
pub(crate) const TWILIO_SIG: &str = "GZbuQ3U6laFKI1yosaNgiWUuJLU=";
const TWILIO_SIG_443: &str = "vQuR9eBoWGb2+504LDYcHFWUL5w=";

const PLIVO_AUTH_ID: &str = "MAPLIVO0000000000001";
const PLIVO_TOKEN: &str = "plivo-auth-token-0123456789";
const PLIVO_NONCE: &str = "05429567804466091622";
const PLIVO_BODY: &str =
    "CallUUID=11111111-2222-3333-4444-555555555555&CallStatus=ringing&Direction=inbound&From=14155550199&To=14155550100";
const PLIVO_SIG: &str = "a1UiZLZYNYKbPU73WpVmDbUF6i0h700+1viS9jPRgao=";
const PLIVO_SIG_QUERY: &str = "Z+XW+IJKULOBuw4DH0xmdAyWcESHfAEe9nO5JOnxlHw=";

const VOBIZ_AUTH_ID: &str = "MA_VOBIZ0001";
const VOBIZ_TOKEN: &str = "vobiz-auth-token-0123456789";
const VOBIZ_NONCE: &str = "12345678901234567890";
const VOBIZ_SIG_V3: &str = "eRzS1c5wXwhFV94eVmsFyrtNM6i1bGBp8w3X4oEUhF4=";
const VOBIZ_SIG_V2: &str = "yZLwMlb96t8haaFbpY+IbzYLh08rWiM9Ke6LF5XKBk4=";

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Carrier {
    Twilio,
    Plivo,
    Vobiz,
}

const CARRIERS: [Carrier; 3] = [Carrier::Twilio, Carrier::Plivo, Carrier::Vobiz];

/// A server whose public URL is the vectors' and whose agent is `TEMPLATE`.
async fn router_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with(|c| {
        c.sync.verify_ownership = false;
        c.server.public_base_url = BASE.into();
        c.inbound.media_ws_url = TEMPLATE.into();
        c.inbound.ws_token_secret = WS_SECRET.into();
        configure(c);
    })
    .await
}

/// A configuration of `carrier` with the vectors' credentials, in `app`'s default org.
async fn config(app: &TestApp, carrier: Carrier) -> Value {
    let config = match carrier {
        Carrier::Twilio => json!({"provider": "twilio", "account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN}),
        Carrier::Plivo => json!({"provider": "plivo", "auth_id": PLIVO_AUTH_ID, "auth_token": PLIVO_TOKEN,
            "application_id": "app-1"}),
        Carrier::Vobiz => json!({"provider": "vobiz", "auth_id": VOBIZ_AUTH_ID, "auth_token": VOBIZ_TOKEN,
            "application_id": "app-1"}),
    };
    app.create_config(&format!("{carrier:?}"), config).await["id"].clone()
}

/// A number under `cfg`, bound to `workflow` when given.
async fn number(app: &TestApp, cfg: &Value, address: &str, workflow: Option<&Value>) -> Value {
    let mut body = json!({ "address": address });
    if let Some(w) = workflow {
        body["inbound_workflow_id"] = w["id"].clone();
    }
    app.create_number(cfg, body).await
}

/// One carrier line: its configuration, `+14155550100` bound to a workflow.
pub(crate) struct Line {
    pub(crate) app: TestApp,
    pub(crate) cfg: Value,
    pub(crate) workflow: Value,
    pub(crate) number: Value,
}

pub(crate) async fn line(carrier: Carrier) -> Line {
    line_with(carrier, |_| {}).await
}

async fn line_with(carrier: Carrier, configure: impl FnOnce(&mut Config)) -> Line {
    let app = router_with(configure).await;
    let cfg = config(&app, carrier).await;
    let workflow = app.create_workflow("Support").await;
    let number = number(&app, &cfg, "+14155550100", Some(&workflow)).await;
    Line {
        app,
        cfg,
        workflow,
        number,
    }
}

/// A carrier's answer: asserted HTTP 200, `application/xml`, well-formed XML.
pub(crate) async fn post(app: &TestApp, query: &str, headers: &[(&str, String)], body: &[u8]) -> String {
    let url = if query.is_empty() {
        format!("{}{RUN}", app.address)
    } else {
        format!("{}{RUN}?{query}", app.address)
    };
    let mut request = app
        .client
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(content_type, "application/xml");
    let text = response.text().await.unwrap();
    assert_well_formed(&text);
    text
}

pub(crate) fn assert_well_formed(xml: &str) {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut depth = 0i32;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(_)) => depth += 1,
            Ok(quick_xml::events::Event::End(_)) => depth -= 1,
            Ok(_) => {}
            Err(e) => panic!("not XML ({e}): {xml}"),
        }
    }
    assert_eq!(depth, 0, "unbalanced: {xml}");
}

fn b64(mac: &[u8]) -> String {
    STANDARD.encode(mac)
}

/// twilio-python's algorithm, written out: URL, then sorted keys with their sorted distinct values.
fn twilio_signature(token: &str, url: &str, body: &str) -> String {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    pairs.sort();
    pairs.dedup();
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(url.as_bytes());
    for (k, v) in pairs {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    b64(&mac.finalize().into_bytes())
}

pub(crate) fn hmac256(key: &str, message: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Plivo V3 over the webhook URL without a query: `url?` + sorted k+v + `.` + nonce.
fn plivo_signature(token: &str, body: &str, nonce: &str) -> String {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    pairs.sort();
    let params: String = pairs.iter().map(|(k, v)| format!("{k}{v}")).collect();
    b64(&hmac256(token, &format!("{BASE}{RUN}?{params}.{nonce}")))
}

fn vobiz_signature(token: &str, nonce: &str) -> String {
    b64(&hmac256(token, &format!("{BASE}{RUN}.{nonce}")))
}

pub(crate) fn twilio_headers(sig: &str) -> Vec<(&'static str, String)> {
    vec![("X-Twilio-Signature", sig.to_string())]
}

fn plivo_headers(sig: &str, nonce: &str) -> Vec<(&'static str, String)> {
    vec![
        ("X-Plivo-Signature-V3", sig.to_string()),
        ("X-Plivo-Signature-V3-Nonce", nonce.to_string()),
    ]
}

fn vobiz_headers(sig: &str, nonce: &str) -> Vec<(&'static str, String)> {
    vec![
        ("X-Vobiz-Signature-V3", sig.to_string()),
        ("X-Vobiz-Signature-V3-Nonce", nonce.to_string()),
    ]
}

/// A Twilio start for `call_id` to `to` (form-encoded), signed with `token`.
fn twilio_start(token: &str, call_id: &str, to: &str) -> (Vec<(&'static str, String)>, String) {
    let body = format!(
        "AccountSid={TWILIO_SID}&ApiVersion=2010-04-01&CallSid={call_id}&CallStatus=ringing&Direction=inbound&From=%2B14155550199&To={to}"
    );
    (
        twilio_headers(&twilio_signature(token, &format!("{BASE}{RUN}"), &body)),
        body,
    )
}

/// A start request of `carrier` for `call_id` to `to`, correctly signed
/// (Plivo and Vobiz with the fresh `nonce`).
pub(crate) fn start(carrier: Carrier, call_id: &str, to: &str, nonce: &str) -> (Vec<(&'static str, String)>, String) {
    let to = to.replace('+', "%2B");
    match carrier {
        Carrier::Twilio => twilio_start(TWILIO_TOKEN, call_id, &to),
        Carrier::Plivo => {
            let body = format!(
                "AuthID={PLIVO_AUTH_ID}&CallUUID={call_id}&CallStatus=ringing&Direction=inbound&From=14155550199&To={to}"
            );
            (plivo_headers(&plivo_signature(PLIVO_TOKEN, &body, nonce), nonce), body)
        }
        Carrier::Vobiz => {
            let body = format!(
                "ParentAuthID={VOBIZ_AUTH_ID}&CallUUID={call_id}&Direction=inbound&Event=StartApp&From=14155550199&To={to}"
            );
            (vobiz_headers(&vobiz_signature(VOBIZ_TOKEN, nonce), nonce), body)
        }
    }
}

/// The success document handing call `call_ref` to the agent.
fn connected(carrier: Carrier, workflow: &Value, call_ref: &Value) -> String {
    let token = hex::encode(hmac256(WS_SECRET, &format!("{workflow}:1:{call_ref}")));
    let url = format!("wss://agent.example.com/ws/{workflow}/1/{call_ref}/{token}");
    match carrier {
        Carrier::Twilio => format!(
            r#"{DECLARATION}<Response><Connect><Stream url="{url}"></Stream></Connect><Pause length="40"/></Response>"#
        ),
        Carrier::Plivo | Carrier::Vobiz => format!(
            r#"{DECLARATION}<Response><Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000">{url}</Stream></Response>"#
        ),
    }
}

/// The one reject of each carrier, with the default line.
fn rejected(carrier: Carrier) -> String {
    match carrier {
        Carrier::Twilio => {
            format!(r#"{DECLARATION}<Response><Say voice="alice">{REJECT_LINE}</Say><Hangup/></Response>"#)
        }
        Carrier::Plivo => format!("{DECLARATION}<Response><Speak>{REJECT_LINE}</Speak><Hangup/></Response>"),
        Carrier::Vobiz => {
            format!(r#"{DECLARATION}<Response><Speak voice="WOMAN">{REJECT_LINE}</Speak><Hangup/></Response>"#)
        }
    }
}

fn generic_hangup() -> String {
    format!("{DECLARATION}<Response><Hangup/></Response>")
}

fn acknowledged() -> String {
    format!("{DECLARATION}<Response/>")
}

async fn call_log(app: &TestApp, query: &str) -> Value {
    app.call(Method::GET, &format!("{CALLS}{query}"), None, 200).await
}

pub(crate) async fn logged_calls(app: &TestApp) -> Vec<Value> {
    call_log(app, "").await["calls"].as_array().unwrap().clone()
}

// ---------------------------------------------------------------- §8.1, §8.2: vectors

#[tokio::test]
async fn the_twilio_vector_routes_the_call_to_the_agent() {
    let l = line(Carrier::Twilio).await;
    let answer = post(&l.app, "", &twilio_headers(TWILIO_SIG), TWILIO_BODY.as_bytes()).await;
    let calls = logged_calls(&l.app).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(answer, connected(Carrier::Twilio, &l.workflow["id"], &calls[0]["id"]));
    let call = &calls[0];
    assert_eq!(call["outcome"], "routed");
    assert_eq!(call["provider"], "twilio");
    assert_eq!(call["call_id"], "CA00000000000000000000000000000002");
    assert_eq!(call["phone_number_id"], l.number["id"]);
    assert_eq!(call["workflow_id"], l.workflow["id"]);
    assert_eq!(call["telephony_configuration_id"], l.cfg);
    assert_eq!(call["to_number"], "+14155550100");
    assert_eq!(call["to_normalized"], "+14155550100");
    assert_eq!(call["from_number"], "+14155550199");
}

#[tokio::test]
async fn twilio_accepts_the_default_port_variant() {
    let l = line(Carrier::Twilio).await;
    let answer = post(&l.app, "", &twilio_headers(TWILIO_SIG_443), TWILIO_BODY.as_bytes()).await;
    assert_eq!(logged_calls(&l.app).await[0]["outcome"], "routed", "{answer}");
}

#[tokio::test]
async fn a_flipped_twilio_body_byte_signature_or_secret_is_refused_and_logs_nothing() {
    let l = line(Carrier::Twilio).await;
    let flipped_body = TWILIO_BODY.replace("ringing", "ringinh");
    let cases = [
        (TWILIO_SIG, flipped_body.as_str()),
        ("GZbuQ3U6laFKI1yosaNgiWUuJLV=", TWILIO_BODY),
        ("", TWILIO_BODY),
        ("not base64 at all!", TWILIO_BODY),
    ];
    for (sig, body) in cases {
        assert_eq!(
            post(&l.app, "", &twilio_headers(sig), body.as_bytes()).await,
            rejected(Carrier::Twilio)
        );
    }
    let other_secret = twilio_signature("0123456789abcdef0123456789abcdee", &format!("{BASE}{RUN}"), TWILIO_BODY);
    assert_eq!(
        post(&l.app, "", &twilio_headers(&other_secret), TWILIO_BODY.as_bytes()).await,
        rejected(Carrier::Twilio)
    );
    assert!(logged_calls(&l.app).await.is_empty());
}

#[tokio::test]
async fn the_plivo_vectors_verify_without_an_account_id_and_flips_fail() {
    let l = line(Carrier::Plivo).await;
    // Flips first: a verified nonce is spent.
    let flipped = PLIVO_BODY.replace("ringing", "ringinh");
    let cases = [
        (PLIVO_SIG, "05429567804466091623", PLIVO_BODY),
        (PLIVO_SIG, PLIVO_NONCE, flipped.as_str()),
        ("a1UiZLZYNYKbPU73WpVmDbUF6i0h700+1viS9jPRgaP=", PLIVO_NONCE, PLIVO_BODY),
    ];
    for (sig, nonce, body) in cases {
        assert_eq!(
            post(&l.app, "", &plivo_headers(sig, nonce), body.as_bytes()).await,
            rejected(Carrier::Plivo)
        );
    }
    let other_secret = plivo_signature("plivo-auth-token-0123456788", PLIVO_BODY, PLIVO_NONCE);
    let answer = post(
        &l.app,
        "",
        &plivo_headers(&other_secret, PLIVO_NONCE),
        PLIVO_BODY.as_bytes(),
    )
    .await;
    assert_eq!(answer, rejected(Carrier::Plivo));
    assert!(logged_calls(&l.app).await.is_empty());

    // The body has no AuthID: candidates come from the called number (§1).
    let answer = post(
        &l.app,
        "",
        &plivo_headers(PLIVO_SIG, PLIVO_NONCE),
        PLIVO_BODY.as_bytes(),
    )
    .await;
    let calls = logged_calls(&l.app).await;
    assert_eq!(answer, connected(Carrier::Plivo, &l.workflow["id"], &calls[0]["id"]));
    assert_eq!(calls[0]["to_normalized"], "+14155550100");

    // The nonce is spent: the query vector, valid on its own, is now a replay.
    let headers = plivo_headers(PLIVO_SIG_QUERY, PLIVO_NONCE);
    assert_eq!(
        post(&l.app, "b=2&a=1", &headers, PLIVO_BODY.as_bytes()).await,
        rejected(Carrier::Plivo)
    );
    assert_eq!(logged_calls(&l.app).await.len(), 1);
}

#[tokio::test]
async fn the_plivo_query_vector_verifies() {
    let l = line(Carrier::Plivo).await;
    let headers = plivo_headers(PLIVO_SIG_QUERY, PLIVO_NONCE);
    let answer = post(&l.app, "b=2&a=1", &headers, PLIVO_BODY.as_bytes()).await;
    let calls = logged_calls(&l.app).await;
    assert_eq!(answer, connected(Carrier::Plivo, &l.workflow["id"], &calls[0]["id"]));
}

#[tokio::test]
async fn the_vobiz_vectors_verify_and_a_flipped_nonce_or_secret_fails() {
    let l = line(Carrier::Vobiz).await;
    let body = format!("ParentAuthID={VOBIZ_AUTH_ID}&CallUUID=v-1&Direction=inbound&To=%2B14155550100");
    let flips = [
        vobiz_headers(VOBIZ_SIG_V3, "12345678901234567891"),
        vobiz_headers(
            &vobiz_signature("vobiz-auth-token-0123456788", VOBIZ_NONCE),
            VOBIZ_NONCE,
        ),
        vobiz_headers("eRzS1c5wXwhFV94eVmsFyrtNM6i1bGBp8w3X4oEUhF5=", VOBIZ_NONCE),
    ];
    for headers in flips {
        assert_eq!(
            post(&l.app, "", &headers, body.as_bytes()).await,
            rejected(Carrier::Vobiz)
        );
    }
    assert!(logged_calls(&l.app).await.is_empty());

    let answer = post(&l.app, "", &vobiz_headers(VOBIZ_SIG_V3, VOBIZ_NONCE), body.as_bytes()).await;
    let calls = logged_calls(&l.app).await;
    assert_eq!(answer, connected(Carrier::Vobiz, &l.workflow["id"], &calls[0]["id"]));

    let v2 = vec![
        ("X-Vobiz-Signature-V2", VOBIZ_SIG_V2.to_string()),
        ("X-Vobiz-Signature-V2-Nonce", VOBIZ_NONCE.to_string()),
    ];
    let body = body.replace("v-1", "v-2");
    // The same nonce again, even in the V2 scheme, is a replay.
    assert_eq!(post(&l.app, "", &v2, body.as_bytes()).await, rejected(Carrier::Vobiz));
    assert_eq!(logged_calls(&l.app).await.len(), 1);
}

#[tokio::test]
async fn the_vobiz_v2_vector_verifies() {
    let l = line(Carrier::Vobiz).await;
    let body = format!("ParentAuthID={VOBIZ_AUTH_ID}&CallUUID=v-1&Direction=inbound&To=%2B14155550100");
    let v2 = vec![
        ("X-Vobiz-Signature-MA-V2", VOBIZ_SIG_V2.to_string()),
        ("X-Vobiz-Signature-V2-Nonce", VOBIZ_NONCE.to_string()),
    ];
    post(&l.app, "", &v2, body.as_bytes()).await;
    assert_eq!(logged_calls(&l.app).await[0]["outcome"], "routed");
}

#[tokio::test]
async fn a_captured_vobiz_signature_cannot_be_replayed_with_another_body() {
    let l = line(Carrier::Vobiz).await;
    let (headers, body) = start(Carrier::Vobiz, "v-1", "+14155550100", "nonce-1");
    post(&l.app, "", &headers, body.as_bytes()).await;
    let forged = body.replace("v-1", "v-forged");
    assert_eq!(
        post(&l.app, "", &headers, forged.as_bytes()).await,
        rejected(Carrier::Vobiz)
    );
    assert_eq!(logged_calls(&l.app).await.len(), 1);
}

// ---------------------------------------------------------------- §8.2: T-URL

#[tokio::test]
async fn signatures_cover_the_public_url_not_the_one_the_request_reached() {
    // Every request here reaches http://127.0.0.1:<port>; the vectors sign https://telebind.example.com.
    for carrier in CARRIERS {
        let moved = line_with(carrier, |c| {
            c.server.public_base_url = "https://elsewhere.example.com".into()
        })
        .await;
        let (headers, body) = start(carrier, "c-1", "+14155550100", "nonce-1");
        assert_eq!(
            post(&moved.app, "", &headers, body.as_bytes()).await,
            rejected(carrier),
            "{carrier:?}"
        );

        // Listed as an alias, the old URL still verifies.
        let aliased = line_with(carrier, |c| {
            c.server.public_base_url = "https://elsewhere.example.com".into();
            c.server.public_base_url_aliases = vec![BASE.into()];
        })
        .await;
        post(&aliased.app, "", &headers, body.as_bytes()).await;
        assert_eq!(logged_calls(&aliased.app).await[0]["outcome"], "routed", "{carrier:?}");
    }
}

// ---------------------------------------------------------------- §8.3: the oracle test

#[tokio::test]
async fn unsigned_requests_get_identical_bytes_whatever_exists() {
    for carrier in CARRIERS {
        let app = router_with(|_| {}).await;
        let cfg = config(&app, carrier).await;
        let workflow = app.create_workflow("W").await;
        number(&app, &cfg, "+14155550101", None).await;
        number(&app, &cfg, "+14155550102", Some(&workflow)).await;
        let mut answers = Vec::new();
        for to in ["+14155550199", "+14155550101", "+14155550102"] {
            let (_, body) = start(carrier, "c-1", to, "n");
            let unsigned = match carrier {
                Carrier::Twilio => twilio_headers("bm90IGEgc2lnbmF0dXJl"),
                Carrier::Plivo => plivo_headers("bm90IGEgc2lnbmF0dXJl", "n"),
                Carrier::Vobiz => vobiz_headers("bm90IGEgc2lnbmF0dXJl", "n"),
            };
            answers.push(post(&app, "", &unsigned, body.as_bytes()).await);
        }
        // An account nobody configured.
        let (headers, body) = start(carrier, "c-1", "+14155550102", "n");
        let unknown = body
            .replace(TWILIO_SID, "AC99999999999999999999999999999999")
            .replace(PLIVO_AUTH_ID, "MAUNKNOWN")
            .replace(VOBIZ_AUTH_ID, "MAUNKNOWN");
        answers.push(post(&app, "", &headers, unknown.as_bytes()).await);
        for answer in &answers {
            assert_eq!(answer, &rejected(carrier), "{carrier:?}");
        }
        assert!(logged_calls(&app).await.is_empty());
    }
}

// ---------------------------------------------------------------- §8.4: duplicate keys

#[tokio::test]
async fn duplicate_twilio_form_keys_verify_in_any_order() {
    let l = line(Carrier::Twilio).await;
    for (call, values) in [("CA-dup-1", ["b", "a"]), ("CA-dup-2", ["a", "b"])] {
        let (_, body) = start(Carrier::Twilio, call, "+14155550100", "");
        let signed = format!("{body}&Digits=b&Digits=a");
        let sig = twilio_signature(TWILIO_TOKEN, &format!("{BASE}{RUN}"), &signed);
        let sent = format!("{body}&Digits={}&Digits={}", values[0], values[1]);
        post(&l.app, "", &twilio_headers(&sig), sent.as_bytes()).await;
    }
    let calls = logged_calls(&l.app).await;
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c["outcome"] == "routed"), "{calls:?}");
}

// ---------------------------------------------------------------- §8.5: non-start callbacks

#[tokio::test]
async fn hangup_callbacks_and_outbound_calls_are_acknowledged_and_create_nothing() {
    for carrier in CARRIERS {
        let l = line(carrier).await;
        let callbacks = match carrier {
            Carrier::Twilio => vec![("Direction=inbound", "Direction=outbound-api")],
            Carrier::Plivo => vec![
                (
                    "CallStatus=ringing",
                    "CallStatus=completed&HangupCause=NORMAL_CLEARING&Duration=12",
                ),
                ("CallStatus=ringing", "CallStatus=ringing&BillDuration=0"),
            ],
            Carrier::Vobiz => vec![
                ("Event=StartApp", "Event=Hangup"),
                ("Event=StartApp", "Event=StartApp&HangupCause=X"),
            ],
        };
        for (i, (from, to)) in callbacks.into_iter().enumerate() {
            let nonce = format!("cb-{i}");
            let (_, body) = start(carrier, "c-1", "+14155550100", &nonce);
            let body = body.replace(from, to);
            let headers = match carrier {
                Carrier::Twilio => twilio_headers(&twilio_signature(TWILIO_TOKEN, &format!("{BASE}{RUN}"), &body)),
                Carrier::Plivo => plivo_headers(&plivo_signature(PLIVO_TOKEN, &body, &nonce), &nonce),
                Carrier::Vobiz => vobiz_headers(&vobiz_signature(VOBIZ_TOKEN, &nonce), &nonce),
            };
            assert_eq!(
                post(&l.app, "", &headers, body.as_bytes()).await,
                acknowledged(),
                "{carrier:?} {to}"
            );
        }
        assert!(logged_calls(&l.app).await.is_empty(), "{carrier:?}");
    }
}

// ---------------------------------------------------------------- §8.6: retries

#[tokio::test]
async fn a_retried_start_gets_the_identical_document_and_one_call_log_row() {
    for carrier in CARRIERS {
        let l = line(carrier).await;
        let (headers, body) = start(carrier, "c-retried", "+14155550100", "first");
        let first = post(&l.app, "", &headers, body.as_bytes()).await;
        // Genuine retries carry fresh nonces.
        let (headers, body) = start(carrier, "c-retried", "+14155550100", "second");
        let again = post(&l.app, "", &headers, body.as_bytes()).await;
        assert_eq!(first, again, "{carrier:?}");
        let calls = logged_calls(&l.app).await;
        assert_eq!(calls.len(), 1, "{carrier:?}");
        assert_eq!(first, connected(carrier, &l.workflow["id"], &calls[0]["id"]));
    }
}

// ---------------------------------------------------------------- §8.9: no hard-coded country

#[tokio::test]
async fn vobiz_routes_a_plus_one_number_to_itself_not_to_india() {
    let app = router_with(|_| {}).await;
    let cfg = config(&app, Carrier::Vobiz).await;
    let workflow = app.create_workflow("US line").await;
    let us = number(&app, &cfg, "+14155556789", Some(&workflow)).await;
    for (call, to) in [("v-plus", "+14155556789"), ("v-bare", "14155556789")] {
        let (headers, body) = start(Carrier::Vobiz, call, to, call);
        post(&app, "", &headers, body.as_bytes()).await;
    }
    for call in logged_calls(&app).await {
        assert_eq!(call["outcome"], "routed", "{call}");
        assert_eq!(call["phone_number_id"], us["id"]);
        assert_eq!(call["to_normalized"], "+14155556789");
    }
}

#[tokio::test]
async fn national_digits_take_the_stored_numbers_country() {
    let app = router_with(|_| {}).await;
    let cfg = config(&app, Carrier::Vobiz).await;
    let workflow = app.create_workflow("Mumbai").await;
    let body = json!({"address": "02271264296", "country_code": "IN", "inbound_workflow_id": workflow["id"]});
    let indian = app.create_number(&cfg, body).await;
    let (headers, body) = start(Carrier::Vobiz, "v-in", "02271264296", "n-in");
    post(&app, "", &headers, body.as_bytes()).await;
    let call = &logged_calls(&app).await[0];
    assert_eq!(
        (&call["outcome"], &call["phone_number_id"]),
        (&json!("routed"), &indian["id"])
    );
    assert_eq!(call["to_normalized"], "+912271264296");
}

// ---------------------------------------------------------------- §8.10 and §6: bad input

#[tokio::test]
async fn bad_input_gets_its_document_with_200_and_writes_nothing() {
    let l = line_with(Carrier::Twilio, |c| c.server.max_body_bytes = 1024).await;
    let (headers, body) = start(Carrier::Twilio, "CA-bad", "+14155550100", "");
    // Unknown carrier, oversize body: the generic hangup.
    assert_eq!(post(&l.app, "", &[], b"a=1&b=2").await, generic_hangup());
    let big = format!("{body}&Pad={}", "x".repeat(2000));
    assert_eq!(post(&l.app, "", &headers, big.as_bytes()).await, generic_hangup());
    // A detected carrier whose body cannot be parsed: its pre-auth reject.
    for bad in [&b"To=%FF%FE"[..], b"To=\xff\xfe", b"%%%=="] {
        assert_eq!(post(&l.app, "", &headers, bad).await, rejected(Carrier::Twilio));
    }
    // A signature header with garbage, a query that marks a JSON webhook.
    for sig in ["====", "GZbu,QQ", "\u{e9}t\u{e9}"] {
        let garbage = vec![("X-Twilio-Signature", sig.to_string())];
        assert_eq!(
            post(&l.app, "", &garbage, body.as_bytes()).await,
            rejected(Carrier::Twilio)
        );
    }
    assert_eq!(
        post(&l.app, "bodySHA256=x", &headers, body.as_bytes()).await,
        rejected(Carrier::Twilio)
    );

    // JSON and other types, and methods other than POST.
    let json = l
        .app
        .client
        .post(format!("{}{RUN}", l.app.address))
        .header("X-Twilio-Signature", "x")
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 200);
    assert_eq!(json.text().await.unwrap(), rejected(Carrier::Twilio));
    let text = l
        .app
        .client
        .post(format!("{}{RUN}", l.app.address))
        .header("X-Twilio-Signature", "x")
        .header("Content-Type", "text/plain")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 200);
    assert_eq!(text.text().await.unwrap(), generic_hangup());
    let get = l
        .app
        .client
        .get(format!("{}{RUN}", l.app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);

    assert!(logged_calls(&l.app).await.is_empty());
}

#[tokio::test]
async fn interpolated_values_are_escaped() {
    let l = line_with(Carrier::Plivo, |c| {
        c.inbound.reject_message = "Closed <today> & \"tomorrow\"".into()
    })
    .await;
    let (headers, body) = start(Carrier::Plivo, "p-1", "+14155550199", "n-1");
    let answer = post(&l.app, "", &headers, body.as_bytes()).await;
    assert!(
        answer.contains("<Speak>Closed &lt;today&gt; &amp; &quot;tomorrow&quot;</Speak>"),
        "{answer}"
    );
}

// ---------------------------------------------------------------- §10: the call log

#[tokio::test]
async fn the_call_log_records_each_decision() {
    let l = line(Carrier::Twilio).await;
    let unbound = number(&l.app, &l.cfg, "+14155550101", None).await;
    let inactive = number(&l.app, &l.cfg, "+14155550102", Some(&l.workflow)).await;
    let path = format!("{}/{}", crate::helpers::numbers_path(&l.cfg), inactive["id"]);
    l.app
        .call(Method::PUT, &path, Some(json!({"is_active": false})), 200)
        .await;
    let cases = [
        ("CA-1", "+14155550100", "routed"),
        ("CA-2", "+14155550199", "number_not_configured"),
        ("CA-3", "+14155550101", "workflow_not_bound"),
        ("CA-4", "+14155550102", "number_inactive"),
    ];
    for (call, to, _) in cases {
        let (headers, body) = start(Carrier::Twilio, call, to, "");
        let answer = post(&l.app, "", &headers, body.as_bytes()).await;
        if call != "CA-1" {
            assert_eq!(answer, rejected(Carrier::Twilio), "{call}");
        }
    }
    let calls = logged_calls(&l.app).await;
    let seen: Vec<(&str, &str)> = calls
        .iter()
        .map(|c| (c["call_id"].as_str().unwrap(), c["outcome"].as_str().unwrap()))
        .collect();
    let expected: Vec<(&str, &str)> = cases.iter().rev().map(|(c, _, o)| (*c, *o)).collect();
    assert_eq!(seen, expected, "newest first");
    assert_eq!(calls[1]["phone_number_id"], unbound["id"]);
    assert_eq!(calls[1]["workflow_id"], Value::Null);
    assert_eq!(calls[2]["phone_number_id"], Value::Null);

    // Filters and paging.
    let routed = call_log(&l.app, "?outcome=routed").await;
    assert_eq!(routed["calls"].as_array().unwrap().len(), 1);
    let by_number = call_log(&l.app, &format!("?phone_number_id={}", unbound["id"])).await;
    assert_eq!(by_number["calls"][0]["call_id"], "CA-3");
    // The inactive number is bound too: its row names the workflow.
    let by_workflow = call_log(&l.app, &format!("?workflow_id={}", l.workflow["id"])).await;
    assert_eq!(by_workflow["calls"].as_array().unwrap().len(), 2);
    let page = call_log(&l.app, "?limit=3").await;
    assert_eq!(page["calls"].as_array().unwrap().len(), 3);
    let next = page["next_before_id"].clone();
    assert_eq!(next, calls[2]["id"]);
    let rest = call_log(&l.app, &format!("?limit=3&before_id={next}")).await;
    assert_eq!(rest["calls"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_before_id"], Value::Null);
    let one = l
        .app
        .call(Method::GET, &format!("{CALLS}/{}", calls[0]["id"]), None, 200)
        .await;
    assert_eq!(one, calls[0]);

    // Bad query values: 422 in the contract's shape.
    for (query, kind) in [
        ("?limit=0", "greater_than_equal"),
        ("?limit=501", "less_than_equal"),
        ("?limit=x", "int_parsing"),
        ("?before_id=-1", "greater_than"),
        ("?outcome=answered", "enum"),
    ] {
        let bad = l.app.call(Method::GET, &format!("{CALLS}{query}"), None, 422).await;
        assert_eq!(bad["detail"][0]["type"], kind, "{query}");
        assert_eq!(bad["detail"][0]["loc"][0], "query", "{query}");
    }
}

#[tokio::test]
async fn the_call_log_shows_no_other_organizations_calls() {
    let l = line(Carrier::Twilio).await;
    let (headers, body) = start(Carrier::Twilio, "CA-1", "+14155550100", "");
    post(&l.app, "", &headers, body.as_bytes()).await;
    let id = logged_calls(&l.app).await[0]["id"].clone();
    let other = l.app.org_key("globex");
    let list = l.app.call_as(&other, Method::GET, CALLS, None, 200).await;
    assert_eq!(list, json!({"calls": [], "next_before_id": null}));
    let one = l
        .app
        .call_as(&other, Method::GET, &format!("{CALLS}/{id}"), None, 404)
        .await;
    assert_eq!(one, json!({"detail": "Inbound call not found"}));
    assert_eq!(l.app.send(Method::GET, CALLS, None, None).await.status(), 401);
}

#[tokio::test]
async fn without_a_media_target_a_bound_call_is_refused_as_no_media_target() {
    let l = line_with(Carrier::Twilio, |c| c.inbound.media_ws_url = String::new()).await;
    let (headers, body) = start(Carrier::Twilio, "CA-1", "+14155550100", "");
    assert_eq!(
        post(&l.app, "", &headers, body.as_bytes()).await,
        rejected(Carrier::Twilio)
    );
    assert_eq!(logged_calls(&l.app).await[0]["outcome"], "no_media_target");
}

#[tokio::test]
async fn old_calls_are_deleted_at_start() {
    let l = line_with(Carrier::Twilio, |c| c.inbound.call_log_days = 7).await;
    for call in ["CA-old", "CA-new"] {
        let (headers, body) = start(Carrier::Twilio, call, "+14155550100", "");
        post(&l.app, "", &headers, body.as_bytes()).await;
    }
    let conn = rusqlite::Connection::open(l.app.db_path()).unwrap();
    conn.execute(
        "UPDATE inbound_calls SET created_at = '2000-01-01T00:00:00.000000Z' WHERE call_id = 'CA-old'",
        [],
    )
    .unwrap();
    let app = l.app.restart().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let calls = logged_calls(&app).await;
        if calls.len() == 1 {
            assert_eq!(calls[0]["call_id"], "CA-new");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the old call is still there");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

// ------------------------------------------------ parked configurations (TRUNKS.md §5.5)

/// Runs `telebind configs ARGS` against `app`'s database, asserting success.
fn configs_cli(app: &TestApp, args: &[&str]) {
    let mut all = vec!["configs"];
    all.extend_from_slice(args);
    let out = app.cli(&all);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn a_parked_configuration_takes_no_calls_until_it_is_reactivated() {
    for carrier in CARRIERS {
        let l = line(carrier).await;
        let id = l.cfg.to_string();
        configs_cli(&l.app, &["deactivate", &id, "--reason", "parked"]);
        let (headers, body) = start(carrier, "CA-parked", "+14155550100", "11111111111111111111");
        let answer = post(&l.app, "", &headers, body.as_bytes()).await;
        assert_eq!(answer, rejected(carrier), "{carrier:?}");
        assert!(logged_calls(&l.app).await.is_empty(), "{carrier:?}");

        configs_cli(&l.app, &["reactivate", &id]);
        let (headers, body) = start(carrier, "CA-back", "+14155550100", "22222222222222222222");
        let answer = post(&l.app, "", &headers, body.as_bytes()).await;
        let calls = logged_calls(&l.app).await;
        assert_eq!(calls.len(), 1, "{carrier:?}");
        assert_eq!(answer, connected(carrier, &l.workflow["id"], &calls[0]["id"]));
    }
    // Plivo without an account id: the candidates found by the called number.
    let l = line(Carrier::Plivo).await;
    configs_cli(&l.app, &["deactivate", &l.cfg.to_string(), "--reason", "parked"]);
    let answer = post(
        &l.app,
        "",
        &plivo_headers(PLIVO_SIG, PLIVO_NONCE),
        PLIVO_BODY.as_bytes(),
    )
    .await;
    assert_eq!(answer, rejected(Carrier::Plivo));
    assert!(logged_calls(&l.app).await.is_empty());
}

// ------------------------------------------------- candidates kept since the last commit

/// The line's number as a form carries it.
const LINE_TO: &str = "%2B14155550100";

const CANDIDATE_HITS: (&str, &[(&str, &str)]) =
    ("telebind_inbound_candidate_cache_lookups_total", &[("result", "hit")]);

async fn candidate_hits(app: &TestApp) -> f64 {
    value(&samples(app).await, CANDIDATE_HITS.0, CANDIDATE_HITS.1)
}

#[tokio::test]
async fn a_flood_of_forged_requests_is_verified_against_kept_candidates() {
    let l = line(Carrier::Twilio).await;
    let (_, body) = twilio_start(TWILIO_TOKEN, "CA-forged", LINE_TO);
    let forged = twilio_headers("Zm9yZ2VkIHNpZ25hdHVyZSAyMGI=");
    assert_eq!(
        post(&l.app, "", &forged, body.as_bytes()).await,
        rejected(Carrier::Twilio)
    );
    let before = candidate_hits(&l.app).await;
    assert_eq!(
        post(&l.app, "", &forged, body.as_bytes()).await,
        rejected(Carrier::Twilio)
    );
    // Other tests in this process count too, so only "at least one more".
    assert!(
        candidate_hits(&l.app).await > before,
        "the second request read the database again"
    );
    assert!(logged_calls(&l.app).await.is_empty());
}

#[tokio::test]
async fn a_new_secret_counts_from_the_next_request_though_the_old_one_was_kept() {
    const NEW_TOKEN: &str = "fedcba9876543210fedcba9876543210";
    let l = line(Carrier::Twilio).await;
    let (forged_headers, forged_body) = twilio_start("not-the-token", "CA-forged", LINE_TO);
    // Twice: the candidates, with the old secret, are now kept.
    for _ in 0..2 {
        let answer = post(&l.app, "", &forged_headers, forged_body.as_bytes()).await;
        assert_eq!(answer, rejected(Carrier::Twilio));
    }

    let config = json!({"config": {"provider": "twilio", "account_sid": TWILIO_SID, "auth_token": NEW_TOKEN}});
    l.app
        .call(Method::PUT, &format!("{CONFIGS}/{}", l.cfg), Some(config), 200)
        .await;
    let (headers, body) = twilio_start(TWILIO_TOKEN, "CA-old-secret", LINE_TO);
    assert_eq!(
        post(&l.app, "", &headers, body.as_bytes()).await,
        rejected(Carrier::Twilio)
    );
    let (headers, body) = twilio_start(NEW_TOKEN, "CA-new-secret", LINE_TO);
    let answer = post(&l.app, "", &headers, body.as_bytes()).await;
    let calls = logged_calls(&l.app).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["call_id"], "CA-new-secret");
    assert_eq!(answer, connected(Carrier::Twilio, &l.workflow["id"], &calls[0]["id"]));

    // Parked by another process (the CLI): seen at the next request too.
    configs_cli(&l.app, &["deactivate", &l.cfg.to_string(), "--reason", "parked"]);
    let (headers, body) = twilio_start(NEW_TOKEN, "CA-parked", LINE_TO);
    assert_eq!(
        post(&l.app, "", &headers, body.as_bytes()).await,
        rejected(Carrier::Twilio)
    );
    assert_eq!(logged_calls(&l.app).await.len(), 1);
}

#[tokio::test]
async fn a_number_unbound_after_a_routed_call_is_unbound_for_the_next() {
    let l = line(Carrier::Twilio).await;
    let (headers, body) = twilio_start(TWILIO_TOKEN, "CA-first", LINE_TO);
    let first = post(&l.app, "", &headers, body.as_bytes()).await;
    let calls = logged_calls(&l.app).await;
    assert_eq!(first, connected(Carrier::Twilio, &l.workflow["id"], &calls[0]["id"]));

    let path = format!("{}/{}", numbers_path(&l.cfg), l.number["id"]);
    let unbind = json!({"clear_inbound_workflow": true});
    l.app.call(Method::PUT, &path, Some(unbind), 200).await;
    let (headers, body) = twilio_start(TWILIO_TOKEN, "CA-second", LINE_TO);
    assert_eq!(
        post(&l.app, "", &headers, body.as_bytes()).await,
        rejected(Carrier::Twilio)
    );
    let calls = logged_calls(&l.app).await;
    assert_eq!(calls[0]["call_id"], "CA-second");
    assert_eq!(calls[0]["outcome"], "workflow_not_bound");
}
