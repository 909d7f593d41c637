//! Phone numbers on an ARI configuration: no carrier traffic, so these tests
//! are about the contract's shapes, validation, uniqueness and defaults.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{numbers_path, spawn_app_with, TestApp};

fn ari() -> Value {
    json!({"provider": "ari", "ari_endpoint": "http://pbx:8088", "app_name": "tb", "app_password": "pw-123456"})
}

fn twilio(sid: &str) -> Value {
    json!({"provider": "twilio", "account_sid": sid, "auth_token": "token-123456"})
}

/// An app that never asks carriers about ownership, with one config of `config`.
async fn app_with(config: Value) -> (TestApp, Value) {
    let app = spawn_app_with(|c| c.sync.verify_ownership = false).await;
    let created = app.create_config("Main", config).await;
    (app, created["id"].clone())
}

#[tokio::test]
async fn a_created_number_has_the_contract_shape() {
    let (app, cfg) = app_with(ari()).await;
    let workflow = app.create_workflow("Support").await;
    let number = app
        .create_number(
            &cfg,
            json!({"address": " 020 7946 0958 ", "country_code": "gb", "label": "London",
            "inbound_workflow_id": workflow["id"], "extra_metadata": {"team": "uk"}}),
        )
        .await;
    let keys: Vec<&String> = number.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "address",
            "address_normalized",
            "address_type",
            "country_code",
            "created_at",
            "extra_metadata",
            "id",
            "inbound_workflow_id",
            "inbound_workflow_name",
            "is_active",
            "is_default_caller_id",
            "label",
            "last_provider_sync",
            "provider_sync",
            "telephony_configuration_id",
            "telephony_trunk_id",
            "updated_at"
        ]
    );
    assert_eq!(number["address"], "020 7946 0958");
    assert_eq!(number["address_normalized"], "+442079460958");
    assert_eq!(number["address_type"], "pstn");
    assert_eq!(number["country_code"], "GB");
    assert_eq!(number["telephony_configuration_id"], cfg);
    assert_eq!(number["inbound_workflow_name"], "Support");
    assert_eq!(
        (number["is_active"].clone(), number["is_default_caller_id"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(number["extra_metadata"], json!({"team": "uk"}));
    // ARI needs no push: it answers ok without any HTTP.
    assert_eq!(number["provider_sync"], json!({"ok": true, "message": null}));
    assert_eq!(number["last_provider_sync"]["attached"], true);

    let path = format!("{}/{}", numbers_path(&cfg), number["id"]);
    let read = app.call(Method::GET, &path, None, 200).await;
    assert_eq!(read["inbound_workflow_name"], "Support", "on every response");
    assert_eq!(read["provider_sync"], Value::Null);
    let list = app.call(Method::GET, &numbers_path(&cfg), None, 200).await;
    assert_eq!(list["phone_numbers"][0]["inbound_workflow_name"], "Support");
}

#[tokio::test]
async fn addresses_are_normalized_or_rejected_with_422() {
    let (app, cfg) = app_with(ari()).await;
    for (body, normalized, kind) in [
        (json!({"address": "0044 20 7946 0958"}), "+442079460958", "pstn"),
        (
            json!({"address": "0612345678", "country_code": "IT"}),
            "+390612345678",
            "pstn",
        ),
        (json!({"address": "tel:+14155550100"}), "+14155550100", "pstn"),
        (
            json!({"address": "SIP:Alice@Example.COM:5060"}),
            "sip:Alice@example.com",
            "sip_uri",
        ),
        (json!({"address": "Reception"}), "reception", "sip_extension"),
    ] {
        let number = app.create_number(&cfg, body).await;
        assert_eq!(
            (
                number["address_normalized"].as_str().unwrap(),
                number["address_type"].as_str().unwrap()
            ),
            (normalized, kind)
        );
    }
    let needs_country = app
        .call(
            Method::POST,
            &numbers_path(&cfg),
            Some(json!({"address": "4155550199"})),
            422,
        )
        .await;
    assert_eq!(needs_country["detail"][0]["type"], "value_error");
    assert_eq!(needs_country["detail"][0]["loc"], json!(["body"]));
    assert_eq!(
        needs_country["detail"][0]["msg"],
        "Value error, PSTN addresses without a leading '+' need a country_code (ISO-2, e.g. 'US' or 'IN') so we can produce the right E.164 form. Either include the country code in the address (e.g. '+14155551234') or set country_code."
    );
    let mismatch = app
        .call(
            Method::POST,
            &numbers_path(&cfg),
            Some(json!({"address": "+44 20 7946 0959", "country_code": "US"})),
            422,
        )
        .await;
    assert_eq!(mismatch["detail"][0]["type"], "value_error");
    let unknown = app
        .call(
            Method::POST,
            &numbers_path(&cfg),
            Some(json!({"address": "+14155550111", "country_code": "XX"})),
            422,
        )
        .await;
    assert_eq!(unknown["detail"][0]["loc"], json!(["body", "country_code"]));
    let missing = app
        .call(Method::POST, &numbers_path(&cfg), Some(json!({"label": "x"})), 422)
        .await;
    assert_eq!(missing["detail"][0]["loc"], json!(["body", "address"]));
    assert_eq!(
        app.call(Method::GET, &numbers_path(&cfg), None, 200).await["phone_numbers"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[tokio::test]
async fn updates_follow_the_reference_semantics() {
    let (app, cfg) = app_with(ari()).await;
    let sales = app.create_workflow("Sales").await;
    let support = app.create_workflow("Support").await;
    let number = app
        .create_number(
            &cfg,
            json!({"address": "+14155550100", "label": "Main", "inbound_workflow_id": sales["id"],
            "extra_metadata": {"a": 1}}),
        )
        .await;
    let path = format!("{}/{}", numbers_path(&cfg), number["id"]);

    let nulls = json!({"label": null, "inbound_workflow_id": null, "is_active": null, "country_code": null, "extra_metadata": null});
    let unchanged = app.call(Method::PUT, &path, Some(nulls), 200).await;
    for field in [
        "label",
        "inbound_workflow_id",
        "is_active",
        "country_code",
        "extra_metadata",
        "address_normalized",
    ] {
        assert_eq!(unchanged[field], number[field], "null leaves {field} alone");
    }
    assert_eq!(unchanged["provider_sync"], Value::Null, "no binding change, no push");

    let relabeled = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"label": "Front desk", "extra_metadata": {"b": 2}})),
            200,
        )
        .await;
    assert_eq!(
        (relabeled["label"].clone(), relabeled["extra_metadata"].clone()),
        (json!("Front desk"), json!({"b": 2}))
    );
    assert_eq!(relabeled["provider_sync"], Value::Null);

    let both = json!({"inbound_workflow_id": support["id"], "clear_inbound_workflow": true});
    let rebound = app.call(Method::PUT, &path, Some(both), 200).await;
    assert_eq!(
        (
            rebound["inbound_workflow_id"].clone(),
            rebound["inbound_workflow_name"].clone()
        ),
        (support["id"].clone(), json!("Support"))
    );
    assert_eq!(
        rebound["provider_sync"],
        Value::Null,
        "another workflow, the same webhook: the carrier is not told"
    );

    let cleared = app
        .call(Method::PUT, &path, Some(json!({"clear_inbound_workflow": true})), 200)
        .await;
    assert_eq!(
        (
            cleared["inbound_workflow_id"].clone(),
            cleared["inbound_workflow_name"].clone()
        ),
        (Value::Null, Value::Null)
    );
    assert_eq!(cleared["last_provider_sync"]["attached"], false);

    let null_clear = app
        .call(Method::PUT, &path, Some(json!({"clear_inbound_workflow": null})), 422)
        .await;
    assert_eq!(
        null_clear["detail"][0]["loc"],
        json!(["body", "clear_inbound_workflow"])
    );

    let same_address = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"address": "+14155550100", "is_active": false})),
            200,
        )
        .await;
    assert_eq!(same_address["is_active"], false);
    let other_address = app
        .call(Method::PUT, &path, Some(json!({"address": "+14155550101"})), 422)
        .await;
    assert_eq!(
        other_address["detail"][0]["msg"],
        "Value error, address is immutable; delete the number and create it again"
    );

    app.call(Method::PUT, &path, Some(json!({"country_code": "ca"})), 200)
        .await;
    let mismatch = app
        .call(Method::PUT, &path, Some(json!({"country_code": "GB"})), 422)
        .await;
    assert_eq!(mismatch["detail"][0]["loc"], json!(["body", "country_code"]));
    assert_eq!(app.call(Method::GET, &path, None, 200).await["country_code"], "CA");

    let theirs = app.org_key("acme");
    let foreign = app
        .call_as(
            &theirs,
            Method::POST,
            "/api/v1/workflows",
            Some(json!({"name": "Theirs"})),
            200,
        )
        .await;
    let answer = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"inbound_workflow_id": foreign["id"]})),
            404,
        )
        .await;
    assert_eq!(answer, json!({"detail": "Workflow not found"}));
}

