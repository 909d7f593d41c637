//! The sync service: tells carriers where a number's calls go (API.md §5.4)
//! and records what they answered as `last_provider_sync`.
//!
//! Pushes run detached from the requests that ask for them, on a bounded
//! pool of threads of their own (actix's blocking pool serves database
//! reads), so a push always finishes or times out and records its result,
//! even when its client has gone. Pushes of one number run one at a time and
//! each reads the stored state when it starts, so the carrier ends in the
//! final stored state. A request whose write is covered by a push not yet
//! started joins it: no request waits behind more than the push in flight
//! and its own. A write that lands while a push of its number is in flight
//! pushes too (`is_pushing`), since that push may have read the state the
//! write replaced. A process has no sight of another's pushes (the CLI's
//! `numbers resync`): so a push that finds, as it records its answer, that
//! the row no longer asks for what it pushed has the number pushed again.

use std::collections::{HashMap, VecDeque};
use std::sync::{mpsc, Arc, Mutex};

use tokio::sync::oneshot;

use crate::db::phone_numbers::PhoneNumber;
use crate::db::{self, Database, DbError};
use crate::domain::ids::{ConfigId, NumberId, OrgId};
use crate::domain::phone_number::{may_be_attached, should_attach, LastSync, SyncResult};
use crate::providers::{Carriers, Number};

/// The number a push is for, as the request that asked found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberKey {
    pub org_id: OrgId,
    pub config_id: ConfigId,
    pub id: NumberId,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SyncError {
    /// The number (or its configuration) was deleted before the push began.
    #[error("phone number not found")]
    NotFound,
    #[error("{0}")]
    Db(String),
    #[error("the sync service has stopped")]
    Stopped,
}

impl From<DbError> for SyncError {
    fn from(e: DbError) -> Self {
        SyncError::Db(e.to_string())
    }
}

impl From<rusqlite::Error> for SyncError {
    fn from(e: rusqlite::Error) -> Self {
        SyncError::Db(DbError::from(e).to_string())
    }
}

/// What deleting a number came to.
#[derive(Debug, Clone)]
pub enum Deletion {
    /// Gone; `provider_sync` is the detach's result when the carrier was asked.
    Deleted(Option<SyncResult>),
    /// The carrier refused the detach and `force` was not given: the number is kept.
    Refused(SyncResult),
}

#[derive(Debug, Clone)]
enum Outcome {
    Pushed(Box<PhoneNumber>, SyncResult),
    Deletion(Deletion),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Push the number's stored state.
    Current,
    /// Detach if the carrier may hold a binding, then delete the row.
    Delete { force: bool },
}

type Waiter = oneshot::Sender<Result<Outcome, SyncError>>;

/// A push asked for and not yet started, with everyone waiting for it.
struct Pending {
    kind: Kind,
    key: NumberKey,
    /// The request that asked first, for the log.
    request_id: String,
    waiters: Vec<Waiter>,
}

/// The pushes of one number: one at a time, in order.
#[derive(Default)]
struct Lane {
    running: bool,
    pending: VecDeque<Pending>,
}

struct Inner {
    db: Database,
    carriers: Carriers,
    lanes: Mutex<HashMap<NumberId, Lane>>,
    /// Numbers whose next push is ready to run; the pool threads take them.
    ready: mpsc::Sender<NumberId>,
}

/// Shared by every request; clones are handles to one service.
#[derive(Clone)]
pub struct SyncService {
    inner: Arc<Inner>,
}

