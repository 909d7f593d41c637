//! Cloudonix against the mock carrier: save-time provisioning (PROVIDERS.md
//! §3), binding the voice application (§4) and numbers made DNIDs (§5).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Map, Value};
use telebind::domain::provider::mask;
use wiremock::{Request, Respond, ResponseTemplate};

use crate::helpers::{
    assert_honest, calls, json_body, numbers_path, spawn_app_with, spawn_app_with_carrier, Answer, MockCarrier,
    RoutesCalls, TestApp, SYNC_TIMEOUT_MS, WEBHOOK,
};

const CONFIGS: &str = "/api/v1/organizations/telephony-configs";
pub const TOKEN: &str = "cx-bearer-0123456789-secret";
pub const BEARER: &str = "Bearer cx-bearer-0123456789-secret";
pub const APP: &str = "telebind-app";
const NUMBER: &str = "+14155550100";
const DETACHED: &str =
    "Cloudonix routes every number of the application to one URL; detaching one number leaves it in place";
const DOMAIN: &str = "^/customers/self/domains/acme\\.cloudonix\\.net$";
const APPLICATIONS: &str = "^/customers/self/domains/acme\\.cloudonix\\.net/applications$";
const APPLICATION: &str = "^/customers/self/domains/acme\\.cloudonix\\.net/applications/telebind-app$";
const DNIDS: &str = "^/domains/acme\\.cloudonix\\.net/dnids$";
const DNID_CREATE: &str = "^/domains/acme\\.cloudonix\\.net/applications/telebind-app/dnids$";
/// Another voice application of the domain.
const OTHER_APP: &str = "reception-ivr";
/// Where the domain's applications answer before telebind binds one.
const ELSEWHERE: &str = "https://ivr.example.com/cxml";
/// Delays of the mocked answers, in ms.
pub const NOW: u64 = 0;
pub const HANG: u64 = 10_000;

/// A Cloudonix config of domain `acme` (normalized to `acme.cloudonix.net`).
pub fn config(application_name: Option<&str>) -> Value {
    let mut config = json!({"provider": "cloudonix", "bearer_token": TOKEN, "domain_id": " Acme. "});
    if let Some(name) = application_name {
        config["application_name"] = json!(name);
    }
    config
}

pub fn domain_found() -> Answer {
    (
        "GET",
        DOMAIN,
        200,
        json!({"uuid": " dom-uuid-1 ", "domain": "acme.cloudonix.net"}).into(),
        NOW,
    )
}

/// The domain already routes `NUMBER` (stored without its `+`) and
/// +14155550999 to `APP`.
fn number_listed() -> Answer {
    let dnids = json!([{"source": "14155550999", "application": {"name": APP}},
                       {"id": 9, "source": "14155550100", "application": {"name": APP}}]);
    ("GET", DNIDS, 200, dnids.into(), NOW)
}

/// Cloudonix making application 42 and setting it as the domain's default.
fn application_created() -> Vec<Answer> {
    vec![
        domain_found(),
        (
            "POST",
            APPLICATIONS,
            201,
            json!({"id": 42, "uuid": "app-uuid-42"}).into(),
            NOW,
        ),
        ("PUT", DOMAIN, 200, json!({}).into(), NOW),
    ]
}

fn patch_accepted() -> Answer {
    ("PATCH", APPLICATION, 200, json!({"name": APP}).into(), NOW)
}

fn call(method: &str, path: &str) -> (String, String) {
    (method.to_string(), path.to_string())
}

pub fn header<'r>(request: &'r Request, name: &str) -> &'r str {
    request
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// Every request authenticates with the bearer token, and carries it nowhere else.
pub fn assert_token_only_in_authorization(requests: &[Request]) {
    for request in requests {
        assert_eq!(header(request, "authorization"), BEARER, "{}", request.url);
        assert!(!request.url.as_str().contains(TOKEN), "{}", request.url);
        assert!(!String::from_utf8_lossy(&request.body).contains(TOKEN));
        for (name, value) in &request.headers {
            if name != "authorization" {
                assert!(!value.to_str().unwrap_or("").contains(TOKEN), "{name}");
            }
        }
    }
}

fn assert_no_token(answer: &Value) {
    assert!(!answer.to_string().contains(TOKEN), "the token leaked: {answer}");
}

