use reqwest::Method;
use serde_json::json;

use crate::helpers::{existing_db, run_cli, spawn_app, temp_db, ServerProcess};

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
    let mut server = ServerProcess::start(
        &db,
        &[
            ("TELEBIND_PROVIDERS__TWILIO_BASE_URL", carrier.url()),
            ("TELEBIND_SYNC__VERIFY_OWNERSHIP", "false".into()),
        ],
    )
    .await;
    let mut stdout = BufReader::new(server.child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let key = stdout
        .find_map(|line| line.trim().strip_prefix("API key: ").map(str::to_string))
        .expect("the first start prints a key");
    std::thread::spawn(move || stdout.for_each(drop));

    let base = format!("{}/api/v1", server.base);
    let client = reqwest::Client::new();
    let call = |method: Method, path: &str, body: serde_json::Value| {
        client
            .request(method, format!("{base}{path}"))
            .header("X-API-Key", &key)
            .json(&body)
            .send()
    };
    let twilio = json!({"name": "T", "config": {"provider": "twilio", "account_sid": "AC1", "auth_token": "tok"}});
    let created = call(Method::POST, "/organizations/telephony-configs", twilio)
        .await
        .unwrap();
    let config = created.json::<serde_json::Value>().await.unwrap()["id"].clone();
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
        server.terminate();
    };
    let (answer, ()) = tokio::join!(bind, terminate);
    let answer = answer.expect("the in-flight request is answered");
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<serde_json::Value>().await.unwrap()["provider_sync"]["ok"],
        true
    );
    let (status, log) = server.exited().await;
    assert!(status.success(), "clean exit: {status:?}: {log}");
}

#[test]
fn cli_commands_never_create_a_database() {
    let (dir, db) = temp_db();
    let commands: &[&[&str]] = &[
        &["orgs", "create", "acme"],
        &["keys", "create", "--org", "acme"],
        &["keys", "list"],
        &["keys", "revoke", "1"],
        &["orgs", "list"],
        &["config", "check"],
        &["numbers", "resync"],
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

#[test]
fn orgs_list_and_keys_list_show_organization_names() {
    let (_dir, db) = existing_db();
    assert!(run_cli(&db, &["orgs", "create", "zeta"]).status.success());
    assert!(run_cli(&db, &["keys", "create", "--org", "acme-corp"]).status.success());
    let orgs = String::from_utf8(run_cli(&db, &["orgs", "list"]).stdout).unwrap();
    let names: Vec<&str> = orgs
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(names, ["zeta", "acme-corp"], "{orgs}");
    let keys = String::from_utf8(run_cli(&db, &["keys", "list", "--org", "acme-corp"]).stdout).unwrap();
    assert!(keys.lines().nth(1).is_some_and(|l| l.contains("acme-corp")), "{keys}");
}

#[test]
fn config_check_validates_and_prints_the_settings_with_secrets_masked() {
    let (_dir, db) = existing_db();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_telebind"))
        .args(["config", "check"])
        .env("TELEBIND_DATABASE__PATH", &db)
        .env(
            "TELEBIND_PROVIDERS__TWILIO_BASE_URL",
            "https://me:hunter22@proxy.example.com",
        )
        .current_dir(db.parent().unwrap())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("hunter22"), "{stdout}");
    assert!(
        stdout.contains("twilio_base_url = \"https://me:********@proxy.example.com\""),
        "{stdout}"
    );
    assert!(stdout.contains("schema version"), "{stdout}");
    let settings: String = stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let parsed: toml::Table = settings.parse().expect("the settings are TOML");
    assert_eq!(parsed["sync"]["timeout_ms"].as_integer(), Some(5000));
}

#[tokio::test]
async fn numbers_resync_pushes_every_bound_number_and_sums_up_per_carrier() {
    use std::time::Duration;

    use crate::helpers::{numbers_path, spawn_app_with_carrier};

    let (app, carrier) = spawn_app_with_carrier().await;
    let listing = json!({"incoming_phone_numbers": [
        {"sid": "PN1", "phone_number": "+14155550101"},
        {"sid": "PN2", "phone_number": "+14155550102"},
        {"sid": "PN3", "phone_number": "+14155550103"},
    ]});
    carrier
        .answer("GET", "IncomingPhoneNumbers.json$", 200, listing, Duration::ZERO)
        .await;
    carrier
        .answer("POST", "PN1.json$", 200, json!({}), Duration::ZERO)
        .await;
    carrier
        .answer("POST", "PN2.json$", 500, json!({"message": "down"}), Duration::ZERO)
        .await;
    let twilio = json!({"provider": "twilio", "account_sid": "AC1", "auth_token": "tok"});
    let cfg = app.create_config("T", twilio).await["id"].clone();
    let workflow = app.create_workflow("W").await;
    let mut ids = vec![];
    for address in ["+14155550101", "+14155550102", "+14155550103"] {
        let bound = address != "+14155550103";
        let body = match bound {
            true => json!({"address": address, "inbound_workflow_id": workflow["id"]}),
            false => json!({"address": address}),
        };
        let created = app.call(Method::POST, &numbers_path(&cfg), Some(body), 200).await;
        ids.push(created["id"].clone());
    }
    let before = carrier.requests().await.len();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_telebind"))
        .args(["numbers", "resync", "--org", "default", "--config-id", &cfg.to_string()])
        .env("TELEBIND_DATABASE__PATH", &app.config.database.path)
        .env("TELEBIND_PROVIDERS__TWILIO_BASE_URL", carrier.url())
        .env("TELEBIND_SERVER__PUBLIC_BASE_URL", "http://telebind.test")
        .env("RUST_LOG", "info")
        .current_dir(app.dir.path())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(!out.status.success(), "a failed push fails the command: {stdout}");
    assert_eq!(stdout.trim(), "twilio: 1 ok, 1 failed", "{stderr}");
    let line = |id: &serde_json::Value| format!("[cli-resync] twilio attach of number {id}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(" INFO ") && l.contains(&line(&ids[0])) && l.ends_with(": ok")),
        "{stderr}"
    );
    let failed: Vec<&str> = stderr.lines().filter(|l| l.contains(&line(&ids[1]))).collect();
    assert!(
        failed.len() == 1 && failed[0].contains(" WARN ") && failed[0].contains("failed: "),
        "one WARN line for the failed push: {stderr}"
    );
    assert!(!stderr.contains(&line(&ids[2])), "an unbound number is not pushed");
    let posts: Vec<String> = carrier.requests().await[before..]
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| r.url.path().to_string())
        .collect();
    assert_eq!(posts.len(), 2, "{posts:?}");
    let read = app
        .call(Method::GET, &format!("{}/{}", numbers_path(&cfg), ids[1]), None, 200)
        .await;
    assert_eq!(read["last_provider_sync"]["ok"], false, "the result is recorded");
}

#[test]
fn the_installed_package_has_one_binary() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--no-deps", "--offline", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let package = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "telebind")
        .expect("the telebind package");
    let bins: Vec<&str> = package["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"))
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(bins, ["telebind"], "`cargo install --path .` installs these");
}
