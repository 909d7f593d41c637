//! Helpers of `bench/run` (not part of the product), built as a second binary
//! so they compile against the library they measure:
//!
//! - `seed DB OUTDIR`: a database with 3 orgs, 50 workflows, 20 configurations
//!   and 10,000 numbers, written through `telebind::db` in one transaction;
//!   writes the keys and the target lists the wrk scripts read into OUTDIR,
//!   and one forged Vonage start (a token of a seeded account, signed with
//!   the wrong secret) in OUTDIR/forged_vonage.txt.
//! - `commit-rate DB SECONDS`: single-row UPDATE commits in a tight loop with
//!   WAL and synchronous=FULL: the durable-write ceiling of the disk.
//! - `mock-carrier ADDR DELAY_MS`: Twilio's number lookup and update, and
//!   Telnyx's Call Control commands, each answered after DELAY_MS; accounts
//!   whose sid contains `hang` never answer.
//! - `inbound-requests DIR BASE_URL COUNT FILE`: COUNT Twilio start requests
//!   for random bound, active numbers of the bind configuration (from
//!   DIR/inbound_numbers.txt), each with its own CallSid, signed over
//!   BASE_URL's webhook: `signature<TAB>body` lines in DIR/FILE.
//! - `telnyx-requests DIR COUNT FILE`: COUNT Telnyx `call.initiated` events
//!   for random bound, active numbers of the seeded Telnyx configurations
//!   (DIR/telnyx_numbers.txt), each with its own call_control_id, signed
//!   with the seeded public key's Ed25519 key and timestamped now:
//!   `timestamp<TAB>signature<TAB>body` lines in DIR/FILE.
//! - `calls DB [PROVIDER]`: how many calls the call log holds, and how many
//!   were routed (of one provider when given).
//! - `start LOG -- CMD…`: starts CMD (stdout and stderr to LOG), waits for its
//!   first answered `GET /healthz` on the address in `TELEBIND_SERVER__BIND`,
//!   prints `PID MILLISECONDS`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use rusqlite::{Connection, TransactionBehavior};
use serde_json::{json, Map, Value};
use telebind::config::Config;
use telebind::db::{self, phone_numbers::NewRow};
use telebind::domain::address::AddressType;
use telebind::domain::credentials::Credentials;
use telebind::domain::ids::WorkflowId;
use telebind::domain::phone_number::LastSync;

/// The auth token of every seeded Twilio configuration.
const TWILIO_TOKEN: &str = "tok-0123456789-bench-secret";
/// Account of the configuration whose numbers the bind scenario pushes.
const BIND_ACCOUNT: &str = "ACbench0000000000000000000000000001";
/// Account whose carrier calls never get an answer (the isolation scenario).
const HANG_ACCOUNT: &str = "AChang00000000000000000000000000001";
/// Seed of the Ed25519 key whose public half every seeded Telnyx
/// configuration verifies with.
const TELNYX_SEED: [u8; 32] = [42; 32];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["seed", db_path, out] => seed(Path::new(db_path), Path::new(out)),
        ["commit-rate", db_path, seconds] => commit_rate(Path::new(db_path), seconds.parse().expect("seconds")),
        ["mock-carrier", addr, delay] => mock_carrier(addr, delay.parse().expect("delay ms")),
        ["inbound-requests", dir, base, count, file] => {
            inbound_requests(Path::new(dir), base, count.parse().expect("count"), file)
        }
        ["telnyx-requests", dir, count, file] => telnyx_requests(Path::new(dir), count.parse().expect("count"), file),
        ["calls", db_path] => calls(Path::new(db_path), None),
        ["calls", db_path, provider] => calls(Path::new(db_path), Some(provider)),
        ["start", log, "--", cmd @ ..] => start(log, cmd),
        _ => {
            eprintln!(
                "usage: bench seed DB OUTDIR | commit-rate DB SECONDS | mock-carrier ADDR DELAY_MS | \
                 inbound-requests DIR BASE_URL COUNT FILE | telnyx-requests DIR COUNT FILE | calls DB [PROVIDER] | \
                 start LOG -- CMD…"
            );
            std::process::exit(2);
        }
    }
}

fn twilio(account: &str) -> Credentials {
    creds(json!({"provider": "twilio", "account_sid": account,
        "auth_token": TWILIO_TOKEN, "amd_enabled": false}))
}

fn creds(value: Value) -> Credentials {
    Credentials::from_stored(&value).expect("valid credentials")
}

fn telnyx_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&TELNYX_SEED)
}

