use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use telebind::domain::provider::mask;

use crate::helpers::{spawn_app, spawn_app_with_carrier, MockCarrier, TestApp};

const CONFIGS: &str = "/api/v1/organizations/telephony-configs";

/// Per provider: a config with every field, its required fields and its secrets.
fn full_configs() -> Vec<(&'static str, Value, Vec<&'static str>, Vec<&'static str>)> {
    vec![
        (
            "twilio",
            json!({"provider": "twilio", "account_sid": "AC0123456789abcdef0123456789abcd",
                   "auth_token": "twilio-token-0123456789", "amd_enabled": true}),
            vec!["account_sid", "auth_token"],
            vec!["account_sid", "auth_token"],
        ),
        (
            "vonage",
            json!({"provider": "vonage", "application_id": "vonage-app-1",
                   "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
                   "api_key": "vonagekey123", "api_secret": "vonage-secret-xyz", "signature_secret": "sig-secret-abc"}),
            vec!["application_id", "private_key", "api_key", "api_secret"],
            vec!["private_key", "api_key", "api_secret", "signature_secret"],
        ),
        (
            "plivo",
            json!({"provider": "plivo", "auth_id": "MAPLIVO0123456789", "auth_token": "plivo-token-abcdef",
                   "application_id": "plivo-app-1"}),
            vec!["auth_id", "auth_token"],
            vec!["auth_id", "auth_token"],
        ),
        (
            "telnyx",
            json!({"provider": "telnyx", "api_key": "KEYtelnyx0123456789", "connection_id": "conn-123",
                   "webhook_public_key": "pubkey-xyz"}),
            vec!["api_key"],
            vec!["api_key"],
        ),
        (
            "vobiz",
            json!({"provider": "vobiz", "auth_id": "MA_SYQRLN1K", "auth_token": "vobiz-token-abcdef",
                   "application_id": "vobiz-app-1"}),
            vec!["auth_id", "auth_token"],
            vec!["auth_id", "auth_token"],
        ),
        (
            "cloudonix",
            json!({"provider": "cloudonix", "bearer_token": "cx-bearer-0123456789", "domain_id": "acme.example.com",
                   "application_name": "telebind-app"}),
            vec!["bearer_token", "domain_id"],
            vec!["bearer_token"],
        ),
        (
            "ari",
            json!({"provider": "ari", "ari_endpoint": "http://pbx.example:8088", "app_name": "telebind",
                   "app_password": "ari-password-123", "ws_client_name": "dograh_staging",
                   "external_pbx": {"type": "vicidial", "agent_api": {"url": "http://vici", "username": "agent-user",
                                    "password": "agent-pass-9"}}}),
            vec!["ari_endpoint", "app_name", "app_password"],
            vec!["app_password"],
        ),
    ]
}

/// Every raw secret of the full configs, for scanning responses.
fn raw_secrets() -> Vec<String> {
    let mut secrets = vec!["agent-user".to_string(), "agent-pass-9".to_string()];
    for (_, config, _, sensitive) in full_configs() {
        secrets.extend(sensitive.iter().map(|f| config[*f].as_str().unwrap().to_string()));
    }
    secrets
}

fn assert_no_secret(body: &Value) {
    let text = body.to_string();
    for secret in raw_secrets() {
        assert!(
            !text.contains(&secret),
            "a response shows the secret {secret:?}: {text}"
        );
    }
}

/// A server whose carriers answer the Cloudonix domain lookup every Cloudonix
/// save makes; the other full configs name their applications, so need no carrier.
async fn spawn_app_with_cloudonix() -> (TestApp, MockCarrier) {
    let (app, carrier) = spawn_app_with_carrier().await;
    carrier
        .answer(
            "GET",
            "^/customers/self/domains/[^/]+$",
            200,
            json!({"uuid": "cx-domain-uuid"}),
            Duration::ZERO,
        )
        .await;
    (app, carrier)
}

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>, expected: u16) -> Value {
    let answer = app.call(method, path, body, expected).await;
    assert_no_secret(&answer);
    answer
}

