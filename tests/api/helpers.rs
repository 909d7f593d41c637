use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use reqwest::Method;
use serde_json::{json, Value};
use telebind::config::Config;
use telebind::inbound::Clock;
use telebind::Application;
use tempfile::TempDir;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// The bootstrap key of org `default`.
    pub key: String,
    pub config: Config,
    pub dir: Arc<TempDir>,
    /// `http://127.0.0.1:PORT` of `GET /metrics` when `server.metrics_bind` is set.
    pub metrics_address: Option<String>,
    /// The inbound router's clock.
    clock: Clock,
    handle: ServerHandle,
}

/// A server on a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server on a fresh database, with settings changed by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_at(Clock::System, configure).await
}

/// As `spawn_app_with`, the inbound router reading `clock`.
pub async fn spawn_app_at(clock: Clock, configure: impl FnOnce(&mut Config)) -> TestApp {
    let dir = Arc::new(TempDir::new().unwrap());
    let mut config = Config::default();
    config.database.path = dir.path().join("telebind.db");
    config.server.public_base_url = "http://telebind.test".into();
    // Tests never reach a real carrier: unless a test points them at a mock,
    // carriers are a loopback port nobody listens on.
    set_carrier_urls(&mut config, "http://127.0.0.1:9");
    configure(&mut config);
    start(config, dir, clock).await
}

/// A server whose carriers all live on one local mock, with a short sync deadline.
pub async fn spawn_app_with_carrier() -> (TestApp, MockCarrier) {
    let carrier = MockCarrier::start().await;
    let url = carrier.url();
    let app = spawn_app_with(|c| {
        c.sync.timeout_ms = SYNC_TIMEOUT_MS;
        set_carrier_urls(c, &url);
    })
    .await;
    (app, carrier)
}

pub fn set_carrier_urls(config: &mut Config, url: &str) {
    for (_, base) in config.providers.base_urls_mut() {
        *base = url.to_string();
    }
}

/// The sync deadline of `spawn_app_with_carrier`.
pub const SYNC_TIMEOUT_MS: u64 = 1000;

/// The phone-number collection of configuration `config_id`.
pub fn numbers_path(config_id: &Value) -> String {
    format!("/api/v1/organizations/telephony-configs/{config_id}/phone-numbers")
}

/// The log of every server this test binary starts, written by telebind's
/// own logger at `RUST_LOG` (default `trace`) into one file, so that the
/// secret scans can read what the whole run logged.
pub struct CapturedLog {
    pub path: PathBuf,
    flush: telebind::logging::Flush,
}

impl CapturedLog {
    /// Everything logged so far.
    pub fn read(&self) -> String {
        self.flush.now();
        String::from_utf8_lossy(&std::fs::read(&self.path).unwrap()).into_owned()
    }
}

/// `TELEBIND_TEST_LOG` names the file (CI keeps it for the scan of the
/// whole run); else `api-test.log` in the target directory, new each run.
pub fn captured_log() -> &'static CapturedLog {
    static LOG: OnceLock<CapturedLog> = OnceLock::new();
    LOG.get_or_init(|| {
        let (path, append) = match std::env::var_os("TELEBIND_TEST_LOG") {
            Some(path) => (PathBuf::from(path), true),
            None => (Path::new(env!("CARGO_TARGET_TMPDIR")).join("api-test.log"), false),
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(&path)
            .unwrap();
        let filters = std::env::var("RUST_LOG").unwrap_or_else(|_| "trace".into());
        let flush = telebind::logging::install(Box::new(file), &filters).unwrap();
        CapturedLog { path, flush }
    })
}

async fn start(config: Config, dir: Arc<TempDir>, clock: Clock) -> TestApp {
    captured_log();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let app = Application::build_with_clock(config.clone(), listener, clock).expect("the app starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let key = app.bootstrap_key().map(str::to_string).unwrap_or_default();
    let metrics_address = app.metrics_port().map(|port| format!("http://127.0.0.1:{port}"));
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        key,
        config,
        dir,
        metrics_address,
        clock,
        handle,
    }
}

