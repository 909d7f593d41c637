//! Tenant isolation, as a matrix: on every route that takes an id and every
//! method it serves, organization B's key gets for organization A's records
//! exactly the 404 it gets for ids that exist nowhere, and the database does
//! not change.

use std::collections::BTreeMap;

use reqwest::Method;
use rusqlite::types::ValueRef;
use serde_json::{json, Value};

use crate::helpers::{numbers_path, spawn_app, TestApp, CONFIGS};

/// An id no record has.
const MISSING: i64 = 987_654_321;

/// Every path of the API that names an id, with its methods.
fn routes_with_ids() -> Vec<(String, Vec<Method>)> {
    telebind::routes::paths()
        .into_iter()
        .filter(|(path, _)| path.contains('{'))
        .map(|(path, methods)| {
            let methods = methods
                .into_iter()
                .map(|m| Method::from_bytes(m.as_str().as_bytes()).unwrap())
                .collect();
            (path, methods)
        })
        .collect()
}

/// `path` with each `{name}` replaced by `ids[name]`.
fn fill(path: &str, ids: &BTreeMap<&str, i64>) -> String {
    ids.iter().fold(path.to_string(), |p, (name, id)| {
        p.replace(&format!("{{{name}}}"), &id.to_string())
    })
}

/// A body the route would accept, so that what answers is the ownership
/// check and not validation.
fn valid_body(method: &Method, path: &str) -> Option<Value> {
    match (method.as_str(), path.rsplit('/').next().unwrap()) {
        ("PUT", "{workflow_id}") => Some(json!({"name": "Taken over"})),
        ("PUT", "{config_id}") => Some(json!({"name": "Taken over"})),
        ("PUT", "{phone_number_id}") => Some(json!({"label": "taken over", "clear_inbound_workflow": true})),
        ("POST", "phone-numbers") => Some(json!({"address": "2002"})),
        _ => None,
    }
}

/// Every row of every table, as text; `api_keys.last_used_at` is left out:
/// it records that a key was used, whatever for.
fn snapshot(app: &TestApp) -> BTreeMap<String, Vec<Vec<String>>> {
    let conn = rusqlite::Connection::open(app.db_path()).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|table| {
            let mut statement = conn.prepare(&format!("SELECT * FROM {table} ORDER BY rowid")).unwrap();
            let columns: Vec<String> = statement.column_names().iter().map(|c| c.to_string()).collect();
            let rows = statement
                .query_map([], |r| {
                    Ok((0..columns.len())
                        .filter(|&i| !(table == "api_keys" && columns[i] == "last_used_at"))
                        .map(|i| match r.get_ref(i).unwrap() {
                            ValueRef::Null => "NULL".to_string(),
                            ValueRef::Integer(n) => n.to_string(),
                            ValueRef::Real(x) => x.to_string(),
                            ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
                        })
                        .collect())
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            (table, rows)
        })
        .collect()
}

/// Status and body of `method path` as `key`.
async fn answer(app: &TestApp, key: &str, method: &Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let response = app.send(method.clone(), path, Some(key), body).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn another_orgs_ids_are_not_found_on_every_route_and_method_and_change_nothing() {
    let app = spawn_app().await;
    let ari =
        json!({"provider": "ari", "ari_endpoint": "http://pbx:8088", "app_name": "tb", "app_password": "pw-123456"});

    // Organization A (`default`): one record of every kind.
    let workflow = app.create_workflow("A's workflow").await["id"].as_i64().unwrap();
    let config = app.create_config("A's config", ari.clone()).await["id"].clone();
    let number = app
        .create_number(&config, json!({"address": "1001", "inbound_workflow_id": workflow}))
        .await["id"]
        .as_i64()
        .unwrap();
    let key = app
        .call(
            Method::POST,
            "/api/v1/user/api-keys",
            Some(json!({"name": "A's key"})),
            200,
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let conn = rusqlite::Connection::open(app.db_path()).unwrap();
    conn.execute(
        "INSERT INTO inbound_calls (org_id, provider, call_id, telephony_configuration_id, phone_number_id,
             workflow_id, from_number, to_number, to_normalized, outcome, created_at)
         SELECT org_id, 'twilio', 'CA-isolation', id, ?1, ?2, '+14155550100', '1001', '1001', 'routed',
             '2026-01-01T00:00:00.000000Z'
         FROM telephony_configurations WHERE id = ?3",
        rusqlite::params![number, workflow, config.as_i64().unwrap()],
    )
    .unwrap();
    let call = conn.last_insert_rowid();
    let config = config.as_i64().unwrap();
    let a_ids = BTreeMap::from([
        ("api_key_id", key),
        ("config_id", config),
        ("phone_number_id", number),
        ("workflow_id", workflow),
        ("inbound_call_id", call),
    ]);
    let missing: BTreeMap<&str, i64> = a_ids.keys().map(|name| (*name, MISSING)).collect();

    // Organization B, with a configuration of its own: A's number under B's
    // configuration must look like a missing number, not a missing configuration.
    let b = app.org_key("b");
    let b_config = app
        .call_as(
            &b,
            Method::POST,
            CONFIGS,
            Some(json!({"name": "B's config", "config": ari})),
            200,
        )
        .await["id"]
        .as_i64()
        .unwrap();

    let routes = routes_with_ids();
    assert!(
        routes.len() >= 9,
        "the route table lists the routes with ids: {routes:?}"
    );
    let before = snapshot(&app);
    let mut checked = 0;
    for (path, methods) in &routes {
        for method in methods {
            let body = valid_body(method, path);
            let mut cases = vec![(fill(path, &a_ids), fill(path, &missing))];
            if path.contains("{phone_number_id}") {
                let mut own = a_ids.clone();
                own.insert("config_id", b_config);
                let mut own_missing = missing.clone();
                own_missing.insert("config_id", b_config);
                cases.push((fill(path, &own), fill(path, &own_missing)));
            }
            for (theirs, nowhere) in cases {
                let got = answer(&app, &b, method, &theirs, body.clone()).await;
                let expected = answer(&app, &b, method, &nowhere, body.clone()).await;
                assert_eq!(expected.0, 404, "{method} {nowhere}: {}", expected.1);
                assert_eq!(got, expected, "{method} {theirs} as organization B");
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "only {checked} cases");
    assert_eq!(snapshot(&app), before, "organization B's requests changed the database");

    // A still sees all of it.
    let listed = app.call(Method::GET, &numbers_path(&json!(config)), None, 200).await;
    assert_eq!(listed["phone_numbers"][0]["id"], number);
}
