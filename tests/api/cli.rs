use reqwest::Method;
use serde_json::json;

use crate::helpers::{run_cli, spawn_app, temp_db};

#[tokio::test]
async fn keys_create_prints_one_working_key_whose_org_sees_only_its_own_workflows() {
    let app = spawn_app().await;
    app.create_workflow("Default's").await;
    let out = app.cli(&["keys", "create", "--org", "acme", "--name", "laptop"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "only the key: {stdout:?}");
    let key = stdout.trim();
    assert_eq!(
        app.call_as(key, Method::GET, "/api/v1/workflows", None, 200).await,
        json!({"workflows": []})
    );
    let keys = app.call_as(key, Method::GET, "/api/v1/user/api-keys", None, 200).await;
    assert_eq!(keys[0]["name"], "laptop");
}

#[test]
fn orgs_create_prints_the_id_and_refuses_a_taken_name() {
    let (_dir, db) = temp_db();
    let out = run_cli(&db, &["orgs", "create", "acme"]);
    assert!(out.status.success());
    let id: i64 = String::from_utf8(out.stdout).unwrap().trim().parse().expect("an id");
    assert!(id > 0);
    let again = run_cli(&db, &["orgs", "create", "acme"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn keys_list_shows_prefixes_never_keys() {
    let (_dir, db) = temp_db();
    let key = String::from_utf8(run_cli(&db, &["keys", "create", "--org", "acme"]).stdout).unwrap();
    let key = key.trim();
    let out = run_cli(&db, &["keys", "list", "--org", "acme"]);
    assert!(out.status.success());
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(listing.contains(&key[..11]));
    assert!(!listing.contains(key));
    assert!(!run_cli(&db, &["keys", "list", "--org", "nobody"]).status.success());
}

#[test]
fn revoking_an_unknown_key_fails_clearly() {
    let (_dir, db) = temp_db();
    let out = run_cli(&db, &["keys", "revoke", "tb_00000000"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no API key"));
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line_naming_the_key() {
    let (_dir, db) = temp_db();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_telebind"))
        .args(["serve"])
        .env("TELEBIND_DATABASE__PATH", &db)
        .env("TELEBIND_SYNC__TIMEOUT_MS", "soon")
        .current_dir(db.parent().unwrap())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("sync.timeout_ms"), "{stderr}");
    assert!(!db.exists(), "nothing started");
}
