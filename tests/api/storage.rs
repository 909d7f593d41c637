use std::sync::mpsc::channel;
use std::sync::Arc;

use actix_web::ResponseError;
use futures_util::FutureExt;
use reqwest::Method;
use serde_json::json;
use telebind::config::Config;
use telebind::state::AppState;

use crate::helpers::{spawn_app, spawn_app_with, temp_db};

#[tokio::test]
async fn workflows_survive_a_restart() {
    let app = spawn_app().await;
    app.create_workflow("Kept").await;
    let app = app.restart().await;
    let list = app.call(Method::GET, "/api/v1/workflows", None, 200).await;
    assert_eq!(list["workflows"][0]["name"], "Kept");
}

#[tokio::test]
async fn a_second_start_prints_no_new_key() {
    let app = spawn_app().await;
    assert!(!app.key.is_empty(), "first start made a key");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let again = telebind::Application::build_with_listener(app.config.clone(), listener).unwrap();
    assert_eq!(again.bootstrap_key(), None);
}

fn user_version(path: &std::path::Path) -> u32 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn a_version_0_file_is_upgraded() {
    let (dir, path) = temp_db();
    // An existing SQLite file that has never held a schema.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("VACUUM")
        .unwrap();
    assert_eq!(user_version(&path), 0);
    let app = spawn_app_with(|c| c.database.path = path.clone()).await;
    app.call(Method::GET, "/api/v1/workflows", None, 200).await;
    assert_eq!(user_version(&path), telebind::db::latest_version());
    drop(dir);
}

#[tokio::test]
async fn a_version_1_file_is_upgraded_with_its_data() {
    let (dir, path) = temp_db();
    let key = {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        telebind::db::migrate_to(&mut conn, 1).unwrap();
        // Rows as a version-1 telebind wrote them.
        conn.execute_batch(
            "INSERT INTO organizations (id, name, created_at) VALUES (7, 'old', '2026-01-01T00:00:00.000000Z');
             INSERT INTO workflows (org_id, name, created_at, updated_at)
             VALUES (7, 'From v1', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');",
        )
        .unwrap();
        telebind::auth::issue_key(&conn, telebind::domain::ids::OrgId(7), "old key")
            .unwrap()
            .1
    };
    assert_eq!(user_version(&path), 1);
    let app = spawn_app_with(|c| c.database.path = path.clone()).await;
    assert_eq!(app.key, "", "not an empty database: no bootstrap");
    let list = app.call_as(&key, Method::GET, "/api/v1/workflows", None, 200).await;
    assert_eq!(list["workflows"][0]["name"], json!("From v1"));
    assert_eq!(user_version(&path), telebind::db::latest_version());
    drop(dir);
}

#[test]
fn the_database_is_durable_and_in_wal_mode() {
    let (_dir, path) = temp_db();
    let mut config = Config::default();
    config.database.path = path;
    let pool = telebind::db::open(&config).unwrap();
    let conn = pool.get().unwrap();
    let pragma = |name: &str| {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, rusqlite::types::Value>(0))
            .unwrap()
    };
    assert_eq!(pragma("journal_mode"), rusqlite::types::Value::Text("wal".into()));
    assert_eq!(pragma("synchronous"), rusqlite::types::Value::Integer(2), "FULL");
    assert_eq!(pragma("foreign_keys"), rusqlite::types::Value::Integer(1));
    assert_eq!(pragma("busy_timeout"), rusqlite::types::Value::Integer(5000));
    // What Litestream needs beside it (README, "Continuous replication"):
    // shared locking, and SQLite's passive autocheckpoints only.
    assert_eq!(pragma("locking_mode"), rusqlite::types::Value::Text("normal".into()));
    assert_eq!(pragma("wal_autocheckpoint"), rusqlite::types::Value::Integer(1000));
}

