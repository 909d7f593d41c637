//! SIGKILL under load (README, "Durability"): `telebind serve` is killed,
//! with no shutdown of any kind, while clients create workflows, update
//! labels and metadata, and switch defaults, CRASH_CYCLES times. After each
//! kill the file passes `integrity_check`, every write answered 2xx is in
//! it, and each scope has one default.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::Served;

const CRASH_CYCLES: usize = 20;
/// How long the clients write before each kill.
const LOAD: Duration = Duration::from_millis(400);
const CREATORS: usize = 4;
const LABELLERS: usize = 3;

/// What the clients were told was stored.
#[derive(Default)]
struct Acknowledged {
    /// Workflow id → name.
    workflows: HashMap<i64, String>,
    /// Number path → (last acknowledged label sequence, the one in flight).
    labels: HashMap<i64, (u64, u64)>,
    /// The default configuration last acknowledged, and the one asked for since.
    default_outbound: Switch,
    /// Per configuration, its default caller as `default_outbound`.
    default_caller: HashMap<i64, Switch>,
}

/// A default being switched: the last acknowledged, and the one in flight.
#[derive(Debug, Default, Clone, Copy)]
struct Switch {
    done: Option<i64>,
    asked: Option<i64>,
}

impl Switch {
    /// The default found after a kill is the last acknowledged or the one in
    /// flight; none only when none was ever acknowledged.
    fn check(&self, found: &[i64], what: &str) {
        let allowed = [self.done, self.asked];
        match found {
            [] => assert!(self.done.is_none(), "{what}: no default, {self:?} acknowledged"),
            [one] => assert!(allowed.contains(&Some(*one)), "{what}: default {one}, {self:?}"),
            more => panic!("{what}: {} defaults {more:?}", more.len()),
        }
    }
}

struct Client {
    http: reqwest::Client,
    address: String,
    key: String,
}

impl Client {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Option<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.address))
            .header("X-API-Key", &self.key)
            .timeout(Duration::from_secs(10));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }
}

/// A configuration (ARI: nothing to push) with two numbers, per labeller
/// and for the default switches.
async fn setup(client: &Client) -> Vec<(i64, [i64; 2])> {
    let mut made = Vec::new();
    for i in 0..=LABELLERS {
        let config = json!({"provider": "ari", "ari_endpoint": "http://pbx.example", "app_name": format!("a{i}"),
                            "app_password": "pw"});
        let cfg = client
            .send(
                reqwest::Method::POST,
                "/api/v1/organizations/telephony-configs",
                Some(json!({"name": format!("c{i}"), "config": config})),
            )
            .await
            .expect("setup config")["id"]
            .as_i64()
            .unwrap();
        let mut numbers = [0; 2];
        for (n, slot) in numbers.iter_mut().enumerate() {
            let path = format!("/api/v1/organizations/telephony-configs/{cfg}/phone-numbers");
            let body = json!({"address": format!("{}", 1000 + i * 10 + n)});
            *slot = client
                .send(reqwest::Method::POST, &path, Some(body))
                .await
                .expect("setup number")["id"]
                .as_i64()
                .unwrap();
        }
        made.push((cfg, numbers));
    }
    made
}