impl TestApp {
    /// Stops this server gracefully and starts a new one on the same database.
    pub async fn restart(self) -> TestApp {
        self.handle.stop(true).await;
        let key = self.key.clone();
        let mut app = start(self.config.clone(), self.dir.clone(), self.clock).await;
        app.key = key;
        app
    }

    /// Stops this server gracefully.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }

    /// Stops this server at once: requests in flight are dropped mid-way.
    pub async fn stop_now(&self) {
        self.handle.stop(false).await;
    }

    /// Stops this server gracefully: returns once requests in flight are answered.
    pub async fn stop_gracefully(&self) {
        self.handle.stop(true).await;
    }

    /// `host:port` of the server, for raw connections.
    pub fn socket(&self) -> &str {
        self.address.trim_start_matches("http://")
    }

    pub fn db_path(&self) -> &Path {
        &self.config.database.path
    }

    /// Sends a request with `key` (if any) as `X-API-Key`.
    pub async fn send(&self, method: Method, path: &str, key: Option<&str>, body: Option<Value>) -> reqwest::Response {
        let mut request = self.client.request(method, format!("{}{}", self.address, path));
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("the request is answered")
    }

    /// Calls the API as org `default` and asserts the status; returns the JSON body.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>, expected: u16) -> Value {
        self.call_as(&self.key, method, path, body, expected).await
    }

    pub async fn call_as(&self, key: &str, method: Method, path: &str, body: Option<Value>, expected: u16) -> Value {
        let response = self.send(method.clone(), path, Some(key), body).await;
        expect_json(response, expected, &format!("{method} {path}")).await
    }

    pub async fn create_workflow(&self, name: &str) -> Value {
        self.call(
            Method::POST,
            "/api/v1/workflows",
            Some(serde_json::json!({ "name": name })),
            200,
        )
        .await
    }

    pub async fn create_config(&self, name: &str, config: Value) -> Value {
        let body = serde_json::json!({ "name": name, "config": config });
        self.call(Method::POST, "/api/v1/organizations/telephony-configs", Some(body), 200)
            .await
    }

    pub async fn create_number(&self, config_id: &Value, body: Value) -> Value {
        self.call(Method::POST, &numbers_path(config_id), Some(body), 200).await
    }

    /// A connection to this server's database that reads and writes the
    /// credentials column as the server does (`open_credentials`, `seal_credentials`).
    pub fn db_conn(&self) -> rusqlite::Connection {
        let (_, store, _) = telebind::db::open_with(&self.config, telebind::db::Create::Never).unwrap();
        store.connect().unwrap()
    }

    /// The stored credentials JSON of configuration `id`, opened with the server's key.
    pub fn stored_credentials(&self, id: i64) -> Value {
        let text: String = self
            .db_conn()
            .query_row(
                "SELECT open_credentials(org_id, id, credentials) FROM telephony_configurations WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Runs the `telebind` binary against this server's database.
    pub fn cli(&self, args: &[&str]) -> Output {
        run_cli(self.db_path(), args)
    }

    /// A key of a new (or existing) organization, made with the CLI.
    pub fn org_key(&self, org: &str) -> String {
        let out = self.cli(&["keys", "create", "--org", org]);
        assert!(
            out.status.success(),
            "keys create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

/// Asserts the status of `response` and returns its JSON body.
pub async fn expect_json(response: reqwest::Response, expected: u16, what: &str) -> Value {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(status, expected, "{what}: unexpected status, body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {text}"))
}

/// The telebind binary serving the database at `db` on a port of its own,
/// with `envs`; its stderr is collected as it comes, so that a busy log
/// never fills the pipe.
pub struct ServerProcess {
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    stderr: std::thread::JoinHandle<String>,
}

impl ServerProcess {
    /// Starts the server and returns once `/healthz` answers.
    pub async fn start(db: &Path, envs: &[(&str, String)]) -> ServerProcess {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_telebind"))
            .env("TELEBIND_DATABASE__PATH", db)
            .env("TELEBIND_SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .current_dir(db.parent().unwrap())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the telebind binary runs");
        let mut pipe = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut pipe, &mut text).unwrap();
            text
        });
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while reqwest::get(format!("{base}/healthz")).await.is_err() {
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ServerProcess { child, base, stderr }
    }

    /// Sends SIGTERM: a graceful stop, which writes out the whole log.
    pub fn terminate(&self) {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits for the exit; its status and everything written to stderr.
    pub async fn exited(mut self) -> (std::process::ExitStatus, String) {
        tokio::task::spawn_blocking(move || (self.child.wait().unwrap(), self.stderr.join().unwrap()))
            .await
            .unwrap()
    }
}

/// Runs `telebind ARGS` with the database at `db`.
pub fn run_cli(db: &Path, args: &[&str]) -> Output {
    run_cli_with(db, args, &[])
}

/// As `run_cli`, with more environment variables.
pub fn run_cli_with(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_telebind"))
        .args(args)
        .env("TELEBIND_DATABASE__PATH", db)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .current_dir(db.parent().unwrap())
        .output()
        .expect("the telebind binary runs")
}

/// A carrier API on loopback: records every request and answers each route
/// with the status, body and delay a test configures.
pub struct MockCarrier {
    pub server: MockServer,
}

impl MockCarrier {
    pub async fn start() -> MockCarrier {
        MockCarrier {
            server: MockServer::start().await,
        }
    }

    pub fn url(&self) -> String {
        self.server.uri()
    }

    /// Answers `verb` requests whose path matches the regex `path`.
    pub async fn answer(&self, verb: &str, path: &str, status: u16, body: impl Into<MockBody>, delay: Duration) {
        let template = match body.into() {
            MockBody::Json(v) => ResponseTemplate::new(status).set_body_json(v),
            MockBody::Text(t) => ResponseTemplate::new(status).set_body_string(t),
        };
        Mock::given(method(verb))
            .and(path_regex(path))
            .respond_with(template.set_delay(delay))
            .mount(&self.server)
            .await;
    }

    /// Answers `verb` requests whose path matches the regex `path` with
    /// `carrier`: a fake that keeps state and answers as the carrier's
    /// documentation says (see each carrier's test file).
    pub async fn serve(&self, verb: &str, path: &str, carrier: impl Respond + 'static) {
        Mock::given(method(verb))
            .and(path_regex(path))
            .respond_with(carrier)
            .mount(&self.server)
            .await;
    }

    /// Answers `verb path` with `carrier` for the first `skip` requests, then
    /// with `fault`: a carrier that fails part-way through an operation.
    pub async fn fail_after(
        &self,
        verb: &str,
        path: &str,
        skip: u64,
        carrier: impl Respond + 'static,
        fault: impl Respond + 'static,
    ) {
        // Earlier mocks win until they are used up.
        if skip > 0 {
            Mock::given(method(verb))
                .and(path_regex(path))
                .respond_with(carrier)
                .up_to_n_times(skip)
                .mount(&self.server)
                .await;
        }
        self.serve(verb, path, fault).await;
    }

    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }
}

pub enum MockBody {
    Json(Value),
    Text(String),
}

impl From<Value> for MockBody {
    fn from(v: Value) -> Self {
        MockBody::Json(v)
    }
}

impl From<&str> for MockBody {
    fn from(t: &str) -> Self {
        MockBody::Text(t.to_string())
    }
}

/// A database file path in a new temporary directory.
pub fn temp_db() -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("telebind.db");
    (dir, path)
}

