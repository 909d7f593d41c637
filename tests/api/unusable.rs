//! Input that could be stored but could never work is refused when it is
//! saved, with the field's `loc`, instead of failing later.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{numbers_path, spawn_app_with, TestApp, CONFIGS};

async fn app() -> TestApp {
    spawn_app_with(|c| c.sync.verify_ownership = false).await
}

fn ari() -> Value {
    json!({"provider": "ari", "ari_endpoint": "http://pbx:8088", "app_name": "tb", "app_password": "pw-123456"})
}

/// The 422 of `body` sent as `method path`: its one error's type and loc.
async fn refused(app: &TestApp, method: Method, path: &str, body: Value) -> Value {
    let answer = app.call(method, path, Some(body), 422).await;
    let errors = answer["detail"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{answer}");
    assert_eq!(errors[0]["type"], "value_error", "{answer}");
    errors[0].clone()
}

#[tokio::test]
async fn control_characters_are_refused_at_save_time_with_the_fields_loc() {
    let app = app().await;
    let cfg = app.create_config("Main", ari()).await["id"].clone();
    let workflow = app.create_workflow("Support").await;
    let number = app.create_number(&cfg, json!({"address": "1001"})).await;
    let number_path = format!("{}/{}", numbers_path(&cfg), number["id"]);
    let workflow_path = format!("/api/v1/workflows/{}", workflow["id"]);
    let cases = [
        (
            Method::POST,
            "/api/v1/workflows".to_string(),
            json!({"name": "Sup\u{0}port"}),
            vec!["body", "name"],
        ),
        (
            Method::PUT,
            workflow_path,
            json!({"name": "Line\nbreak"}),
            vec!["body", "name"],
        ),
        (
            Method::POST,
            CONFIGS.to_string(),
            json!({"name": "Bell\u{7}", "config": ari()}),
            vec!["body", "name"],
        ),
        (
            Method::POST,
            numbers_path(&cfg),
            json!({"address": "100\u{0}2"}),
            vec!["body", "address"],
        ),
        (
            Method::PUT,
            number_path.clone(),
            json!({"label": "desk\r"}),
            vec!["body", "label"],
        ),
        (
            Method::POST,
            "/api/v1/user/api-keys".to_string(),
            json!({"name": "ci\u{1b}[31m"}),
            vec!["body", "name"],
        ),
    ];
    for (method, path, body, loc) in cases {
        let error = refused(&app, method, &path, body).await;
        assert_eq!(error["loc"], json!(loc), "{path}");
        assert!(error["msg"].as_str().unwrap().contains("control characters"), "{error}");
    }
    // A tab is an ordinary character.
    let tabbed = app
        .call(Method::PUT, &number_path, Some(json!({"label": "desk\t2"})), 200)
        .await;
    assert_eq!(tabbed["label"], "desk\t2");

    let stored = app.call(Method::GET, "/api/v1/workflows", None, 200).await;
    assert_eq!(stored["workflows"][0]["name"], "Support", "nothing else stored");
    assert_eq!(stored["workflows"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_secret_with_a_control_character_is_refused_without_echoing_it() {
    let app = app().await;
    let secret = "tok\u{0}en-0123456789";
    let config = json!({"provider": "twilio", "account_sid": "AC0001", "auth_token": secret});
    let error = refused(&app, Method::POST, CONFIGS, json!({"name": "T", "config": config})).await;
    assert_eq!(error["loc"], json!(["body", "config", "twilio", "auth_token"]));
    assert_eq!(error["input"], format!("{}6789", "*".repeat(13)), "masked like a read");

    let created = app
        .create_config(
            "T",
            json!({"provider": "twilio", "account_sid": "AC0001", "auth_token": "tok-1"}),
        )
        .await;
    let path = format!("{CONFIGS}/{}", created["id"]);
    let update = json!({"config": {"provider": "twilio", "account_sid": "AC\u{0}0001", "auth_token": "tok-1"}});
    let error = refused(&app, Method::PUT, &path, update).await;
    assert_eq!(error["loc"], json!(["body", "config", "twilio", "account_sid"]));
    assert!(!error.to_string().contains("AC\\u0000"), "{error}");
}

#[tokio::test]
async fn credentials_a_carrier_receives_in_a_header_must_be_valid_in_one() {
    let app = app().await;
    let cases = [
        (
            json!({"provider": "telnyx", "api_key": "KEY-clé-0123"}),
            ["telnyx", "api_key"],
        ),
        (
            json!({"provider": "cloudonix", "bearer_token": "tok\u{7f}en", "domain_id": "acme"}),
            ["cloudonix", "bearer_token"],
        ),
        (
            json!({"provider": "vobiz", "auth_id": "MA-ünï", "auth_token": "tok-1"}),
            ["vobiz", "auth_id"],
        ),
        (
            json!({"provider": "vobiz", "auth_id": "MA-1", "auth_token": "tok\u{2028}1"}),
            ["vobiz", "auth_token"],
        ),
    ];
    for (config, loc) in cases {
        let error = refused(&app, Method::POST, CONFIGS, json!({"name": "H", "config": config})).await;
        assert_eq!(error["loc"], json!(["body", "config", loc[0], loc[1]]));
        assert!(error["msg"].as_str().unwrap().contains("HTTP header"), "{error}");
    }
    let listed = app.call(Method::GET, CONFIGS, None, 200).await;
    assert_eq!(listed["configurations"], json!([]), "nothing was stored");

    // Basic credentials travel base64-encoded, and PEM keys span lines.
    app.create_config(
        "Twilio",
        json!({"provider": "twilio", "account_sid": "AC0001", "auth_token": "tök-123456"}),
    )
    .await;
    let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";
    app.create_config(
        "Vonage",
        json!({"provider": "vonage", "application_id": "app-1", "private_key": pem,
            "api_key": "key-1", "api_secret": "secret-1"}),
    )
    .await;
}

#[tokio::test]
async fn full_width_digits_are_stored_as_the_number_they_spell() {
    let app = app().await;
    let cfg = app.create_config("Main", ari()).await["id"].clone();
    let number = app
        .create_number(&cfg, json!({"address": "＋１ ４１５ ５５５ ２６７１"}))
        .await;
    assert_eq!(number["address"], "＋１ ４１５ ５５５ ２６７１");
    assert_eq!(number["address_normalized"], "+14155552671");
    assert_eq!(number["address_type"], "pstn");
    // The same number in ASCII is the same number.
    let taken = app
        .call(
            Method::POST,
            &numbers_path(&cfg),
            Some(json!({"address": "+14155552671"})),
            409,
        )
        .await;
    assert!(taken["detail"].as_str().unwrap().contains("already exists"), "{taken}");

    // Digits of other scripts are refused, never kept as an extension.
    for address in ["٠٢٠٧٩٤٦٠٩٥٨", "desk ٣"] {
        let error = refused(&app, Method::POST, &numbers_path(&cfg), json!({"address": address})).await;
        assert_eq!(error["loc"], json!(["body"]), "{address}");
        assert!(
            error["msg"].as_str().unwrap().contains("digits other than 0-9"),
            "{error}"
        );
    }
    let listed = app.call(Method::GET, &numbers_path(&cfg), None, 200).await;
    assert_eq!(listed["phone_numbers"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn integers_beyond_64_bits_in_extra_metadata_round_trip_exactly() {
    let app = app().await;
    let cfg = app.create_config("Main", ari()).await["id"].clone();
    let huge = "123456789012345678901234567890";
    let metadata = format!(
        "{{\"big\": {huge}, \"negative\": -{huge}, \"u64\": 18446744073709551615, \"nested\": [{huge}, 0.1, 1.50]}}"
    );
    let body = format!("{{\"address\": \"1001\", \"extra_metadata\": {metadata}}}");
    let response = app
        .client
        .post(format!("{}{}", app.address, numbers_path(&cfg)))
        .header("X-API-Key", &app.key)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let created = response.text().await.unwrap();
    assert_exact(&created, huge, "create");
    let id: Value = serde_json::from_str::<Value>(&created).unwrap()["id"].clone();
    for path in [format!("{}/{id}", numbers_path(&cfg)), numbers_path(&cfg)] {
        let read = app
            .client
            .get(format!("{}{path}", app.address))
            .header("X-API-Key", &app.key)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_exact(&read, huge, &path);
    }
}

/// The metadata of `integers_beyond_64_bits…` as it was sent, in the body's text.
fn assert_exact(body: &str, huge: &str, what: &str) {
    for literal in [
        format!("\"big\":{huge},"),
        format!("\"negative\":-{huge},"),
        format!("\"nested\":[{huge},0.1,1.50],"),
        "\"u64\":18446744073709551615".to_string(),
    ] {
        assert!(body.contains(&literal), "{what}: {literal} not in {body}");
    }
}

#[tokio::test]
async fn an_id_of_2_63_or_more_in_a_body_is_an_integer_error() {
    let app = app().await;
    let cfg = app.create_config("Main", ari()).await["id"].clone();
    let number = app.create_number(&cfg, json!({"address": "1001"})).await;
    let path = format!("{}/{}", numbers_path(&cfg), number["id"]);
    for raw in [
        "9223372036854775808",
        "18446744073709551616",
        "1e19",
        "-9223372036854775809",
    ] {
        let response = app
            .client
            .put(format!("{}{path}", app.address))
            .header("X-API-Key", &app.key)
            .header("Content-Type", "application/json")
            .body(format!("{{\"inbound_workflow_id\": {raw}}}"))
            .send()
            .await
            .unwrap();
        let answer = crate::helpers::expect_json(response, 422, raw).await;
        let error = &answer["detail"][0];
        assert_eq!(
            (error["type"].as_str(), error["msg"].as_str()),
            (Some("int_type"), Some("Input should be a valid integer")),
            "{raw}: {answer}"
        );
        assert_eq!(error["loc"], json!(["body", "inbound_workflow_id"]));
    }
}
