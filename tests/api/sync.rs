//! The sync service through the real server: pushes outlive their clients,
//! never overlap per number, coalesce, and happen only when where a number's
//! calls go changes; a refused save makes nothing at the carrier.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{CarrierSetup, CONFIGS, SYNC_TIMEOUT_MS};

const SID: &str = "AC0123456789abcdef0123456789abcd";
const TOKEN: &str = "twilio-token-0123456789";
const NUMBER: &str = "+14155550100";
const LOOKUP: &str = "^/2010-04-01/Accounts/AC0123456789abcdef0123456789abcd/IncomingPhoneNumbers.json$";
const UPDATE: &str = "^/2010-04-01/Accounts/AC0123456789abcdef0123456789abcd/IncomingPhoneNumbers/PN123.json$";

/// A Twilio configuration with an unbound `NUMBER`, whose carrier then
/// answers the lookup after `lookup_delay`; returns the number's path.
async fn twilio_number(lookup_delay: Duration) -> (CarrierSetup, String) {
    let s = CarrierSetup::start(
        json!({"provider": "twilio", "account_sid": SID, "auth_token": TOKEN}),
        &[SID, TOKEN],
    )
    .await;
    let numbers = json!({"incoming_phone_numbers": [{"sid": "PN123", "phone_number": NUMBER}]});
    s.carrier
        .answer("GET", LOOKUP, 200, numbers.clone(), Duration::ZERO)
        .await;
    let path = s.unbound_number(NUMBER).await;
    s.carrier.server.reset().await;
    s.carrier.answer("GET", LOOKUP, 200, numbers, lookup_delay).await;
    s.carrier
        .answer("POST", UPDATE, 200, json!({"sid": "PN123"}), Duration::ZERO)
        .await;
    (s, path)
}

/// The verb of each request the carrier received, in order.
async fn carrier_methods(s: &CarrierSetup) -> Vec<String> {
    s.carrier
        .requests()
        .await
        .iter()
        .map(|r| r.method.to_string())
        .collect()
}

/// Binds the number at `path` and gives up after 100 ms, before the carrier answers.
async fn bind_and_give_up(s: &CarrierSetup, path: &str) {
    let gave_up = s
        .app
        .client
        .put(format!("{}{path}", s.app.address))
        .header("X-API-Key", &s.app.key)
        .json(&json!({"inbound_workflow_id": s.workflow["id"]}))
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(gave_up.is_err(), "the client gave up first");
}

/// Waits (up to 10 s) for `what` to hold.
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_push_outlives_a_server_stopped_mid_push_and_is_recorded() {
    let (s, path) = twilio_number(Duration::from_millis(500)).await;
    let bind = tokio::spawn({
        let (client, url, key) = (
            s.app.client.clone(),
            format!("{}{path}", s.app.address),
            s.app.key.clone(),
        );
        let body = json!({"inbound_workflow_id": s.workflow["id"]});
        async move { client.put(url).header("X-API-Key", key).json(&body).send().await }
    });
    while s.request_count().await == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The carrier is looking the number up: the request is dropped mid-push.
    s.app.stop_now().await;
    assert!(bind.await.unwrap().is_err(), "the request was never answered");
    let id: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
    let conn = rusqlite::Connection::open(s.app.db_path()).unwrap();
    let recorded = eventually("the push is recorded", || {
        conn.query_row(
            "SELECT inbound_workflow_id, last_sync_ok, last_sync_attached FROM phone_numbers WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, Option<i64>>(0)?,
                    r.get::<_, Option<bool>>(1)?,
                    r.get::<_, Option<bool>>(2)?,
                ))
            },
        )
        .ok()
        .filter(|(_, ok, _)| ok.is_some())
    })
    .await;
    assert_eq!(recorded, (s.workflow["id"].as_i64(), Some(true), Some(true)));
    let methods = carrier_methods(&s).await;
    assert_eq!(methods, ["GET", "POST"], "the push went all the way");
}

