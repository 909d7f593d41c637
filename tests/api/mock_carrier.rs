//! The mock carrier that provider tests rely on behaves as they assume.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::MockCarrier;

#[tokio::test]
async fn the_mock_carrier_records_requests_and_answers_as_configured() {
    let carrier = MockCarrier::start().await;
    carrier
        .answer("POST", "^/slow$", 201, json!({"ok": 1}), Duration::from_millis(300))
        .await;
    carrier.answer("GET", "^/text$", 500, "boom", Duration::ZERO).await;

    let client = reqwest::Client::new();
    let started = Instant::now();
    let slow = client
        .post(format!("{}/slow", carrier.url()))
        .body("a=b")
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(slow.status(), 201);
    assert_eq!(slow.json::<serde_json::Value>().await.unwrap(), json!({"ok": 1}));
    let text = client.get(format!("{}/text", carrier.url())).send().await.unwrap();
    assert_eq!(
        (text.status().as_u16(), text.text().await.unwrap()),
        (500, "boom".to_string())
    );

    let seen = carrier.requests().await;
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].url.path(), seen[0].body.as_slice()),
        ("POST", "/slow", b"a=b".as_slice())
    );
}
