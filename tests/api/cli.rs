use reqwest::Method;
use serde_json::json;

use crate::helpers::{existing_db, run_cli, spawn_app, temp_db};

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
    let (_dir, db) = existing_db();
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
    let (_dir, db) = existing_db();
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
    let (_dir, db) = existing_db();
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

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish() {
    use std::io::{BufRead, BufReader};
    use std::time::Duration;

    let carrier = crate::helpers::MockCarrier::start().await;
    let numbers = json!({"incoming_phone_numbers": [{"sid": "PN1", "phone_number": "+14155550100"}]});
    carrier
        .answer(
            "GET",
            "IncomingPhoneNumbers.json$",
            200,
            numbers,
            Duration::from_millis(800),
        )
        .await;
    carrier
        .answer("POST", "PN1.json$", 200, json!({}), Duration::ZERO)
        .await;

    let (_dir, db) = temp_db();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_telebind"))
        .env("TELEBIND_DATABASE__PATH", &db)
        .env("TELEBIND_SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("TELEBIND_PROVIDERS__TWILIO_BASE_URL", carrier.url())
        .env("TELEBIND_SYNC__VERIFY_OWNERSHIP", "false")
        .current_dir(db.parent().unwrap())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let key = stdout
        .find_map(|line| line.trim().strip_prefix("API key: ").map(str::to_string))
        .expect("the first start prints a key");
    std::thread::spawn(move || stdout.for_each(drop));

    let base = format!("http://127.0.0.1:{port}/api/v1");
    let client = reqwest::Client::new();
    let call = |method: Method, path: &str, body: serde_json::Value| {
        client
            .request(method, format!("{base}{path}"))
            .header("X-API-Key", &key)
            .json(&body)
            .send()
    };
    let mut config = None;
    for _ in 0..50 {
        let twilio = json!({"name": "T", "config": {"provider": "twilio", "account_sid": "AC1", "auth_token": "tok"}});
        if let Ok(r) = call(Method::POST, "/organizations/telephony-configs", twilio).await {
            config = Some(r.json::<serde_json::Value>().await.unwrap()["id"].clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let config = config.expect("the server answers");
    let workflow: serde_json::Value = call(Method::POST, "/workflows", json!({"name": "W"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let numbers_path = format!("/organizations/telephony-configs/{config}/phone-numbers");
    let number: serde_json::Value = call(Method::POST, &numbers_path, json!({"address": "+14155550100"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let bind = call(
        Method::PUT,
        &format!("{numbers_path}/{}", number["id"]),
        json!({"inbound_workflow_id": workflow["id"]}),
    );
    let terminate = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &server.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    };
    let (answer, ()) = tokio::join!(bind, terminate);
    let answer = answer.expect("the in-flight request is answered");
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<serde_json::Value>().await.unwrap()["provider_sync"]["ok"],
        true
    );
    let status = tokio::task::spawn_blocking(move || server.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "clean exit: {status:?}");
}

#[test]
fn cli_commands_never_create_a_database() {
    let (dir, db) = temp_db();
    let commands: &[&[&str]] = &[
        &["orgs", "create", "acme"],
        &["keys", "create", "--org", "acme"],
        &["keys", "list"],
        &["keys", "revoke", "1"],
    ];
    for args in commands {
        let out = run_cli(&db, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains(&db.display().to_string()) && stderr.contains("does not exist"),
            "{args:?}: {stderr}"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{args:?} left a file"
        );
    }
}

#[test]
fn a_clients_telebind_api_key_variable_is_ignored() {
    let (_dir, db) = existing_db();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_telebind"))
        .args(["keys", "list"])
        .env("TELEBIND_DATABASE__PATH", &db)
        .env("TELEBIND_API_KEY", "tb_0123456789abcdef")
        .current_dir(db.parent().unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_bad_bind_names_the_variable_it_came_from() {
    let (_dir, db) = existing_db();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_telebind"))
        .env("TELEBIND_DATABASE__PATH", &db)
        .env("TELEBIND_SERVER__BIND", "localhost")
        .current_dir(db.parent().unwrap())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("server.bind (from TELEBIND_SERVER__BIND)"), "{stderr}");
}