#[tokio::test]
async fn every_provider_is_created_with_all_fields_and_read_back_masked() {
    let (app, _carrier) = spawn_app_with_cloudonix().await;
    for (provider, config, _, sensitive) in full_configs() {
        let created = call(
            &app,
            Method::POST,
            CONFIGS,
            Some(json!({"name": provider, "config": config})),
            200,
        )
        .await;
        assert_eq!(created["provider"], provider);
        let creds = &created["credentials"];
        for field in &sensitive {
            assert_eq!(
                creds[field],
                mask(config[field].as_str().unwrap()),
                "{provider}.{field}"
            );
        }
        assert!(creds.get("provider").is_none());
        let detail = call(&app, Method::GET, &format!("{CONFIGS}/{}", created["id"]), None, 200).await;
        assert_eq!(detail, created);
        let stored = app.stored_credentials(created["id"].as_i64().unwrap());
        for field in &sensitive {
            assert_eq!(stored[field], config[field], "{provider}.{field} is stored as given");
        }
    }
    let list = call(&app, Method::GET, CONFIGS, None, 200).await;
    let providers: Vec<&str> = list["configurations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["provider"].as_str().unwrap())
        .collect();
    assert_eq!(
        providers,
        ["twilio", "vonage", "plivo", "telnyx", "vobiz", "cloudonix", "ari"]
    );
}

#[tokio::test]
async fn the_detail_and_list_shapes_follow_the_contract() {
    let app = spawn_app().await;
    let (_, twilio, _, _) = full_configs().remove(0);
    let created = app.create_config("Main", twilio).await;
    let keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "connectivity",
            "created_at",
            "credentials",
            "id",
            "inactive",
            "inactive_reason",
            "inactive_since",
            "is_default_outbound",
            "name",
            "provider",
            "setup_checklist",
            "sip_connectivity",
            "supports_trunks",
            "trunks",
            "updated_at"
        ]
    );
    assert_eq!(created["connectivity"], "api");
    assert_eq!(
        (created["inactive"].clone(), created["trunks"].clone()),
        (json!(false), json!([]))
    );
    assert_eq!(created["credentials"]["amd_enabled"], true);
    let reason = "Outbound calls need a number to dial from. Add at least one number from your Twilio account under Phone numbers below.";
    assert_eq!(
        created["setup_checklist"],
        json!({"ready_for_outbound": false, "outbound_blocked_reason": reason, "docs_url": "https://docs.dograh.com/integrations/telephony/twilio",
               "steps": [{"key": "caller_id", "title": "Add a phone number to use as caller ID", "description": reason,
                          "complete": false, "blocks_outbound": true}]})
    );
    let list = app.call(Method::GET, CONFIGS, None, 200).await;
    let item = &list["configurations"][0];
    assert_eq!(
        *item,
        json!({"id": created["id"], "name": "Main", "provider": "twilio", "connectivity": "api", "is_default_outbound": false,
               "inactive": false, "inactive_since": null, "inactive_reason": null, "phone_number_count": 0,
               "is_ready_for_outbound": false, "outbound_blocked_reason": reason,
               "created_at": created["created_at"], "updated_at": created["updated_at"]})
    );
}

#[tokio::test]
async fn ari_gets_a_minted_stasis_app_name_kept_on_update_and_no_checklist() {
    let app = spawn_app().await;
    let (_, ari, _, _) = full_configs().pop().unwrap();
    let created = app.create_config("PBX", ari).await;
    assert_eq!(created["connectivity"], "sip");
    assert_eq!(created["setup_checklist"], Value::Null);
    let stasis = created["credentials"]["stasis_app_name"].as_str().unwrap().to_string();
    assert!(stasis.starts_with("telebind_") && stasis.len() == 21, "{stasis}");
    assert_eq!(
        created["credentials"]["external_pbx"]["agent_api"]["password"],
        mask("agent-pass-9")
    );

    let mut config = created["credentials"].clone();
    config["provider"] = json!("ari");
    config["stasis_app_name"] = json!("telebind_hijacked");
    let path = format!("{CONFIGS}/{}", created["id"]);
    let updated = app.call(Method::PUT, &path, Some(json!({"config": config})), 200).await;
    assert_eq!(updated["credentials"]["stasis_app_name"], stasis.as_str());
    let list = app.call(Method::GET, CONFIGS, None, 200).await;
    assert_eq!(list["configurations"][0]["is_ready_for_outbound"], true);
}

#[tokio::test]
async fn each_missing_required_field_is_a_422_at_its_provider_loc() {
    let app = spawn_app().await;
    for (provider, config, required, _) in full_configs() {
        for field in required {
            let mut config = config.clone();
            config.as_object_mut().unwrap().remove(field);
            let answer = call(
                &app,
                Method::POST,
                CONFIGS,
                Some(json!({"name": "x", "config": config})),
                422,
            )
            .await;
            let errors = answer["detail"].as_array().unwrap();
            assert_eq!(errors.len(), 1, "{provider}.{field}: {answer}");
            assert_eq!(errors[0]["type"], "missing");
            assert_eq!(errors[0]["loc"], json!(["body", "config", provider, field]));
        }
    }
    assert_eq!(
        app.call(Method::GET, CONFIGS, None, 200).await,
        json!({"configurations": []})
    );
}

