//! The real server on a filesystem that fills up under concurrent writes:
//! every answer matches what is stored, and the server recovers by itself
//! once space returns.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::helpers::{numbers_path, CONFIGS};

/// Full after a few dozen writes of `BLOB_BYTES`.
const TMPFS_SIZE: &str = "24m";
/// Taken from the tmpfs before the server starts and given back on cue.
const FILLER_BYTES: u32 = 4 << 20;
const WRITERS: usize = 16;
/// Each writer stops after this many refused writes, or after `MAX_WRITES`.
const REFUSALS_PER_WRITER: usize = 2;
const MAX_WRITES: usize = 150;
/// A batch of a few such writes outgrows SQLite's page cache (2 MiB) and
/// spills into the WAL before its commit: on a full disk a write then fails
/// in the middle of a batch, and SQLite rolls the whole transaction back.
const BLOB_BYTES: usize = 1 << 20;
/// Bounds every request: a write that gets no answer fails the test.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs in a new user and mount namespace, so an unprivileged test can mount
/// a tmpfs: the database lives there, and the server runs beside it.
/// Prints the server's pid and the bootstrap key it printed; gives the filler back when
/// `$DIR/return-space` appears, then says so with `$DIR/space-returned`;
/// after the server exits, copies the database out of the tmpfs, which
/// vanishes with the namespace.
const SCRIPT: &str = r#"
set -e
mount -t tmpfs -o size="$TMPFS_SIZE" tmpfs "$DIR/fs"
head -c "$FILLER_BYTES" /dev/zero > "$DIR/fs/filler"
"$TELEBIND" serve > "$DIR/server.out" 2> "$DIR/server.log" &
server=$!
echo "$server"
until grep -q "API key:" "$DIR/server.out"; do sleep 0.01; done
sed -n 's/^ *API key: //p' "$DIR/server.out"
until [ -e "$DIR/return-space" ]; do sleep 0.01; done
rm "$DIR/fs/filler"
touch "$DIR/space-returned"
wait "$server"
cp "$DIR/fs"/telebind.db* "$DIR/out/"
"#;

/// The script and its server; killed if the test fails half-way.
struct Server {
    script: Child,
    pid: String,
    dir: TempDir,
}

impl Server {
    fn start(port: u16) -> (Server, String) {
        let unshare = Command::new("unshare").args(["-r", "-m", "true"]).output();
        assert!(
            unshare.as_ref().is_ok_and(|o| o.status.success()),
            "this test needs `unshare -r -m` (user and mount namespaces) to mount a small tmpfs \
             without root; it is unavailable here: {unshare:?}"
        );
        let dir = TempDir::new().unwrap();
        std::fs::create_dir(dir.path().join("fs")).unwrap();
        std::fs::create_dir(dir.path().join("out")).unwrap();
        let mut script = Command::new("unshare")
            .args(["-r", "-m", "sh", "-c", SCRIPT])
            .env("DIR", dir.path())
            .env("TMPFS_SIZE", TMPFS_SIZE)
            .env("FILLER_BYTES", FILLER_BYTES.to_string())
            .env("TELEBIND", env!("CARGO_BIN_EXE_telebind"))
            .env("TELEBIND_DATABASE__PATH", dir.path().join("fs/telebind.db"))
            .env("TELEBIND_SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("TELEBIND_SERVER__MAX_BODY_BYTES", (2 * BLOB_BYTES).to_string())
            .env("RUST_LOG", "warn")
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare runs");
        let mut lines = BufReader::new(script.stdout.take().unwrap()).lines();
        let mut line = || lines.next().and_then(Result::ok).unwrap_or_default();
        let (pid, key) = (line(), line());
        let server = Server { script, pid, dir };
        assert!(key.starts_with("tb_"), "no key printed: {key:?}; {}", server.log());
        (server, key)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("server.log")).unwrap_or_default()
    }

    async fn return_space(&self) {
        std::fs::write(self.path("return-space"), "").unwrap();
        wait_for("the filler to be removed", || self.path("space-returned").exists()).await;
    }