/// Writes until `until`, recording what was acknowledged.
async fn load(
    client: Arc<Client>,
    made: Vec<(i64, [i64; 2])>,
    acked: Arc<Mutex<Acknowledged>>,
    cycle: usize,
    until: Instant,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for creator in 0..CREATORS {
        let (client, acked) = (client.clone(), acked.clone());
        tasks.spawn(async move {
            let mut n = 0;
            while Instant::now() < until {
                let name = format!("wf {cycle}.{creator}.{n}");
                n += 1;
                let body = json!({ "name": name });
                match client
                    .send(reqwest::Method::POST, "/api/v1/workflows", Some(body))
                    .await
                {
                    Some(created) => {
                        acked
                            .lock()
                            .unwrap()
                            .workflows
                            .insert(created["id"].as_i64().unwrap(), name);
                    }
                    None => return,
                }
            }
        });
    }
    for &(cfg, numbers) in made.iter().take(LABELLERS) {
        let (client, acked) = (client.clone(), acked.clone());
        tasks.spawn(async move {
            let number = numbers[0];
            let path = format!("/api/v1/organizations/telephony-configs/{cfg}/phone-numbers/{number}");
            while Instant::now() < until {
                let seq = {
                    let mut acked = acked.lock().unwrap();
                    let entry = acked.labels.entry(number).or_default();
                    entry.1 = entry.0 + 1;
                    entry.1
                };
                let body = json!({"label": format!("L{seq}"), "extra_metadata": {"seq": seq}});
                if client.send(reqwest::Method::PUT, &path, Some(body)).await.is_some() {
                    acked.lock().unwrap().labels.get_mut(&number).unwrap().0 = seq;
                } else {
                    return;
                }
            }
        });
    }
    {
        let (client, acked) = (client.clone(), acked.clone());
        tasks.spawn(async move {
            let mut turn = 0usize;
            while Instant::now() < until {
                let (cfg, numbers) = made[turn % made.len()];
                let number = numbers[turn % 2];
                turn += 1;
                acked.lock().unwrap().default_outbound.asked = Some(cfg);
                let path = format!("/api/v1/organizations/telephony-configs/{cfg}/set-default-outbound");
                if client.send(reqwest::Method::POST, &path, None).await.is_none() {
                    return;
                }
                acked.lock().unwrap().default_outbound.done = Some(cfg);
                acked.lock().unwrap().default_caller.entry(cfg).or_default().asked = Some(number);
                let path =
                    format!("/api/v1/organizations/telephony-configs/{cfg}/phone-numbers/{number}/set-default-caller");
                if client.send(reqwest::Method::POST, &path, None).await.is_none() {
                    return;
                }
                acked.lock().unwrap().default_caller.entry(cfg).or_default().done = Some(number);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Every acknowledged write is in the file at `db`, which is whole.
fn verify(db: &Path, acked: &Acknowledged, cycle: usize) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok", "cycle {cycle}");
    let stored: HashMap<i64, String> = conn
        .prepare("SELECT id, name FROM workflows")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (id, name) in &acked.workflows {
        assert_eq!(
            stored.get(id),
            Some(name),
            "cycle {cycle}: acknowledged workflow {id} lost"
        );
    }
    for (number, (done, in_flight)) in &acked.labels {
        let (label, seq): (Option<String>, String) = conn
            .query_row(
                "SELECT label, json_extract(extra_metadata, '$.seq') FROM phone_numbers WHERE id = ?1",
                [number],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get::<_, Option<i64>>(1)?.map_or(String::new(), |s| s.to_string()),
                    ))
                },
            )
            .unwrap();
        let allowed = [done, in_flight].map(|s| (Some(format!("L{s}")), s.to_string()));
        assert!(
            *done == 0 || allowed.contains(&(label.clone(), seq.clone())),
            "cycle {cycle}: number {number} has {label:?}/{seq}, acknowledged L{done} (L{in_flight} in flight)"
        );
    }
    let defaults: Vec<i64> = conn
        .prepare("SELECT id FROM telephony_configurations WHERE is_default_outbound")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    acked
        .default_outbound
        .check(&defaults, &format!("cycle {cycle}: default outbound"));
    for (cfg, switch) in &acked.default_caller {
        let callers: Vec<i64> = conn
            .prepare("SELECT id FROM phone_numbers WHERE config_id = ?1 AND is_default_caller_id")
            .unwrap()
            .query_map([cfg], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        switch.check(
            &callers,
            &format!("cycle {cycle}: default caller of configuration {cfg}"),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_sigkill_under_load() {
    let dir = tempfile::TempDir::new().unwrap();
    let db = dir.path().join("telebind.db");
    let first = Served::start(&db, &[]);
    let key = first.bootstrap_key();
    let client = Client {
        http: reqwest::Client::new(),
        address: first.address.clone(),
        key: key.clone(),
    };
    let made = setup(&client).await;
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let mut served = first;
    let started = Instant::now();
    for cycle in 0..CRASH_CYCLES {
        let client = Arc::new(Client {
            http: reqwest::Client::new(),
            address: served.address.clone(),
            key: key.clone(),
        });
        let until = Instant::now() + LOAD;
        let writes = tokio::spawn(load(client, made.clone(), acked.clone(), cycle, until + LOAD));
        tokio::time::sleep_until(until.into()).await;
        // Killed while the clients are still writing.
        served.kill();
        writes.await.unwrap();
        verify(&db, &acked.lock().unwrap(), cycle);
        served = Served::start(&db, &[]);
    }
    served.kill();
    let acked = acked.lock().unwrap();
    let label_updates: u64 = acked.labels.values().map(|(done, _)| done).sum();
    eprintln!(
        "crash test: {CRASH_CYCLES} SIGKILL cycles in {:?}: {} acknowledged creates, {label_updates} label updates, none lost",
        started.elapsed(),
        acked.workflows.len()
    );
    assert!(acked.workflows.len() > CRASH_CYCLES * 10, "the load was real");
}