#[tokio::test]
async fn a_get_body_sent_back_as_put_keeps_every_secret() {
    let (app, _carrier) = spawn_app_with_cloudonix().await;
    for (provider, config, _, sensitive) in full_configs() {
        let created = app.create_config(provider, config.clone()).await;
        let id = created["id"].as_i64().unwrap();
        let before = app.stored_credentials(id);
        let mut round_trip = created.clone();
        round_trip["config"] = created["credentials"].clone();
        round_trip["config"]["provider"] = json!(provider);
        let path = format!("{CONFIGS}/{id}");
        let updated = call(&app, Method::PUT, &path, Some(round_trip), 200).await;
        assert_eq!(updated["credentials"], created["credentials"], "{provider}");
        assert_eq!(app.stored_credentials(id), before, "{provider}: stored secrets intact");
        for field in sensitive {
            assert_eq!(app.stored_credentials(id)[field], config[field]);
        }
    }
}

#[tokio::test]
async fn a_changed_secret_is_stored_and_shown_masked() {
    let (app, _carrier) = spawn_app_with_cloudonix().await;
    for (provider, config, _, sensitive) in full_configs() {
        let created = app.create_config(provider, config.clone()).await;
        let id = created["id"].as_i64().unwrap();
        let mut rotated = created["credentials"].clone();
        rotated["provider"] = json!(provider);
        let field = sensitive[sensitive.len() - 1];
        let new_secret = format!("rotated-{provider}-secret-7788");
        rotated[field] = json!(new_secret);
        let updated = app
            .call(
                Method::PUT,
                &format!("{CONFIGS}/{id}"),
                Some(json!({"config": rotated})),
                200,
            )
            .await;
        assert_eq!(updated["credentials"][field], mask(&new_secret), "{provider}.{field}");
        assert_eq!(app.stored_credentials(id)[field], new_secret.as_str());
        for other in sensitive.iter().filter(|f| **f != field) {
            assert_eq!(
                app.stored_credentials(id)[other],
                config[other],
                "{provider}.{other} untouched"
            );
        }
    }
}

#[tokio::test]
async fn names_are_unique_per_org_on_create_and_rename() {
    let app = spawn_app().await;
    let (_, twilio, _, _) = full_configs().remove(0);
    app.create_config("Main", twilio.clone()).await;
    let message = "A telephony configuration named 'Main' already exists in this organization. Pick a different name.";
    let dup = app
        .call(
            Method::POST,
            CONFIGS,
            Some(json!({"name": " Main ", "config": twilio})),
            409,
        )
        .await;
    assert_eq!(dup, json!({"detail": message}));

    let other = app.create_config("Backup", twilio.clone()).await;
    let rename = app
        .call(
            Method::PUT,
            &format!("{CONFIGS}/{}", other["id"]),
            Some(json!({"name": "Main"})),
            409,
        )
        .await;
    assert_eq!(rename, json!({"detail": message}));
    // Another org may use the name.
    let acme = app.org_key("acme");
    app.call_as(
        &acme,
        Method::POST,
        CONFIGS,
        Some(json!({"name": "Main", "config": twilio})),
        200,
    )
    .await;
    let renamed = app
        .call(
            Method::PUT,
            &format!("{CONFIGS}/{}", other["id"]),
            Some(json!({"name": "Spare", "config": null})),
            200,
        )
        .await;
    assert_eq!(renamed["name"], "Spare");
}

#[tokio::test]
async fn the_provider_cannot_change() {
    let app = spawn_app().await;
    let mut configs = full_configs();
    let created = app.create_config("Main", configs.remove(0).1).await;
    let answer = app
        .call(
            Method::PUT,
            &format!("{CONFIGS}/{}", created["id"]),
            Some(json!({"config": configs.remove(0).1})),
            400,
        )
        .await;
    assert_eq!(
        answer,
        json!({"detail": "Provider cannot be changed; create a new configuration instead."})
    );
}

#[tokio::test]
async fn missing_and_unknown_provider_tags_are_union_errors() {
    let app = spawn_app().await;
    let missing = app
        .call(
            Method::POST,
            CONFIGS,
            Some(json!({"name": "x", "config": {"account_sid": "AC1"}})),
            422,
        )
        .await;
    assert_eq!(missing["detail"][0]["type"], "union_tag_not_found");
    assert_eq!(missing["detail"][0]["loc"], json!(["body", "config"]));
    let unknown = app
        .call(
            Method::POST,
            CONFIGS,
            Some(json!({"name": "x", "config": {"provider": "sinch"}})),
            422,
        )
        .await;
    assert_eq!(unknown["detail"][0]["type"], "union_tag_invalid");
    let no_config = app.call(Method::POST, CONFIGS, Some(json!({"name": "x"})), 422).await;
    assert_eq!(no_config["detail"][0]["loc"], json!(["body", "config"]));
    let long_name = app
        .call(
            Method::POST,
            CONFIGS,
            Some(json!({"name": "n".repeat(65), "config": {"provider": "sinch"}})),
            422,
        )
        .await;
    assert_eq!(long_name["detail"].as_array().unwrap().len(), 2, "all errors at once");
}