/// The credentials of the `n`th configuration that is neither the bind nor the hang one.
fn other_credentials(org: usize, n: usize) -> Credentials {
    use base64::Engine;
    let public_key = base64::engine::general_purpose::STANDARD.encode(telnyx_key().verifying_key().as_bytes());
    match n % 5 {
        0 => twilio(&format!("AC{org:02}{n:030}")),
        1 => creds(
            json!({"provider": "ari", "ari_endpoint": "http://pbx.example:8088", "app_name": format!("app{n}"),
            "app_password": "pw-bench-secret", "ws_client_name": ""}),
        ),
        2 => creds(
            json!({"provider": "plivo", "auth_id": format!("MA{org}{n:018}"), "auth_token": "plivo-bench-token",
            "application_id": "app-1"}),
        ),
        3 => creds(
            json!({"provider": "telnyx", "api_key": "KEYbench0123456789", "connection_id": format!("conn-{org}-{n}"),
            "webhook_public_key": public_key}),
        ),
        _ => creds(json!({"provider": "vonage", "application_id": format!("app-{org}-{n}"),
            "private_key": "-----BEGIN PRIVATE KEY-----\nbench\n-----END PRIVATE KEY-----",
            "api_key": format!("vbench{org}{n:02}"), "api_secret": "vonage-bench-secret",
            "signature_secret": "vonage-bench-signature-secret"})),
    }
}

struct SeedConfig {
    org: usize,
    name: String,
    credentials: Credentials,
    numbers: usize,
    role: &'static str,
}

fn seed(db_path: &Path, out: &Path) {
    let started = Instant::now();
    // The key file is made beside the database, where the server finds it.
    let mut config = Config::default();
    config.database.path = db_path.to_path_buf();
    let pool = db::open(&config).expect("database opens");
    let mut conn = pool.get().expect("a connection");
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .expect("transaction");

    // 3 orgs; 50 workflows (20/15/15); 20 configurations (8/6/6); 10,000 numbers.
    let org_names = ["acme", "globex", "initech"];
    let mut orgs = Vec::new();
    let mut keys = Vec::new();
    for name in org_names {
        let org = db::orgs::insert(&tx, name).expect("org");
        let (_, key) = telebind::auth::issue_key(&tx, org.id, "bench").expect("key");
        orgs.push(org.id);
        keys.push(key);
    }
    let mut workflows: Vec<Vec<WorkflowId>> = vec![Vec::new(); 3];
    for (i, count) in [20, 15, 15].into_iter().enumerate() {
        for w in 0..count {
            let wf = db::workflows::insert(&tx, orgs[i], &format!("{} flow {w}", org_names[i])).expect("workflow");
            workflows[i].push(wf.id);
        }
    }

    let mut plan = vec![
        SeedConfig {
            org: 0,
            name: "Twilio main".into(),
            credentials: twilio(BIND_ACCOUNT),
            numbers: 1000,
            role: "list",
        },
        SeedConfig {
            org: 0,
            name: "Twilio unreachable".into(),
            credentials: twilio(HANG_ACCOUNT),
            numbers: 500,
            role: "hang",
        },
    ];
    // The other 18 configurations share the remaining 8,500 numbers.
    let per_org = [6, 6, 6];
    let mut n = 0;
    for (org, count) in per_org.into_iter().enumerate() {
        for c in 0..count {
            let numbers = if n < 4 { 473 } else { 472 };
            plan.push(SeedConfig {
                org,
                name: format!("{} line {c}", org_names[org]),
                credentials: other_credentials(org, n),
                numbers,
                role: "other",
            });
            n += 1;
        }
    }
    assert_eq!(plan.iter().map(|c| c.numbers).sum::<usize>(), 10_000);
    assert_eq!(plan.len(), 20);

    let mut any_org0 = String::new();
    let mut list_config = None;
    let mut bind_targets = String::new();
    let mut hang_targets = String::new();
    let mut inbound_numbers = String::new();
    let mut telnyx_numbers = String::new();
    let mut vonage_account = None;
    let mut serial = 0usize;
    for (ci, cfg) in plan.iter().enumerate() {
        let org_id = orgs[cfg.org];
        let config_id = db::configs::insert(&tx, org_id, &cfg.name, &cfg.credentials).expect("config");
        if cfg.role == "list" {
            list_config = Some(config_id);
        }
        let kind = cfg.credentials.kind();
        if let Credentials::Vonage(c) = &cfg.credentials {
            vonage_account.get_or_insert_with(|| c.api_key.clone());
        }
        for i in 0..cfg.numbers {
            serial += 1;
            // Distinct valid US numbers: +1 212 2xx xxxx.
            let e164 = format!("+1212{:07}", 2_000_000 + serial);
            let pretty = if i % 3 == 0 {
                format!("({}) {}-{}", &e164[2..5], &e164[5..8], &e164[8..])
            } else {
                e164.clone()
            };
            let bound = i % 2 == 0;
            let workflow = bound.then(|| workflows[cfg.org][i % workflows[cfg.org].len()]);
            let mut metadata = Map::new();
            if i % 4 == 0 {
                metadata.insert("team".into(), json!(format!("team-{}", i % 7)));
                metadata.insert("tags".into(), json!(["sales", "emea"]));
            }
            let label = (i % 5 != 0).then(|| format!("Line {ci}-{i}"));
            let row = NewRow {
                org_id,
                config_id,
                provider: kind.as_str(),
                routing_account: cfg.credentials.routing_account(),
                address: &pretty,
                address_normalized: &e164,
                address_type: AddressType::Pstn,
                country_code: Some("US"),
                label: label.as_deref(),
                inbound_workflow_id: workflow,
                telephony_trunk_id: None,
                is_active: i % 10 != 9,
                extra_metadata: &metadata,
            };
            let id = db::phone_numbers::insert(&tx, &row).expect("number");
            if bound {
                let sync = LastSync {
                    ok: true,
                    message: None,
                    attached: i % 10 != 9,
                    at: db::now(),
                };
                db::phone_numbers::record_sync(&tx, id, &sync).expect("sync");
            }
            match cfg.role {
                "hang" => hang_targets.push_str(&format!("{config_id} {id}\n")),
                "list" => {
                    bind_targets.push_str(&format!("{config_id} {id}\n"));
                    if bound && row.is_active {
                        inbound_numbers.push_str(&format!("{e164}\n"));
                    }
                }
                _ => {
                    if let Credentials::Telnyx(c) = &cfg.credentials {
                        if bound && row.is_active {
                            let connection = c.connection_id.as_deref().expect("seeded with one");
                            telnyx_numbers.push_str(&format!("{connection} {e164}\n"));
                        }
                    }
                }
            }
            if cfg.org == 0 && cfg.role != "hang" {
                any_org0.push_str(&format!("{config_id} {id}\n"));
            }
        }
    }
    tx.commit().expect("commit");
    drop(conn);

    let write = |name: &str, text: &str| std::fs::write(out.join(name), text).expect("write target file");
    write("key", &keys[0]);
    write("numbers.txt", &any_org0);
    write("bind.txt", &bind_targets);
    write("hang.txt", &hang_targets);
    write("inbound_numbers.txt", &inbound_numbers);
    write("telnyx_numbers.txt", &telnyx_numbers);
    write(
        "forged_vonage.txt",
        &forged_vonage(&vonage_account.expect("the plan has a Vonage configuration")),
    );
    write(
        "list_config",
        &list_config.expect("the plan lists one configuration").to_string(),
    );
    eprintln!(
        "seeded 3 orgs, 50 workflows, 20 configurations, {serial} numbers in {} ms",
        started.elapsed().as_millis()
    );
}