impl SyncService {
    /// Starts `workers` threads for carrier calls: at most that many pushes
    /// run at once, whatever the number of clients.
    pub fn start(db: Database, carriers: Carriers, workers: usize) -> std::io::Result<SyncService> {
        let (ready, queue) = mpsc::channel::<NumberId>();
        let queue = Arc::new(Mutex::new(queue));
        let inner = Arc::new(Inner {
            db,
            carriers,
            lanes: Mutex::new(HashMap::new()),
            ready,
        });
        for n in 0..workers.max(1) {
            let (inner, queue) = (Arc::downgrade(&inner), Arc::clone(&queue));
            std::thread::Builder::new()
                .name(format!("telebind-sync-{n}"))
                .spawn(move || loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match (next, inner.upgrade()) {
                        (Ok(id), Some(inner)) => inner.run_next(id),
                        _ => return,
                    }
                })?;
        }
        Ok(SyncService { inner })
    }

    /// Pushes the number's stored state (written before this call) and
    /// answers with the number as recorded after the push.
    pub async fn push(&self, key: NumberKey, request_id: &str) -> Result<(PhoneNumber, SyncResult), SyncError> {
        match self.ask(key, Kind::Current, request_id).await? {
            Outcome::Pushed(number, result) => Ok((*number, result)),
            Outcome::Deletion(_) => unreachable!("a push answers with the number"),
        }
    }

    /// Detaches the number at its carrier when it may be attached there, then
    /// deletes it; a refused detach keeps it unless `force`.
    pub async fn delete(&self, key: NumberKey, force: bool, request_id: &str) -> Result<Deletion, SyncError> {
        match self.ask(key, Kind::Delete { force }, request_id).await? {
            Outcome::Deletion(deletion) => Ok(deletion),
            Outcome::Pushed(..) => unreachable!("a delete answers with a deletion"),
        }
    }

    async fn ask(&self, key: NumberKey, kind: Kind, request_id: &str) -> Result<Outcome, SyncError> {
        let (waiter, answer) = oneshot::channel();
        self.inner.enqueue(key, kind, request_id, waiter);
        answer.await.map_err(|_| SyncError::Stopped)?
    }

    /// Whether number `id` has a push running or waiting. A write that
    /// would push nothing by itself asks this inside its transaction: a
    /// push in flight may have read the state it overwrites.
    pub fn is_pushing(&self, id: NumberId) -> bool {
        self.inner
            .lanes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&id)
    }

    /// Numbers with a push running or waiting.
    #[cfg(test)]
    fn busy_numbers(&self) -> usize {
        self.inner.lanes.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Inner {
    fn enqueue(&self, key: NumberKey, kind: Kind, request_id: &str, waiter: Waiter) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        let lane = lanes.entry(key.id).or_default();
        match lane.pending.back_mut() {
            // Not started yet, so it will read this request's write: share it.
            Some(last) if kind == Kind::Current && last.kind == Kind::Current => last.waiters.push(waiter),
            _ => lane.pending.push_back(Pending {
                kind,
                key,
                request_id: request_id.to_string(),
                waiters: vec![waiter],
            }),
        }
        if !lane.running {
            lane.running = true;
            self.dispatch(&mut lanes, key.id);
        }
    }

    /// Hands number `id`'s next push to the pool; the caller holds `lanes`.
    fn dispatch(&self, lanes: &mut HashMap<NumberId, Lane>, id: NumberId) {
        if self.ready.send(id).is_err() {
            // Dropping the waiters answers them `Stopped`.
            lanes.remove(&id);
        }
    }

    /// Runs number `id`'s next push, answers its waiters, and hands on the
    /// push after it, if any.
    fn run_next(&self, id: NumberId) {
        let next = {
            let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
            lanes.get_mut(&id).and_then(|lane| lane.pending.pop_front())
        };
        let mut overtaken = None;
        if let Some(pending) = next {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run(&pending)))
                .unwrap_or_else(|_| Err(SyncError::Db("a push panicked".into())));
            let outcome = outcome.map(|(outcome, stale)| {
                overtaken = stale.then(|| (pending.key, pending.request_id.clone()));
                outcome
            });
            for waiter in pending.waiters {
                // A waiter whose request has gone simply no longer listens.
                let _ = waiter.send(outcome.clone());
            }
        }
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((key, request_id)) = overtaken {
            log::info!("[{request_id}] number {id} changed while it was being pushed; pushing its stored state again");
            let lane = lanes.entry(id).or_default();
            // A push still to start reads the stored state anyway.
            if !lane.pending.iter().any(|p| p.kind == Kind::Current) {
                lane.pending.push_back(Pending {
                    kind: Kind::Current,
                    key,
                    request_id,
                    waiters: Vec::new(),
                });
            }
        }
        match lanes.get_mut(&id) {
            Some(lane) if !lane.pending.is_empty() => self.dispatch(&mut lanes, id),
            _ => {
                lanes.remove(&id);
            }
        }
    }

    /// Runs `pending`; true with the outcome when a write overtook the push
    /// (the row no longer asks the carrier for what was pushed).
    fn run(&self, pending: &Pending) -> Result<(Outcome, bool), SyncError> {
        let NumberKey { org_id, config_id, id } = pending.key;
        let (config, number) = self.db.read_blocking(move |c| {
            let config = db::configs::get(c, org_id, config_id)?.ok_or(SyncError::NotFound)?;
            let number = db::phone_numbers::get(c, config_id, id)?.ok_or(SyncError::NotFound)?;
            Ok::<_, SyncError>((config, number))
        })?;
        match pending.kind {
            Kind::Current => {
                let attach = should_attach(number.inbound_workflow_id, number.is_active);
                let (number, result, overtaken) = self.push(&pending.request_id, &config, number, attach)?;
                Ok((Outcome::Pushed(Box::new(number), result), overtaken))
            }
            Kind::Delete { force } => {
                let mut provider_sync = None;
                if may_be_attached(number.inbound_workflow_id, number.last_provider_sync.as_ref()) {
                    let (_, result, _) = self.push(&pending.request_id, &config, number, false)?;
                    if !result.ok && !force {
                        return Ok((Outcome::Deletion(Deletion::Refused(result)), false));
                    }
                    provider_sync = Some(result);
                }
                self.db
                    .write_blocking(move |c| Ok::<_, SyncError>(db::phone_numbers::delete(c, id)?))?;
                Ok((Outcome::Deletion(Deletion::Deleted(provider_sync)), false))
            }
        }
    }

    /// Tells the carrier to attach or detach the number, records the answer
    /// and returns the number as recorded, and whether a write overtook the
    /// push (read in the same transaction as the record, so no write can
    /// fall between).
    fn push(
        &self,
        request_id: &str,
        config: &db::configs::Config,
        mut number: PhoneNumber,
        attach: bool,
    ) -> Result<(PhoneNumber, SyncResult, bool), SyncError> {
        let target = Number {
            address: &number.address_normalized,
            kind: number.address_type,
        };
        let started = std::time::Instant::now();
        let result = self.carriers.configure_inbound(&config.credentials, target, attach);
        let (carrier, id) = (config.credentials.kind().as_str(), number.id);
        crate::metrics::push(carrier, attach, result.ok, started.elapsed());
        let action = if attach { "attach" } else { "detach" };
        match &result.message {
            _ if result.ok => log::info!("[{request_id}] {carrier} {action} of number {id}: ok"),
            Some(message) => log::warn!("[{request_id}] {carrier} {action} of number {id} failed: {message}"),
            None => log::warn!("[{request_id}] {carrier} {action} of number {id} failed"),
        }
        let last = LastSync {
            ok: result.ok,
            message: result.message.clone(),
            attached: attach,
            at: db::now(),
        };
        let stored = last.clone();
        let attached_with = (attach && result.ok).then(|| self.carriers.public_base_url().to_string());
        let config_id = number.config_id;
        let overtaken = self.db.write_blocking(move |c| {
            db::phone_numbers::record_sync(c, id, &stored)?;
            if let Some(url) = attached_with {
                db::last_push::record(c, &url)?;
            }
            let now = db::phone_numbers::get(c, config_id, id)?;
            Ok::<_, SyncError>(now.is_some_and(|n| should_attach(n.inbound_workflow_id, n.is_active) != attach))
        })?;
        number.last_provider_sync = Some(last);
        number.provider_sync = Some(result.clone());
        Ok((number, result, overtaken))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{json, Map};
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::config::DatabaseConfig;
    use crate::db::phone_numbers::NewRow;
    use crate::domain::address::AddressType;
    use crate::providers::testing::{carriers, twilio_creds, ACCOUNT_SID};

    const NUMBER: &str = "+15551230002";

    /// A service on a new database holding one bound Twilio number, its
    /// carrier at `carrier_url`.
    async fn service(dir: &tempfile::TempDir, carrier_url: &str) -> (SyncService, Database, NumberKey) {
        let config = DatabaseConfig {
            path: dir.path().join("sync.db"),
            ..DatabaseConfig::default()
        };
        let db = Database::new(db::open(&config).unwrap(), &config).unwrap();
        let key = db
            .write(|c| {
                let org = db::orgs::insert(c, "o")?.id;
                let config_id = db::configs::insert(c, org, "c", &twilio_creds())?;
                let workflow = db::workflows::insert(c, org, "w")?.id;
                let row = NewRow {
                    org_id: org,
                    config_id,
                    provider: "twilio",
                    routing_account: ACCOUNT_SID,
                    address: NUMBER,
                    address_normalized: NUMBER,
                    address_type: AddressType::Pstn,
                    country_code: None,
                    label: None,
                    inbound_workflow_id: Some(workflow),
                    telephony_trunk_id: None,
                    is_active: true,
                    extra_metadata: &Map::new(),
                };
                let id = db::phone_numbers::insert(c, &row)?;
                Ok::<_, DbError>(NumberKey {
                    org_id: org,
                    config_id,
                    id,
                })
            })
            .await
            .unwrap();
        let service = SyncService::start(db.clone(), carriers(carrier_url, 2000), 4).unwrap();
        (service, db, key)
    }

    async fn twilio(lookup_delay: Duration) -> MockServer {
        let server = MockServer::start().await;
        let listing = json!({"incoming_phone_numbers": [{"sid": "PN1", "phone_number": NUMBER}]});
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(listing)
                    .set_delay(lookup_delay),
            )
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        server
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_push_whose_waiter_gave_up_runs_to_the_end_before_the_next_and_leaves_no_lane() {
        let server = twilio(Duration::from_millis(300)).await;
        let dir = tempfile::TempDir::new().unwrap();
        let (service, db, key) = service(&dir, &server.uri()).await;
        let gave_up = tokio::time::timeout(Duration::from_millis(50), service.push(key, "first")).await;
        assert!(gave_up.is_err(), "the first waiter left before the carrier answered");
        let (number, result) = service.push(key, "second").await.unwrap();
        assert_eq!(result, SyncResult::ok());
        assert_eq!(
            number.last_provider_sync.map(|l| (l.ok, l.attached)),
            Some((true, true))
        );
        let methods: Vec<String> = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| r.method.to_string())
            .collect();
        assert_eq!(methods, ["GET", "POST", "GET", "POST"], "one push at a time");
        // Waiters are answered just before their lane is put away.
        let started = std::time::Instant::now();
        while service.busy_numbers() > 0 {
            assert!(started.elapsed() < Duration::from_secs(5), "a lane was left behind");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let recorded: bool = db
            .read(move |c| {
                c.query_row("SELECT last_sync_ok FROM phone_numbers WHERE id = ?1", [key.id], |r| {
                    r.get(0)
                })
                .map_err(DbError::from)
            })
            .await
            .unwrap();
        assert!(recorded);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn deleting_a_bound_number_detaches_it_then_removes_the_row() {
        let server = twilio(Duration::ZERO).await;
        let dir = tempfile::TempDir::new().unwrap();
        let (service, db, key) = service(&dir, &server.uri()).await;
        match service.delete(key, false, "t").await.unwrap() {
            Deletion::Deleted(Some(result)) => assert!(result.ok),
            other => panic!("{other:?}"),
        }
        let left: i64 = db
            .read(|c| {
                c.query_row("SELECT COUNT(*) FROM phone_numbers", [], |r| r.get(0))
                    .map_err(DbError::from)
            })
            .await
            .unwrap();
        assert_eq!(left, 0);
        assert!(matches!(service.push(key, "t").await, Err(SyncError::NotFound)));
    }

    /// Another process (the CLI) clears the binding while this one's push
    /// of it is at the carrier, and cannot see that push: the push notices,
    /// as it records its answer, and pushes the stored state again.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_push_overtaken_by_a_write_it_cannot_see_pushes_again() {
        let server = twilio(Duration::from_millis(300)).await;
        let dir = tempfile::TempDir::new().unwrap();
        let (service, _db, key) = service(&dir, &server.uri()).await;
        let push = service.push(key, "bind");
        let elsewhere = async {
            // The lookup is at the carrier: the push read the bound state.
            while server.received_requests().await.unwrap().is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            rusqlite::Connection::open(dir.path().join("sync.db"))
                .unwrap()
                .execute("UPDATE phone_numbers SET inbound_workflow_id = NULL", [])
                .unwrap();
        };
        let ((_, result), ()) = tokio::join!(async { push.await.unwrap() }, elsewhere);
        assert!(result.ok);
        let started = std::time::Instant::now();
        loop {
            let requests = server.received_requests().await.unwrap();
            let updates: Vec<String> = requests
                .iter()
                .filter(|r| r.method.as_str() == "POST")
                .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                .collect();
            if updates.len() == 2 {
                assert!(updates[0].contains("VoiceUrl=http"), "{updates:?}");
                assert_eq!(updates[1], "VoiceUrl=", "the second push detaches");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "pushed once only: {updates:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
