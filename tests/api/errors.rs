use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{expect_json, spawn_app, spawn_app_with};

#[tokio::test]
async fn unknown_route_is_json_404() {
    let app = spawn_app().await;
    let response = app
        .send(Method::GET, "/api/v1/nothing-here", Some(&app.key), None)
        .await;
    assert_eq!(
        expect_json(response, 404, "unknown").await,
        json!({"detail": "Not Found"})
    );
}

#[tokio::test]
async fn wrong_method_is_json_405() {
    let app = spawn_app().await;
    for path in ["/api/v1/workflows", "/api/v1/workflows/1", "/healthz"] {
        let response = app.send(Method::PATCH, path, Some(&app.key), None).await;
        assert_eq!(
            expect_json(response, 405, path).await,
            json!({"detail": "Method Not Allowed"})
        );
    }
}

#[tokio::test]
async fn malformed_json_is_422_json_invalid() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/api/v1/workflows", app.address))
        .header("X-API-Key", &app.key)
        .header("Content-Type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    let body = expect_json(response, 422, "bad json").await;
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    assert_eq!(body["detail"][0]["loc"][0], "body");
    assert_eq!(body["detail"][0]["msg"], "JSON decode error");
}

#[tokio::test]
async fn missing_and_non_object_bodies_are_422() {
    let app = spawn_app().await;
    let url = format!("{}/api/v1/workflows", app.address);
    let empty = app
        .client
        .post(&url)
        .header("X-API-Key", &app.key)
        .send()
        .await
        .unwrap();
    let body = expect_json(empty, 422, "no body").await;
    assert_eq!(
        body,
        json!({"detail": [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": null}]})
    );
    let list = app
        .call(Method::POST, "/api/v1/workflows", Some(json!(["name"])), 422)
        .await;
    assert_eq!(list["detail"][0]["type"], "model_attributes_type");
    assert_eq!(list["detail"][0]["loc"], json!(["body"]));
}

#[tokio::test]
async fn non_positive_or_non_integer_path_ids_are_422_in_path() {
    let app = spawn_app().await;
    let text = app.call(Method::GET, "/api/v1/workflows/abc", None, 422).await;
    assert_eq!(
        text,
        json!({"detail": [{"type": "int_parsing", "loc": ["path", "workflow_id"],
            "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "abc"}]})
    );
    let zero = app.call(Method::DELETE, "/api/v1/workflows/0", None, 422).await;
    assert_eq!(zero["detail"][0]["type"], "greater_than");
    assert_eq!(zero["detail"][0]["loc"], json!(["path", "workflow_id"]));
}

#[tokio::test]
async fn bad_query_flags_are_422_in_query() {
    let app = spawn_app().await;
    let body = app
        .call(Method::GET, "/api/v1/user/api-keys?include_archived=maybe", None, 422)
        .await;
    assert_eq!(body["detail"][0]["type"], "bool_parsing");
    assert_eq!(body["detail"][0]["loc"], json!(["query", "include_archived"]));
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let app = spawn_app_with(|c| c.server.max_body_bytes = 1024).await;
    let big = json!({"name": "x".repeat(2048)});
    let body = app.call(Method::POST, "/api/v1/workflows", Some(big), 413).await;
    assert!(body["detail"].is_string());
    // At the limit is fine.
    app.call(
        Method::POST,
        "/api/v1/workflows",
        Some(json!({"name": "y".repeat(200)})),
        200,
    )
    .await;
}

#[tokio::test]
async fn healthz_needs_no_key() {
    let app = spawn_app().await;
    let response = app.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(expect_json(response, 200, "healthz").await, json!({"status": "ok"}));
}

#[tokio::test]
async fn path_and_body_errors_of_one_request_come_together() {
    let app = spawn_app().await;
    let body = app
        .call(Method::PUT, "/api/v1/workflows/abc", Some(json!({"name": ""})), 422)
        .await;
    let locs: Vec<&Value> = body["detail"].as_array().unwrap().iter().map(|e| &e["loc"]).collect();
    assert_eq!(locs, [&json!(["path", "workflow_id"]), &json!(["body", "name"])]);
}

#[tokio::test]
async fn an_unexpected_failure_is_a_bare_json_500() {
    let app = spawn_app().await;
    let config = json!({"provider": "ari", "ari_endpoint": "http://pbx", "app_name": "a", "app_password": "secret-pw"});
    let created = app.create_config("PBX", config).await;
    // A row no version of telebind writes: its credentials cannot be read back.
    let conn = rusqlite::Connection::open(app.db_path()).unwrap();
    conn.execute(
        "UPDATE telephony_configurations SET credentials = '{not json' WHERE id = ?1",
        [created["id"].as_i64().unwrap()],
    )
    .unwrap();
    let path = format!("/api/v1/organizations/telephony-configs/{}", created["id"]);
    let response = app.send(Method::GET, &path, Some(&app.key), None).await;
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        expect_json(response, 500, "broken row").await,
        json!({"detail": "Internal Server Error"})
    );
}
