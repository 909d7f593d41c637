//! `telebind backup` and `telebind restore` (README, "Backup and restore").

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{run_cli, spawn_app, spawn_app_with, TestApp};
use crate::secrets::every_provider;

/// Names of the workflows in the database file at `db`, read directly.
fn workflows_in(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut query = conn.prepare("SELECT name FROM workflows ORDER BY id").unwrap();
    let names = query.query_map([], |r| r.get(0)).unwrap();
    names.collect::<Result<_, _>>().unwrap()
}

fn integrity(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap()
}

/// Runs `telebind ARGS` until no stopped server of this process holds the
/// database (its threads end a moment after it stops).
async fn run_when_free(db: &Path, args: &[&str]) -> std::process::Output {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = run_cli(db, args);
        let in_use = String::from_utf8_lossy(&out.stderr).contains("in use by another telebind process");
        if !in_use || std::time::Instant::now() > deadline {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn create_workflows(app: &TestApp, names: impl IntoIterator<Item = String>) {
    for name in names {
        app.create_workflow(&name).await;
    }
}

#[tokio::test]
async fn a_backup_taken_under_writes_holds_every_write_acknowledged_before_it_in_one_checked_file() {
    let app = spawn_app().await;
    create_workflows(&app, (0..50).map(|i| format!("before {i}"))).await;
    let dir = tempfile::TempDir::new().unwrap();
    let dest = dir.path().join("copy.db");
    // Writes go on while the backup runs.
    let writer = {
        let app_address = app.address.clone();
        let key = app.key.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0..100 {
                client
                    .post(format!("{app_address}/api/v1/workflows"))
                    .header("X-API-Key", &key)
                    .json(&json!({"name": format!("during {i}")}))
                    .send()
                    .await
                    .unwrap();
            }
        })
    };
    let db = app.db_path().to_path_buf();
    let dest_arg = dest.clone();
    let out = tokio::task::spawn_blocking(move || run_cli(&db, &["backup", dest_arg.to_str().unwrap()]))
        .await
        .unwrap();
    writer.await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let size = std::fs::metadata(&dest).unwrap().len();
    let expected = format!(
        "backup written to {}: {size} bytes, schema version {}, integrity ok",
        dest.display(),
        telebind::db::latest_version()
    );
    assert_eq!(stdout.trim(), expected);

    let names = workflows_in(&dest);
    for i in 0..50 {
        assert!(names.contains(&format!("before {i}")), "before {i} is in the backup");
    }
    assert_eq!(integrity(&dest), "ok");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["copy.db"], "one file, no -wal and no partial file");
}

#[tokio::test]
async fn copying_the_live_file_alone_misses_writes_that_a_backup_has() {
    let app = spawn_app().await;
    create_workflows(&app, (0..20).map(|i| format!("w{i}"))).await;
    let dir = tempfile::TempDir::new().unwrap();
    let copied = dir.path().join("copied.db");
    std::fs::copy(app.db_path(), &copied).unwrap();
    assert!(
        workflows_in(&copied).len() < 20,
        "the writes are in the -wal file, not in the .db file"
    );
    let backup = dir.path().join("backup.db");
    assert!(run_cli(app.db_path(), &["backup", backup.to_str().unwrap()])
        .status
        .success());
    assert_eq!(workflows_in(&backup).len(), 20);
}

#[test]
fn commands_refuse_a_file_without_telebind_data() {
    let dir = tempfile::TempDir::new().unwrap();
    let empty = dir.path().join("telebind.db");
    rusqlite::Connection::open(&empty)
        .unwrap()
        .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE other (x);")
        .unwrap();
    let out = run_cli(&empty, &["orgs", "list"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("holds no telebind data"), "{stderr}");
    let conn = rusqlite::Connection::open(&empty).unwrap();
    let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 0, "the file was not upgraded");
}

#[tokio::test]
async fn a_backup_is_never_written_over_the_database_itself() {
    let app = spawn_app().await;
    for target in ["telebind.db", "telebind.db-wal"] {
        let path = app.dir.path().join(target);
        let out = run_cli(app.db_path(), &["backup", path.to_str().unwrap()]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("is the database itself"));
    }
    app.call(Method::GET, "/api/v1/workflows", None, 200).await;
}

#[tokio::test]
async fn restore_is_refused_while_a_server_runs_and_replaces_the_database_once_it_stops() {
    let app = spawn_app().await;
    app.create_workflow("kept").await;
    let dir = tempfile::TempDir::new().unwrap();
    let backup = dir.path().join("b.db");
    assert!(run_cli(app.db_path(), &["backup", backup.to_str().unwrap()])
        .status
        .success());
    app.create_workflow("after the backup").await;

    let refused = run_cli(app.db_path(), &["restore", backup.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("in use by another telebind process"), "{stderr}");
    app.call(Method::GET, "/api/v1/workflows", None, 200).await;

    app.stop().await;
    let out = run_when_free(app.db_path(), &["restore", backup.to_str().unwrap()]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("restored {}", backup.display())), "{stdout}");
    let previous = app.dir.path().join("telebind.db.pre-restore");
    assert!(stdout.contains(&previous.display().to_string()), "{stdout}");
    assert_eq!(workflows_in(&previous), ["kept", "after the backup"]);

    let app = app.restart().await;
    let listed = app.call(Method::GET, "/api/v1/workflows", None, 200).await;
    let names: Vec<_> = listed["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].clone())
        .collect();
    assert_eq!(
        names,
        [json!("kept")],
        "the restored database, without the old WAL replayed onto it"
    );
    assert_eq!(integrity(app.db_path()), "ok");
}

#[tokio::test]
async fn restore_refuses_a_backup_whose_credentials_the_key_cannot_open() {
    let source = spawn_app().await;
    source.create_config("T", every_provider()[0].config.clone()).await;
    let dir = tempfile::TempDir::new().unwrap();
    let backup = dir.path().join("b.db");
    assert!(run_cli(source.db_path(), &["backup", backup.to_str().unwrap()])
        .status
        .success());

    let other = spawn_app_with(|_| {}).await;
    other.create_workflow("mine").await;
    other.stop().await;
    let out = run_when_free(other.db_path(), &["restore", backup.to_str().unwrap()]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("do not open with the encryption key"), "{stderr}");
    assert_eq!(workflows_in(other.db_path()), ["mine"], "the database is untouched");
}

#[tokio::test]
async fn a_backup_restores_on_a_new_box_with_its_key_file() {
    let source = spawn_app().await;
    let created = source.create_config("T", every_provider()[0].config.clone()).await;
    let backup_dir = tempfile::TempDir::new().unwrap();
    let backup = backup_dir.path().join("b.db");
    assert!(run_cli(source.db_path(), &["backup", backup.to_str().unwrap()])
        .status
        .success());

    let new_box = tempfile::TempDir::new().unwrap();
    let db = new_box.path().join("telebind.db");
    std::fs::copy(source.db_path().with_extension("key"), db.with_extension("key")).unwrap();
    let out = run_cli(&db, &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("pre-restore"));

    let mut restored = spawn_app_with(|c| c.database.path = db.clone()).await;
    restored.key = source.key.clone();
    let path = format!("/api/v1/organizations/telephony-configs/{}", created["id"]);
    let read = restored.call(Method::GET, &path, None, 200).await;
    assert_eq!(read["credentials"], created["credentials"]);
}
