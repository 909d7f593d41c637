//! What a configuration says about itself (TRUNKS.md §8 items 36–48):
//! warnings, the inactive lifecycle and its CLI, the setup checklist and
//! outbound readiness, and Cloudonix's SIP connectivity.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{numbers_path, spawn_app_with, TestApp};
use crate::trunks::{trunk_path, with_fake, DOMAIN_UUID};

const CONFIGS: &str = "/api/v1/organizations/telephony-configs";
const WARNINGS: &str = "/api/v1/organizations/telephony-config-warnings";
const READY: (bool, Value) = (true, Value::Null);

async fn app() -> TestApp {
    spawn_app_with(|c| c.sync.verify_ownership = false).await
}

fn twilio() -> Value {
    json!({"provider": "twilio", "account_sid": "AC0123456789abcdef0123456789abcd", "auth_token": "tw-token-0123"})
}

fn telnyx(key: Option<&str>) -> Value {
    let mut config = json!({"provider": "telnyx", "api_key": "KEY0123456789", "connection_id": "conn-1"});
    if let Some(key) = key {
        config["webhook_public_key"] = json!(key);
    }
    config
}

fn vonage(secret: Option<&str>) -> Value {
    let mut config = json!({"provider": "vonage", "application_id": "app-1", "private_key": "-----BEGIN-----",
                            "api_key": "vonage-key-1", "api_secret": "vonage-secret-1"});
    if let Some(secret) = secret {
        config["signature_secret"] = json!(secret);
    }
    config
}

fn config_path(id: &Value) -> String {
    format!("{CONFIGS}/{id}")
}

/// The list item of configuration `id`.
async fn item(app: &TestApp, id: &Value) -> Value {
    let list = app.call(Method::GET, CONFIGS, None, 200).await;
    let items = list["configurations"].as_array().unwrap();
    items.iter().find(|c| c["id"] == *id).unwrap().clone()
}

async fn readiness(app: &TestApp, id: &Value) -> (bool, Value) {
    let item = item(app, id).await;
    (
        item["is_ready_for_outbound"].as_bool().unwrap(),
        item["outbound_blocked_reason"].clone(),
    )
}

