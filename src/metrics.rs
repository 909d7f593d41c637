//! Prometheus metrics, named and described in this one place: the code that
//! counts calls the function for its metric, so names and labels cannot
//! drift apart. `GET /metrics` renders them (`routes::metrics`); it needs no
//! API key by design (see `server.metrics_bind`). A new metric gets its
//! function here.
//!
//! One recorder serves the whole process: the `metrics` facade lets the
//! writer thread and the sync pool count without a handle passed down to them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::OnceLock;
use std::thread::LocalKey;
use std::time::Duration;

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Counter, Histogram, Label, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const REQUESTS: &str = "telebind_http_requests_total";
const REQUEST_SECONDS: &str = "telebind_http_request_duration_seconds";
const PUSHES: &str = "telebind_carrier_pushes_total";
const PUSH_SECONDS: &str = "telebind_carrier_push_duration_seconds";
const WRITER_QUEUE: &str = "telebind_writer_queue_depth";
const WRITER_BATCH: &str = "telebind_writer_batch_size";
const KEY_CACHE: &str = "telebind_api_key_cache_lookups_total";
const NUMBER_CACHE: &str = "telebind_number_cache_lookups_total";
const CANDIDATE_CACHE: &str = "telebind_inbound_candidate_cache_lookups_total";
const INBOUND: &str = "telebind_inbound_decisions_total";

/// Seconds: from a cached read (well under a millisecond) to a push that
/// reaches `sync.timeout_ms`.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Writes per commit, up to the writer's most (64).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
/// Histogram samples wait in memory until drained: never scraped, they
/// would grow without bound.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use (tests start many servers
/// in one process); the handle renders it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(WRITER_BATCH.into()), BATCH_BUCKETS))
                .expect("bucket lists are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if a program embedding telebind installed its own
            // recorder; metrics then go there and ours renders nothing.
            if metrics::set_global_recorder(recorder).is_ok() {
                describe();
                let upkeep = handle.clone();
                let started = std::thread::Builder::new()
                    .name("telebind-metrics".into())
                    .spawn(move || loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    });
                if let Err(e) = started {
                    log::warn!("metrics: cannot start the upkeep thread: {e}");
                }
            }
            handle
        })
        .clone()
}

fn describe() {
    describe_counter!(REQUESTS, "HTTP requests answered, by route pattern, method and status");
    describe_histogram!(REQUEST_SECONDS, Unit::Seconds, "Time to answer an HTTP request");
    describe_counter!(
        PUSHES,
        "Pushes to carriers, by carrier, action (attach/detach) and outcome (ok/failed)"
    );
    describe_histogram!(PUSH_SECONDS, Unit::Seconds, "Time of a whole push to a carrier");
    describe_gauge!(WRITER_QUEUE, "Writes waiting for the database writer");
    describe_histogram!(WRITER_BATCH, "Writes committed together by one database commit");
    describe_counter!(
        KEY_CACHE,
        "API key lookups, by result: hit (cached) or miss (read from the database)"
    );
    describe_counter!(
        NUMBER_CACHE,
        "GETs of one phone number, by result: hit (body kept since the last commit) or miss"
    );
    describe_counter!(
        CANDIDATE_CACHE,
        "Inbound requests' candidate configurations, by result: hit (opened since the last commit) or miss"
    );
    describe_counter!(
        INBOUND,
        "Inbound call requests, by carrier and outcome: a call-log outcome, retry (a call already \
         recorded), or pre_auth_reject (refused before a signature verified, by cause)"
    );
}

