use reqwest::Method;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_created_key_is_shown_once_and_listed_without_it() {
    let app = spawn_app().await;
    let created = app
        .call(
            Method::POST,
            "/api/v1/user/api-keys",
            Some(json!({"name": "deploy"})),
            200,
        )
        .await;
    let key = created["api_key"].as_str().unwrap();
    assert!(key.len() >= 64, "at least 32 bytes of entropy: {key}");
    assert!(key.starts_with(created["key_prefix"].as_str().unwrap()));
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    let keys = app.call(Method::GET, "/api/v1/user/api-keys", None, 200).await;
    let listed = keys.as_array().unwrap();
    assert_eq!(listed.len(), 2, "bootstrap key and the new one");
    assert_eq!(listed[1]["name"], "deploy");
    assert_eq!(listed[1]["is_active"], true);
    assert_eq!(listed[1]["archived_at"], json!(null));
    let fields: Vec<&String> = listed[1].as_object().unwrap().keys().collect();
    assert_eq!(
        fields,
        [
            "archived_at",
            "created_at",
            "id",
            "is_active",
            "key_prefix",
            "last_used_at",
            "name"
        ]
    );
    assert!(!keys.to_string().contains(key), "the key is never listed");
}

#[tokio::test]
async fn archived_keys_are_listed_only_when_asked() {
    let app = spawn_app().await;
    let created = app
        .call(Method::POST, "/api/v1/user/api-keys", Some(json!({"name": "old"})), 200)
        .await;
    app.call(
        Method::DELETE,
        &format!("/api/v1/user/api-keys/{}", created["id"]),
        None,
        200,
    )
    .await;

    let active = app.call(Method::GET, "/api/v1/user/api-keys", None, 200).await;
    assert_eq!(active.as_array().unwrap().len(), 1);
    let all = app
        .call(Method::GET, "/api/v1/user/api-keys?include_archived=true", None, 200)
        .await;
    let archived = &all.as_array().unwrap()[1];
    assert_eq!(archived["is_active"], false);
    assert!(archived["archived_at"].is_string());
}

#[tokio::test]
async fn another_orgs_key_is_not_found() {
    let app = spawn_app().await;
    let other = app.org_key("acme");
    let theirs = app
        .call_as(&other, Method::GET, "/api/v1/user/api-keys", None, 200)
        .await;
    let their_id = theirs[0]["id"].as_i64().unwrap();

    for (method, path) in [
        (Method::DELETE, format!("/api/v1/user/api-keys/{their_id}")),
        (Method::PUT, format!("/api/v1/user/api-keys/{their_id}/reactivate")),
    ] {
        assert_eq!(
            app.call(method, &path, None, 404).await,
            json!({"detail": "API key not found"})
        );
    }
    app.call_as(&other, Method::GET, "/api/v1/workflows", None, 200).await;
}

#[tokio::test]
async fn key_names_are_validated() {
    let app = spawn_app().await;
    let empty = app
        .call(Method::POST, "/api/v1/user/api-keys", Some(json!({"name": " "})), 422)
        .await;
    assert_eq!(empty["detail"][0]["type"], "string_too_short");
    let long = app
        .call(
            Method::POST,
            "/api/v1/user/api-keys",
            Some(json!({"name": "k".repeat(256)})),
            422,
        )
        .await;
    assert_eq!(long["detail"][0]["type"], "string_too_long");
    assert_eq!(long["detail"][0]["ctx"], json!({"max_length": 255}));
}
