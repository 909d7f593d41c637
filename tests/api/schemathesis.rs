//! Schemathesis against the live server: generated requests, stateful
//! sequences where the document links operations, with the key of one
//! organization and then of another. Ignored by `cargo test` (it needs
//! Python); `.ci/schemathesis` installs schemathesis and runs it.
//!
//! - `SCHEMATHESIS`: the `st` executable (required).
//! - `SCHEMATHESIS_SCHEMA`: a document file to test against instead of the
//!   server's own `/openapi.json` (e.g. the reference's).
//! - `SCHEMATHESIS_MAX_TIME`: seconds per key (default 60).
//! - `SCHEMATHESIS_SEED`: a fixed seed; without one each run draws its own.
//! - `SCHEMATHESIS_ARGS`: more arguments to `st run`, split at whitespace.
//! - `SCHEMATHESIS_REPORT_DIR`: where the JUnit reports go (default: a temporary directory).

use std::path::PathBuf;
use std::process::Command;

use crate::helpers::{spawn_app_with, MockCarrier};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs schemathesis (Python): run by .ci/schemathesis"]
async fn generated_requests_find_no_server_error_and_no_schema_violation() {
    let st = std::env::var("SCHEMATHESIS").expect("SCHEMATHESIS names the st executable");
    // Carriers as they answer credentials they do not know, which is every
    // credential a generator makes up: refused, in JSON.
    let carrier = MockCarrier::start().await;
    for verb in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        carrier
            .answer(
                verb,
                "^/",
                401,
                serde_json::json!({"code": 20003, "message": "Authenticate", "status": 401}),
                std::time::Duration::ZERO,
            )
            .await;
    }
    let carrier_url = carrier.url();
    let app = spawn_app_with(|c| {
        c.sync.timeout_ms = 2000;
        for (_, base) in c.providers.base_urls_mut() {
            *base = carrier_url.clone();
        }
    })
    .await;
    let schema = std::env::var("SCHEMATHESIS_SCHEMA").unwrap_or_else(|_| format!("{}/openapi.json", app.address));
    let max_time = std::env::var("SCHEMATHESIS_MAX_TIME").unwrap_or_else(|_| "60".into());
    let seed = std::env::var("SCHEMATHESIS_SEED").ok();
    let reports = std::env::var("SCHEMATHESIS_REPORT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| app.dir.path().join("schemathesis"));
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/schemathesis.toml");

    let keys = [("org-a", app.key.clone()), ("org-b", app.org_key("b"))];
    for (org, key) in keys {
        let mut command = Command::new(&st);
        command
            .args(["--config-file", config, "run", &schema, "--url", &app.address])
            .args(["--header", &format!("X-API-Key: {key}")])
            // Archiving keys by id would archive the run's own key, and every
            // request after it would be a 401 (tests/api/api_keys.rs covers it).
            .args(["--exclude-path-regex", "^/api/v1/user/api-keys/[{]api_key_id[}]$"])
            .args(["--max-time", &max_time, "--workers", "1"])
            .args(["--report", "junit", "--report-junit-path"])
            .arg(reports.join(format!("{org}.xml")))
            // Keys and credentials stay out of CI logs.
            .args(["--output-sanitize", "true"]);
        if let Some(seed) = &seed {
            command.args(["--seed", seed]);
        }
        if let Ok(args) = std::env::var("SCHEMATHESIS_ARGS") {
            command.args(args.split_whitespace());
        }
        let status = tokio::task::spawn_blocking(move || command.status())
            .await
            .unwrap()
            .expect("schemathesis runs");
        assert!(status.success(), "schemathesis with {org}'s key found problems (above)");
    }
    let health = app.send(reqwest::Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status(), 200, "the server is healthy at the end");
}