fn is_minted(name: &str) -> bool {
    name.strip_prefix("telebind-")
        .is_some_and(|hex| hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

async fn config_list(app: &TestApp) -> Value {
    app.call(Method::GET, CONFIGS, None, 200).await["configurations"].clone()
}

// ------------------------------------------------------------ the fake carrier

/// How a DNID listing names the voice application it launches: each shape
/// Cloudonix documents.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// The DNID model: "application | Object | … The Voice Application that
    /// will be activated when this number is called."
    /// (https://developers.staging.cloudonix.com/Documentation/dataModels/Dnid)
    Application,
    /// The 2021 OpenAPI's `DNID` schema: `voice-application`, a
    /// `Voice-Application` object (cloudonix/api.core-openapi,
    /// reference/Cloudonix-API.Core.yaml).
    VoiceApplication,
    /// `applicationId` and `applicationName`, as Cloudonix's PHP client
    /// documents a DNID listing (greenfieldtech-nirs/cloudonix-php,
    /// src/Collections/Dnids.php).
    Flat,
}

const SHAPES: [Shape; 3] = [Shape::Application, Shape::VoiceApplication, Shape::Flat];

/// Domain `acme.cloudonix.net` as Cloudonix documents it: voice applications
/// by name, DNIDs that each launch one of them, and voice trunks.
#[derive(Clone)]
pub struct FakeCloudonix {
    state: Arc<Mutex<CloudonixState>>,
}

struct CloudonixState {
    shape: Shape,
    applications: BTreeMap<String, VoiceApplication>,
    dnids: Vec<Dnid>,
    /// Voice trunks as Cloudonix shows them, oldest first.
    trunks: Vec<Map<String, Value>>,
    made_trunks: u64,
    /// How long a trunk update takes to answer.
    trunk_update_delay: Duration,
}

struct VoiceApplication {
    id: i64,
    url: String,
    method: String,
}

/// A DNID matching exactly its `source`, the only kind telebind creates.
struct Dnid {
    id: i64,
    source: String,
    application: String,
}

impl FakeCloudonix {
    /// `APP` and `OTHER_APP` answering `ELSEWHERE`, no DNIDs, no trunks;
    /// DNIDs are listed in `shape`.
    pub fn new(shape: Shape) -> FakeCloudonix {
        let app = |id| VoiceApplication {
            id,
            url: ELSEWHERE.into(),
            method: "GET".into(),
        };
        let state = CloudonixState {
            shape,
            applications: BTreeMap::from([(APP.to_string(), app(31)), (OTHER_APP.to_string(), app(32))]),
            dnids: Vec::new(),
            trunks: Vec::new(),
            made_trunks: 0,
            trunk_update_delay: Duration::ZERO,
        };
        FakeCloudonix {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// A trunk made in the Cockpit: `fields` and a new UUID, which is returned.
    pub fn with_trunk(&self, fields: Value) -> String {
        let mut state = self.state.lock().unwrap();
        let trunk = state.made_trunk(fields.as_object().unwrap());
        trunk["uuid"].as_str().unwrap().to_string()
    }

    /// Trunk updates answer after `delay`.
    pub fn with_trunk_update_delay(self, delay: Duration) -> FakeCloudonix {
        self.state.lock().unwrap().trunk_update_delay = delay;
        self
    }

    /// The domain's trunks as Cloudonix lists them.
    pub fn trunks(&self) -> Vec<Value> {
        let state = self.state.lock().unwrap();
        state.trunks.iter().cloned().map(Value::Object).collect()
    }

    pub fn trunk(&self, uuid: &str) -> Option<Value> {
        self.trunks().into_iter().find(|t| t["uuid"] == uuid)
    }

    fn with_dnid(self, source: &str, application: &str) -> FakeCloudonix {
        self.state.lock().unwrap().add_dnid(source, application);
        self
    }

    /// Answers every request to the mock carrier.
    pub async fn serve(&self, carrier: &MockCarrier) {
        for verb in ["GET", "POST", "PATCH", "PUT"] {
            carrier.serve(verb, "^/", self.clone()).await;
        }
    }
}

impl RoutesCalls for FakeCloudonix {
    /// Where Cloudonix would send an inbound call to `address` now: "when a
    /// call has a destination that matches a DNID in the domain, the bound
    /// application will be launched" (…/dataModels/Dnid), and it fetches the
    /// application's URL. Whether a trunk delivers the destination with its
    /// `+` is undocumented (CARRIER-AUDIT C6), so either form matches.
    fn inbound_url(&self, address: &str) -> Option<String> {
        let state = self.state.lock().unwrap();
        let plain = |s: &str| s.trim_start_matches('+').to_string();
        let dnid = state.dnids.iter().find(|d| plain(&d.source) == plain(address))?;
        state.applications.get(&dnid.application).map(|a| a.url.clone())
    }
}

impl Respond for FakeCloudonix {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let authorization = request.headers.get("authorization").and_then(|v| v.to_str().ok());
        if authorization != Some(BEARER) {
            return ResponseTemplate::new(401).set_body_json(json!({"error": "unauthorized"}));
        }
        // "/domains/{domain}/applications[/{application-name}] (alias to
        // /customers/self/domains/{domain}/applications)" (CARRIER-AUDIT C6).
        let path = request.url.path();
        let path = path.strip_prefix("/customers/self").unwrap_or(path);
        let Some(route) = path.strip_prefix("/domains/acme.cloudonix.net/") else {
            return not_found();
        };
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let mut state = self.state.lock().unwrap();
        match (request.method.as_str(), route.split('/').collect::<Vec<_>>().as_slice()) {
            ("GET", ["dnids"]) => {
                let listed: Vec<Value> = state.dnids.iter().map(|d| state.listed(d)).collect();
                ResponseTemplate::new(200).set_body_json(listed)
            }
            ("POST", ["applications", name, "dnids"]) => state.create_dnid(name, &body),
            ("GET", ["applications", name]) => state.application(name),
            ("PATCH", ["applications", name]) => state.update_application(name, &body),
            ("GET", ["trunks"]) => ResponseTemplate::new(200).set_body_json(&state.trunks),
            ("POST", ["trunks"]) => state.create_trunk(&body),
            // Cloudonix's own CLI updates a trunk with PUT (cloudonix/cloudonix-cli,
            // src/lib/TrunksApi.js), its PHP client with PATCH
            // (greenfieldtech-nirs/cloudonix-php, src/Entities/Trunk.php).
            ("PUT" | "PATCH", ["trunks", uuid]) => {
                let delay = state.trunk_update_delay;
                state.update_trunk(uuid, &body).set_delay(delay)
            }
            _ => not_found(),
        }
    }
}

impl CloudonixState {
    fn add_dnid(&mut self, source: &str, application: &str) -> &Dnid {
        let id = 100 + self.dnids.len() as i64;
        self.dnids.push(Dnid {
            id,
            source: source.into(),
            application: application.into(),
        });
        self.dnids.last().unwrap()
    }

    /// A DNID as a listing shows it, naming its application in `self.shape`.
    fn listed(&self, dnid: &Dnid) -> Value {
        let app = &self.applications[&dnid.application];
        let mut listed = json!({"id": dnid.id, "source": dnid.source, "prefix": false, "expression": false,
                                "asteriskCompatible": false, "active": true});
        let object = json!({"id": app.id, "name": dnid.application, "type": "cxml", "url": app.url,
                            "method": app.method, "active": true});
        match self.shape {
            Shape::Application => listed["application"] = object,
            Shape::VoiceApplication => listed["voice-application"] = object,
            Shape::Flat => {
                listed["applicationId"] = json!(app.id);
                listed["applicationName"] = json!(dnid.application);
            }
        }
        listed
    }

    /// The 2021 OpenAPI's "Create App dnid": the application is the one
    /// named in the path ("application connection's name"), answering 200.
    fn create_dnid(&mut self, name: &str, body: &Value) -> ResponseTemplate {
        if !self.applications.contains_key(name) {
            return not_found();
        }
        let Some(source) = body.get("source").and_then(Value::as_str) else {
            return ResponseTemplate::new(400).set_body_json(json!({"error": "source is required"}));
        };
        let dnid = self.add_dnid(source, name);
        let created = json!({"id": dnid.id, "source": dnid.source});
        ResponseTemplate::new(200).set_body_json(created)
    }

    fn application(&self, name: &str) -> ResponseTemplate {
        let Some(app) = self.applications.get(name) else {
            return not_found();
        };
        let shown = json!({"id": app.id, "name": name, "type": "cxml", "url": app.url, "method": app.method,
                           "active": true});
        ResponseTemplate::new(200).set_body_json(shown)
    }

    /// `url` and `method` are editable on Update
    /// (https://developers.staging.cloudonix.com/Documentation/dataModels/voiceApplication);
    /// the 2021 OpenAPI's "Update Domain Application" answers 200.
    fn update_application(&mut self, name: &str, body: &Value) -> ResponseTemplate {
        let Some(app) = self.applications.get_mut(name) else {
            return not_found();
        };
        if let Some(url) = body.get("url").and_then(Value::as_str) {
            app.url = url.into();
        }
        if let Some(method) = body.get("method").and_then(Value::as_str) {
            app.method = method.into();
        }
        self.application(name)
    }
}

/// Voice trunks (https://developers.staging.cloudonix.com/Documentation/dataModels/voiceTrunk):
/// `/domains/{domain}/trunks[/{uuid}]`, an alias of the customer path; `uuid`
/// is Cloudonix's ("Editable: no"); `name`, `ip`, `port`, `transport`,
/// `prefix`, `direction` and `profile` are set on Create and Update.
impl CloudonixState {
    fn made_trunk(&mut self, fields: &Map<String, Value>) -> &Map<String, Value> {
        self.made_trunks += 1;
        let mut trunk = Map::new();
        trunk.insert(
            "uuid".into(),
            json!(format!("6f1e2d3c-0000-4000-8000-{:012x}", self.made_trunks)),
        );
        // A trunk is active from its creation: the model's `active` (its
        // "Trunk Status" in the PHP client) is only ever switched off.
        trunk.insert("active".into(), json!(true));
        trunk.extend(editable(fields));
        self.trunks.push(trunk);
        self.trunks.last().unwrap()
    }

    /// The 2021 OpenAPI's "Create Domain Trunk" answers 200; a trunk needs
    /// the name and the address it is known by.
    fn create_trunk(&mut self, body: &Value) -> ResponseTemplate {
        let Some(fields) = body.as_object() else {
            return bad_request("a JSON object is required");
        };
        for required in ["name", "ip"] {
            if !fields.get(required).is_some_and(Value::is_string) {
                return bad_request(&format!("{required} is required"));
            }
        }
        if let Some(problem) = invalid_trunk(fields) {
            return bad_request(problem);
        }
        ResponseTemplate::new(200).set_body_json(self.made_trunk(fields))
    }

    fn update_trunk(&mut self, uuid: &str, body: &Value) -> ResponseTemplate {
        let Some(fields) = body.as_object() else {
            return bad_request("a JSON object is required");
        };
        if let Some(problem) = invalid_trunk(fields) {
            return bad_request(problem);
        }
        let Some(trunk) = self.trunks.iter_mut().find(|t| t["uuid"] == uuid) else {
            return not_found();
        };
        trunk.extend(editable(fields));
        ResponseTemplate::new(200).set_body_json(&*trunk)
    }
}

/// What a request may set on a trunk: not its `uuid`.
fn editable(fields: &Map<String, Value>) -> impl Iterator<Item = (String, Value)> + '_ {
    const EDITABLE: [&str; 8] = [
        "name",
        "ip",
        "port",
        "transport",
        "prefix",
        "direction",
        "profile",
        "active",
    ];
    fields
        .iter()
        .filter(|(k, _)| EDITABLE.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
}

/// The documented values: `transport` "one of udp, tcp, or tls", `direction`
/// "one of public-outbound, public-inbound, outbound, or inbound", `port` a
/// Number, `profile` an Object.
fn invalid_trunk(fields: &Map<String, Value>) -> Option<&'static str> {
    let one_of = |key: &str, allowed: &[&str]| {
        fields
            .get(key)
            .is_some_and(|v| !v.as_str().is_some_and(|v| allowed.contains(&v)))
    };
    if one_of("transport", &["udp", "tcp", "tls"]) {
        return Some("transport must be one of udp, tcp, tls");
    }
    if one_of(
        "direction",
        &["public-outbound", "public-inbound", "outbound", "inbound"],
    ) {
        return Some("unknown direction");
    }
    if fields.get("port").is_some_and(|p| !p.is_number()) {
        return Some("port must be a number");
    }
    if fields.get("profile").is_some_and(|p| !p.is_object()) {
        return Some("profile must be an object");
    }
    None
}

fn bad_request(message: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({ "error": message }))
}

fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({"error": "not found"}))
}

// ---------------------------------------------------------------- save time

#[tokio::test]
async fn a_config_without_an_application_gets_the_domain_uuid_and_a_new_default_application() {
    let (app, carrier) = spawn_app_with_carrier().await;
    carrier.answer_each(application_created()).await;

    let created = app.create_config("Cloudonix", config(None)).await;

    let requests = carrier.requests().await;
    let domain = "/customers/self/domains/acme.cloudonix.net";
    assert_eq!(
        calls(&requests),
        [
            call("GET", domain),
            call("POST", &format!("{domain}/applications")),
            call("PUT", domain)
        ]
    );
    assert_eq!(header(&requests[0], "accept"), "application/json");
    let sent = json_body(&requests[1]);
    let name = sent["name"].as_str().unwrap().to_string();
    assert!(is_minted(&name), "{name}");
    assert_eq!(
        sent,
        json!({"name": name, "type": "cxml", "url": WEBHOOK, "method": "POST"})
    );
    assert_eq!(json_body(&requests[2]), json!({"defaultApplication": 42}));
    for request in &requests[1..] {
        assert_eq!(header(request, "content-type"), "application/json");
    }
    assert_token_only_in_authorization(&requests);

    assert_eq!(
        created["credentials"],
        json!({"bearer_token": mask(TOKEN), "domain_id": "acme.cloudonix.net", "application_name": name})
    );
    assert_eq!(
        app.stored_credentials(created["id"].as_i64().unwrap()),
        json!({"provider": "cloudonix", "bearer_token": TOKEN, "domain_id": "acme.cloudonix.net",
               "application_name": name, "domain_uuid": "dom-uuid-1", "application_id": 42,
               "application_uuid": "app-uuid-42"})
    );
}