/// A database file made as `serve` makes it, in a new temporary directory:
/// CLI commands refuse to create one.
pub fn existing_db() -> (TempDir, PathBuf) {
    let (dir, path) = temp_db();
    let mut config = Config::default();
    config.database.path = path.clone();
    telebind::db::open(&config).expect("a new database");
    (dir, path)
}

/// The configurations collection.
pub const CONFIGS: &str = "/api/v1/organizations/telephony-configs";

impl TestApp {
    /// Creating a configuration the carrier's provisioning refuses: asserts
    /// the status and that nothing was stored; returns the detail.
    pub async fn refused_config(&self, config: Value, status: u16) -> String {
        let body = serde_json::json!({ "name": "Refused", "config": config });
        let answer = self.call(Method::POST, CONFIGS, Some(body), status).await;
        let listed = self.call(Method::GET, CONFIGS, None, 200).await;
        assert_eq!(listed, serde_json::json!({"configurations": []}), "nothing is stored");
        answer["detail"].as_str().expect("a detail").to_string()
    }
}

/// One way a carrier answers a save-time creation: its status, body and delay
/// in ms, then the status the save is refused with and how its detail starts.
pub type RefusedCreation = (u16, MockBody, u64, u16, String);

/// Saves `config` once per case on a fresh server, the carrier answering POST
/// `route` as the case says: each save is refused as expected within the
/// deadline and stores nothing. Returns each detail and what the carrier received.
pub async fn refused_creations(
    config: &Value,
    route: &'static str,
    cases: Vec<RefusedCreation>,
) -> Vec<(String, Vec<Request>)> {
    let mut seen = Vec::new();
    for (status, body, delay, expected_status, expected) in cases {
        let (app, carrier) = spawn_app_with_carrier().await;
        carrier.answer_each(vec![("POST", route, status, body, delay)]).await;
        let started = std::time::Instant::now();
        let detail = app.refused_config(config.clone(), expected_status).await;
        assert!(detail.starts_with(&expected), "{detail} vs {expected}");
        assert!(started.elapsed() < Duration::from_millis(SYNC_TIMEOUT_MS + 800));
        seen.push((detail, carrier.requests().await));
    }
    seen
}

