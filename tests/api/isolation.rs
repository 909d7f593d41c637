//! Tenant isolation, as a matrix: on every route that takes an id (as the
//! server's OpenAPI document lists them) and every method it serves,
//! organization B's key gets for organization A's records exactly the 404 it
//! gets for ids that exist nowhere, no carrier hears of it, and the database
//! does not change.

use std::collections::BTreeMap;

use reqwest::Method;
use rusqlite::types::ValueRef;
use serde_json::{json, Value};

use crate::helpers::{numbers_path, TestApp, CONFIGS};

/// An id no record has.
const MISSING: i64 = 987_654_321;

/// Every path of the API that names an id, with its methods, as the
/// server's own OpenAPI document lists them.
async fn routes_with_ids(app: &TestApp) -> Vec<(String, Vec<Method>)> {
    let document = app.call(Method::GET, "/openapi.json", None, 200).await;
    let paths = document["paths"].as_object().expect("the document has paths");
    let verbs = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
    paths
        .iter()
        .filter(|(path, _)| path.contains('{'))
        .map(|(path, operations)| {
            let methods = operations
                .as_object()
                .unwrap()
                .keys()
                .filter_map(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
                .filter(|m| verbs.contains(m))
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

/// `path` with each `{name}` replaced by `ids[name]`.
fn fill(path: &str, ids: &BTreeMap<&str, i64>) -> String {
    ids.iter().fold(path.to_string(), |p, (name, id)| {
        p.replace(&format!("{{{name}}}"), &id.to_string())
    })
}

fn trunk_settings() -> Value {
    json!({"region": "India", "sip_domain": "sip.example.com"})
}

/// A body the route would accept, so that what answers is the ownership
/// check and not validation.
fn valid_body(method: &Method, path: &str) -> Option<Value> {
    match (method.as_str(), path.rsplit('/').next().unwrap()) {
        ("PUT", "{workflow_id}") => Some(json!({"name": "Taken over"})),
        ("PUT", "{config_id}") => Some(json!({"name": "Taken over"})),
        ("PUT", "{phone_number_id}") => Some(json!({"label": "taken over", "clear_inbound_workflow": true})),
        ("POST", "phone-numbers") => Some(json!({"address": "2002"})),
        ("PUT", "{trunk_id}") => Some(json!({"enabled": false})),
        ("POST", "trunks") => Some(json!({"name": "taken-over", "enabled": false, "settings": trunk_settings()})),
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
    // Organization A (`default`): one record of every kind, made without a
    // carrier call, on configurations of the trunk fixture (Cloudonix `cx`,
    // Twilio `tw`), whose carriers are a mock that records what reaches it.
    let f = crate::trunks::fixture().await;
    let app = &f.app;
    let workflow = app.create_workflow("A's workflow").await["id"].as_i64().unwrap();
    let number = app.create_number(&f.tw, json!({"address": "1001"})).await["id"]
        .as_i64()
        .unwrap();
    let trunk = app
        .call(
            Method::POST,
            &format!("{CONFIGS}/{}/trunks", f.cx),
            Some(json!({"name": "a-trunk", "enabled": false, "settings": trunk_settings()})),
            200,
        )
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
        rusqlite::params![number, workflow, f.tw.as_i64().unwrap()],
    )
    .unwrap();
    let call = conn.last_insert_rowid();
    // A's ids; the configuration is the one each inner record belongs to.
    let theirs = |path: &str| {
        let config = if path.contains("{trunk_id}") { &f.cx } else { &f.tw };
        BTreeMap::from([
            ("api_key_id", key),
            ("config_id", config.as_i64().unwrap()),
            ("phone_number_id", number),
            ("trunk_id", trunk),
            ("workflow_id", workflow),
            ("inbound_call_id", call),
        ])
    };
    let nowhere: BTreeMap<&str, i64> = theirs("").into_keys().map(|name| (name, MISSING)).collect();

    // Organization B, with configurations of its own: A's number or trunk
    // under B's configuration of the same kind must look like a missing one.
    let b = app.org_key("b");
    let domain = "^/customers/self/domains/acme\\.cloudonix\\.net$";
    let uuid = json!({ "uuid": crate::trunks::DOMAIN_UUID });
    f.carrier.answer_each(vec![("GET", domain, 200, uuid.into(), 0)]).await;
    let mut own = BTreeMap::new();
    let twilio = json!({"provider": "twilio", "account_sid": "AC0002", "auth_token": "tok-b-0001"});
    for (kind, config) in [
        ("twilio", twilio),
        ("cloudonix", crate::cloudonix::config(Some("app-1"))),
    ] {
        let body = json!({"name": kind, "config": config});
        let created = app.call_as(&b, Method::POST, CONFIGS, Some(body), 200).await;
        own.insert(kind, created["id"].as_i64().unwrap());
    }
    f.carrier.server.reset().await;
    let under_own = |path: &str, mut ids: BTreeMap<&'static str, i64>| {
        let kind = if path.contains("{trunk_id}") {
            "cloudonix"
        } else {
            "twilio"
        };
        ids.insert("config_id", own[kind]);
        ids
    };

    let routes = routes_with_ids(app).await;
    assert!(routes.len() >= 12, "the document lists the routes with ids: {routes:?}");
    let before = snapshot(app);
    let carrier_requests = f.carrier.requests().await.len();
    let mut checked = 0;
    for (path, methods) in &routes {
        for method in methods {
            let body = valid_body(method, path);
            let mut cases = vec![(fill(path, &theirs(path)), fill(path, &nowhere))];
            if path.contains("{config_id}/") && (path.contains("{phone_number_id}") || path.contains("{trunk_id}")) {
                cases.push((
                    fill(path, &under_own(path, theirs(path))),
                    fill(path, &under_own(path, nowhere.clone())),
                ));
            }
            for (a_ids, missing_ids) in cases {
                let got = answer(app, &b, method, &a_ids, body.clone()).await;
                let expected = answer(app, &b, method, &missing_ids, body.clone()).await;
                assert_eq!(expected.0, 404, "{method} {missing_ids}: {}", expected.1);
                assert_eq!(got, expected, "{method} {a_ids} as organization B");
                checked += 1;
            }
        }
    }
    assert!(checked >= 25, "only {checked} cases");
    assert_eq!(snapshot(app), before, "organization B's requests changed the database");
    assert_eq!(
        f.carrier.requests().await.len(),
        carrier_requests,
        "organization B's requests reached a carrier"
    );

    // A still sees all of it.
    let listed = app.call(Method::GET, &numbers_path(&f.tw), None, 200).await;
    assert_eq!(listed["phone_numbers"][0]["id"], number);
}