#[tokio::test]
async fn the_name_cloudonix_gives_the_new_application_is_the_one_stored() {
    let (app, carrier) = spawn_app_with_carrier().await;
    carrier
        .answer_each(vec![
            domain_found(),
            (
                "POST",
                APPLICATIONS,
                200,
                json!({"id": 7, "name": "Renamed"}).into(),
                NOW,
            ),
            ("PUT", DOMAIN, 204, "".into(), NOW),
        ])
        .await;
    let created = app.create_config("Cloudonix", config(None)).await;
    assert_eq!(created["credentials"]["application_name"], "Renamed");
    let stored = app.stored_credentials(created["id"].as_i64().unwrap());
    assert_eq!(
        (stored["application_id"].clone(), stored.get("application_uuid")),
        (json!(7), None)
    );
}

#[tokio::test]
async fn a_named_application_only_needs_the_domain_uuid() {
    let (app, carrier) = spawn_app_with_carrier().await;
    carrier.answer_each(vec![domain_found()]).await;
    let created = app.create_config("Cloudonix", config(Some(APP))).await;
    assert_eq!(
        calls(&carrier.requests().await),
        [call("GET", "/customers/self/domains/acme.cloudonix.net")]
    );
    let stored = app.stored_credentials(created["id"].as_i64().unwrap());
    assert_eq!(
        stored,
        json!({"provider": "cloudonix", "bearer_token": TOKEN, "domain_id": "acme.cloudonix.net",
               "application_name": APP, "domain_uuid": "dom-uuid-1"})
    );
}

#[tokio::test]
async fn an_update_on_the_same_domain_keeps_the_stored_values_without_asking_cloudonix() {
    let (app, carrier) = spawn_app_with_carrier().await;
    carrier.answer_each(application_created()).await;
    let created = app.create_config("Cloudonix", config(None)).await;
    let id = created["id"].as_i64().unwrap();
    let before = app.stored_credentials(id);
    carrier.server.reset().await;

    let mut round_trip = created["credentials"].clone();
    round_trip["provider"] = json!("cloudonix");
    let path = format!("{CONFIGS}/{id}");
    let updated = app
        .call(Method::PUT, &path, Some(json!({"config": round_trip})), 200)
        .await;
    assert_eq!(updated["credentials"], created["credentials"]);
    assert_eq!(app.stored_credentials(id), before);
    assert_eq!(carrier.requests().await.len(), 0);
}

#[tokio::test]
async fn a_new_domain_is_resolved_again_and_the_old_domains_application_ids_are_dropped() {
    let (app, carrier) = spawn_app_with_carrier().await;
    carrier.answer_each(application_created()).await;
    let created = app.create_config("Cloudonix", config(None)).await;
    let id = created["id"].as_i64().unwrap();
    let name = created["credentials"]["application_name"].clone();
    carrier.server.reset().await;
    let other = "^/customers/self/domains/other\\.cloudonix\\.net$";
    carrier
        .answer_each(vec![("GET", other, 200, json!({"uuid": "dom-uuid-2"}).into(), NOW)])
        .await;

    let moved = json!({"provider": "cloudonix", "bearer_token": mask(TOKEN), "domain_id": "other",
                       "application_name": name});
    app.call(
        Method::PUT,
        &format!("{CONFIGS}/{id}"),
        Some(json!({"config": moved})),
        200,
    )
    .await;
    assert_eq!(
        calls(&carrier.requests().await),
        [call("GET", "/customers/self/domains/other.cloudonix.net")]
    );
    assert_eq!(
        app.stored_credentials(id),
        json!({"provider": "cloudonix", "bearer_token": TOKEN, "domain_id": "other.cloudonix.net",
               "application_name": name, "domain_uuid": "dom-uuid-2"})
    );
}

#[tokio::test]
async fn server_managed_fields_are_never_accepted_from_clients_nor_shown() {
    let (app, carrier) = spawn_app_with_carrier().await;
    carrier.answer_each(vec![domain_found()]).await;
    let managed = json!({"domain_uuid": "client-uuid", "application_id": 999,
                         "application_uuid": "client-app-uuid", "managed_by": "client", "provisioning_id": "p-1"});
    let mut sent = config(Some(APP));
    sent.as_object_mut()
        .unwrap()
        .extend(managed.as_object().unwrap().clone());

    let created = app.create_config("Cloudonix", sent.clone()).await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        carrier.requests().await.len(),
        1,
        "the client's domain_uuid is ignored: Cloudonix is asked"
    );
    let expected = json!({"provider": "cloudonix", "bearer_token": TOKEN, "domain_id": "acme.cloudonix.net",
                          "application_name": APP, "domain_uuid": "dom-uuid-1"});
    assert_eq!(app.stored_credentials(id), expected);

    let shown = json!({"bearer_token": mask(TOKEN), "domain_id": "acme.cloudonix.net", "application_name": APP});
    let path = format!("{CONFIGS}/{id}");
    let updated = app.call(Method::PUT, &path, Some(json!({"config": sent})), 200).await;
    assert_eq!(app.stored_credentials(id), expected, "an update cannot set them either");
    for answer in [created, updated, app.call(Method::GET, &path, None, 200).await] {
        assert_eq!(answer["credentials"], shown);
        // The domain's UUID names its SIP hosts in `sip_connectivity`, but no
        // server-managed field is shown, nor anything the client sent for one.
        let text = answer.to_string();
        for hidden in [
            "domain_uuid",
            "application_uuid",
            "application_id",
            "managed_by",
            "provisioning_id",
            "client",
        ] {
            assert!(!text.contains(hidden), "{hidden} in {text}");
        }
    }
    let listed = config_list(&app).await.to_string();
    assert!(!listed.contains("uuid") && !listed.contains("client"), "{listed}");
}