#[tokio::test]
async fn an_address_is_unique_in_its_org() {
    let (app, cfg) = app_with(ari()).await;
    let other_cfg = app.create_config("Second", ari()).await["id"].clone();
    app.create_number(&cfg, json!({"address": "+14155550100"})).await;
    for config in [&cfg, &other_cfg] {
        let answer = app
            .call(
                Method::POST,
                &numbers_path(config),
                Some(json!({"address": "+1 (415) 555-0100"})),
                409,
            )
            .await;
        assert_eq!(
            answer,
            json!({"detail": "A phone number with this address already exists in the org."})
        );
    }
    // ARI has no routing account: another org may hold the same number.
    let acme = app.org_key("acme");
    let acme_cfg = app
        .call_as(
            &acme,
            Method::POST,
            "/api/v1/organizations/telephony-configs",
            Some(json!({"name": "A", "config": ari()})),
            200,
        )
        .await;
    app.call_as(
        &acme,
        Method::POST,
        &numbers_path(&acme_cfg["id"]),
        Some(json!({"address": "+14155550100"})),
        200,
    )
    .await;
}

/// Under `key`, a Twilio configuration of account `sid` claiming `address`:
/// asserts the claim's status and returns its answer.
async fn claim_as(app: &TestApp, key: &str, sid: &str, address: &str, status: u16) -> Value {
    let configs = "/api/v1/organizations/telephony-configs";
    let name = format!("{sid} {status} {}", unique_suffix());
    let cfg = app
        .call_as(
            key,
            Method::POST,
            configs,
            Some(json!({"name": name, "config": twilio(sid)})),
            200,
        )
        .await;
    app.call_as(
        key,
        Method::POST,
        &numbers_path(&cfg["id"]),
        Some(json!({ "address": address })),
        status,
    )
    .await
}