/// A request series: route pattern, method, status.
type Series = (String, &'static str, u16);
/// A counter series whose labels are all static, by the address and length
/// of its name and label strings (unused pairs zero): comparing the texts
/// was most of a lookup. The same text at two addresses only makes a
/// second handle of the same series.
type StaticSeries = [(usize, usize); 7];

thread_local! {
    // Each thread's handles of the series it has counted: building, hashing
    // and looking up a series' labels for every request cost more than a
    // forged inbound request's signature check. Bounded: routes are patterns,
    // and methods, statuses and static labels few.
    static REQUEST_SERIES: RefCell<HashMap<Series, (Counter, Histogram)>> = RefCell::default();
    static STATIC_SERIES: RefCell<HashMap<StaticSeries, Counter>> = RefCell::default();
}

/// This thread's handle of series `key`, registered by `register` on first
/// use. Not kept before `install`: it would count nowhere for good.
fn handle<K: Hash + Eq, H: Clone>(
    handles: &'static LocalKey<RefCell<HashMap<K, H>>>,
    key: K,
    register: impl FnOnce(&K) -> H,
) -> H {
    if HANDLE.get().is_none() {
        return register(&key);
    }
    handles.with_borrow_mut(|handles| handles.entry(key).or_insert_with_key(register).clone())
}

/// Counts one of `name`'s series with static `labels` (at most three).
fn increment(name: &'static str, labels: &[(&'static str, &'static str)]) {
    let at = |text: &str| (text.as_ptr() as usize, text.len());
    let mut key = [(0, 0); 7];
    key[0] = at(name);
    for (i, (label, value)) in labels.iter().enumerate() {
        key[1 + 2 * i] = at(label);
        key[2 + 2 * i] = at(value);
    }
    let counter = handle(&STATIC_SERIES, key, |_| {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(label, value)| Label::from_static_parts(label, value))
            .collect();
        counter!(name, labels)
    });
    counter.increment(1);
}

/// An answered request; `route` is the matched pattern, never the raw path,
/// so that ids do not make a series each.
pub fn request(route: String, method: &'static str, status: u16, elapsed: Duration) {
    let (count, time) = handle(&REQUEST_SERIES, (route, method, status), |(route, method, status)| {
        let labels = [
            ("route", route.clone()),
            ("method", method.to_string()),
            ("status", status.to_string()),
        ];
        (counter!(REQUESTS, &labels), histogram!(REQUEST_SECONDS, &labels))
    });
    count.increment(1);
    time.record(elapsed.as_secs_f64());
}

/// A finished push to a carrier.
pub fn push(carrier: &'static str, attach: bool, ok: bool, elapsed: Duration) {
    let labels = [
        ("carrier", carrier),
        ("action", if attach { "attach" } else { "detach" }),
        ("outcome", if ok { "ok" } else { "failed" }),
    ];
    counter!(PUSHES, &labels).increment(1);
    histogram!(PUSH_SECONDS, &labels).record(elapsed.as_secs_f64());
}

pub fn writer_queue_depth(depth: usize) {
    gauge!(WRITER_QUEUE).set(depth as f64);
}

pub fn writer_batch(writes: usize) {
    histogram!(WRITER_BATCH).record(writes as f64);
}

/// The in-memory copies whose lookups are counted.
#[derive(Debug, Clone, Copy)]
pub enum Cache {
    /// Verified API keys (`auth::KeyCache`).
    ApiKeys,
    /// GET-one bodies (`AppState::numbers`).
    Numbers,
    /// The inbound router's candidate configurations (`routes::inbound::Router`).
    InboundCandidates,
}

pub fn cache_lookup(cache: Cache, hit: bool) {
    let name = match cache {
        Cache::ApiKeys => KEY_CACHE,
        Cache::Numbers => NUMBER_CACHE,
        Cache::InboundCandidates => CANDIDATE_CACHE,
    };
    increment(name, &[("result", if hit { "hit" } else { "miss" })]);
}

/// A verified start request of the inbound router: `outcome` is its
/// call-log outcome, or `retry` for a call already recorded.
pub fn inbound_decision(carrier: &'static str, outcome: &'static str) {
    increment(INBOUND, &[("carrier", carrier), ("outcome", outcome)]);
}

/// An inbound request refused before any signature verified, and why
/// (INBOUND.md §10: counted per carrier and cause).
pub fn inbound_refused(carrier: &'static str, cause: &'static str) {
    increment(
        INBOUND,
        &[("carrier", carrier), ("outcome", "pre_auth_reject"), ("cause", cause)],
    );
}