/// Saves `config` against a carrier answering `answers`, expecting `status`
/// and `detail` within the deadline, and nothing stored.
async fn a_save_is_refused(
    app: &TestApp,
    carrier: &MockCarrier,
    config: Value,
    answers: Vec<Answer>,
    status: u16,
    detail: &str,
) {
    carrier.server.reset().await;
    carrier.answer_each(answers).await;
    let started = Instant::now();
    let answer = app
        .call(
            Method::POST,
            CONFIGS,
            Some(json!({"name": "Cloudonix", "config": config})),
            status,
        )
        .await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(SYNC_TIMEOUT_MS + 800),
        "{detail}: answered in {elapsed:?}"
    );
    assert_eq!(answer, json!({ "detail": detail }));
    assert_eq!(config_list(app).await, json!([]), "{detail}: nothing stored");
    assert_token_only_in_authorization(&carrier.requests().await);
}

#[tokio::test]
async fn a_failed_domain_lookup_refuses_the_save_with_cloudonix_status_or_502() {
    let (app, carrier) = spawn_app_with_carrier().await;
    let echo = format!("token {TOKEN} is not valid");
    let timed_out = format!("Failed to reach Cloudonix to fetch the domain UUID: timed out after {SYNC_TIMEOUT_MS} ms");
    let cases: Vec<(Answer, u16, &str)> = vec![
        (
            ("GET", DOMAIN, 401, echo.as_str().into(), NOW),
            401,
            "Failed to fetch Cloudonix domain UUID: HTTP 401",
        ),
        (
            ("GET", DOMAIN, 500, "boom".into(), NOW),
            500,
            "Failed to fetch Cloudonix domain UUID: HTTP 500",
        ),
        (
            ("GET", DOMAIN, 204, "".into(), NOW),
            502,
            "Failed to fetch Cloudonix domain UUID: HTTP 204",
        ),
        (
            ("GET", DOMAIN, 200, "<html>".into(), NOW),
            502,
            "Cloudonix domainGet returned an invalid response",
        ),
        (
            ("GET", DOMAIN, 200, json!({"uuid": "  "}).into(), NOW),
            502,
            "Cloudonix domainGet response did not include a domain UUID",
        ),
        (
            ("GET", DOMAIN, 200, json!({"id": 5}).into(), NOW),
            502,
            "Cloudonix domainGet response did not include a domain UUID",
        ),
        (
            ("GET", DOMAIN, 200, json!({"uuid": "late"}).into(), HANG),
            502,
            &timed_out,
        ),
    ];
    for (answer, status, detail) in cases {
        a_save_is_refused(&app, &carrier, config(Some(APP)), vec![answer], status, detail).await;
    }
}

#[tokio::test]
async fn a_failed_application_step_refuses_the_save_with_cloudonix_status_or_502() {
    let (app, carrier) = spawn_app_with_carrier().await;
    let created = || ("POST", APPLICATIONS, 201, json!({"id": 42}).into(), NOW);
    let timed_out =
        format!("Failed to reach Cloudonix to auto-create application: timed out after {SYNC_TIMEOUT_MS} ms");
    let numeric = "Cloudonix application response did not include a numeric ID";
    let cases: Vec<(Vec<Answer>, u16, &str)> = vec![
        (
            vec![("POST", APPLICATIONS, 403, "forbidden".into(), NOW)],
            403,
            "Failed to auto-create Cloudonix Voice Application: HTTP 403",
        ),
        (
            vec![("POST", APPLICATIONS, 503, "busy".into(), NOW)],
            503,
            "Failed to auto-create Cloudonix Voice Application: HTTP 503",
        ),
        (
            vec![("POST", APPLICATIONS, 202, json!({"id": 42}).into(), NOW)],
            502,
            "Failed to auto-create Cloudonix Voice Application: HTTP 202",
        ),
        (
            vec![("POST", APPLICATIONS, 201, json!({"id": "42"}).into(), NOW)],
            502,
            numeric,
        ),
        (
            vec![("POST", APPLICATIONS, 201, json!({"id": 4.2}).into(), NOW)],
            502,
            numeric,
        ),
        (vec![("POST", APPLICATIONS, 201, "<html>".into(), NOW)], 502, numeric),
        (
            vec![created(), ("PUT", DOMAIN, 404, "no domain".into(), NOW)],
            404,
            "Failed to set the Cloudonix default application: HTTP 404",
        ),
        // The domain lookup answers, then the creation hangs.
        (
            vec![("POST", APPLICATIONS, 201, json!({"id": 42}).into(), HANG)],
            502,
            &timed_out,
        ),
    ];
    for (answers, status, detail) in cases {
        let mut answers = answers;
        answers.insert(0, domain_found());
        a_save_is_refused(&app, &carrier, config(None), answers, status, detail).await;
    }
}

#[tokio::test]
async fn one_deadline_covers_every_request_of_the_save() {
    let (app, carrier) = spawn_app_with_carrier().await;
    let step = SYNC_TIMEOUT_MS * 2 / 5;
    let (verb, path, status, body, _) = domain_found();
    let answers = vec![
        (verb, path, status, body, step),
        ("POST", APPLICATIONS, 201, json!({"id": 42}).into(), step),
        ("PUT", DOMAIN, 200, json!({}).into(), step),
    ];
    let detail = format!("Failed to reach Cloudonix to auto-create application: timed out after {SYNC_TIMEOUT_MS} ms");
    a_save_is_refused(&app, &carrier, config(None), answers, 502, &detail).await;
    assert_eq!(carrier.requests().await.len(), 3, "each step alone was in time");
}

#[tokio::test]
async fn an_unreachable_cloudonix_refuses_the_save_with_502() {
    // spawn_app's carriers are a closed loopback port.
    let app = spawn_app_with(|_| {}).await;
    let answer = app
        .call(
            Method::POST,
            CONFIGS,
            Some(json!({"name": "Cloudonix", "config": config(Some(APP))})),
            502,
        )
        .await;
    let detail = answer["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("Failed to reach Cloudonix to fetch the domain UUID: "),
        "{detail}"
    );
    assert_no_token(&answer);
    assert_eq!(config_list(&app).await, json!([]));
}

