//! GET of one number is served from a copy kept since the last commit
//! (issue 11): every write, this server's or another process's, is seen by
//! the next GET, and the copy is only ever the caller's own.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{numbers_path, spawn_app_with, TestApp};
use crate::metrics::{samples, value};

const HITS: (&str, &[(&str, &str)]) = ("telebind_number_cache_lookups_total", &[("result", "hit")]);

async fn app_with_number() -> (TestApp, Value, String) {
    let app = spawn_app_with(|c| c.sync.verify_ownership = false).await;
    let config = app
        .create_config(
            "Main",
            json!({"provider": "ari", "ari_endpoint": "http://pbx:8088", "app_name": "tb", "app_password": "pw-123456"}),
        )
        .await;
    let number = app
        .create_number(&config["id"], json!({"address": "+14155550100", "label": "first"}))
        .await;
    let path = format!("{}/{}", numbers_path(&config["id"]), number["id"]);
    (app, config["id"].clone(), path)
}

async fn hits(app: &TestApp) -> f64 {
    value(&samples(app).await, HITS.0, HITS.1)
}

#[tokio::test]
async fn a_second_get_is_served_from_the_copy() {
    let (app, _, path) = app_with_number().await;
    let first = app.call(Method::GET, &path, None, 200).await;
    let before = hits(&app).await;
    let second = app.call(Method::GET, &path, None, 200).await;
    assert_eq!(first, second);
    // Other tests in this process count too, so only "at least one more".
    assert!(hits(&app).await > before, "the second GET did not use the copy");
}

#[tokio::test]
async fn every_write_is_seen_by_the_next_get() {
    let (app, config_id, path) = app_with_number().await;
    app.call(Method::GET, &path, None, 200).await;

    app.call(Method::PUT, &path, Some(json!({"label": "second"})), 200)
        .await;
    assert_eq!(app.call(Method::GET, &path, None, 200).await["label"], "second");

    // A write to another row that changes this one's body: the default caller id moves.
    app.call(Method::POST, &format!("{path}/set-default-caller"), None, 200)
        .await;
    assert_eq!(
        app.call(Method::GET, &path, None, 200).await["is_default_caller_id"],
        true
    );
    let other = app.create_number(&config_id, json!({"address": "+14155550101"})).await;
    let other_path = format!("{}/{}", numbers_path(&config_id), other["id"]);
    app.call(Method::POST, &format!("{other_path}/set-default-caller"), None, 200)
        .await;
    assert_eq!(
        app.call(Method::GET, &path, None, 200).await["is_default_caller_id"],
        false
    );

    // A workflow renamed: its name is part of the number's body.
    let workflow = app.create_workflow("Support").await;
    app.call(
        Method::PUT,
        &path,
        Some(json!({"inbound_workflow_id": workflow["id"]})),
        200,
    )
    .await;
    assert_eq!(
        app.call(Method::GET, &path, None, 200).await["inbound_workflow_name"],
        "Support"
    );
    app.call(
        Method::PUT,
        &format!("/api/v1/workflows/{}", workflow["id"]),
        Some(json!({"name": "Sales"})),
        200,
    )
    .await;
    assert_eq!(
        app.call(Method::GET, &path, None, 200).await["inbound_workflow_name"],
        "Sales"
    );

    app.call(Method::DELETE, &path, None, 200).await;
    app.call(Method::GET, &path, None, 404).await;
}

#[tokio::test]
async fn a_commit_of_another_process_is_seen() {
    let (app, _, path) = app_with_number().await;
    assert_eq!(app.call(Method::GET, &path, None, 200).await["label"], "first");
    // As `telebind numbers resync` would: another connection, outside the server.
    rusqlite::Connection::open(app.db_path())
        .unwrap()
        .execute("UPDATE phone_numbers SET label = 'changed elsewhere'", [])
        .unwrap();
    // Noticed within a millisecond of the next look; the bound is slack.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let label = app.call(Method::GET, &path, None, 200).await["label"].clone();
        if label == "changed elsewhere" {
            break;
        }
        assert!(Instant::now() < deadline, "still {label} after 5 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn the_copy_is_only_ever_its_owners() {
    let (app, config_id, path) = app_with_number().await;
    app.call(Method::GET, &path, None, 200).await;
    app.call(Method::GET, &path, None, 200).await;

    let theirs = app.org_key("acme");
    let missing = app.call_as(&theirs, Method::GET, &path, None, 404).await;
    assert_eq!(missing["detail"], "Telephony configuration not found");

    // The same number id under another of the caller's configurations.
    let second = app
        .create_config(
            "Second",
            json!({"provider": "ari", "ari_endpoint": "http://pbx2:8088", "app_name": "tb2", "app_password": "pw-123456"}),
        )
        .await;
    assert_ne!(second["id"], config_id);
    let id = path.rsplit('/').next().unwrap();
    let elsewhere = format!("{}/{id}", numbers_path(&second["id"]));
    let missing = app.call(Method::GET, &elsewhere, None, 404).await;
    assert_eq!(missing["detail"], "Phone number not found");
}
