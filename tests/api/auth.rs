use reqwest::Method;
use serde_json::json;

use crate::helpers::{expect_json, spawn_app};

#[tokio::test]
async fn missing_key_is_401_with_the_reference_wording() {
    let app = spawn_app().await;
    let response = app.send(Method::GET, "/api/v1/workflows", None, None).await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body = expect_json(response, 401, "no key").await;
    assert_eq!(body, json!({"detail": "Authorization header required"}));
}

#[tokio::test]
async fn unknown_key_is_401_invalid() {
    let app = spawn_app().await;
    let response = app.send(Method::GET, "/api/v1/workflows", Some("tb_nope"), None).await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body = expect_json(response, 401, "bad key").await;
    assert_eq!(body, json!({"detail": "Invalid or expired API key"}));
}

#[tokio::test]
async fn bearer_form_authenticates() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/api/v1/workflows", app.address))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(response, 200, "bearer").await, json!({"workflows": []}));
}

#[tokio::test]
async fn x_api_key_wins_over_bearer() {
    let app = spawn_app().await;
    let url = format!("{}/api/v1/workflows", app.address);
    let good_header = app
        .client
        .get(&url)
        .header("X-API-Key", &app.key)
        .bearer_auth("tb_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(good_header.status(), 200);
    let bad_header = app
        .client
        .get(&url)
        .header("X-API-Key", "tb_wrong")
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_header.status(), 401);
}

#[tokio::test]
async fn key_archived_over_http_fails_at_once_and_works_again_when_reactivated() {
    let app = spawn_app().await;
    let created = app
        .call(Method::POST, "/api/v1/user/api-keys", Some(json!({"name": "ci"})), 200)
        .await;
    let key = created["api_key"].as_str().unwrap().to_string();
    let id = created["id"].as_i64().unwrap();
    app.call_as(&key, Method::GET, "/api/v1/workflows", None, 200).await;

    let archived = app
        .call(Method::DELETE, &format!("/api/v1/user/api-keys/{id}"), None, 200)
        .await;
    assert_eq!(
        archived,
        json!({"success": true, "message": "API key archived successfully"})
    );
    let denied = app.call_as(&key, Method::GET, "/api/v1/workflows", None, 401).await;
    assert_eq!(denied["detail"], "Invalid or expired API key");

    let reactivated = app
        .call(
            Method::PUT,
            &format!("/api/v1/user/api-keys/{id}/reactivate"),
            None,
            200,
        )
        .await;
    assert_eq!(
        reactivated,
        json!({"success": true, "message": "API key reactivated successfully"})
    );
    app.call_as(&key, Method::GET, "/api/v1/workflows", None, 200).await;
}

#[tokio::test]
async fn key_revoked_on_the_cli_while_the_server_runs_fails_within_a_second() {
    let app = spawn_app().await;
    let key = app.org_key("acme");
    app.call_as(&key, Method::GET, "/api/v1/workflows", None, 200).await;

    let out = app.cli(&["keys", "revoke", &key[..11]]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Another process changed the file: the server may trust its cache for under a second (API.md §2).
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    app.call_as(&key, Method::GET, "/api/v1/workflows", None, 401).await;
}

#[tokio::test]
async fn authenticated_reads_never_wait_for_a_write() {
    let app = spawn_app().await;
    // Another process holds the write lock: a request that wrote while
    // authenticating would wait for it and fail after the busy timeout.
    let conn = rusqlite::Connection::open(app.db_path()).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    app.call(Method::GET, "/api/v1/workflows", None, 200).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    conn.execute_batch("ROLLBACK").unwrap();
}

#[tokio::test]
async fn last_used_at_is_recorded_in_the_background_at_most_once_a_minute() {
    let app = spawn_app().await;
    let first_use = async {
        loop {
            let keys = app.call(Method::GET, "/api/v1/user/api-keys", None, 200).await;
            if let Some(at) = keys[0]["last_used_at"].as_str() {
                return at.to_string();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), first_use)
        .await
        .expect("last_used_at is set");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let keys = app.call(Method::GET, "/api/v1/user/api-keys", None, 200).await;
    assert_eq!(keys[0]["last_used_at"], first.as_str(), "refreshed within the minute");
}

#[tokio::test]
async fn another_orgs_workflow_is_not_found_on_every_route() {
    let app = spawn_app().await;
    let workflow = app.create_workflow("Sales line").await;
    let id = workflow["id"].as_i64().unwrap();
    let other = app.org_key("acme");

    let path = format!("/api/v1/workflows/{id}");
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({"name": "x"}))),
        (Method::DELETE, None),
    ] {
        let answer = app.call_as(&other, method, &path, body, 404).await;
        assert_eq!(answer, json!({"detail": "Workflow not found"}));
    }
    assert_eq!(
        app.call_as(&other, Method::GET, "/api/v1/workflows", None, 200).await,
        json!({"workflows": []})
    );
    // Untouched for its owner.
    assert_eq!(app.call(Method::GET, &path, None, 200).await["name"], "Sales line");
}