#[tokio::test]
async fn a_failed_provisioning_on_update_leaves_the_stored_config_as_it_was() {
    let (app, carrier) = spawn_app_with_carrier().await;
    carrier.answer_each(vec![domain_found()]).await;
    let created = app.create_config("Cloudonix", config(Some(APP))).await;
    let id = created["id"].as_i64().unwrap();
    let before = app.stored_credentials(id);
    carrier.server.reset().await;
    let other = "^/customers/self/domains/other\\.cloudonix\\.net$";
    carrier
        .answer_each(vec![("GET", other, 503, "maintenance".into(), NOW)])
        .await;

    let moved = json!({"provider": "cloudonix", "bearer_token": "cx-new-token-9876", "domain_id": "other",
                       "application_name": APP});
    let path = format!("{CONFIGS}/{id}");
    let answer = app
        .call(Method::PUT, &path, Some(json!({"config": moved, "name": "Moved"})), 503)
        .await;
    assert_eq!(
        answer,
        json!({"detail": "Failed to fetch Cloudonix domain UUID: HTTP 503"})
    );
    assert_eq!(app.stored_credentials(id), before);
    assert_eq!(app.call(Method::GET, &path, None, 200).await, created);
}

// ------------------------------------------------------------------ numbers

struct Setup {
    app: TestApp,
    carrier: MockCarrier,
    cfg: Value,
    workflow: Value,
}

/// A Cloudonix config naming `APP`, a workflow, and a carrier with no answers
/// and no recorded requests.
async fn setup() -> Setup {
    let (app, carrier) = spawn_app_with_carrier().await;
    carrier.answer_each(vec![domain_found()]).await;
    let cfg = app.create_config("Cloudonix", config(Some(APP))).await["id"].clone();
    let workflow = app.create_workflow("Support").await;
    carrier.server.reset().await;
    Setup {
        app,
        carrier,
        cfg,
        workflow,
    }
}

impl Setup {
    /// A number already listed as a DNID; the recorded requests are cleared.
    async fn number(&self, body: Value) -> (Value, String) {
        self.carrier.answer_each(vec![number_listed(), patch_accepted()]).await;
        let number = self.app.create_number(&self.cfg, body).await;
        self.carrier.server.reset().await;
        let path = format!("{}/{}", numbers_path(&self.cfg), number["id"]);
        (number, path)
    }

    async fn numbers(&self) -> Value {
        self.app.call(Method::GET, &numbers_path(&self.cfg), None, 200).await["phone_numbers"].clone()
    }
}

#[tokio::test]
async fn a_number_the_domain_already_routes_is_accepted_after_one_listing() {
    let s = setup().await;
    s.carrier.answer_each(vec![number_listed()]).await;
    let created = s
        .app
        .create_number(&s.cfg, json!({"address": "(415) 555-0100", "country_code": "US"}))
        .await;
    assert_eq!(created["address_normalized"], NUMBER);
    let requests = s.carrier.requests().await;
    assert_eq!(calls(&requests), [call("GET", "/domains/acme.cloudonix.net/dnids")]);
    assert_eq!(header(&requests[0], "content-type"), "application/json");
    assert_token_only_in_authorization(&requests);
}

#[tokio::test]
async fn a_new_number_becomes_a_dnid_of_the_named_application() {
    let s = setup().await;
    let other = json!([{"dnid": "^\\+14155550999$"}, {"source": "+14155550101"}, "junk"]);
    s.carrier
        .answer_each(vec![
            ("GET", DNIDS, 200, other.into(), NOW),
            ("POST", DNID_CREATE, 201, json!({"id": 77}).into(), NOW),
        ])
        .await;
    s.app
        .create_number(&s.cfg, json!({"address": "415-555-0100", "country_code": "us"}))
        .await;
    let requests = s.carrier.requests().await;
    assert_eq!(
        calls(&requests),
        [
            call("GET", "/domains/acme.cloudonix.net/dnids"),
            call("POST", "/domains/acme.cloudonix.net/applications/telebind-app/dnids"),
        ]
    );
    assert_eq!(
        json_body(&requests[1]),
        json!({"source": NUMBER, "prefix": false, "expression": false, "asteriskCompatible": false})
    );
    for request in &requests {
        assert_eq!(header(request, "content-type"), "application/json");
    }
    assert_token_only_in_authorization(&requests);
}

#[tokio::test]
async fn a_domain_without_a_dnid_list_still_gets_the_number() {
    let s = setup().await;
    s.carrier
        .answer_each(vec![
            ("GET", DNIDS, 404, "no dnids".into(), NOW),
            ("POST", DNID_CREATE, 204, "".into(), NOW),
        ])
        .await;
    s.app.create_number(&s.cfg, json!({"address": NUMBER})).await;
    assert_eq!(s.carrier.requests().await.len(), 2);
}

#[tokio::test]
async fn sip_addresses_are_provisioned_too() {
    let s = setup().await;
    let dnids = json!([{"dnid": "^sip:100@pbx\\.example\\.com$", "application": {"name": APP}}]);
    s.carrier
        .answer_each(vec![("GET", DNIDS, 200, dnids.into(), NOW)])
        .await;
    let created = s
        .app
        .create_number(&s.cfg, json!({"address": "sip:100@PBX.example.com:5060"}))
        .await;
    assert_eq!(created["address_normalized"], "sip:100@pbx.example.com");
    assert_eq!(s.carrier.requests().await.len(), 1);
}