/// Saving `config` while every carrier refuses connections: refused with 502,
/// nothing stored. Returns the detail.
pub async fn refused_while_unreachable(config: Value) -> String {
    spawn_app().await.refused_config(config, 502).await
}

/// Creates `address` bound to a workflow under `config` while every carrier
/// refuses connections (ownership checks off): the row is stored anyway.
/// Returns the failed push's message.
pub async fn bind_while_unreachable(config: Value, address: &str) -> String {
    let app = spawn_app_with(|c| c.sync.verify_ownership = false).await;
    let cfg = app.create_config("Unreachable", config).await["id"].clone();
    let workflow = app.create_workflow("W").await;
    let body = serde_json::json!({"address": address, "inbound_workflow_id": workflow["id"]});
    let created = app.create_number(&cfg, body).await;
    assert_eq!(created["inbound_workflow_id"], workflow["id"]);
    assert_eq!(created["provider_sync"]["ok"], false, "{created}");
    created["provider_sync"]["message"].as_str().unwrap().to_string()
}

/// `secret` is in no URL or body of the recorded requests (headers may carry it).
pub fn assert_not_sent(requests: &[Request], secret: &str) {
    for request in requests {
        let body = String::from_utf8_lossy(&request.body);
        assert!(
            !request.url.as_str().contains(secret) && !body.contains(secret),
            "{secret:?} sent in {} {} {body}",
            request.method,
            request.url
        );
    }
}

/// One configured answer of the mock carrier: verb, path regex, status, body,
/// delay in ms.
pub type Answer = (&'static str, &'static str, u16, MockBody, u64);

impl MockCarrier {
    pub async fn answer_each(&self, answers: Vec<Answer>) {
        for (verb, path, status, body, delay) in answers {
            self.answer(verb, path, status, body, Duration::from_millis(delay))
                .await;
        }
    }
}

/// A configuration of one carrier on the mock carrier, and a workflow to bind
/// numbers to: what each carrier's tests start from.
pub struct CarrierSetup {
    pub app: TestApp,
    pub carrier: MockCarrier,
    pub cfg: Value,
    pub workflow: Value,
    /// The configuration's raw secrets: no answer of ours may show them.
    secrets: Vec<String>,
}

impl CarrierSetup {
    /// Saves `config`, which names its application, so saving asks the carrier nothing.
    pub async fn start(config: Value, secrets: &[&str]) -> CarrierSetup {
        let (app, carrier) = spawn_app_with_carrier().await;
        let cfg = app.create_config("Carrier", config).await["id"].clone();
        assert!(
            carrier.requests().await.is_empty(),
            "a given application is not created"
        );
        let workflow = app.create_workflow("Support").await;
        let secrets = secrets.iter().map(|s| s.to_string()).collect();
        CarrierSetup {
            app,
            carrier,
            cfg,
            workflow,
            secrets,
        }
    }