#[tokio::test]
async fn another_orgs_config_is_not_found_on_every_route() {
    let app = spawn_app().await;
    let created = app.create_config("Main", full_configs().remove(0).1).await;
    let other = app.org_key("acme");
    let path = format!("{CONFIGS}/{}", created["id"]);
    for (method, path, body) in [
        (Method::GET, path.clone(), None),
        (Method::PUT, path.clone(), Some(json!({"name": "Stolen"}))),
        (Method::DELETE, path.clone(), None),
        (Method::POST, format!("{path}/set-default-outbound"), None),
    ] {
        let answer = app.call_as(&other, method, &path, body, 404).await;
        assert_eq!(answer, json!({"detail": "Telephony configuration not found"}));
    }
    assert_eq!(
        app.call_as(&other, Method::GET, CONFIGS, None, 200).await,
        json!({"configurations": []})
    );
    assert_eq!(app.call(Method::GET, &path, None, 200).await["name"], "Main");
}

#[tokio::test]
async fn a_config_is_deleted() {
    let app = spawn_app().await;
    let created = app.create_config("Main", full_configs().remove(0).1).await;
    let path = format!("{CONFIGS}/{}", created["id"]);
    assert_eq!(
        app.call(Method::DELETE, &path, None, 200).await,
        json!({"message": "Telephony configuration deleted", "provider_sync": null})
    );
    app.call(Method::GET, &path, None, 404).await;
}

#[tokio::test]
async fn concurrent_default_switches_all_succeed_and_leave_exactly_one_default() {
    let app = spawn_app().await;
    let twilio = full_configs().remove(0).1;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            app.create_config(&format!("cfg-{i}"), twilio.clone()).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let switches = (0..48).map(|i| {
        let app = &app;
        let twilio = twilio.clone();
        let id = ids[i % ids.len()];
        async move {
            if i % 4 == 0 {
                let body = json!({"name": format!("new-{i}"), "is_default_outbound": true, "config": twilio});
                app.call(Method::POST, CONFIGS, Some(body), 200).await
            } else {
                app.call(Method::POST, &format!("{CONFIGS}/{id}/set-default-outbound"), None, 200)
                    .await
            }
        }
    });
    for answer in futures_util::future::join_all(switches).await {
        assert_eq!(answer["is_default_outbound"], true);
    }
    let list = app.call(Method::GET, CONFIGS, None, 200).await;
    let defaults = list["configurations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["is_default_outbound"] == true)
        .count();
    assert_eq!(defaults, 1);
}

#[tokio::test]
async fn the_metadata_endpoint_serves_the_reference_metadata() {
    let app = spawn_app().await;
    let metadata = app
        .call(
            Method::GET,
            "/api/v1/organizations/telephony-providers/metadata",
            None,
            200,
        )
        .await;
    let providers: Vec<&str> = metadata["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider"].as_str().unwrap())
        .collect();
    assert_eq!(
        providers,
        ["ari", "cloudonix", "plivo", "telnyx", "twilio", "vobiz", "vonage"]
    );
    // The Twilio entry exactly as PROVIDERS.md §6 shows it.
    let twilio = json!({"provider":"twilio","display_name":"Twilio","connectivity":"api","fields":[
        {"name":"account_sid","label":"Account SID","type":"text","required":true,"sensitive":true,"description":"Twilio Account SID (starts with AC)","placeholder":null,"options":null,"visible_when":null,"section":null},
        {"name":"auth_token","label":"Auth Token","type":"password","required":true,"sensitive":true,"description":"Twilio Auth Token","placeholder":null,"options":null,"visible_when":null,"section":null},
        {"name":"from_numbers","label":"Phone Numbers","type":"string-array","required":true,"sensitive":false,"description":"E.164-formatted Twilio phone numbers used for outbound calls","placeholder":null,"options":null,"visible_when":null,"section":null},
        {"name":"amd_enabled","label":"Answering Machine Detection","type":"boolean","required":true,"sensitive":false,"description":"Detect whether outbound calls are answered by a person or machine. Twilio may bill AMD as an additional per-call feature.","placeholder":null,"options":null,"visible_when":null,"section":null}],
        "docs_url":"https://docs.dograh.com/integrations/telephony/twilio"});
    assert_eq!(metadata["providers"][4], twilio);
    // Field by field with the reference response, where the spec is checked out beside the repository.
    let reference =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/spec/reference/providers-metadata.json");
    if let Ok(text) = std::fs::read_to_string(reference) {
        assert_eq!(metadata, serde_json::from_str::<Value>(&text).unwrap());
    }
    app.send(
        Method::GET,
        "/api/v1/organizations/telephony-providers/metadata",
        None,
        None,
    )
    .await
    .status()
    .as_u16()
    .eq(&401)
    .then_some(())
    .expect("needs a key");
}