#[tokio::test]
async fn a_failed_dnid_provisioning_refuses_the_number_with_502_and_stores_nothing() {
    let s = setup().await;
    let empty = || ("GET", DNIDS, 200, json!([]).into(), NOW);
    let echo = format!("bearer {TOKEN} rejected");
    let echoed = format!(
        "Cloudonix DNID list failed with HTTP 401: bearer {} rejected",
        mask(TOKEN)
    );
    let timed_out = format!("Cloudonix DNID provisioning failed: timed out after {SYNC_TIMEOUT_MS} ms");
    let not_json = "Cloudonix DNID provisioning failed: response is not JSON";
    // (answers, detail, whether the detail is only its beginning)
    let cases: Vec<(Vec<Answer>, &str, bool)> = vec![
        (
            vec![("GET", DNIDS, 500, "boom".into(), NOW)],
            "Cloudonix DNID list failed with HTTP 500: boom",
            false,
        ),
        (vec![("GET", DNIDS, 401, echo.as_str().into(), NOW)], &echoed, false),
        (
            vec![("GET", DNIDS, 200, json!({"dnids": []}).into(), NOW)],
            "Cloudonix dnidList response was not an array",
            false,
        ),
        (vec![("GET", DNIDS, 200, "<html>".into(), NOW)], not_json, true),
        (
            vec![empty(), ("POST", DNID_CREATE, 404, "no such app".into(), NOW)],
            "Cloudonix dnidCreate failed with HTTP 404: no such app",
            false,
        ),
        (
            vec![empty(), ("POST", DNID_CREATE, 409, "exists".into(), NOW)],
            "Cloudonix dnidCreate failed with HTTP 409: exists",
            false,
        ),
        (
            vec![empty(), ("POST", DNID_CREATE, 503, "<html>".into(), NOW)],
            "Cloudonix dnidCreate failed with HTTP 503: <html>",
            false,
        ),
        // The listing answers, then the creation hangs.
        (
            vec![empty(), ("POST", DNID_CREATE, 200, json!({}).into(), HANG)],
            &timed_out,
            false,
        ),
    ];
    for (answers, detail, prefix) in cases {
        s.carrier.server.reset().await;
        s.carrier.answer_each(answers).await;
        let started = Instant::now();
        let answer = s
            .app
            .call(
                Method::POST,
                &numbers_path(&s.cfg),
                Some(json!({"address": NUMBER})),
                502,
            )
            .await;
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_millis(SYNC_TIMEOUT_MS + 800), "{elapsed:?}");
        let got = answer["detail"].as_str().unwrap();
        if prefix {
            assert!(got.starts_with(detail), "{got}");
        } else {
            assert_eq!(got, detail);
        }
        assert_no_token(&answer);
        assert_eq!(s.numbers().await, json!([]), "{detail}: nothing stored");
        assert_token_only_in_authorization(&s.carrier.requests().await);
    }
}

// ------------------------------------------------------------ bind / unbind

/// Binds the number at `path` to `workflow`; the update itself always succeeds.
async fn bind(app: &TestApp, path: &str, workflow: &Value) -> Value {
    let body = json!({"inbound_workflow_id": workflow["id"]});
    app.call(Method::PUT, path, Some(body), 200).await
}

#[tokio::test]
async fn binding_a_number_points_the_voice_application_at_the_webhook() {
    let s = setup().await;
    let (_, path) = s.number(json!({"address": NUMBER})).await;
    s.carrier.answer_each(vec![patch_accepted()]).await;

    let updated = bind(&s.app, &path, &s.workflow).await;
    assert_eq!(updated["provider_sync"], json!({"ok": true, "message": null}));
    assert_eq!(updated["last_provider_sync"]["attached"], true);
    let requests = s.carrier.requests().await;
    assert_eq!(
        calls(&requests),
        [call(
            "PATCH",
            "/customers/self/domains/acme.cloudonix.net/applications/telebind-app"
        )]
    );
    assert_eq!(json_body(&requests[0]), json!({"url": WEBHOOK, "method": "POST"}));
    assert_eq!(header(&requests[0], "content-type"), "application/json");
    assert_token_only_in_authorization(&requests);
}

#[tokio::test]
async fn creating_a_bound_number_provisions_it_then_binds_the_application() {
    let s = setup().await;
    s.carrier.answer_each(vec![number_listed(), patch_accepted()]).await;
    let created = s
        .app
        .create_number(
            &s.cfg,
            json!({"address": NUMBER, "inbound_workflow_id": s.workflow["id"]}),
        )
        .await;
    assert_eq!(created["provider_sync"], json!({"ok": true, "message": null}));
    let kinds: Vec<String> = calls(&s.carrier.requests().await).into_iter().map(|(m, _)| m).collect();
    assert_eq!(kinds, ["GET", "PATCH"]);
}

#[tokio::test]
async fn unbinding_one_number_leaves_the_shared_application_in_place() {
    let s = setup().await;
    let (_, first) = s
        .number(json!({"address": NUMBER, "inbound_workflow_id": s.workflow["id"]}))
        .await;
    let (_, second) = s
        .number(json!({"address": "+14155550999", "inbound_workflow_id": s.workflow["id"]}))
        .await;

    let cleared = s
        .app
        .call(Method::PUT, &first, Some(json!({"clear_inbound_workflow": true})), 200)
        .await;
    assert_eq!(cleared["provider_sync"], json!({"ok": true, "message": DETACHED}));
    assert_eq!(cleared["last_provider_sync"]["attached"], false);
    assert_eq!(cleared["last_provider_sync"]["ok"], true);
    let deleted = s.app.call(Method::DELETE, &second, None, 200).await;
    assert_eq!(
        deleted,
        json!({"message": "Phone number deleted", "provider_sync": {"ok": true, "message": DETACHED}})
    );
    assert_eq!(s.carrier.requests().await.len(), 0, "no carrier request");
}

#[tokio::test]
async fn a_rejected_or_hanging_bind_fails_the_push_not_the_update() {
    let s = setup().await;
    let (_, path) = s.number(json!({"address": NUMBER})).await;
    let echo = format!("token {TOKEN} has no access");
    let echoed = format!("Cloudonix API 403: token {} has no access", mask(TOKEN));
    let timed_out = format!("Cloudonix update failed: timed out after {SYNC_TIMEOUT_MS} ms");
    let cases: Vec<(Answer, &str)> = vec![
        (
            ("PATCH", APPLICATION, 404, "no app".into(), NOW),
            "Cloudonix API 404: no app",
        ),
        (
            ("PATCH", APPLICATION, 500, "boom".into(), NOW),
            "Cloudonix API 500: boom",
        ),
        (("PATCH", APPLICATION, 204, "".into(), NOW), "Cloudonix API 204: "),
        (("PATCH", APPLICATION, 403, echo.as_str().into(), NOW), &echoed),
        (("PATCH", APPLICATION, 200, json!({}).into(), HANG), &timed_out),
    ];
    for (answer, detail) in cases {
        s.carrier.server.reset().await;
        s.carrier.answer_each(vec![answer]).await;
        // The first case binds; each later one retries the failed push.
        let started = Instant::now();
        let updated = bind(&s.app, &path, &s.workflow).await;
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_millis(SYNC_TIMEOUT_MS + 800), "{elapsed:?}");
        assert_eq!(updated["provider_sync"], json!({"ok": false, "message": detail}));
        assert_eq!(updated["inbound_workflow_id"], s.workflow["id"], "the row changed");
        assert_eq!(updated["last_provider_sync"]["message"], detail);
        assert_no_token(&updated);
    }
}

