//! The sync engine against a mock Twilio (PROVIDERS.md §4–§5, API.md §5.4–§5.7).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use wiremock::Request;

use crate::helpers::{numbers_path, CarrierSetup, MockCarrier, SYNC_TIMEOUT_MS};

const SID: &str = "AC0123456789abcdef0123456789abcd";
const TOKEN: &str = "twilio-token-0123456789";
const BASIC: &str = "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2Q6dHdpbGlvLXRva2VuLTAxMjM0NTY3ODk=";
const NUMBER: &str = "+14155550100";
const WEBHOOK: &str = "http://telebind.test/api/v1/telephony/inbound/run";
const LOOKUP: &str = "^/2010-04-01/Accounts/AC0123456789abcdef0123456789abcd/IncomingPhoneNumbers.json$";
const UPDATE: &str = "^/2010-04-01/Accounts/AC0123456789abcdef0123456789abcd/IncomingPhoneNumbers/PN123.json$";

/// Twilio that owns `NUMBER` and accepts updates.
async fn owning(carrier: &MockCarrier) {
    let numbers = json!({"incoming_phone_numbers": [{"sid": "PN999", "phone_number": "+14155550999"},
                                                    {"sid": "PN123", "phone_number": NUMBER}]});
    carrier.answer("GET", LOOKUP, 200, numbers, Duration::ZERO).await;
    carrier
        .answer("POST", UPDATE, 200, json!({"sid": "PN123"}), Duration::ZERO)
        .await;
}

/// A Twilio configuration that owns `NUMBER`, and a workflow.
async fn setup() -> CarrierSetup {
    let s = CarrierSetup::start(
        json!({"provider": "twilio", "account_sid": SID, "auth_token": TOKEN}),
        &[SID, TOKEN],
    )
    .await;
    owning(&s.carrier).await;
    s
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
    let s = setup().await;
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
    let s = setup().await;
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
}

#[tokio::test]
async fn deactivating_a_bound_number_detaches_it() {
    let s = setup().await;
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
}

#[tokio::test]
async fn a_label_only_edit_makes_no_carrier_request() {
    let s = setup().await;
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
    let s = setup().await;
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
    let s = setup().await;
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
    owning(&s.carrier).await;
    let retried = s
        .app
        .call(Method::PUT, &path, Some(json!({"label": "again"})), 200)
        .await;
    assert_eq!(retried["provider_sync"], json!({"ok": true, "message": null}));
    assert_eq!(s.request_count().await, 2, "lookup and POST");
}

#[tokio::test]
async fn a_hanging_carrier_does_not_hold_up_other_requests() {
    let s = setup().await;
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
    let s = setup().await;
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
    let s = setup().await;
    let path = s.bound_number(NUMBER).await;
    let deleted = s.app.call(Method::DELETE, &path, None, 200).await;
    assert_eq!(
        deleted,
        json!({"message": "Phone number deleted", "provider_sync": {"ok": true, "message": null}})
    );
}

#[tokio::test]
async fn deleting_a_never_bound_number_makes_no_carrier_request() {
    let s = setup().await;
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
    let s = setup().await;
    let (created, _) = s
        .number(json!({"address": NUMBER, "inbound_workflow_id": s.workflow["id"]}))
        .await;
    assert_eq!(created["provider_sync"], json!({"ok": true, "message": null}));
    let requests = s.carrier.requests().await;
    let kinds: Vec<&str> = requests.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(kinds, ["GET", "GET", "POST"], "ownership, lookup, attach");
    assert!(is_lookup(&requests[0]));
}

#[tokio::test]
async fn a_number_the_account_does_not_own_is_refused_with_400() {
    let s = setup().await;
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
    let s = setup().await;
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
    let s = setup().await;
    let path = s.bound_number(NUMBER).await;
    let before = s.request_count().await;
    let synced = s.app.call(Method::POST, &format!("{path}/sync"), None, 200).await;
    assert_eq!(synced["provider_sync"], json!({"ok": true, "message": null}));
    let requests = s.requests_after(before).await;
    assert_eq!(
        form(&requests[1]),
        [
            ("VoiceUrl".into(), WEBHOOK.into()),
            ("VoiceMethod".into(), "POST".into())
        ]
    );
}

#[tokio::test]
async fn after_concurrent_updates_the_carrier_holds_the_final_stored_binding() {
    let s = setup().await;
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
    let last_post = s
        .carrier
        .requests()
        .await
        .into_iter()
        .rfind(|r| r.method.as_str() == "POST")
        .unwrap();
    let voice_url = form(&last_post)[0].1.clone();
    let expected = if stored["inbound_workflow_id"].is_null() {
        ""
    } else {
        WEBHOOK
    };
    assert_eq!(voice_url, expected, "stored: {stored}");
    assert_eq!(
        stored["last_provider_sync"]["attached"],
        !stored["inbound_workflow_id"].is_null()
    );
}