fn inbound_requests(dir: &Path, base_url: &str, count: usize, file: &str) {
    use base64::Engine;
    use rand::Rng;
    let numbers: Vec<String> = std::fs::read_to_string(dir.join("inbound_numbers.txt"))
        .expect("inbound_numbers.txt")
        .lines()
        .map(str::to_string)
        .collect();
    let url = format!("{base_url}{}", telebind::inbound::WEBHOOK_PATH);
    let mut rng = rand::rng();
    let mut out = String::with_capacity(count * 320);
    for n in 0..count {
        let to = &numbers[rng.random_range(0..numbers.len())];
        let body = format!(
            "AccountSid={BIND_ACCOUNT}&ApiVersion=2010-04-01&CallSid=CA{file}{n:024}&CallStatus=ringing&Direction=inbound&From=%2B14155550199&To={}",
            to.replace('+', "%2B")
        );
        let params = telebind::inbound::request::Params::parse(body.as_bytes()).expect("a form");
        let mac = telebind::inbound::signature::twilio_mac(TWILIO_TOKEN, &url, &params.sorted());
        out.push_str(&format!(
            "{}\t{body}\n",
            base64::engine::general_purpose::STANDARD.encode(mac)
        ));
    }
    std::fs::write(dir.join(file), out).expect("write requests");
}