#[tokio::test]
async fn a_full_write_queue_refuses_with_503_and_retry_after_then_recovers() {
    let (_dir, path) = temp_db();
    let mut config = Config::default();
    config.database.path = path;
    let (pool, store, _) = telebind::db::open_with(&config, telebind::db::Create::IfMissing).unwrap();
    let state = AppState::new(pool, &store, Arc::new(config)).unwrap();

    // The writer thread waits inside this write until released.
    let (started, writer_busy) = channel();
    let (release, released) = channel::<()>();
    let mut blocking = Box::pin(state.write(move |_| {
        started.send(()).unwrap();
        released.recv().unwrap();
        Ok(())
    }));
    assert!((&mut blocking).now_or_never().is_none(), "submitted, not answered");
    writer_busy.recv().unwrap();

    // Each write is queued by its first poll; nothing is answered meanwhile.
    let queued = (0..100_000).find_map(|queued| match state.write(|_| Ok(())).now_or_never() {
        None => None,
        Some(Err(refused)) => Some((queued, refused)),
        Some(Ok(())) => panic!("a write answered while the writer is blocked"),
    });
    let (queued, refused) = queued.expect("the queue never refused a write");
    assert_eq!(queued, telebind::db::writer::QUEUE_CAPACITY);
    let response = refused.error_response();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers().get("Retry-After").unwrap(), "1");
    let body = actix_web::body::to_bytes(response.into_body()).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(body["detail"].is_string(), "{body}");

    release.send(()).unwrap();
    blocking.await.expect("the blocking write commits");
    // The queued writes drain in batches after it; as they do, room returns.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match state.write(|_| Ok(())).await {
            Ok(()) => break,
            Err(e) => assert!(
                std::time::Instant::now() < deadline,
                "writes are still refused 10 s after the writer was released: {e:?}"
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// `telebind serve` on the database at `db`, as an unprivileged user when
/// `unprivileged` (root writes whatever its permissions say): its output and
/// how long it ran.
fn serve_on(db: &std::path::Path, unprivileged: bool) -> (std::process::Output, std::time::Duration) {
    let telebind = env!("CARGO_BIN_EXE_telebind");
    let mut command = if unprivileged {
        // A new user namespace without a mapping: files are judged by their
        // "other" permission bits, whoever runs the tests.
        let mut c = std::process::Command::new("unshare");
        c.args(["--user", telebind, "serve"]);
        c
    } else {
        let mut c = std::process::Command::new(telebind);
        c.arg("serve");
        c
    };
    let started = std::time::Instant::now();
    let out = command
        .env("TELEBIND_DATABASE__PATH", db)
        .env("TELEBIND_SERVER__BIND", "127.0.0.1:0")
        .env_remove("RUST_LOG")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("telebind runs");
    (out, started.elapsed())
}

/// Start-up on `db` fails within a second with one stderr line naming the
/// path and saying `reason`.
fn assert_refused(db: &std::path::Path, unprivileged: bool, reason: &str) {
    let (out, elapsed) = serve_on(db, unprivileged);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started: {stderr}");
    assert!(
        elapsed < std::time::Duration::from_secs(1),
        "took {elapsed:?}: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(&db.display().to_string()), "names the path: {stderr}");
    assert!(stderr.contains(reason), "says {reason:?}: {stderr}");
}

fn chmod(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_missing_directory_stops_start_up_at_once() {
    let (dir, _) = temp_db();
    let db = dir.path().join("nowhere/telebind.db");
    assert_refused(&db, false, "does not exist");
    assert!(!dir.path().join("nowhere").exists());
}

#[test]
fn an_unwritable_directory_stops_start_up_at_once() {
    let (dir, db) = temp_db();
    chmod(dir.path(), 0o555);
    assert_refused(&db, true, "not writable");
    assert!(!db.exists());
}

#[test]
fn a_read_only_database_stops_start_up_at_once() {
    let (dir, db) = temp_db();
    let mut config = Config::default();
    config.database.path = db.clone();
    telebind::db::open(&config).unwrap();
    chmod(dir.path(), 0o777);
    for name in ["telebind.db", "telebind.db-wal", "telebind.db-shm"] {
        if dir.path().join(name).exists() {
            chmod(&dir.path().join(name), 0o444);
        }
    }
    assert_refused(&db, true, "read-only");
}

#[test]
fn a_file_that_is_not_sqlite_stops_start_up_at_once() {
    let (_dir, db) = temp_db();
    std::fs::write(&db, "[server]\nbind = \"127.0.0.1:8000\"\n".repeat(100)).unwrap();
    assert_refused(&db, false, "not a SQLite database");
}

#[test]
fn serve_creates_a_missing_database_and_says_so() {
    use std::io::{BufRead, BufReader};
    let (_dir, db) = temp_db();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_telebind"))
        .env("TELEBIND_DATABASE__PATH", &db)
        .env("TELEBIND_SERVER__BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .current_dir(db.parent().unwrap())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(server.stderr.take().unwrap());
    let line = stderr
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("created") || l.contains("opened"))
        .unwrap_or_default();
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(
        line.contains(&db.display().to_string()) && line.contains("created"),
        "{line}"
    );
}

#[tokio::test]
async fn start_up_knows_the_url_numbers_were_last_attached_with() {
    let app = spawn_app().await;
    let listener = || std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let fresh = telebind::Application::build_with_listener(app.config.clone(), listener()).unwrap();
    assert_eq!(fresh.stored().last_pushed_url.as_deref(), None, "nothing attached yet");

    let ari = json!({"provider": "ari", "ari_endpoint": "http://pbx.example:8088", "app_name": "tb",
                     "app_password": "pw-123456"});
    let cfg = app.create_config("PBX", ari).await["id"].clone();
    let workflow = app.create_workflow("W").await;
    let body = json!({"address": "+14155550100", "inbound_workflow_id": workflow["id"]});
    let bound = app
        .call(Method::POST, &crate::helpers::numbers_path(&cfg), Some(body), 200)
        .await;
    assert_eq!(bound["provider_sync"]["ok"], true);

    let mut moved = app.config.clone();
    moved.server.public_base_url = "https://moved.example.com".into();
    let restarted = telebind::Application::build_with_listener(moved.clone(), listener()).unwrap();
    assert_eq!(
        restarted.stored().last_pushed_url.as_deref(),
        Some("http://telebind.test")
    );
    let warned = telebind::startup::warnings(&moved, restarted.stored());
    assert!(warned.iter().any(|w| w.contains("numbers resync")), "{warned:?}");
}