#[tokio::test]
async fn the_bind_ignores_a_200_body_that_is_not_json() {
    let s = setup().await;
    let (_, path) = s.number(json!({"address": NUMBER})).await;
    s.carrier
        .answer_each(vec![("PATCH", APPLICATION, 200, "<html>ok</html>".into(), NOW)])
        .await;
    let updated = bind(&s.app, &path, &s.workflow).await;
    assert_eq!(updated["provider_sync"], json!({"ok": true, "message": null}));
}

#[tokio::test]
async fn an_unreachable_cloudonix_fails_binds_and_refuses_new_numbers() {
    let s = setup().await;
    let (_, path) = s.number(json!({"address": NUMBER})).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut app = s.app;
    app.config.providers.cloudonix_base_url = url;
    let app = app.restart().await;

    let updated = bind(&app, &path, &s.workflow).await;
    assert_eq!(updated["provider_sync"]["ok"], false);
    let message = updated["provider_sync"]["message"].as_str().unwrap();
    assert!(message.starts_with("Cloudonix update failed: "), "{message}");

    let refused = app
        .call(
            Method::POST,
            &numbers_path(&s.cfg),
            Some(json!({"address": "+14155550999"})),
            502,
        )
        .await;
    let detail = refused["detail"].as_str().unwrap();
    assert!(detail.starts_with("Cloudonix DNID provisioning failed: "), "{detail}");
    let numbers = app.call(Method::GET, &numbers_path(&s.cfg), None, 200).await;
    assert_eq!(numbers["phone_numbers"].as_array().unwrap().len(), 1);
}

// ---------------------------------------- what Cloudonix then does with calls

/// Creates `NUMBER` bound to the workflow; returns the answer's status and body.
async fn create_bound(s: &Setup) -> (u16, Value) {
    let body = json!({"address": NUMBER, "inbound_workflow_id": s.workflow["id"]});
    let response = s
        .app
        .send(Method::POST, &numbers_path(&s.cfg), Some(&s.app.key), Some(body))
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_number_already_a_dnid_of_telebinds_application_is_bound_after_one_listing() {
    for shape in SHAPES {
        let s = setup().await;
        let cloudonix = FakeCloudonix::new(shape).with_dnid("14155550100", APP);
        cloudonix.serve(&s.carrier).await;
        let (status, created) = create_bound(&s).await;
        assert_eq!(status, 200, "{shape:?}: {created}");
        assert_eq!(
            created["provider_sync"],
            json!({"ok": true, "message": null}),
            "{shape:?}"
        );
        assert_honest(&created, &cloudonix, NUMBER);
        let methods: Vec<String> = calls(&s.carrier.requests().await).into_iter().map(|(m, _)| m).collect();
        assert_eq!(methods, ["GET", "PATCH"], "{shape:?}");
    }
}

#[tokio::test]
async fn a_number_cloudonix_routes_to_another_application_is_refused_with_what_to_do() {
    let expected = "Cloudonix routes +14155550100 to Voice Application reception-ivr in domain acme.cloudonix.net, \
                    not to telebind-app. Delete that DNID in the Cloudonix Cockpit, then add the number again: \
                    telebind then makes one that launches telebind-app.";
    for shape in SHAPES {
        let s = setup().await;
        let cloudonix = FakeCloudonix::new(shape).with_dnid(NUMBER, OTHER_APP);
        cloudonix.serve(&s.carrier).await;
        let (status, refused) = create_bound(&s).await;
        assert_eq!((status, refused), (502, json!({ "detail": expected })), "{shape:?}");
        assert_eq!(s.numbers().await, json!([]), "nothing stored");
        assert_eq!(
            calls(&s.carrier.requests().await),
            [call("GET", "/domains/acme.cloudonix.net/dnids")],
            "{shape:?}: no DNID made, no application changed"
        );
        assert_eq!(cloudonix.inbound_url(NUMBER).as_deref(), Some(ELSEWHERE));
    }
}

#[tokio::test]
async fn a_dnid_that_names_no_application_refuses_the_number() {
    let s = setup().await;
    let dnids = json!([{"id": 5, "source": NUMBER}]);
    s.carrier
        .answer_each(vec![("GET", DNIDS, 200, dnids.into(), NOW)])
        .await;
    let (status, refused) = create_bound(&s).await;
    let expected = "Cloudonix has a DNID for +14155550100 in domain acme.cloudonix.net that does not name the \
                    Voice Application it launches, so telebind cannot tell whether it is telebind-app. Delete that \
                    DNID in the Cloudonix Cockpit, then add the number again: telebind then makes one that launches \
                    telebind-app.";
    assert_eq!((status, refused), (502, json!({ "detail": expected })));
    assert_eq!(s.numbers().await, json!([]));
}

#[tokio::test]
async fn a_new_number_becomes_a_dnid_on_the_documented_path_and_reaches_telebind() {
    let s = setup().await;
    let cloudonix = FakeCloudonix::new(Shape::Application);
    cloudonix.serve(&s.carrier).await;
    let (status, created) = create_bound(&s).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["provider_sync"], json!({"ok": true, "message": null}));
    assert_honest(&created, &cloudonix, NUMBER);
    assert_eq!(
        calls(&s.carrier.requests().await),
        [
            call("GET", "/domains/acme.cloudonix.net/dnids"),
            call("POST", "/domains/acme.cloudonix.net/applications/telebind-app/dnids"),
            call(
                "PATCH",
                "/customers/self/domains/acme.cloudonix.net/applications/telebind-app"
            ),
        ]
    );

    // Made again after a delete, the number finds its own DNID.
    let path = format!("{}/{}", numbers_path(&s.cfg), created["id"]);
    s.app.call(Method::DELETE, &path, None, 200).await;
    let before = s.carrier.requests().await.len();
    let (status, again) = create_bound(&s).await;
    assert_eq!(status, 200, "{again}");
    assert_honest(&again, &cloudonix, NUMBER);
    let methods: Vec<String> = calls(&s.carrier.requests().await[before..])
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    assert_eq!(methods, ["GET", "PATCH"]);
}