    fn assert_hidden(&self, answer: &Value) {
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        assert_no_secret(&answer.to_string(), &secrets);
    }

    /// Creates a number; returns it and its path.
    pub async fn number(&self, body: Value) -> (Value, String) {
        let number = self.app.create_number(&self.cfg, body).await;
        self.assert_hidden(&number);
        let path = format!("{}/{}", numbers_path(&self.cfg), number["id"]);
        (number, path)
    }

    /// A number at `address` without a workflow; returns its path.
    pub async fn unbound_number(&self, address: &str) -> String {
        self.number(json!({ "address": address })).await.1
    }

    /// Creates `address` bound to the workflow; returns its path.
    pub async fn bound_number(&self, address: &str) -> String {
        self.number(json!({"address": address, "inbound_workflow_id": self.workflow["id"]}))
            .await
            .1
    }

    /// Creating `address` with the ownership check answering `status`.
    pub async fn claim(&self, address: &str, status: u16) -> Value {
        let body = json!({ "address": address });
        let answer = self
            .app
            .call(Method::POST, &numbers_path(&self.cfg), Some(body), status)
            .await;
        self.assert_hidden(&answer);
        answer
    }

    /// Creating a number at `address` is refused with `status`, and nothing is stored.
    pub async fn refused_number(&self, address: &str, status: u16) -> Value {
        let answer = self.claim(address, status).await;
        let list = self.app.call(Method::GET, &numbers_path(&self.cfg), None, 200).await;
        assert_eq!(list["phone_numbers"], json!([]), "nothing is stored");
        answer
    }

    pub async fn put(&self, path: &str, body: Value) -> Value {
        let answer = self.app.call(Method::PUT, path, Some(body), 200).await;
        self.assert_hidden(&answer);
        answer
    }

    /// Binds the number at `path` to the workflow.
    pub async fn bind(&self, path: &str) -> Value {
        self.put(path, json!({"inbound_workflow_id": self.workflow["id"]}))
            .await
    }

    /// Unbinds the number at `path`; returns the answer.
    pub async fn unbind(&self, path: &str) -> Value {
        self.put(path, json!({"clear_inbound_workflow": true})).await
    }

    /// Binds a new unbound `address` once the carrier answers only as `answers`
    /// say; asserts the row changed whatever the carrier did and returns the
    /// answer and how long the bind took.
    pub async fn bind_with(&self, address: &str, answers: Vec<Answer>) -> (Value, Duration) {
        let path = self.unbound_number(address).await;
        self.carrier.server.reset().await;
        self.carrier.answer_each(answers).await;
        let started = Instant::now();
        let updated = self.bind(&path).await;
        assert_eq!(
            updated["inbound_workflow_id"], self.workflow["id"],
            "the row changes anyway"
        );
        (updated, started.elapsed())
    }

    /// Binds a new number at `address` on a fake `carrier`, checks that the
    /// answer is honest about where the carrier now routes it, and returns
    /// the answer and the requests the bind made.
    pub async fn honest_bind(&self, carrier: &impl RoutesCalls, address: &str) -> (Value, Vec<Request>) {
        let path = self.unbound_number(address).await;
        let before = self.request_count().await;
        let bound = self.bind(&path).await;
        assert_honest(&bound, carrier, address);
        (bound, self.requests_after(before).await)
    }

    /// Binds a new number at `address` successfully and returns the requests
    /// the bind made.
    pub async fn requests_of_a_bind(&self, address: &str) -> Vec<Request> {
        let path = self.unbound_number(address).await;
        let before = self.request_count().await;
        let bound = self.bind(&path).await;
        assert_eq!(bound["provider_sync"], json!({"ok": true, "message": null}));
        assert_eq!(bound["last_provider_sync"]["attached"], true);
        self.requests_after(before).await
    }