/// Configuration names must differ within an org.
fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn a_routing_key_is_unique_across_orgs() {
    let (app, cfg) = app_with(twilio("AC-shared-account")).await;
    app.create_number(&cfg, json!({"address": "+14155550100 "})).await;
    let acme = app.org_key("acme");
    let answer = claim_as(&app, &acme, "AC-shared-account", "+14155550100", 409).await;
    assert_eq!(
        answer["detail"],
        "Phone number +14155550100 is already registered under another organization using the same provider account. Inbound calls cannot be uniquely routed when the same number is configured against the same provider account in more than one place."
    );
    // Within one org the address rule answers first.
    let same_org = claim_as(&app, &app.key, "AC-shared-account", "+14155550100", 409).await;
    assert!(
        same_org["detail"]
            .as_str()
            .unwrap()
            .contains("already exists in the org"),
        "{same_org}"
    );
    // A different account of the same provider is another routing key.
    claim_as(&app, &acme, "AC-other", "+14155550100", 200).await;
}

#[tokio::test]
async fn changing_a_configs_routing_account_keeps_keys_unique_and_moves_its_numbers() {
    let (app, cfg) = app_with(twilio("AC-one")).await;
    app.create_number(&cfg, json!({"address": "+14155550100"})).await;
    let acme = app.org_key("acme");
    claim_as(&app, &acme, "AC-two", "+14155550100", 200).await;
    let path = format!("/api/v1/organizations/telephony-configs/{cfg}");

    let answer = app
        .call(Method::PUT, &path, Some(json!({"config": twilio("AC-two")})), 409)
        .await;
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("another organization using the same provider account"),
        "{answer}"
    );
    assert_eq!(
        app.stored_credentials(cfg.as_i64().unwrap())["account_sid"],
        "AC-one",
        "nothing changed"
    );

    app.call(Method::PUT, &path, Some(json!({"config": twilio("AC-three")})), 200)
        .await;
    // The number moved with its configuration: the old key is free, the new one taken.
    let beta = app.org_key("beta");
    claim_as(&app, &beta, "AC-one", "+14155550100", 200).await;
    let taken = claim_as(&app, &app.org_key("gamma"), "AC-three", "+14155550100", 409).await;
    assert!(taken["detail"]
        .as_str()
        .unwrap()
        .contains("another organization using the same provider account"));
}

#[tokio::test]
async fn two_orgs_racing_for_one_routing_key_get_one_success_and_one_409() {
    for _ in 0..5 {
        let app = spawn_app_with(|c| c.sync.verify_ownership = false).await;
        let configs = "/api/v1/organizations/telephony-configs";
        let keys = [app.key.clone(), app.org_key("acme")];
        let mut cfgs = Vec::new();
        for key in &keys {
            cfgs.push(
                app.call_as(
                    key,
                    Method::POST,
                    configs,
                    Some(json!({"name": "T", "config": twilio("AC-race")})),
                    200,
                )
                .await["id"]
                    .clone(),
            );
        }
        let attempts = keys.iter().zip(&cfgs).map(|(key, cfg)| {
            let (app, path) = (&app, numbers_path(cfg));
            async move {
                app.send(Method::POST, &path, Some(key), Some(json!({"address": "+14155550123"})))
                    .await
            }
        });
        let mut statuses: Vec<u16> = futures_util::future::join_all(attempts)
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
        statuses.sort();
        assert_eq!(statuses, [200, 409]);
    }
}