/// Runs `telebind configs ARGS` and asserts it succeeded.
fn configs_cli(app: &TestApp, args: &[&str]) -> String {
    let mut all = vec!["configs"];
    all.extend_from_slice(args);
    let out = app.cli(&all);
    assert!(
        out.status.success(),
        "{all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

// --------------------------------------------------------------- warnings

#[tokio::test]
async fn warnings_count_the_orgs_configurations_whose_webhooks_cannot_be_verified() {
    let app = app().await;
    let none = json!({"telnyx_missing_webhook_public_key_count": 0, "vonage_missing_signature_secret_count": 0});
    assert_eq!(app.call(Method::GET, WARNINGS, None, 200).await, none);

    let key = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=";
    let mut missing = Vec::new();
    for (n, public_key) in [None, Some(""), Some("   "), Some(key)].into_iter().enumerate() {
        let created = app.create_config(&format!("telnyx-{n}"), telnyx(public_key)).await;
        if public_key != Some(key) {
            missing.push(created["id"].clone());
        }
    }
    app.create_config("vonage-0", vonage(None)).await;
    app.create_config("vonage-1", vonage(Some("s3cret"))).await;
    configs_cli(&app, &["deactivate", &missing[0].to_string(), "--reason", "parked"]);
    let other = app.org_key("b");
    let theirs = json!({"name": "telnyx-b", "config": telnyx(None)});
    app.call_as(&other, Method::POST, CONFIGS, Some(theirs), 200).await;

    assert_eq!(
        app.call(Method::GET, WARNINGS, None, 200).await,
        json!({"telnyx_missing_webhook_public_key_count": 3, "vonage_missing_signature_secret_count": 1}),
        "blank keys count, parked configurations count, other orgs' do not"
    );
    assert_eq!(
        app.call_as(&other, Method::GET, WARNINGS, None, 200).await,
        json!({"telnyx_missing_webhook_public_key_count": 1, "vonage_missing_signature_secret_count": 0})
    );
    let response = app.send(Method::GET, WARNINGS, None, None).await;
    assert_eq!(response.status(), 401);
}

// ------------------------------------------------------ inactive lifecycle

#[tokio::test]
async fn reactivating_an_active_configuration_only_moves_updated_at() {
    let app = app().await;
    let created = app.create_config("tw", twilio()).await;
    let path = format!("{}/reactivate", config_path(&created["id"]));
    let reactivated = app.call(Method::POST, &path, Some(json!({"ignored": true})), 200).await;
    assert_eq!(
        (
            &reactivated["inactive"],
            &reactivated["inactive_since"],
            &reactivated["inactive_reason"]
        ),
        (&json!(false), &Value::Null, &Value::Null)
    );
    assert!(reactivated["updated_at"].as_str() > created["updated_at"].as_str());
    let mut same = reactivated.clone();
    same["updated_at"] = created["updated_at"].clone();
    assert_eq!(same, created, "the Detail is otherwise unchanged");
    // A body is never read: not even malformed JSON is refused.
    let raw = app
        .client
        .post(format!("{}{path}", app.address))
        .header("X-API-Key", &app.key)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
}

#[tokio::test]
async fn a_parked_configuration_shows_why_is_not_ready_and_comes_back_on_reactivation() {
    let app = app().await;
    let created = app.create_config("tw", twilio()).await;
    let id = created["id"].clone();
    app.create_number(&id, json!({"address": "+14155550100"})).await;
    assert_eq!(readiness(&app, &id).await, READY, "ready once it has a number");

    let reason = "ari-401: Check your telephony configuration and credentials.";
    let out = configs_cli(&app, &["deactivate", &id.to_string(), "--reason", reason]);
    assert_eq!(out.trim(), format!("deactivated telephony configuration {id}"));
    let detail = app.call(Method::GET, &config_path(&id), None, 200).await;
    let listed = item(&app, &id).await;
    for shown in [&detail, &listed] {
        assert_eq!(
            (&shown["inactive"], &shown["inactive_reason"]),
            (&json!(true), &json!(reason))
        );
        let since = shown["inactive_since"].as_str().unwrap();
        assert!(since.ends_with('Z') && chrono_like(since), "RFC 3339 in UTC: {since}");
    }
    assert_eq!(
        readiness(&app, &id).await,
        (
            false,
            json!(format!(
                "This configuration is inactive: {reason}. Reactivate it to place calls."
            ))
        )
    );
    assert_eq!(
        detail["setup_checklist"]["ready_for_outbound"], true,
        "the checklist itself is as computed"
    );

    // Still manageable: renamed, numbers created, changed and deleted.
    let renamed = app
        .call(Method::PUT, &config_path(&id), Some(json!({"name": "renamed"})), 200)
        .await;
    assert_eq!(
        (&renamed["name"], &renamed["inactive"]),
        (&json!("renamed"), &json!(true))
    );
    let number = app.create_number(&id, json!({"address": "+14155550101"})).await;
    let path = format!("{}/{}", numbers_path(&id), number["id"]);
    let labelled = app.call(Method::PUT, &path, Some(json!({"label": "x"})), 200).await;
    assert_eq!(labelled["label"], "x");
    app.call(Method::DELETE, &path, None, 200).await;

    let reactivated = app
        .call(Method::POST, &format!("{}/reactivate", config_path(&id)), None, 200)
        .await;
    assert_eq!(
        (
            &reactivated["inactive"],
            &reactivated["inactive_since"],
            &reactivated["inactive_reason"]
        ),
        (&json!(false), &Value::Null, &Value::Null)
    );
    assert_eq!(readiness(&app, &id).await, READY);

    configs_cli(&app, &["deactivate", &id.to_string(), "--reason", "again"]);
    let out = configs_cli(&app, &["reactivate", &id.to_string()]);
    assert_eq!(out.trim(), format!("reactivated telephony configuration {id}"));
    assert_eq!(item(&app, &id).await["inactive"], false);
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
fn chrono_like(t: &str) -> bool {
    let b = t.as_bytes();
    t.len() == 27 && b[4] == b'-' && b[10] == b'T' && b[19] == b'.'
}

#[tokio::test]
async fn reactivation_and_parking_of_unknown_configurations_are_refused() {
    let app = app().await;
    let created = app.create_config("tw", twilio()).await;
    let not_found = json!({"detail": "Telephony configuration not found"});
    assert_eq!(
        app.call(Method::POST, &format!("{CONFIGS}/999999/reactivate"), None, 404)
            .await,
        not_found
    );
    let other = app.org_key("b");
    let theirs = format!("{}/reactivate", config_path(&created["id"]));
    assert_eq!(app.call_as(&other, Method::POST, &theirs, None, 404).await, not_found);
    for args in [
        vec!["configs", "deactivate", "999999", "--reason", "x"],
        vec!["configs", "reactivate", "999999"],
    ] {
        let out = app.cli(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("no telephony configuration has the id 999999"));
    }
}

#[tokio::test]
async fn a_long_reason_keeps_its_first_255_characters() {
    let app = app().await;
    let id = app.create_config("tw", twilio()).await["id"].clone();
    let reason: String = "é".repeat(100) + &"x".repeat(200);
    configs_cli(&app, &["deactivate", &id.to_string(), "--reason", &reason]);
    let stored = item(&app, &id).await["inactive_reason"].as_str().unwrap().to_string();
    assert_eq!(stored, reason.chars().take(255).collect::<String>());
}

// ------------------------------------------------- checklist and readiness

#[tokio::test]
async fn a_twilio_configuration_is_ready_once_it_has_an_active_number() {
    let app = app().await;
    let id = app.create_config("tw", twilio()).await["id"].clone();
    let reason = "Outbound calls need a number to dial from. Add at least one number from your Twilio account under Phone numbers below.";
    let detail = app.call(Method::GET, &config_path(&id), None, 200).await;
    assert_eq!(
        detail["setup_checklist"],
        json!({"ready_for_outbound": false, "outbound_blocked_reason": reason,
               "steps": [{"key": "caller_id", "title": "Add a phone number to use as caller ID",
                          "description": reason, "complete": false, "blocks_outbound": true}],
               "docs_url": "https://docs.dograh.com/integrations/telephony/twilio"})
    );
    assert_eq!(readiness(&app, &id).await, (false, json!(reason)));
    app.create_number(&id, json!({"address": "+14155550100", "is_active": false}))
        .await;
    assert_eq!(
        readiness(&app, &id).await,
        (false, json!(reason)),
        "an inactive number does not count"
    );
    app.create_number(&id, json!({"address": "+14155550101"})).await;
    assert_eq!(readiness(&app, &id).await, READY);
    let detail = app.call(Method::GET, &config_path(&id), None, 200).await;
    assert_eq!(
        (
            &detail["setup_checklist"]["ready_for_outbound"],
            &detail["setup_checklist"]["outbound_blocked_reason"]
        ),
        (&json!(true), &Value::Null)
    );
}

#[tokio::test]
async fn an_ari_configuration_has_no_checklist_no_trunks_and_is_ready() {
    let app = app().await;
    let ari = json!({"provider": "ari", "ari_endpoint": "http://pbx.example.com:8088", "app_name": "a",
                     "app_password": "pw-0123"});
    let detail = app.create_config("pbx", ari).await;
    assert_eq!(
        (
            &detail["setup_checklist"],
            &detail["supports_trunks"],
            &detail["trunks"],
            &detail["sip_connectivity"]
        ),
        (&Value::Null, &json!(false), &json!([]), &Value::Null)
    );
    assert_eq!(readiness(&app, &detail["id"]).await, READY);
}

fn steps(detail: &Value) -> Vec<(String, bool, bool)> {
    detail["setup_checklist"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["key"].as_str().unwrap().to_string(),
                s["complete"].as_bool().unwrap(),
                s["blocks_outbound"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn step(key: &str, complete: bool, blocks: bool) -> (String, bool, bool) {
    (key.to_string(), complete, blocks)
}

#[tokio::test]
async fn a_cloudonix_checklist_follows_its_numbers_trunks_and_bindings() {
    let (f, _) = with_fake().await;
    let path = config_path(&f.cx);
    let detail = f.app.call(Method::GET, &path, None, 200).await;
    assert_eq!(
        steps(&detail),
        [
            step("sip_domain", true, true),
            step("outbound_trunk", false, false),
            step("caller_id", false, true),
            step("inbound_routing", false, false)
        ]
    );
    let caller_id = "Add at least one number your carrier delivers to you. Cloudonix requires a caller ID on every outbound call and rejects the call without one.";
    assert_eq!(
        (
            &detail["setup_checklist"]["ready_for_outbound"],
            &detail["setup_checklist"]["outbound_blocked_reason"],
            &detail["setup_checklist"]["docs_url"]
        ),
        (
            &json!(false),
            &json!(caller_id),
            &json!("https://docs.dograh.com/integrations/telephony/cloudonix")
        )
    );
    assert_eq!(
        (&detail["supports_trunks"], &detail["trunks"]),
        (&json!(true), &json!([]))
    );
    assert_eq!(readiness(&f.app, &f.cx).await, (false, json!(caller_id)));

    let a = f.trunk(&f.cx, "carrier-a").await;
    let b = f.trunk(&f.cx, "carrier-b").await;
    let (_, number) = f.number(&f.cx, json!({"address": "+14155550100"})).await;
    let detail = f.app.call(Method::GET, &path, None, 200).await;
    assert_eq!(
        steps(&detail),
        [
            step("sip_domain", true, true),
            step("outbound_trunk", true, false),
            step("caller_id", true, true),
            step("trunk_assignment", false, false),
            step("inbound_routing", false, false)
        ]
    );
    assert_eq!(detail["setup_checklist"]["ready_for_outbound"], true);
    assert_eq!(
        detail["setup_checklist"]["steps"][3]["title"],
        "Tell telebind which trunk each number dials out on"
    );
    let trunk_ids: Vec<&Value> = detail["trunks"].as_array().unwrap().iter().map(|t| &t["id"]).collect();
    assert_eq!(trunk_ids, [&a["id"], &b["id"]]);

    let assignment = |detail: &Value| steps(detail).into_iter().find(|s| s.0 == "trunk_assignment");
    f.app
        .call(Method::PUT, &number, Some(json!({"telephony_trunk_id": a["id"]})), 200)
        .await;
    let detail = f.app.call(Method::GET, &path, None, 200).await;
    assert_eq!(assignment(&detail), Some(step("trunk_assignment", true, false)));

    // Pinned to a disabled trunk, its calls go out unpinned (W13).
    let c = f.trunk(&f.cx, "carrier-c").await;
    f.app
        .call(
            Method::PUT,
            &trunk_path(&f.cx, &a),
            Some(json!({"enabled": false})),
            200,
        )
        .await;
    let detail = f.app.call(Method::GET, &path, None, 200).await;
    assert_eq!(assignment(&detail), Some(step("trunk_assignment", false, false)));
    f.app
        .call(
            Method::PUT,
            &trunk_path(&f.cx, &c),
            Some(json!({"enabled": false})),
            200,
        )
        .await;
    let detail = f.app.call(Method::GET, &path, None, 200).await;
    assert_eq!(assignment(&detail), None, "one enabled trunk is obvious");

    let workflow = f.app.create_workflow("Support").await;
    let (_, inactive) = f
        .number(&f.cx, json!({"address": "+14155550101", "is_active": false}))
        .await;
    f.app
        .call(
            Method::PUT,
            &inactive,
            Some(json!({"inbound_workflow_id": workflow["id"]})),
            200,
        )
        .await;
    let routing = |detail: &Value| steps(detail).into_iter().find(|s| s.0 == "inbound_routing").unwrap();
    let detail = f.app.call(Method::GET, &path, None, 200).await;
    assert_eq!(
        routing(&detail),
        step("inbound_routing", false, false),
        "an inactive number does not route"
    );
    f.app
        .call(
            Method::PUT,
            &number,
            Some(json!({"inbound_workflow_id": workflow["id"]})),
            200,
        )
        .await;
    let detail = f.app.call(Method::GET, &path, None, 200).await;
    assert_eq!(routing(&detail), step("inbound_routing", true, false));
}

#[tokio::test]
async fn cloudonix_shows_where_its_calls_arrive_and_leave_in_every_region() {
    let (f, _) = with_fake().await;
    let detail = f.app.call(Method::GET, &config_path(&f.cx), None, 200).await;
    let region = |name: &str, suffix: &str, sip: u16, tls: u16, ip: &str| {
        let host = format!("{DOMAIN_UUID}.{suffix}");
        json!({"region": name, "outbound_origin_ip": ip, "inbound_transports": [
            {"transport": "UDP", "hostname": host, "port": sip, "uri": format!("{host}:{sip}")},
            {"transport": "TCP", "hostname": host, "port": sip, "uri": format!("{host}:{sip};transport=tcp;")},
            {"transport": "TLS", "hostname": host, "port": tls, "uri": format!("{host}:{tls};transport=tls;")},
        ]})
    };
    assert_eq!(
        detail["sip_connectivity"],
        json!({"provider_display_name": "Cloudonix", "regions": [
            region("India", "in.dimi.tel", 9060, 9443, "128.199.27.19"),
            region("UAE", "uae.dimi.tel", 9081, 9443, "20.233.60.70"),
            region("Global", "sip.cloudonix.net", 5060, 443, "18.219.128.166"),
        ]})
    );
    assert_eq!(
        detail["sip_connectivity"]["regions"][0]["inbound_transports"][0]["uri"],
        "24f9423e-6902-4a48-b1f2-d5953106d4ae.in.dimi.tel:9060"
    );
    let twilio = f.app.call(Method::GET, &config_path(&f.tw), None, 200).await;
    assert_eq!(twilio["sip_connectivity"], Value::Null);
}