    /// Binds the number at `path` while the carrier fails, and returns the
    /// push's message: the push fails within the deadline, and the row keeps
    /// its new workflow and the recorded failure.
    pub async fn failed_bind(&self, path: &str) -> String {
        let started = Instant::now();
        let bound = self.bind(path).await;
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_millis(SYNC_TIMEOUT_MS + 800),
            "answered in {elapsed:?}"
        );
        assert_eq!(bound["inbound_workflow_id"], self.workflow["id"], "the row changed");
        assert_eq!(bound["provider_sync"]["ok"], false, "{bound}");
        let read = self.app.call(Method::GET, path, None, 200).await;
        assert_eq!(read["last_provider_sync"], bound["last_provider_sync"]);
        bound["provider_sync"]["message"].as_str().unwrap().to_string()
    }

    /// For carriers that bind one URL for the whole application: clearing the
    /// workflow of a bound number at `address`, and deleting it, reach no
    /// carrier and answer ok with `message`.
    pub async fn assert_unbinding_is_a_no_op(&self, address: &str, message: &str) {
        let expected = json!({"ok": true, "message": message});
        let path = self.unbound_number(address).await;
        self.bind(&path).await;
        let before = self.request_count().await;
        let cleared = self.unbind(&path).await;
        assert_eq!(cleared["provider_sync"], expected);
        assert_eq!(cleared["last_provider_sync"]["attached"], false);
        assert_eq!(self.request_count().await, before, "clearing reached the carrier");

        self.bind(&path).await;
        let before = self.request_count().await;
        let deleted = self.app.call(Method::DELETE, &path, None, 200).await;
        assert_eq!(
            deleted,
            json!({"message": "Phone number deleted", "provider_sync": expected})
        );
        assert_eq!(self.request_count().await, before, "deleting reached the carrier");
    }

    pub async fn request_count(&self) -> usize {
        self.carrier.requests().await.len()
    }

    /// Requests the carrier received after the first `skip`.
    pub async fn requests_after(&self, skip: usize) -> Vec<Request> {
        self.carrier.requests().await.into_iter().skip(skip).collect()
    }
}

/// The JSON body of a recorded request.
pub fn json_body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).expect("a JSON body")
}

/// The decoded query of a recorded request, in order.
pub fn query(request: &Request) -> Vec<(String, String)> {
    request.url.query_pairs().into_owned().collect()
}

/// Verb and (still percent-encoded) path of each recorded request.
pub fn calls(requests: &[Request]) -> Vec<(String, String)> {
    requests
        .iter()
        .map(|r| (r.method.to_string(), r.url.path().to_string()))
        .collect()
}

/// Asserts each header `(name, value)` of a recorded request.
pub fn assert_headers(request: &Request, headers: &[(&str, &str)]) {
    for (name, value) in headers {
        assert_eq!(
            request.headers.get(*name).map(|v| v.to_str().unwrap()),
            Some(*value),
            "{name} of {}",
            request.url
        );
    }
}

/// Asserts that no raw secret appears in `text` (a response of ours, or a
/// request we sent where the carrier does not need it).
pub fn assert_no_secret(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{secret:?} appears in: {text}");
    }
}

/// With every carrier refusing connections: the detail of the 502 that
/// refuses a number at `address` under `config`, and (ownership checks off)
/// the message of the failed push when such a number is created bound,
/// which is stored anyway.
pub async fn unreachable_carrier_messages(config: Value, address: &str) -> (String, String) {
    let app = spawn_app().await;
    let cfg = app.create_config("Unreachable", config.clone()).await["id"].clone();
    let refused = app
        .call(
            Method::POST,
            &numbers_path(&cfg),
            Some(json!({ "address": address })),
            502,
        )
        .await;
    let detail = refused["detail"].as_str().unwrap().to_string();
    (detail, bind_while_unreachable(config, address).await)
}

/// The webhook every bind points carriers at, under the tests' public URL.
pub const WEBHOOK: &str = "http://telebind.test/api/v1/telephony/inbound/run";

/// A stateful fake of a carrier (each carrier's test file has one): where it
/// would send a call to a number right now, worked out as that carrier
/// documents its routing.
pub trait RoutesCalls {
    fn inbound_url(&self, e164: &str) -> Option<String>;
}

/// The invariant of every bind: the push (`provider_sync`, or an answer that
/// carries it) says ok exactly when the carrier now sends `e164`'s calls to
/// telebind.
pub fn assert_honest(sync: &Value, carrier: &impl RoutesCalls, e164: &str) {
    let sync = sync.get("provider_sync").unwrap_or(sync);
    let routed = carrier.inbound_url(e164);
    assert_eq!(
        sync["ok"] == true,
        routed.as_deref() == Some(WEBHOOK),
        "{sync} while the carrier routes {e164} to {routed:?}"
    );
}

