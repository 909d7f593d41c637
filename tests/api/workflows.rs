use reqwest::Method;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn workflows_are_created_listed_renamed_and_deleted() {
    let app = spawn_app().await;
    let a = app.create_workflow("  Support  ").await;
    assert_eq!(a["name"], "Support", "names are trimmed");
    assert_eq!(a["phone_number_count"], 0);
    assert!(a["created_at"].as_str().unwrap().ends_with('Z'));
    let b = app.create_workflow("Sales").await;

    let list = app.call(Method::GET, "/api/v1/workflows", None, 200).await;
    let names: Vec<&str> = list["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Support", "Sales"], "ordered by id");

    let path = format!("/api/v1/workflows/{}", b["id"]);
    let renamed = app
        .call(Method::PUT, &path, Some(json!({"name": "Sales EU"})), 200)
        .await;
    assert_eq!(renamed["name"], "Sales EU");
    assert_eq!(renamed["created_at"], b["created_at"]);
    assert_eq!(app.call(Method::GET, &path, None, 200).await, renamed);

    assert_eq!(
        app.call(Method::DELETE, &path, None, 200).await,
        json!({"message": "Workflow deleted"})
    );
    assert_eq!(
        app.call(Method::GET, &path, None, 404).await,
        json!({"detail": "Workflow not found"})
    );
    assert_eq!(
        app.call(Method::DELETE, &path, None, 404).await,
        json!({"detail": "Workflow not found"})
    );
}

#[tokio::test]
async fn workflow_names_are_validated_with_pydantic_errors() {
    let app = spawn_app().await;
    let missing = app
        .call(Method::POST, "/api/v1/workflows", Some(json!({"title": "x"})), 422)
        .await;
    assert_eq!(
        missing,
        json!({"detail": [{"type": "missing", "loc": ["body", "name"], "msg": "Field required", "input": {"title": "x"}}]})
    );
    let blank = app
        .call(Method::POST, "/api/v1/workflows", Some(json!({"name": "   "})), 422)
        .await;
    assert_eq!(blank["detail"][0]["type"], "string_too_short");
    assert_eq!(blank["detail"][0]["msg"], "String should have at least 1 character");
    let long = app
        .call(
            Method::POST,
            "/api/v1/workflows",
            Some(json!({"name": "w".repeat(256)})),
            422,
        )
        .await;
    assert_eq!(long["detail"][0]["msg"], "String should have at most 255 characters");
    let wrong_type = app
        .call(Method::POST, "/api/v1/workflows", Some(json!({"name": 5})), 422)
        .await;
    assert_eq!(wrong_type["detail"][0]["type"], "string_type");
    assert_eq!(
        app.call(Method::GET, "/api/v1/workflows", None, 200).await,
        json!({"workflows": []})
    );
}
