//! Credentials at rest (README, "Secrets at rest"): sealed in the database
//! file and its WAL, bound to their rows, under a key from the settings or
//! from a key file made beside the database; plaintext rows of older files
//! sealed on start; a wrong key refused in one line; re-keying.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    assert_no_secret_form, numbers_path, run_cli, run_cli_with, spawn_app_with, MockCarrier, TestApp, CONFIGS,
    SYNC_TIMEOUT_MS,
};

/// One configuration of a provider, whose secrets appear in no other test.
pub struct Fixture {
    pub config: Value,
    /// Sensitive values that are not the routing account.
    pub secrets: Vec<&'static str>,
    /// The routing account when it is sensitive (masked by the API).
    pub account: Option<&'static str>,
}

pub const TWILIO_SID: &str = "AC5ec0000000000000000000000000aa";
pub const TWILIO_TOKEN: &str = "tw-auth-token-5ecret-4b1d9";
pub const VONAGE_KEY: &str =
    "-----BEGIN PRIVATE KEY-----\nMIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC7/5ecret+\n-----END PRIVATE KEY-----";

/// Every provider, each with the application named so saving asks a
/// carrier nothing (but Cloudonix's domain lookup, `answer_cloudonix_domain`).
pub fn every_provider() -> Vec<Fixture> {
    vec![
        Fixture {
            config: json!({"provider": "twilio", "account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN}),
            secrets: vec![TWILIO_TOKEN],
            account: Some(TWILIO_SID),
        },
        Fixture {
            config: json!({"provider": "vonage", "application_id": "vg-app-1", "private_key": VONAGE_KEY,
                           "api_key": "vgkey5ecret", "api_secret": "vg-api-5ecret-77",
                           "signature_secret": "vg-sig-5ecret-88"}),
            secrets: vec![VONAGE_KEY, "vg-api-5ecret-77", "vg-sig-5ecret-88"],
            account: Some("vgkey5ecret"),
        },
        Fixture {
            config: json!({"provider": "plivo", "auth_id": "MAPLIVO5ECRET000", "auth_token": "plivo-auth-5ecret-99",
                           "application_id": "plivo-app-1"}),
            secrets: vec!["plivo-auth-5ecret-99"],
            account: Some("MAPLIVO5ECRET000"),
        },
        Fixture {
            config: json!({"provider": "vobiz", "auth_id": "MA_5ECRETVB", "auth_token": "vobiz-auth-5ecret-11",
                           "application_id": "vobiz-app-1"}),
            secrets: vec!["vobiz-auth-5ecret-11"],
            account: Some("MA_5ECRETVB"),
        },
        Fixture {
            config: json!({"provider": "telnyx", "api_key": "KEYtelnyx-5ecret-22", "connection_id": "conn-5"}),
            secrets: vec!["KEYtelnyx-5ecret-22"],
            account: None,
        },
        Fixture {
            config: json!({"provider": "cloudonix", "bearer_token": "cx-bearer-5ecret-33", "domain_id": "acme",
                           "application_name": "telebind-app"}),
            secrets: vec!["cx-bearer-5ecret-33"],
            account: None,
        },
        Fixture {
            config: json!({"provider": "ari", "ari_endpoint": "http://pbx.example:8088", "app_name": "ari-app",
                           "app_password": "ari-pass-5ecret-44",
                           "external_pbx": {"agent_api": {"url": "http://pbx.example/agent",
                                            "username": "pbx-user-5ecret", "password": "pbx-pass-5ecret-55"}}}),
            secrets: vec!["ari-pass-5ecret-44", "pbx-user-5ecret", "pbx-pass-5ecret-55"],
            account: None,
        },
    ]
}

/// Every secret of `every_provider` that is not a routing account.
fn every_secret() -> Vec<&'static str> {
    every_provider().into_iter().flat_map(|f| f.secrets).collect()
}

/// Cloudonix resolves any domain's UUID at save time.
pub async fn answer_cloudonix_domain(carrier: &MockCarrier) {
    let domain = json!({"uuid": "dom-uuid-1", "domain": "acme.cloudonix.net"});
    carrier
        .answer("GET", "^/customers/self/domains/[^/]+$", 200, domain, Duration::ZERO)
        .await;
}

async fn app_with_carrier(configure: impl FnOnce(&mut telebind::config::Config)) -> (TestApp, MockCarrier) {
    let carrier = MockCarrier::start().await;
    let url = carrier.url();
    let app = spawn_app_with(|c| {
        c.sync.timeout_ms = SYNC_TIMEOUT_MS;
        for (_, base) in c.providers.base_urls_mut() {
            *base = url.clone();
        }
        configure(c);
    })
    .await;
    answer_cloudonix_domain(&carrier).await;
    (app, carrier)
}

/// The bytes of the database file and of its WAL, as text a scan can search.
fn file_and_wal(db: &Path) -> String {
    let mut text = String::new();
    for suffix in ["", "-wal"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        if let Ok(bytes) = std::fs::read(&name) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

#[tokio::test]
async fn no_secret_is_in_the_database_file_or_its_wal_and_the_api_still_reads_them() {
    let (app, _carrier) = app_with_carrier(|_| {}).await;
    let mut ids = Vec::new();
    for fixture in every_provider() {
        let created = app.create_config("cfg", fixture.config.clone()).await;
        let id = created["id"].as_i64().unwrap();
        // A GET body sent back as a PUT keeps every secret (masked values).
        let path = format!("{CONFIGS}/{id}");
        let read = app.call(Method::GET, &path, None, 200).await;
        let mut config = read["credentials"].clone();
        config["provider"] = fixture.config["provider"].clone();
        app.call(
            Method::PUT,
            &path,
            Some(json!({"name": format!("cfg {id}"), "config": config})),
            200,
        )
        .await;
        assert_eq!(app.stored_credentials(id)["provider"], fixture.config["provider"]);
        for secret in &fixture.secrets {
            let stored = app.stored_credentials(id).to_string();
            assert!(
                stored.contains(&serde_json::to_string(secret).unwrap()[1..]),
                "{secret} kept"
            );
        }
        ids.push(id);
    }
    // A new secret replaces an old one: neither may be readable.
    let twilio = format!("{CONFIGS}/{}", ids[0]);
    let rotated = json!({"provider": "twilio", "account_sid": TWILIO_SID, "auth_token": "tw-auth-token-5ecret-new"});
    app.call(Method::PUT, &twilio, Some(json!({"config": rotated})), 200)
        .await;
    assert_eq!(app.stored_credentials(ids[0])["auth_token"], "tw-auth-token-5ecret-new");

    let mut secrets = every_secret();
    secrets.push("tw-auth-token-5ecret-new");
    let bytes = file_and_wal(app.db_path());
    assert!(bytes.len() > 4096, "the file and its WAL were read");
    assert_no_secret_form(&bytes, &secrets, &[], "the live database and its WAL");
    app.stop().await;
    assert_no_secret_form(
        &file_and_wal(app.db_path()),
        &secrets,
        &[],
        "the database after a checkpoint",
    );
}

/// A version-5 database, as telebind wrote it before sealing: a Twilio
/// configuration in plaintext, and a number whose last push stored a
/// carrier's echo of the request, `Authorization` header included.
fn plaintext_database(db: &Path) -> String {
    let echo = format!(
        "Twilio lookup failed: HTTP 401 {{\"echo\": \"Authorization: Basic {}\", \"token\": \"{TWILIO_TOKEN}\"}}",
        STANDARD.encode(format!("{TWILIO_SID}:{TWILIO_TOKEN}"))
    );
    let mut conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    telebind::db::migrate_to(&mut conn, 5).unwrap();
    let credentials = json!({"provider": "twilio", "account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN,
                             "amd_enabled": false});
    conn.execute_batch(&format!(
        "INSERT INTO organizations (id, name, created_at) VALUES (1, 'default', '2026-01-01T00:00:00.000000Z');
         INSERT INTO workflows (id, org_id, name, created_at, updated_at)
             VALUES (1, 1, 'W', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
         INSERT INTO telephony_configurations
             (id, org_id, name, provider, routing_account, credentials, created_at, updated_at)
             VALUES (1, 1, 'Old', 'twilio', '{TWILIO_SID}', '{credentials}',
                     '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
         INSERT INTO phone_numbers (id, org_id, config_id, provider, routing_account, address, address_normalized,
                                    address_type, inbound_workflow_id, last_sync_ok, last_sync_message,
                                    last_sync_attached, last_sync_at, created_at, updated_at)
             VALUES (1, 1, 1, 'twilio', '{TWILIO_SID}', '+14155550100', '+14155550100', 'pstn', 1, 0,
                     '{}', 0, '2026-01-01T00:00:00.000000Z',
                     '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');",
        echo.replace('\'', "''")
    ))
    .unwrap();
    echo
}

#[tokio::test]
async fn a_database_from_before_sealing_is_sealed_at_start_and_keeps_working() {
    let old = tempfile::TempDir::new().unwrap();
    let db = old.path().join("telebind.db");
    plaintext_database(&db);
    assert!(
        file_and_wal(&db).contains(TWILIO_TOKEN),
        "the old file holds the token in plaintext"
    );

    let (mut app, carrier) = app_with_carrier(|c| c.database.path = db.clone()).await;
    app.key = app.org_key("default");
    let read = app.call(Method::GET, &format!("{CONFIGS}/1"), None, 200).await;
    assert_eq!(
        read["credentials"]["auth_token"],
        telebind::domain::provider::mask(TWILIO_TOKEN)
    );
    assert_eq!(app.stored_credentials(1)["auth_token"], TWILIO_TOKEN);
    let number = app
        .call(Method::GET, &format!("{}/1", numbers_path(&json!(1))), None, 200)
        .await;
    let message = number["last_provider_sync"]["message"].as_str().unwrap();
    assert!(message.starts_with("Twilio lookup failed: HTTP 401"), "{message}");
    assert_no_secret_form(
        message,
        &[TWILIO_TOKEN, TWILIO_SID],
        &[TWILIO_SID],
        "the stored message",
    );
    assert_no_secret_form(&file_and_wal(&db), &[TWILIO_TOKEN], &[TWILIO_SID], "the upgraded file");

    // The sealed credentials are the ones a push authenticates with.
    carrier
        .answer("GET", "IncomingPhoneNumbers.json$", 500, "down", Duration::ZERO)
        .await;
    app.call(Method::POST, &format!("{}/1/sync", numbers_path(&json!(1))), None, 200)
        .await;
    let sent = carrier.requests().await;
    let basic = format!("Basic {}", STANDARD.encode(format!("{TWILIO_SID}:{TWILIO_TOKEN}")));
    assert!(
        sent.iter()
            .any(|r| r.headers.get("authorization").is_some_and(|v| v == basic.as_str())),
        "the push used the stored token"
    );

    // Opening again finds nothing left to seal.
    let app = app.restart().await;
    assert_eq!(app.stored_credentials(1)["auth_token"], TWILIO_TOKEN);
}

#[tokio::test]
async fn the_key_file_is_made_beside_the_database_readable_by_its_owner_only() {
    let app = spawn_app_with(|_| {}).await;
    let key_file = app.db_path().with_extension("key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(STANDARD.decode(key.trim()).unwrap().len(), 32);
}

#[tokio::test]
async fn a_configured_key_is_used_and_no_key_file_is_made() {
    let key = STANDARD.encode([42u8; 32]);
    let app = spawn_app_with(|c| c.security.encryption_key = key.clone()).await;
    let created = app.create_config("T", every_provider()[0].config.clone()).await;
    assert!(!app.db_path().with_extension("key").exists());
    let app = app.restart().await;
    assert_eq!(
        app.stored_credentials(created["id"].as_i64().unwrap())["auth_token"],
        TWILIO_TOKEN
    );
}

/// `serve` on `db` with `env` stops at once with one line saying `reason`.
fn assert_serve_refused(db: &Path, env: &[(&str, &str)], reason: &str) {
    let out = run_cli_with(
        db,
        &["serve"],
        &[&[("TELEBIND_SERVER__BIND", "127.0.0.1:0")], env].concat(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(reason), "says {reason:?}: {stderr}");
}

#[tokio::test]
async fn start_up_with_a_key_that_does_not_open_the_credentials_stops_in_one_line() {
    let app = spawn_app_with(|_| {}).await;
    app.create_config("T", every_provider()[0].config.clone()).await;
    app.stop().await;
    let db = app.db_path();
    let other = STANDARD.encode([7u8; 32]);
    assert_serve_refused(
        db,
        &[("TELEBIND_SECURITY__ENCRYPTION_KEY", &other)],
        "its credentials do not open with the encryption key from security.encryption_key",
    );
    let checked = run_cli_with(
        db,
        &["config", "check"],
        &[("TELEBIND_SECURITY__ENCRYPTION_KEY", &other)],
    );
    assert!(!checked.status.success());

    let key_file = db.with_extension("key");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_serve_refused(db, &[], "is readable by others (mode 644)");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    let kept = key_file.with_extension("kept");
    std::fs::rename(&key_file, &kept).unwrap();
    assert_serve_refused(
        db,
        &[],
        "does not exist, and the database's credentials are sealed with a key",
    );
    assert!(!key_file.exists(), "no new key replaces the lost one");
    std::fs::rename(&kept, &key_file).unwrap();
    assert!(run_cli(db, &["config", "check"]).status.success());
}

#[tokio::test]
async fn credentials_copied_onto_another_configuration_do_not_open() {
    let app = spawn_app_with(|_| {}).await;
    let first = app.create_config("One", every_provider()[0].config.clone()).await;
    let mut other = every_provider()[0].config.clone();
    other["account_sid"] = json!("AC5ec0000000000000000000000000bb");
    let second = app.create_config("Two", other).await;
    let conn = rusqlite::Connection::open(app.db_path()).unwrap();
    conn.execute(
        "UPDATE telephony_configurations SET credentials = (SELECT credentials FROM telephony_configurations WHERE id = ?1) WHERE id = ?2",
        [&first["id"], &second["id"]].map(|v| v.as_i64().unwrap()),
    )
    .unwrap();
    let path = format!("{CONFIGS}/{}", second["id"]);
    let answer = app.call(Method::GET, &path, None, 500).await;
    assert_eq!(answer, json!({"detail": "Internal Server Error"}));
    app.call(Method::GET, &format!("{CONFIGS}/{}", first["id"]), None, 200)
        .await;
}

#[tokio::test]
async fn config_check_shows_where_the_key_comes_from_and_never_the_key() {
    let key = STANDARD.encode([3u8; 32]);
    let app = spawn_app_with(|c| c.security.encryption_key = key.clone()).await;
    let out = run_cli_with(
        app.db_path(),
        &["config", "check"],
        &[("TELEBIND_SECURITY__ENCRYPTION_KEY", &key)],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains(&key), "{stdout}");
    assert!(stdout.contains("encryption_key = \"********\""), "{stdout}");
    assert!(
        stdout.contains("# encryption key: security.encryption_key opens the stored credentials"),
        "{stdout}"
    );
}

/// Runs `keys rotate-encryption` until no stopped server of this process
/// holds the database any more (its threads end a moment after it stops).
async fn rotate(db: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = run_cli_with(db, &["keys", "rotate-encryption"], env);
        let in_use = String::from_utf8_lossy(&out.stderr).contains("in use by another telebind process");
        if !in_use || std::time::Instant::now() > deadline {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn rotating_the_key_file_re_seals_every_row_and_the_old_key_opens_nothing() {
    let app = spawn_app_with(|_| {}).await;
    let created = app.create_config("T", every_provider()[1].config.clone()).await;
    let id = created["id"].as_i64().unwrap();
    let before = app.stored_credentials(id);
    let key_file = app.db_path().with_extension("key");
    let old_key = std::fs::read_to_string(&key_file).unwrap();

    let refused = run_cli(app.db_path(), &["keys", "rotate-encryption"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("in use by another telebind process"),
        "{stderr}"
    );

    app.stop().await;
    let out = rotate(app.db_path(), &[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("re-sealed the credentials of 1 configurations"),
        "{stdout}"
    );
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_key, old_key);
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_serve_refused(
        app.db_path(),
        &[("TELEBIND_SECURITY__ENCRYPTION_KEY", old_key.trim())],
        "do not open",
    );

    let app = app.restart().await;
    assert_eq!(app.stored_credentials(id), before);
    app.call(Method::GET, &format!("{CONFIGS}/{id}"), None, 200).await;
    assert_no_secret_form(
        &file_and_wal(app.db_path()),
        &every_provider()[1].secrets,
        &[],
        "after rotation",
    );
}

#[tokio::test]
async fn rotating_a_configured_key_takes_the_new_one_from_the_environment() {
    let (old, new) = (STANDARD.encode([1u8; 32]), STANDARD.encode([2u8; 32]));
    let app = spawn_app_with(|c| c.security.encryption_key = old.clone()).await;
    app.create_config("T", every_provider()[0].config.clone()).await;
    app.stop().await;
    let db = app.db_path();
    let missing = rotate(db, &[("TELEBIND_SECURITY__ENCRYPTION_KEY", &old)]).await;
    assert!(String::from_utf8_lossy(&missing.stderr).contains("TELEBIND_NEW_ENCRYPTION_KEY"));
    let out = rotate(
        db,
        &[
            ("TELEBIND_SECURITY__ENCRYPTION_KEY", &old),
            ("TELEBIND_NEW_ENCRYPTION_KEY", &new),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let check = |key: &str| run_cli_with(db, &["config", "check"], &[("TELEBIND_SECURITY__ENCRYPTION_KEY", key)]);
    assert!(check(&new).status.success());
    assert!(!check(&old).status.success());
}

#[tokio::test]
async fn a_rotation_cut_off_before_its_key_file_was_renamed_is_finished_at_the_next_start() {
    let app = spawn_app_with(|_| {}).await;
    let created = app.create_config("T", every_provider()[0].config.clone()).await;
    let id = created["id"].as_i64().unwrap();
    app.stop().await;
    let key_file = app.db_path().with_extension("key");
    // What `keys rotate-encryption` has done when it stops right after its commit.
    let (new, text) = telebind::secrets::Sealer::generate(telebind::secrets::KeyOrigin::File(key_file.clone()));
    telebind::secrets::write_key_file(&telebind::secrets::staged_path(&key_file), &text).unwrap();
    {
        let old = telebind::secrets::read_key_file(&key_file).unwrap();
        let mut conn = rusqlite::Connection::open(app.db_path()).unwrap();
        telebind::db::sealed::rotate(&mut conn, &old, &new, app.db_path()).unwrap();
    }
    let app = app.restart().await;
    assert_eq!(std::fs::read_to_string(&key_file).unwrap().trim(), text);
    assert!(!telebind::secrets::staged_path(&key_file).exists());
    assert_eq!(app.stored_credentials(id)["auth_token"], TWILIO_TOKEN);
}
