//! `X-Request-Id`: echoed or generated, and named in the log lines a request
//! causes, the carrier push included.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{existing_db, numbers_path, run_cli, spawn_app, ServerProcess};

#[tokio::test]
async fn a_sane_request_id_is_echoed_and_a_missing_or_odd_one_replaced() {
    let app = spawn_app().await;
    let url = format!("{}/api/v1/workflows", app.address);
    let id_of = |response: &reqwest::Response| response.headers()["x-request-id"].to_str().unwrap().to_string();
    let echoed = app
        .client
        .get(&url)
        .header("X-Request-Id", "req-7.a_b:c")
        .send()
        .await
        .unwrap();
    assert_eq!(id_of(&echoed), "req-7.a_b:c");
    // Errors carry it too.
    let unauthorized = app.client.get(&url).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);
    let generated = id_of(&unauthorized);
    assert!(
        generated.len() == 16 && generated.chars().all(|c| c.is_ascii_hexdigit()),
        "{generated}"
    );
    let odd = app.client.get(&url).header("X-Request-Id", "a b").send().await.unwrap();
    assert_ne!(id_of(&odd), "a b");
    assert_eq!(id_of(&odd).len(), 16);
}

#[tokio::test]
async fn the_access_log_and_the_push_name_the_request_id() {
    let (_dir, db) = existing_db();
    let key = {
        let out = run_cli(&db, &["keys", "create", "--org", "o"]);
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let server = ServerProcess::start(&db, &[]).await;
    let client = reqwest::Client::new();
    let call = |method: Method, path: &str, body: serde_json::Value| {
        client
            .request(method, format!("{}{path}", server.base))
            .header("X-API-Key", &key)
            .header("X-Request-Id", "req-bind-42")
            .json(&body)
            .send()
    };
    let ari = json!({"name": "PBX", "config": {"provider": "ari", "ari_endpoint": "http://pbx:8088",
                     "app_name": "tb", "app_password": "pw-123456"}});
    let created = call(Method::POST, "/api/v1/organizations/telephony-configs", ari)
        .await
        .unwrap();
    let config = created.json::<serde_json::Value>().await.unwrap()["id"].clone();
    let workflow: serde_json::Value = call(Method::POST, "/api/v1/workflows", json!({"name": "W"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bound = call(
        Method::POST,
        &numbers_path(&config),
        json!({"address": "+14155550100", "inbound_workflow_id": workflow["id"]}),
    )
    .await
    .unwrap();
    assert_eq!(bound.headers()["x-request-id"], "req-bind-42");
    assert_eq!(
        bound.json::<serde_json::Value>().await.unwrap()["provider_sync"]["ok"],
        true
    );
    server.terminate();
    let (status, log) = server.exited().await;
    assert!(status.success(), "{status:?}: {log}");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("req-bind-42")).collect();
    assert!(
        lines.iter().any(|l| l.contains("ari attach of number")),
        "the push names the request: {log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("POST /api/v1/organizations/telephony-configs/")),
        "the access log names the request: {log}"
    );
}