    /// Stops the server with SIGTERM; the stored numbers, read from the file
    /// it leaves after a clean exit.
    async fn stop(mut self) -> HashSet<String> {
        let killed = Command::new("kill").args(["-TERM", &self.pid]).status().unwrap();
        assert!(killed.success());
        let mut status = None;
        wait_for("the server to exit", || {
            status = self.script.try_wait().unwrap();
            status.is_some()
        })
        .await;
        assert!(status.unwrap().success(), "{:?}: {}", status, self.log());
        stored_numbers(&self.path("out/telebind.db"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.script.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill").args(["-KILL", &self.pid]).status();
            let _ = self.script.kill();
            let _ = self.script.wait();
        }
        // Shown only when the test fails.
        eprintln!("server log:\n{}", self.log());
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn stored_numbers(db: &Path) -> HashSet<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut query = conn.prepare("SELECT address_normalized FROM phone_numbers").unwrap();
    let rows = query.query_map([], |r| r.get(0)).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
}

struct Api {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    /// POSTs `body`; panics unless `what` is answered with JSON within
    /// `REQUEST_TIMEOUT`.
    async fn post(&self, what: &str, path: &str, body: Value) -> Answer {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("X-API-Key", &self.key)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: no answer: {e:?}"));
        let status = response.status();
        let retry_after = response
            .headers()
            .get("Retry-After")
            .map(|v| v.to_str().unwrap().to_string());
        let text = response.text().await.unwrap_or_else(|e| panic!("{what}: no body: {e}"));
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {status}, not JSON ({e}): {text}"));
        Answer {
            status,
            retry_after,
            body,
        }
    }

    /// A number at `address` with a metadata blob that fills the disk quickly.
    async fn create_number(&self, config: &Value, address: &str) -> Answer {
        let body = json!({"address": address, "extra_metadata": {"blob": "x".repeat(BLOB_BYTES)}});
        self.post(address, &numbers_path(config), body).await
    }
}

/// Each writer posts new numbers until it has seen `REFUSALS_PER_WRITER`
/// refusals; returns every address with the status it was answered.
async fn fill(api: &Api, config: &Value) -> Vec<(String, StatusCode)> {
    let writer = |w: usize| async move {
        let mut answers = Vec::new();
        let mut refused = 0;
        for i in 0..MAX_WRITES {
            let address = format!("+1415555{:04}", w * MAX_WRITES + i);
            let answer = api.create_number(config, &address).await;
            let (status, body) = (answer.status, &answer.body);
            if status != StatusCode::OK {
                // Refused for lack of space: nothing stored, retry later.
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{address}: {body}");
                assert_eq!(answer.retry_after.as_deref(), Some("1"), "{address}");
                assert!(body["detail"].is_string(), "{address}: {body}");
                refused += 1;
            }
            answers.push((address, status));
            if refused == REFUSALS_PER_WRITER {
                break;
            }
        }
        answers
    };
    futures_util::future::join_all((0..WRITERS).map(writer)).await.concat()
}

#[tokio::test]
async fn a_full_disk_refuses_writes_that_are_not_stored_and_the_server_recovers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (server, key) = Server::start(port);
    let api = Api {
        // A connection per request: actix closes a kept-alive connection whose
        // idle timer ran out while its workers were busy parsing megabyte
        // bodies, and the next request on it would fail half-sent.
        client: reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(0)
            .build()
            .unwrap(),
        base: format!("http://127.0.0.1:{port}"),
        key,
    };
    wait_for("the server to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
    let ari = json!({"provider": "ari", "ari_endpoint": "http://pbx.example:8088",
                     "app_name": "telebind", "app_password": "pw"});
    let created = api
        .post("the configuration", CONFIGS, json!({"name": "PBX", "config": ari}))
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let config = created.body["id"].clone();

    let answers = fill(&api, &config).await;
    let mut statuses = BTreeMap::new();
    for (_, status) in &answers {
        *statuses.entry(status.as_u16()).or_insert(0) += 1;
    }
    eprintln!("answers by status: {statuses:?}");
    assert!(
        answers.iter().filter(|(_, s)| *s != StatusCode::OK).count() >= WRITERS * REFUSALS_PER_WRITER,
        "the disk never filled: {statuses:?}"
    );

    server.return_space().await;
    let again = api.create_number(&config, "+14155559999").await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "a write once space is back: {}",
        again.body
    );

    let stored = server.stop().await;
    for (address, status) in &answers {
        assert_eq!(
            stored.contains(address),
            *status == StatusCode::OK,
            "{address} answered {status}"
        );
    }
    assert!(stored.contains("+14155559999"));
}