/// Every way a carrier, a proxy or a log could write `secret` that the
/// scans look for: raw, JSON-escaped, percent-encoded (either case), base64
/// (standard and URL-safe) alone or as `user:secret` with each of `users`,
/// and the part of its base64 that is the same wherever it sits inside a
/// longer base64 text. Written apart from telebind's scrubber, so the scans
/// do not trust what they check.
pub fn secret_forms(secret: &str, users: &[&str]) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine;
    let json = serde_json::to_string(secret).unwrap();
    let mut forms = vec![secret.to_string(), json[1..json.len() - 1].to_string()];
    let percent = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC).to_string();
    forms.push(percent.to_lowercase());
    forms.push(percent);
    let mut plain = vec![secret.to_string()];
    plain.extend(users.iter().map(|u| format!("{u}:{secret}")));
    for text in plain {
        forms.push(STANDARD.encode(&text));
        forms.push(URL_SAFE_NO_PAD.encode(&text));
    }
    // Whole base64 quanta of the secret after 0, 1 or 2 bytes of something else.
    for offset in 0..3usize {
        let mut bytes = vec![b'x'; offset];
        bytes.extend_from_slice(secret.as_bytes());
        let encoded = STANDARD.encode(&bytes);
        let (first, last) = (offset.div_ceil(3), bytes.len() / 3);
        if last > first + 1 {
            forms.push(encoded[4 * first..4 * last].to_string());
        }
    }
    forms
}

/// Asserts that no form of any of `secrets` (`secret_forms`) is in `text`.
pub fn assert_no_secret_form(text: &str, secrets: &[&str], users: &[&str], what: &str) {
    for secret in secrets {
        for form in secret_forms(secret, users) {
            if let Some(at) = text.find(&form) {
                let start = text.floor_char_boundary(at.saturating_sub(200));
                let end = text.ceil_char_boundary((at + form.len() + 200).min(text.len()));
                let around = &text[start..end];
                panic!("{what}: {secret:?} appears as {form:?} in …{around}…");
            }
        }
    }
}

/// `telebind serve` as a process of its own on `db`, on a free loopback port.
pub struct Served {
    pub child: std::process::Child,
    pub address: String,
    /// The key printed on the first start of an empty database.
    keys: std::sync::mpsc::Receiver<String>,
    stderr: Arc<std::sync::Mutex<String>>,
}

impl Served {
    /// Starts the binary and waits until it listens (its start-up block says where).
    pub fn start(db: &Path, env: &[(&str, &str)]) -> Served {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_telebind"))
            .arg("serve")
            .env("TELEBIND_DATABASE__PATH", db)
            .env("TELEBIND_SERVER__BIND", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .current_dir(db.parent().unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the telebind binary runs");
        let (found, listening) = std::sync::mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (key, keys) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Some(k) = line.trim().strip_prefix("API key: ") {
                    let _ = key.send(k.to_string());
                }
            }
        });
        let stderr = Arc::new(std::sync::Mutex::new(String::new()));
        let seen = stderr.clone();
        let lines = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                if let Some((_, rest)) = line.split_once("listening on http://") {
                    let _ = found.send(rest.split_whitespace().next().unwrap().to_string());
                }
                seen.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let address = match listening.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => format!("http://{addr}"),
            Err(_) => {
                let _ = child.kill();
                panic!("telebind did not start: {}", stderr.lock().unwrap());
            }
        };
        Served {
            child,
            address,
            keys,
            stderr,
        }
    }

    /// The key the first start of an empty database prints.
    pub fn bootstrap_key(&self) -> String {
        self.keys
            .recv_timeout(Duration::from_secs(10))
            .expect("a bootstrap key")
    }

    /// SIGKILL: no shutdown of any kind. Returns what it logged.
    pub fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let log = self.stderr.lock().unwrap().clone();
        log
    }
}

/// A test that fails half-way leaves no server running.
impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