#[tokio::test]
async fn a_push_never_overlaps_one_whose_client_has_gone() {
    let (s, path) = twilio_number(Duration::from_millis(600)).await;
    bind_and_give_up(&s, &path).await;
    let synced = s.app.call(Method::POST, &format!("{path}/sync"), None, 200).await;
    assert_eq!(synced["provider_sync"]["ok"], true);
    // One push at a time: the second lookup only after the first push's update.
    let methods = carrier_methods(&s).await;
    assert_eq!(methods, ["GET", "POST", "GET", "POST"]);
}

#[tokio::test]
async fn concurrent_pushes_of_one_number_share_results_instead_of_queueing() {
    // The carrier never answers within the deadline.
    let (s, path) = twilio_number(Duration::from_secs(30)).await;
    let sync_path = format!("{path}/sync");
    let started = Instant::now();
    let pushes = (0..16).map(|_| async {
        let answer = s.app.call(Method::POST, &sync_path, None, 200).await;
        (answer, started.elapsed())
    });
    let answers = futures_util::future::join_all(pushes).await;
    for (answer, elapsed) in &answers {
        assert_eq!(answer["provider_sync"]["ok"], false, "{answer}");
        // The push in flight, then the one every later request shares.
        assert!(
            *elapsed < Duration::from_millis(2 * SYNC_TIMEOUT_MS + 1500),
            "answered after {elapsed:?}"
        );
    }
    let lookups = s.carrier.requests().await.len();
    assert!((1..=3).contains(&lookups), "{lookups} pushes for 16 requests");
}

#[tokio::test]
async fn rebinding_a_bound_number_to_another_workflow_does_not_reach_the_carrier() {
    let (s, path) = twilio_number(Duration::ZERO).await;
    let bound = s.bind(&path).await;
    assert_eq!(bound["provider_sync"]["ok"], true);
    let before = s.request_count().await;
    let other = s.app.create_workflow("Sales").await;
    let rebound = s.put(&path, json!({"inbound_workflow_id": other["id"]})).await;
    assert_eq!(rebound["inbound_workflow_id"], other["id"]);
    assert_eq!(rebound["provider_sync"], Value::Null, "the webhook URL is the same");
    let same = s.put(&path, json!({"inbound_workflow_id": other["id"]})).await;
    assert_eq!(same["provider_sync"], Value::Null);
    assert_eq!(s.request_count().await, before, "no carrier request");
    // Whereas a change of where calls go is pushed.
    let cleared = s.unbind(&path).await;
    assert_eq!(cleared["provider_sync"]["ok"], true);
    assert_eq!(s.request_count().await, before + 2);
}

#[tokio::test]
async fn a_duplicate_configuration_name_makes_nothing_at_the_carrier() {
    let plivo = |application_id: Option<&str>| {
        json!({"name": "Main line", "config": {"provider": "plivo", "auth_id": "MAXXXXXXXXXXXXXXXXXX",
               "auth_token": "plivo-token-0123456789", "application_id": application_id}})
    };
    let s = CarrierSetup::start(plivo(Some("app-1"))["config"].clone(), &[]).await;
    let named = s.app.call(Method::POST, CONFIGS, Some(plivo(Some("app-1"))), 200).await;
    // Without an application, saving would create one at Plivo.
    let refused = s.app.call(Method::POST, CONFIGS, Some(plivo(None)), 409).await;
    assert!(refused["detail"]
        .as_str()
        .unwrap()
        .contains("'Main line' already exists"));
    let rename = json!({"name": "Main line", "config": plivo(None)["config"]});
    let other = s
        .app
        .call(
            Method::POST,
            CONFIGS,
            Some(json!({"name": "Other", "config": plivo(Some("app-2"))["config"]})),
            200,
        )
        .await;
    s.app
        .call(Method::PUT, &format!("{CONFIGS}/{}", other["id"]), Some(rename), 409)
        .await;
    assert!(named["id"].is_number());
    assert_eq!(s.request_count().await, 0, "no application was created at Plivo");
}