/// A Vonage answer webhook for a seeded account whose token is signed with
/// the wrong secret: `token<TAB>body`.
fn forged_vonage(api_key: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let body =
        r#"{"from":"14155550199","to":"12122000001","uuid":"forged-0001","conversation_uuid":"CON-forged-0001"}"#;
    let claims = json!({"iat": now(), "jti": "forged", "iss": "Vonage", "api_key": api_key,
                        "payload_hash": "00".repeat(32)});
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = telebind::inbound::signature::hmac_sha256("not-the-signature-secret", &signed);
    format!("{signed}.{}\t{body}\n", URL_SAFE_NO_PAD.encode(signature))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn telnyx_requests(dir: &Path, count: usize, file: &str) {
    use base64::Engine;
    use ed25519_dalek::Signer;
    use rand::Rng;
    let lines: Vec<(String, String)> = std::fs::read_to_string(dir.join("telnyx_numbers.txt"))
        .expect("telnyx_numbers.txt")
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(c, n)| (c.to_string(), n.to_string())))
        .collect();
    let key = telnyx_key();
    let timestamp = now();
    let mut rng = rand::rng();
    let mut out = String::with_capacity(count * 400);
    for n in 0..count {
        let (connection, to) = &lines[rng.random_range(0..lines.len())];
        let body = json!({"data": {"event_type": "call.initiated", "id": format!("ev-{file}-{n}"),
            "record_type": "event", "payload": {"call_control_id": format!("v3:bench-{file}-{n}"),
            "connection_id": connection, "direction": "incoming", "from": "+14155550199", "to": to,
            "state": "parked"}}, "meta": {"attempt": 1}})
        .to_string();
        let signature = key.sign(format!("{timestamp}|{body}").as_bytes());
        let signature = base64::engine::general_purpose::STANDARD.encode(signature.to_bytes());
        out.push_str(&format!("{timestamp}\t{signature}\t{body}\n"));
    }
    std::fs::write(dir.join(file), out).expect("write requests");
}

fn calls(db_path: &Path, provider: Option<&str>) {
    let conn = Connection::open(db_path).expect("open");
    let (total, routed): (i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE outcome = 'routed') FROM inbound_calls
             WHERE ?1 IS NULL OR provider = ?1",
            [provider],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("count");
    println!("{total} {routed}");
}

fn commit_rate(db_path: &Path, seconds: f64) {
    let conn = Connection::open(db_path).expect("open");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, label TEXT NOT NULL);
         INSERT OR IGNORE INTO t VALUES (1, '');",
    )
    .expect("setup");
    let mut stmt = conn.prepare("UPDATE t SET label = ?1 WHERE id = 1").expect("prepare");
    let started = Instant::now();
    let mut commits = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        stmt.execute([format!("label {commits}")]).expect("update");
        commits += 1;
    }
    println!("{:.1}", commits as f64 / started.elapsed().as_secs_f64());
}

async fn carrier(req: HttpRequest, delay: web::Data<Duration>) -> HttpResponse {
    let path = req.path();
    if path.contains("hang") {
        // Never answers: the caller's deadline has to end it.
        actix_web::rt::time::sleep(Duration::from_secs(3600)).await;
    }
    actix_web::rt::time::sleep(**delay).await;
    if path.starts_with("/v2/calls/") {
        return HttpResponse::Ok().json(json!({"data": {"result": "ok"}}));
    }
    if path.ends_with("/IncomingPhoneNumbers.json") {
        let number = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.iter().find(|(k, _)| k == "PhoneNumber").map(|(_, v)| v.clone()))
            .unwrap_or_default();
        let sid = format!("PN{}", number.trim_start_matches('+'));
        return HttpResponse::Ok()
            .json(json!({"incoming_phone_numbers": [{"sid": sid, "phone_number": number}], "page": 0}));
    }
    HttpResponse::Ok().json(json!({"sid": "PN", "voice_url": "ok"}))
}

fn mock_carrier(addr: &str, delay_ms: u64) {
    let delay = web::Data::new(Duration::from_millis(delay_ms));
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || App::new().app_data(delay.clone()).default_service(web::to(carrier)))
            .workers(1)
            .backlog(1024)
            .max_connections(100_000)
            .bind(addr)
            .expect("mock carrier binds")
            .run()
            .await
            .expect("mock carrier runs");
    });
}

/// One `GET /healthz` over a fresh connection; true on a 200.
fn healthy(addr: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200")
}

// The server outlives this tool on purpose: bench/run stops it by its pid, and
// init reaps it.
#[allow(clippy::zombie_processes)]
fn start(log: &str, cmd: &[&str]) {
    let addr = std::env::var("TELEBIND_SERVER__BIND").expect("TELEBIND_SERVER__BIND names the address");
    let log = std::fs::File::create(log).expect("log file");
    let started = Instant::now();
    let child = Command::new(cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("server starts");
    while !healthy(&addr) {
        if started.elapsed() > Duration::from_secs(30) {
            eprintln!("no answer on {addr} after 30 s");
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    println!("{} {:.1}", child.id(), started.elapsed().as_secs_f64() * 1000.0);
}