#[tokio::test]
async fn concurrent_default_caller_switches_leave_exactly_one() {
    let (app, cfg) = app_with(ari()).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            app.create_number(
                &cfg,
                json!({"address": format!("+1415555010{i}"), "is_default_caller_id": true}),
            )
            .await["id"]
                .clone(),
        );
    }
    let switches = (0..36).map(|i| {
        let path = format!("{}/{}/set-default-caller", numbers_path(&cfg), ids[i % ids.len()]);
        let app = &app;
        async move { app.call(Method::POST, &path, None, 200).await }
    });
    for answer in futures_util::future::join_all(switches).await {
        assert_eq!(answer["is_default_caller_id"], true);
    }
    let list = app.call(Method::GET, &numbers_path(&cfg), None, 200).await;
    let defaults = list["phone_numbers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["is_default_caller_id"] == true)
        .count();
    assert_eq!(defaults, 1);
}

#[tokio::test]
async fn configs_and_workflows_with_numbers_cannot_be_deleted() {
    let (app, cfg) = app_with(ari()).await;
    let workflow = app.create_workflow("Bound").await;
    let number = app
        .create_number(
            &cfg,
            json!({"address": "+14155550100", "inbound_workflow_id": workflow["id"]}),
        )
        .await;
    app.create_number(&cfg, json!({"address": "+14155550101", "is_active": false}))
        .await;

    let wf_path = format!("/api/v1/workflows/{}", workflow["id"]);
    assert_eq!(
        app.call(Method::GET, &wf_path, None, 200).await["phone_number_count"],
        1
    );
    let refused = app.call(Method::DELETE, &wf_path, None, 409).await;
    assert_eq!(
        refused,
        json!({"detail": "Workflow is bound to 1 phone number(s); unbind them first."})
    );

    let cfg_path = format!("/api/v1/organizations/telephony-configs/{cfg}");
    let refused = app.call(Method::DELETE, &cfg_path, None, 409).await;
    assert_eq!(
        refused,
        json!({"detail": "Telephony configuration has 2 phone number(s). Delete them first."})
    );
    let list = app
        .call(Method::GET, "/api/v1/organizations/telephony-configs", None, 200)
        .await;
    assert_eq!(list["configurations"][0]["phone_number_count"], 1, "active numbers");

    let number_path = format!("{}/{}", numbers_path(&cfg), number["id"]);
    app.call(
        Method::PUT,
        &number_path,
        Some(json!({"clear_inbound_workflow": true})),
        200,
    )
    .await;
    app.call(Method::DELETE, &wf_path, None, 200).await;
}

#[tokio::test]
async fn numbers_of_other_orgs_and_configs_are_not_found() {
    let (app, cfg) = app_with(ari()).await;
    let number = app.create_number(&cfg, json!({"address": "+14155550100"})).await;
    let other_cfg = app.create_config("Second", ari()).await["id"].clone();
    let acme = app.org_key("acme");
    let routes = |cfg: &Value| {
        let path = format!("{}/{}", numbers_path(cfg), number["id"]);
        vec![
            (Method::GET, path.clone(), None),
            (Method::PUT, path.clone(), Some(json!({"label": "x"}))),
            (Method::DELETE, path.clone(), None),
            (Method::POST, format!("{path}/set-default-caller"), None),
            (Method::POST, format!("{path}/sync"), None),
        ]
    };
    for (method, path, body) in routes(&cfg) {
        let answer = app.call_as(&acme, method, &path, body, 404).await;
        assert_eq!(answer, json!({"detail": "Telephony configuration not found"}));
    }
    for (method, path, body) in routes(&other_cfg) {
        assert_eq!(
            app.call(method, &path, body, 404).await,
            json!({"detail": "Phone number not found"})
        );
    }
    app.call_as(&acme, Method::GET, &numbers_path(&cfg), None, 404).await;
    app.call_as(
        &acme,
        Method::POST,
        &numbers_path(&cfg),
        Some(json!({"address": "+14155550109"})),
        404,
    )
    .await;
}

#[tokio::test]
async fn numbers_are_listed_in_creation_order_and_deleted() {
    let (app, cfg) = app_with(ari()).await;
    for address in ["+14155550102", "+14155550101", "1001"] {
        app.create_number(&cfg, json!({"address": address})).await;
    }
    let list = app.call(Method::GET, &numbers_path(&cfg), None, 200).await;
    let addresses: Vec<&str> = list["phone_numbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["+14155550102", "+14155550101", "1001"]);
    let path = format!("{}/{}", numbers_path(&cfg), list["phone_numbers"][0]["id"]);
    let deleted = app.call(Method::DELETE, &path, None, 200).await;
    assert_eq!(
        deleted,
        json!({"message": "Phone number deleted", "provider_sync": null})
    );
    app.call(Method::GET, &path, None, 404).await;
}
