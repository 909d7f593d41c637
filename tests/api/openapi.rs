//! The API reference (issue 14): `/openapi.json` lists exactly the
//! operations served, is valid OpenAPI 3.1, describes every body the server
//! really sends, and keeps the reference's names where it has the route;
//! `/docs` renders it without loading anything else.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use crate::inbound::{self, Carrier};

const METHODS: [Method; 5] = [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH];

/// The reference's document of these paths (`shared/spec/reference/`).
const REFERENCE: &str = include_str!("reference-openapi.json");

/// The document a server serves.
struct Document(Value);

impl Document {
    async fn of(app: &TestApp) -> Document {
        let response = app.send(Method::GET, "/openapi.json", None, None).await;
        assert_eq!(response.status(), 200, "/openapi.json needs no key");
        assert_eq!(content_type(&response), "application/json");
        Document(response.json().await.unwrap())
    }

    /// Every operation, as (METHOD, path).
    fn operations(&self) -> BTreeSet<(String, String)> {
        let mut operations = BTreeSet::new();
        for (path, item) in self.0["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
        operations
    }

    fn operation(&self, method: &str, path: &str) -> &Value {
        &self.0["paths"][path][method.to_lowercase()]
    }

    /// `value`, or what its `$ref` points at.
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value["$ref"].as_str() {
            Some(pointer) => self
                .0
                .pointer(pointer.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{pointer} does not resolve")),
            None => value,
        }
    }

    /// The response the operation documents for `status`: its own, or its range (`4XX`).
    fn response(&self, method: &str, path: &str, status: u16) -> Option<&Value> {
        let responses = &self.operation(method, path)["responses"];
        let found = responses
            .get(status.to_string())
            .or_else(|| responses.get(format!("{}XX", status / 100)))?;
        Some(self.resolve(found))
    }

    /// The errors of `instance` against `schema`, whose references point into this document.
    fn errors(&self, schema: &Value, instance: &Value) -> Vec<String> {
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.0["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("{schema} does not compile: {e}"));
        validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }
}

fn content_type(response: &reqwest::Response) -> String {
    response.headers()["content-type"].to_str().unwrap().to_string()
}

/// `path` with every `{id}` a 1.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| if segment.starts_with('{') { "1" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

fn template_names(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(str::to_string)
        .collect()
}

// ------------------------------------------------------------ completeness

#[tokio::test]
async fn the_document_lists_exactly_the_operations_served() {
    let app = spawn_app().await;
    let document = Document::of(&app).await;
    let documented = document.operations();
    let served: BTreeSet<(String, String)> = telebind::routes::operations(true)
        .iter()
        .map(|op| (op.method.to_string(), op.path.clone()))
        .collect();
    let mut problems = Vec::new();
    for (method, path) in served.difference(&documented) {
        problems.push(format!(
            "{method} {path} is served (routes::operations) but missing from /openapi.json"
        ));
    }
    for (method, path) in documented.difference(&served) {
        problems.push(format!(
            "{method} {path} is in /openapi.json but routes::operations does not serve it"
        ));
    }

    // Over HTTP, without a key: each documented operation reaches a route of
    // its own, asks for a key exactly when the document says so, and no
    // documented path answers a method the document does not list.
    for (method, path) in &documented {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let response = app.send(method.clone(), &concrete(path), None, None).await;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        let keyed = document.operation(method.as_str(), path)["security"]
            .as_array()
            .is_some_and(|s| !s.is_empty());
        if status == 404 && body == r#"{"detail":"Not Found"}"# {
            problems.push(format!(
                "{method} {path} is in /openapi.json but the server has no such route"
            ));
        } else if status == 405 {
            problems.push(format!(
                "{method} {path} is in /openapi.json but the server answers it 405"
            ));
        } else if keyed && status != 401 {
            problems.push(format!(
                "{method} {path} is documented as needing a key, yet answers {status} without one"
            ));
        } else if !keyed && status == 401 {
            problems.push(format!(
                "{method} {path} is documented without a key, yet answers 401 without one"
            ));
        }
    }
    let paths: BTreeSet<&String> = documented.iter().map(|(_, path)| path).collect();
    for path in paths {
        for method in METHODS {
            if documented.contains(&(method.to_string(), path.clone())) {
                continue;
            }
            let status = app.send(method.clone(), &concrete(path), None, None).await.status();
            if status != 405 {
                problems.push(format!(
                    "{method} {path} answers {status} but is not in /openapi.json (expected 405)"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn with_a_metrics_address_of_its_own_the_document_leaves_metrics_out() {
    let app = spawn_app_with(|c| c.server.metrics_bind = Some("127.0.0.1:0".parse().unwrap())).await;
    let document = Document::of(&app).await;
    assert!(document.0["paths"].get("/metrics").is_none());
    assert!(document.0["paths"].get("/healthz").is_some());
    assert_eq!(app.send(Method::GET, "/metrics", None, None).await.status(), 404);
}

// ------------------------------------------------------------ validity

/// Every `$ref` in `value`.
fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| references(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let app = spawn_app().await;
    let document = Document::of(&app).await;
    let doc = &document.0;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "telebind");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    let mut problems = Vec::new();
    let mut refs = Vec::new();
    references(doc, &mut refs);
    for r in refs {
        if !r.starts_with("#/") || doc.pointer(&r[1..]).is_none() {
            problems.push(format!("$ref {r} does not resolve"));
        }
    }

    // Every schema of the document is a JSON Schema 2020-12 (OpenAPI 3.1's dialect).
    let mut schemas: Vec<(String, &Value)> = doc["components"]["schemas"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, schema)| (format!("components.schemas.{name}"), schema))
        .collect();

    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(
        schemes["APIKeyHeader"],
        json!({"type": "apiKey", "name": "X-API-Key", "in": "header"})
    );
    assert_eq!(schemes["HTTPBearer"], json!({"type": "http", "scheme": "bearer"}));

    let mut operation_ids = BTreeMap::new();
    for (method, path) in document.operations() {
        let op = document.operation(&method, &path);
        let what = format!("{method} {path}");
        match op["operationId"].as_str() {
            Some(id) => {
                if let Some(other) = operation_ids.insert(id.to_string(), what.clone()) {
                    problems.push(format!("{what} and {other} share operationId {id}"));
                }
            }
            None => problems.push(format!("{what} has no operationId")),
        }
        // Path templates and path parameters name the same ids, all required.
        let parameters: Vec<&Value> = op["parameters"]
            .as_array()
            .map(|p| p.iter().collect())
            .unwrap_or_default();
        let in_path: Vec<String> = parameters
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        if in_path != template_names(&path) {
            problems.push(format!("{what}: path parameters {in_path:?} do not match the template"));
        }
        for p in &parameters {
            if p["in"] == "path" && p["required"] != true {
                problems.push(format!("{what}: path parameter {} is not required", p["name"]));
            }
            schemas.push((format!("{what} parameter {}", p["name"]), &p["schema"]));
        }
        for (_, media) in op["requestBody"]["content"].as_object().into_iter().flatten() {
            schemas.push((format!("{what} request body"), &media["schema"]));
        }
        if let Some(security) = op["security"].as_array() {
            for requirement in security {
                for scheme in requirement.as_object().unwrap().keys() {
                    if !schemes.contains_key(scheme) {
                        problems.push(format!("{what}: security scheme {scheme} is not defined"));
                    }
                }
            }
        }
        let responses = op["responses"].as_object().unwrap();
        if !responses.keys().any(|status| status.starts_with('2')) {
            problems.push(format!("{what} documents no success"));
        }
        for (status, response) in responses {
            let response = document.resolve(response);
            if !response["description"].is_string() {
                problems.push(format!("{what} {status}: a response needs a description"));
            }
            for (media_type, media) in response["content"].as_object().into_iter().flatten() {
                if !media_type.contains('/') {
                    problems.push(format!("{what} {status}: {media_type} is not a media type"));
                }
                schemas.push((format!("{what} {status} {media_type}"), &media["schema"]));
            }
        }
    }
    for (what, schema) in schemas {
        if let Err(e) = jsonschema::draft202012::meta::validate(schema) {
            problems.push(format!("{what} is not a valid JSON Schema 2020-12: {e}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ------------------------------------------------------------ truthfulness

/// Sends requests and checks each answer against the document: its status
/// is one the operation lists, its content type the listed one, and its
/// JSON body valid against the listed schema.
struct Checker {
    app: TestApp,
    document: Document,
    /// The (METHOD, path, status) answers checked.
    checked: BTreeSet<(String, String, u16)>,
}

impl Checker {
    async fn new(app: TestApp) -> Checker {
        let document = Document::of(&app).await;
        Checker {
            app,
            document,
            checked: BTreeSet::new(),
        }
    }

    /// `method` on `template` with `ids` in its place holders, as org
    /// `default` (or without a key); returns the status and the JSON body.
    async fn call(&mut self, method: Method, template: &str, ids: &[&Value], body: Option<Value>) -> (u16, Value) {
        let key = self.app.key.clone();
        self.send(
            method,
            template,
            ids,
            Some(&key),
            body.map(|b| b.to_string().into_bytes()),
        )
        .await
    }

    async fn send(
        &mut self,
        method: Method,
        template: &str,
        ids: &[&Value],
        key: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let (template, query) = template.split_once('?').unwrap_or((template, ""));
        let mut ids = ids.iter();
        let mut path: String = template
            .split('/')
            .map(|s| match s.starts_with('{') {
                true => ids.next().expect("an id for each place holder").to_string(),
                false => s.to_string(),
            })
            .collect::<Vec<_>>()
            .join("/");
        if !query.is_empty() {
            path = format!("{path}?{query}");
        }
        let mut request = self
            .app
            .client
            .request(method.clone(), format!("{}{path}", self.app.address));
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let what = format!("{method} {template} answered {status}");
        let response_type = content_type(&response);
        let text = response.text().await.unwrap();
        let documented = self
            .document
            .response(method.as_str(), template, status)
            .unwrap_or_else(|| panic!("{what}, a status /openapi.json does not list for it: {text}"));
        let content = documented["content"]
            .as_object()
            .unwrap_or_else(|| panic!("{what} with a body, but the document lists none"));
        let (media_type, media) = content
            .iter()
            .find(|(media_type, _)| **media_type == response_type)
            .unwrap_or_else(|| panic!("{what} as {response_type}, not as listed: {:?}", content.keys()));
        let body = match media_type.as_str() {
            "application/json" => serde_json::from_str(&text).unwrap(),
            _ => Value::Null,
        };
        if media_type == "application/json" {
            let errors = self.document.errors(&media["schema"], &body);
            assert!(
                errors.is_empty(),
                "{what}: the body does not match the document: {errors:?}\n{body}"
            );
        }
        self.checked.insert((method.to_string(), template.to_string(), status));
        (status, body)
    }
}

const WORKFLOWS: &str = "/api/v1/workflows";
const WORKFLOW: &str = "/api/v1/workflows/{workflow_id}";
const CONFIGS: &str = "/api/v1/organizations/telephony-configs";
const CONFIG: &str = "/api/v1/organizations/telephony-configs/{config_id}";
const NUMBERS: &str = "/api/v1/organizations/telephony-configs/{config_id}/phone-numbers";
const NUMBER: &str = "/api/v1/organizations/telephony-configs/{config_id}/phone-numbers/{phone_number_id}";
const KEYS: &str = "/api/v1/user/api-keys";
const KEY: &str = "/api/v1/user/api-keys/{api_key_id}";
const CALLS: &str = "/api/v1/telephony/inbound-calls";

#[tokio::test]
async fn every_answer_matches_the_document() {
    // A Twilio line with a bound number, whose carrier is out of reach (so
    // pushes fail and say why), and one call in the log.
    let line = inbound::line(Carrier::Twilio).await;
    let (twilio, workflow, number) = (line.cfg.clone(), line.workflow["id"].clone(), line.number["id"].clone());
    inbound::post(
        &line.app,
        "",
        &inbound::twilio_headers(inbound::TWILIO_SIG),
        inbound::TWILIO_BODY.as_bytes(),
    )
    .await;
    let mut c = Checker::new(line.app).await;
    let created = |answer: (u16, Value)| {
        assert_eq!(answer.0, 200, "{}", answer.1);
        answer.1["id"].clone()
    };

    c.call(Method::GET, "/healthz", &[], None).await;
    c.call(Method::GET, "/metrics", &[], None).await;
    c.call(Method::GET, "/openapi.json", &[], None).await;
    c.call(Method::GET, "/docs", &[], None).await;
    c.send(Method::POST, "/api/v1/telephony/inbound/run", &[], None, None)
        .await;

    c.call(Method::GET, WORKFLOWS, &[], None).await;
    let spare = created(
        c.call(Method::POST, WORKFLOWS, &[], Some(json!({"name": "Spare"})))
            .await,
    );
    c.call(Method::GET, WORKFLOW, &[&spare], None).await;
    c.call(Method::PUT, WORKFLOW, &[&spare], Some(json!({"name": "Renamed"})))
        .await;

    c.call(
        Method::GET,
        "/api/v1/organizations/telephony-providers/metadata",
        &[],
        None,
    )
    .await;
    let ari = json!({"provider": "ari", "ari_endpoint": "http://pbx.example.com:8088", "app_name": "telebind",
        "app_password": "ari-secret-0123"});
    let ari = created(
        c.call(Method::POST, CONFIGS, &[], Some(json!({"name": "PBX", "config": ari})))
            .await,
    );
    c.call(Method::GET, CONFIGS, &[], None).await;
    c.call(Method::GET, &format!("{CONFIGS}?limit=1"), &[], None).await;
    c.call(Method::GET, CONFIG, &[&twilio], None).await;
    c.call(Method::PUT, CONFIG, &[&ari], Some(json!({"name": "PBX 2"})))
        .await;
    c.call(
        Method::POST,
        "/api/v1/organizations/telephony-configs/{config_id}/set-default-outbound",
        &[&ari],
        None,
    )
    .await;

    let extension = created(
        c.call(Method::POST, NUMBERS, &[&ari], Some(json!({"address": "2001"})))
            .await,
    );
    c.call(Method::GET, NUMBERS, &[&twilio], None).await;
    c.call(Method::GET, NUMBER, &[&twilio, &number], None).await;
    let unbound = c
        .call(
            Method::PUT,
            NUMBER,
            &[&twilio, &number],
            Some(json!({"clear_inbound_workflow": true})),
        )
        .await;
    assert_eq!(unbound.1["provider_sync"]["ok"], false, "the carrier is out of reach");
    c.call(
        Method::PUT,
        NUMBER,
        &[&ari, &extension],
        Some(json!({"inbound_workflow_id": workflow})),
    )
    .await;
    c.call(
        Method::POST,
        &format!("{NUMBER}/set-default-caller"),
        &[&ari, &extension],
        None,
    )
    .await;
    c.call(Method::POST, &format!("{NUMBER}/sync"), &[&ari, &extension], None)
        .await;

    c.call(Method::GET, CALLS, &[], None).await;
    let calls = c
        .call(Method::GET, &format!("{CALLS}?outcome=routed&limit=1"), &[], None)
        .await;
    let call = calls.1["calls"][0]["id"].clone();
    c.call(
        Method::GET,
        "/api/v1/telephony/inbound-calls/{inbound_call_id}",
        &[&call],
        None,
    )
    .await;

    c.call(Method::GET, KEYS, &[], None).await;
    let key = created(c.call(Method::POST, KEYS, &[], Some(json!({"name": "ci"}))).await);
    c.call(Method::DELETE, KEY, &[&key], None).await;
    c.call(Method::PUT, &format!("{KEY}/reactivate"), &[&key], None).await;
    c.call(Method::GET, &format!("{KEYS}?include_archived=true"), &[], None)
        .await;

    // The errors: each in its documented shape.
    c.send(Method::GET, WORKFLOWS, &[], None, None).await; // 401
    c.send(Method::GET, WORKFLOWS, &[], Some("tb_unknown"), None).await; // 401
    c.call(Method::GET, CONFIG, &[&json!(999)], None).await; // 404
    c.call(Method::GET, CONFIG, &[&json!("x")], None).await; // 422 in the path
    c.call(Method::GET, &format!("{CONFIGS}?limit=0"), &[], None).await; // 422 in the query
    c.call(
        Method::POST,
        CONFIGS,
        &[],
        Some(json!({"name": "PBX 2", "config": {"provider": "ari",
        "ari_endpoint": "http://pbx.example.com", "app_name": "a", "app_password": "b"}})),
    )
    .await; // 409
    c.call(
        Method::POST,
        CONFIGS,
        &[],
        Some(json!({"name": "x".repeat(65), "config": {}})),
    )
    .await; // 422 in the body
    c.call(
        Method::PUT,
        CONFIG,
        &[&ari],
        Some(json!({"config": {"provider": "twilio",
        "account_sid": "AC1", "auth_token": "t"}})),
    )
    .await; // 400
    let large = json!({"name": "x".repeat(70_000)}).to_string().into_bytes();
    let own_key = c.app.key.clone();
    c.send(Method::POST, WORKFLOWS, &[], Some(&own_key), Some(large)).await; // 413
    c.send(Method::POST, WORKFLOWS, &[], Some(&own_key), Some(b"{".to_vec()))
        .await; // 422 json_invalid
    c.call(Method::POST, NUMBERS, &[&ari], Some(json!({"address": "2001"})))
        .await; // 409
    c.call(Method::DELETE, WORKFLOW, &[&workflow], None).await; // 409
    c.call(Method::DELETE, CONFIG, &[&ari], None).await; // 409
    c.call(
        Method::GET,
        "/api/v1/telephony/inbound-calls/{inbound_call_id}",
        &[&json!(999)],
        None,
    )
    .await; // 404

    c.call(Method::DELETE, NUMBER, &[&ari, &extension], None).await;
    c.call(Method::DELETE, CONFIG, &[&ari], None).await;
    c.call(Method::DELETE, WORKFLOW, &[&spare], None).await;

    // Trunks, on a Cloudonix configuration whose carrier is the fake.
    let (f, _cloudonix) = crate::trunks::with_fake().await;
    let mut t = Checker::new(f.app).await;
    let trunks = "/api/v1/organizations/telephony-configs/{config_id}/trunks";
    let trunk = "/api/v1/organizations/telephony-configs/{config_id}/trunks/{trunk_id}";
    let settings = json!({"region": "India", "sip_domain": "sip.example.com"});
    let made = created(
        t.call(
            Method::POST,
            trunks,
            &[&f.cx],
            Some(json!({"name": "out-1", "settings": settings})),
        )
        .await,
    );
    t.call(Method::GET, trunks, &[&f.cx], None).await;
    t.call(Method::PUT, trunk, &[&f.cx, &made], Some(json!({"name": "out-2"})))
        .await;
    t.call(Method::POST, trunks, &[&f.tw], Some(json!({"name": "x"}))).await; // 400
    t.call(Method::GET, CONFIG, &[&f.cx], None).await;
    t.call(Method::DELETE, trunk, &[&f.cx, &made], None).await;
    t.call(
        Method::GET,
        "/api/v1/organizations/telephony-config-warnings",
        &[],
        None,
    )
    .await;
    t.call(
        Method::POST,
        "/api/v1/organizations/telephony-configs/{config_id}/reactivate",
        &[&f.tw],
        None,
    )
    .await;
    c.checked.extend(t.checked);

    for status in [400, 401, 404, 409, 413, 422] {
        assert!(
            c.checked.iter().any(|(_, _, s)| *s == status),
            "no {status} was checked"
        );
    }
    // Every documented operation's success was checked against the document.
    let missing: Vec<String> = c
        .document
        .operations()
        .into_iter()
        .filter(|(method, path)| !c.checked.contains(&(method.clone(), path.clone(), 200)))
        .map(|(method, path)| format!("{method} {path}"))
        .collect();
    assert!(
        missing.is_empty(),
        "no 200 of these was checked against /openapi.json; add them to every_answer_matches_the_document: {missing:?}"
    );
}

// ------------------------------------------------------------ the reference

/// Reference schemas telebind has no use for yet: their routes or fields are not served.
const SCHEMAS_NOT_YET_USED: &[&str] = &[
    "SIPConnectivityDetails",
    "SIPRegionDetails",
    "SIPTransportDetails",
    "TelephonyConfigWarningsResponse",
    "TrunkCreateRequest",
    "TrunkListResponse",
    "TrunkResponse",
    "TrunkUpdateRequest",
    "VicidialAgentAPIConfiguration",
    "VicidialExternalPBXConfiguration",
    "VicidialNonAgentAPIConfiguration",
];

/// Properties of a shared schema on one side only: (schema, property, why).
const OWN_PROPERTIES: &[(&str, &str, &str)] = &[
    (
        "PhoneNumberResponse",
        "last_provider_sync",
        "telebind addition, API.md §5.1",
    ),
    (
        "PhoneNumberUpdateRequest",
        "address",
        "accepted when it repeats the stored address, API.md §5.4",
    ),
];
const REFERENCE_ONLY_PROPERTIES: &[(&str, &str, &str)] = &[];

/// The name a schema refers to, or its inline JSON.
fn schema_name(schema: &Value) -> String {
    match schema["$ref"].as_str() {
        Some(r) => r.rsplit('/').next().unwrap().to_string(),
        None => schema.to_string(),
    }
}

fn names(value: &Value) -> BTreeSet<String> {
    match value {
        Value::Object(map) => map.keys().cloned().collect(),
        Value::Array(items) => items.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
        _ => BTreeSet::new(),
    }
}

#[tokio::test]
async fn names_and_shapes_follow_the_reference_where_it_has_the_route() {
    let app = spawn_app().await;
    let ours = Document::of(&app).await;
    let reference = Document(serde_json::from_str(REFERENCE).unwrap());
    let mut problems = Vec::new();

    let served = ours.operations();
    for (method, path) in reference.operations() {
        let what = format!("{method} {path}");
        if !served.contains(&(method.clone(), path.clone())) {
            problems.push(format!("{what} is in the reference but not served"));
            continue;
        }
        let (theirs, mine) = (reference.operation(&method, &path), ours.operation(&method, &path));
        if theirs["operationId"] != mine["operationId"] {
            problems.push(format!(
                "{what}: operationId {} (the reference: {})",
                mine["operationId"], theirs["operationId"]
            ));
        }
        let body = |op: &Value| schema_name(&op["requestBody"]["content"]["application/json"]["schema"]);
        if body(theirs) != body(mine) {
            problems.push(format!(
                "{what}: request body {} (the reference: {})",
                body(mine),
                body(theirs)
            ));
        }
        let path_parameters = |op: &Value| -> Vec<Value> {
            op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].clone())
                .collect()
        };
        if path_parameters(theirs) != path_parameters(mine) {
            problems.push(format!("{what}: path parameters differ"));
        }
        for status in [200, 422] {
            let answer = |doc: &Document, op: &Value| {
                schema_name(&doc.resolve(&op["responses"][status.to_string()])["content"]["application/json"]["schema"])
            };
            // Where the reference names a schema and telebind answers the
            // status (it lists a 422 for every route; no body, no 422 here).
            let theirs_name = answer(&reference, theirs);
            let answered = mine["responses"].get(status.to_string()).is_some();
            if answered && theirs_name != "{}" && theirs_name != answer(&ours, mine) {
                problems.push(format!(
                    "{what} {status}: {} (the reference: {theirs_name})",
                    answer(&ours, mine)
                ));
            }
        }
    }

    let our_schemas = ours.0["components"]["schemas"].as_object().unwrap();
    for (name, theirs) in reference.0["components"]["schemas"].as_object().unwrap() {
        let Some(mine) = our_schemas.get(name) else {
            if !SCHEMAS_NOT_YET_USED.contains(&name.as_str()) {
                problems.push(format!("schema {name} of the reference is missing"));
            }
            continue;
        };
        let (their_properties, my_properties) = (names(&theirs["properties"]), names(&mine["properties"]));
        for property in my_properties.difference(&their_properties) {
            if !OWN_PROPERTIES.iter().any(|(s, p, _)| s == name && p == property) {
                problems.push(format!(
                    "{name}.{property} is not in the reference, nor in OWN_PROPERTIES"
                ));
            }
        }
        for property in their_properties.difference(&my_properties) {
            if !REFERENCE_ONLY_PROPERTIES
                .iter()
                .any(|(s, p, _)| s == name && p == property)
            {
                problems.push(format!(
                    "{name}.{property} of the reference is missing, and not in REFERENCE_ONLY_PROPERTIES"
                ));
            }
        }
        // A request without `provider` is a 422 (`union_tag_not_found`), as
        // the reference's own discriminator needs it: telebind says so.
        let mut their_required = names(&theirs["required"]);
        if name.ends_with("ConfigurationRequest") {
            their_required.insert("provider".into());
        }
        if their_required != names(&mine["required"]) {
            problems.push(format!(
                "{name}: required {:?} (the reference: {their_required:?})",
                names(&mine["required"])
            ));
        }
    }
    // FastAPI's validation error, to the item types of `loc`.
    let validation = &our_schemas["ValidationError"]["properties"];
    assert_eq!(
        validation["loc"]["items"],
        reference.0["components"]["schemas"]["ValidationError"]["properties"]["loc"]["items"]
    );
    assert_eq!(
        our_schemas["HTTPValidationError"]["properties"]["detail"]["items"],
        json!({"$ref": "#/components/schemas/ValidationError"})
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ------------------------------------------------------------ /docs

#[tokio::test]
async fn the_docs_page_renders_the_document_without_loading_anything_else() {
    let app = spawn_app().await;
    let response = app.send(Method::GET, "/docs", None, None).await;
    assert_eq!(response.status(), 200, "/docs needs no key");
    assert_eq!(content_type(&response), "text/html; charset=utf-8");
    let page = response.text().await.unwrap();
    assert!(
        page.contains(r#"fetch("openapi.json")"#),
        "it renders the served document"
    );
    // Nothing from elsewhere: no external script, style, font or image.
    for pattern in [
        "src=\"http",
        "href=\"http",
        "url(http",
        "@import",
        "<script src",
        "<link",
    ] {
        assert!(!page.contains(pattern), "/docs loads something: {pattern}");
    }
    // The document it fetches, relative to /docs, is there.
    let document = Document::of(&app).await;
    assert!(document.0["paths"].as_object().unwrap().contains_key("/docs"));
}
