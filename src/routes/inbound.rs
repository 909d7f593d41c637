//! `POST /api/v1/telephony/inbound/run`: the carrier webhook of every bound
//! number (INBOUND.md §1). No API key: the carrier's signature is verified
//! against the configurations of the claimed account before any number or
//! workflow is read, and every pre-auth failure gets the same bytes.
//! Every outcome of a POST is HTTP 200 with the carrier's document; Telnyx,
//! which ignores documents, is answered through its Call Control API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use rusqlite::Connection;

use crate::config::{InboundConfig, ServerConfig};
use crate::db::cache::ReadCache;
use crate::db::{self, calls::CalledRow, calls::Candidate, calls::InboundCall};
use crate::domain::ids::ConfigId;
use crate::error::ApiError;
use crate::inbound::document::{self, Document};
use crate::inbound::fields::{signing_secret, CallFields};
use crate::inbound::replay::{NonceCache, NonceUse};
use crate::inbound::request::{BodyError, Headers, Params, Payload, NO_PARAMS};
use crate::inbound::resolve::{called_form, with_hint, CalledForm};
use crate::inbound::signature::{Proof, Signed};
use crate::inbound::{decide, detect, media, CalledNumber, Carrier, Clock, Outcome, PreAuthCause, WEBHOOK_PATH};
use crate::metrics::Cache;
use crate::providers::CallCommand;
use crate::state::AppState;

/// At most this many distinct secrets are tried per request (§1 step 5).
const MAX_SECRETS: usize = 8;
/// Verified when no configuration holds a key, so that "no such account"
/// costs what "bad signature" does.
const DUMMY_SECRET: &str = "telebind-no-candidate-0000000000";
/// Telnyx's counterpart: a valid public key (RFC 8032's first test key), so
/// that the Ed25519 check runs in full.
const DUMMY_PUBLIC_KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

/// The router's own state: the signed webhook URLs, the replay cache, the
/// pre-auth reject counters, copies of what recent requests read, and the
/// clock the freshness checks read.
pub struct Router {
    /// The webhook on `server.public_base_url` and on each alias.
    webhooks: Vec<String>,
    nonces: NonceCache,
    refusals: Mutex<HashMap<(Carrier, PreAuthCause), Refusals>>,
    /// The configurations of each claim, credentials opened, kept until a
    /// commit changes more than the call log (`Database::generation`):
    /// a flood of forged requests for a real account reads no database and
    /// decrypts nothing.
    candidates: ReadCache<(Carrier, Claim), Arc<[Candidate]>>,
    /// The numbers found at each called number's forms in the verified
    /// configurations, kept the same way: a verified start then reads
    /// nothing, and writes its call-log row.
    numbers: ReadCache<NumberLookup, Arc<[CalledRow]>>,
    clock: Clock,
}

/// A called number's lookup: the carrier, the verified configurations and
/// the number's canonical forms.
type NumberLookup = (&'static str, Vec<ConfigId>, Vec<String>);

/// Called numbers whose rows are kept (a few hundred bytes each).
const NUMBERS_CACHED: usize = 4096;

/// Claims whose candidates are kept (a few hundred bytes each). Requests
/// naming random accounts only push each other out: the cost is a read.
const CLAIMS_CACHED: usize = 1024;

/// Whom a request says it comes from: the account it names, or for Plivo
/// without one, the number it calls (§1: safe only because every pre-auth
/// reject is the same).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Claim {
    Account(String),
    Number(String),
}

impl Claim {
    fn of(carrier: Carrier, fields: &CallFields) -> Option<Claim> {
        match (&fields.account, &fields.to) {
            (Some(account), _) => Some(Claim::Account(account.clone())),
            (None, Some(to)) if carrier == Carrier::Plivo => match called_form(to) {
                CalledForm::Exact(address) => Some(Claim::Number(address)),
                _ => None,
            },
            _ => None,
        }
    }
}

#[derive(Default)]
struct Refusals {
    count: u64,
    logged: Option<Instant>,
}

impl Router {
    pub fn new(clock: Clock, server: &ServerConfig) -> Router {
        Router {
            webhooks: std::iter::once(&server.public_base_url)
                .chain(&server.public_base_url_aliases)
                .map(|base| format!("{base}{WEBHOOK_PATH}"))
                .collect(),
            nonces: NonceCache::default(),
            refusals: Mutex::default(),
            candidates: ReadCache::new(CLAIMS_CACHED),
            numbers: ReadCache::new(NUMBERS_CACHED),
            clock,
        }
    }

    /// The active configurations `claim` may come from, oldest first: from
    /// the copy while nothing but the call log has been committed since it
    /// was read, else a point read on this worker.
    async fn candidates(&self, state: &AppState, carrier: Carrier, claim: Claim) -> Result<Arc<[Candidate]>, ApiError> {
        let read = |key: (Carrier, Claim)| async move {
            let found = state.point(move |c| Ok(candidates(c, &key)?)).await?;
            Ok::<_, ApiError>(Arc::from(found))
        };
        let generation = state.db.generation();
        let (found, hit) = self.candidates.get_or_read((carrier, claim), generation, read).await?;
        crate::metrics::cache_lookup(Cache::InboundCandidates, hit);
        Ok(found)
    }

    /// Counts a pre-auth reject; logs at most one line a second per cause.
    fn refused(&self, carrier: Carrier, cause: PreAuthCause) {
        crate::metrics::inbound_refused(carrier.kind().as_str(), cause.label());
        let mut all = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        let entry = all.entry((carrier, cause)).or_default();
        entry.count += 1;
        if entry.logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            entry.logged = Some(Instant::now());
            log::warn!(
                "inbound {}: refused before authentication: {} ({} so far)",
                carrier.kind().as_str(),
                cause.as_str(),
                entry.count
            );
        }
    }
}

#[utoipa::path(
    post,
    path = WEBHOOK_PATH,
    operation_id = "inbound_run",
    tag = "inbound calls",
    summary = "The carrier webhook of every bound number",
    description = "Carriers post each call here; the carrier's signature (`X-Twilio-Signature`, \
        `X-Plivo-Signature-V3` with its nonce, Vobiz's, Telnyx's Ed25519 `telnyx-signature-ed25519`, \
        Vonage's signed JWT, Cloudonix's `X-CX-APIKey`; Twilio's over the URL built from \
        `server.public_base_url`) authenticates it, not an API key. Every outcome is a 200 with \
        the carrier's document: a stream to the voice agent, the one neutral reject line, an \
        acknowledgement of a callback, or a hangup (unknown carrier, unsupported or oversize body). \
        XML for Twilio, Plivo, Vobiz and Cloudonix (CXML); JSON for Vonage (an NCCO array) and \
        Telnyx (whose call is answered through its API).",
    request_body(
        description = "The carrier's call fields as it sends them",
        content(
            (Object = "application/x-www-form-urlencoded"),
            (Object = "application/json"),
        )
    ),
    responses((status = 200, description = "The carrier's call-control document", content(
        (String = "application/xml"),
        (Value = "application/json"),
    )))
)]
pub async fn run(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    router: web::Data<Router>,
) -> HttpResponse {
    let document = route(&req, body, &state, &router).await;
    HttpResponse::Ok()
        .content_type(document.content_type)
        .body(document.body)
}

async fn route(req: &HttpRequest, body: web::Payload, state: &AppState, router: &Router) -> Document {
    let Some(bytes) = read_body(req, body, state.config.server.max_body_bytes).await else {
        return document::generic_hangup();
    };
    let headers = Headers::new(
        req.headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
    );
    let payload = match Payload::parse(headers.get("content-type"), &bytes) {
        Ok(payload) => Some(payload),
        Err(BodyError::UnsupportedType) => return document::generic_hangup(),
        Err(BodyError::Malformed) => None,
    };
    let Some(carrier) = detect::detect(&headers, payload.as_ref()) else {
        return document::generic_hangup();
    };
    let inbound = &state.config.inbound;
    let reject = || document::reject(carrier, &inbound.reject_message);
    let request = Request {
        carrier,
        headers: &headers,
        payload: payload.as_ref(),
        body: &bytes,
        raw_query: req.query_string(),
    };
    let (fields, verified) = match authenticate(&request, state, router).await {
        Ok(authenticated) => authenticated,
        Err(Refused::Before(cause)) => {
            router.refused(carrier, cause);
            return reject();
        }
        Err(Refused::Internal(e)) => return internal(e),
    };

    // Post-auth from here on.
    if !fields.is_start {
        return document::ack(carrier);
    }
    let Some(call_id) = fields.call_id.clone() else {
        log::warn!(
            "inbound {}: a verified start without a call id",
            carrier.kind().as_str()
        );
        return reject();
    };
    let call = StartedCall {
        carrier,
        call_id,
        fields,
        verified,
    };
    match start(state, router, &call).await {
        Ok(Recorded::First(row)) => deliver(state, &call, row, true).await,
        Ok(Recorded::Again(row)) => deliver(state, &call, row, false).await,
        Ok(Recorded::Elsewhere) => {
            crate::metrics::inbound_decision(carrier.kind().as_str(), "retry");
            reject()
        }
        Err(e) => internal(e),
    }
}

/// A request as the carrier sent it.
struct Request<'a> {
    carrier: Carrier,
    headers: &'a Headers<'a>,
    /// `None` when the body does not parse as its content type says.
    payload: Option<&'a Payload<'a>>,
    body: &'a [u8],
    raw_query: &'a str,
}

/// Why a request went no further than authentication.
enum Refused {
    /// The carrier's pre-auth reject, the same bytes whatever the cause.
    Before(PreAuthCause),
    Internal(ApiError),
}

impl From<PreAuthCause> for Refused {
    fn from(cause: PreAuthCause) -> Self {
        Refused::Before(cause)
    }
}

/// §1 steps 3–5: the fields, the candidate configurations of the claimed
/// account (configuration rows only, point reads on this worker), the
/// signature against their keys, then freshness and replay. Returns the
/// fields and the configurations whose key verified.
async fn authenticate(
    request: &Request<'_>,
    state: &AppState,
    router: &Router,
) -> Result<(CallFields, Vec<Candidate>), Refused> {
    let carrier = request.carrier;
    let payload = request.payload.ok_or(PreAuthCause::Malformed)?;
    let fields = CallFields::read(carrier, payload, request.headers).ok_or(PreAuthCause::Malformed)?;
    let proof = Proof::read(carrier, request.headers, request.raw_query).ok_or(PreAuthCause::BadSignature)?;
    let candidates = match Claim::of(carrier, &fields) {
        Some(claim) => router
            .candidates(state, carrier, claim)
            .await
            .map_err(Refused::Internal)?,
        None => Arc::from([]),
    };
    let params = payload.params().map(Params::sorted);
    let signed = Signed {
        webhooks: &router.webhooks,
        raw_query: request.raw_query,
        params: params.as_ref().unwrap_or(&NO_PARAMS),
        body: request.body,
    };
    let verified = verify(carrier, &proof, &candidates, &signed)?;
    proof.check(request.body, router.clock.now())?;
    if let Some(nonce) = proof.nonce() {
        match router.nonces.first_use(carrier, nonce, Instant::now()) {
            NonceUse::First => {}
            NonceUse::Replayed => return Err(PreAuthCause::Replayed.into()),
            NonceUse::Full => return Err(PreAuthCause::CacheFull.into()),
        }
    }
    Ok((fields, verified))
}

/// The body, unless it is over the limit or cannot be read.
async fn read_body(req: &HttpRequest, mut body: web::Payload, limit: usize) -> Option<web::Bytes> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return None;
    }
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.ok()?;
        if bytes.len() + chunk.len() > limit {
            return None;
        }
        bytes.extend_from_slice(&chunk);
    }
    Some(bytes.freeze())
}

fn internal(e: ApiError) -> Document {
    log::error!("inbound: {e}");
    document::generic_hangup()
}

/// The configurations of the claimed account, or owning the claimed number.
fn candidates(conn: &Connection, (carrier, claim): &(Carrier, Claim)) -> rusqlite::Result<Vec<Candidate>> {
    let provider = carrier.kind().as_str();
    match claim {
        Claim::Account(account) => db::calls::candidates(conn, provider, account),
        Claim::Number(address) => db::calls::candidates_by_number(conn, provider, address),
    }
}

/// The candidates whose key verifies the proof and that the proof is for
/// (a Vonage token names its account and application), or why none.
fn verify(
    carrier: Carrier,
    proof: &Proof,
    candidates: &[Candidate],
    signed: &Signed,
) -> Result<Vec<Candidate>, PreAuthCause> {
    let mut tried: Vec<(&str, bool)> = Vec::new();
    for secret in candidates
        .iter()
        .filter_map(|c| signing_secret(carrier, &c.credentials))
    {
        if tried.len() < MAX_SECRETS && !tried.iter().any(|(s, _)| *s == secret) {
            tried.push((secret, proof.verifies(secret, signed)));
        }
    }
    if tried.is_empty() {
        let dummy = if carrier == Carrier::Telnyx {
            DUMMY_PUBLIC_KEY
        } else {
            DUMMY_SECRET
        };
        proof.verifies(dummy, signed);
        return Err(if candidates.is_empty() {
            PreAuthCause::NoCandidate
        } else {
            PreAuthCause::NoKey
        });
    }
    let verified_key = |c: &Candidate| {
        signing_secret(carrier, &c.credentials).is_some_and(|s| tried.iter().any(|(t, ok)| *ok && *t == s))
    };
    let verified: Vec<Candidate> = candidates
        .iter()
        .filter(|c| verified_key(c) && proof.binds(&c.credentials))
        .cloned()
        .collect();
    if verified.is_empty() {
        return Err(PreAuthCause::BadSignature);
    }
    Ok(verified)
}

/// A verified start request, to decide and record.
struct StartedCall {
    carrier: Carrier,
    call_id: String,
    fields: CallFields,
    /// The configurations whose key verified the request, oldest first.
    verified: Vec<Candidate>,
}

/// What a verified start request came to in the call log.
enum Recorded {
    /// A new row, with the decision.
    First(InboundCall),
    /// The row of the call this request retries (§2.4).
    Again(InboundCall),
    /// The call id is recorded under configurations that did not sign this request.
    Elsewhere,
}

/// The call's row: the first one when the carrier retries (§2.4), else a
/// new one with the decision. The number is a point read on this worker;
/// the insert goes to the writer, which finds a retry's first row.
async fn start(state: &AppState, router: &Router, call: &StartedCall) -> Result<Recorded, ApiError> {
    let provider = call.carrier.kind().as_str();
    let config_ids: Vec<ConfigId> = call.verified.iter().map(|c| c.config_id).collect();
    let (addresses, number) = called_number(state, router, provider, &call.fields, config_ids).await?;
    let called = number.as_ref().map(|n| CalledNumber {
        is_active: n.is_active,
        workflow_id: n.workflow_id,
        workflow_in_org: n.workflow_in_org,
    });
    let decided = decide(called.as_ref(), !state.config.inbound.media_ws_url.is_empty());
    // A Telnyx call is routed once Telnyx takes the answer command, which
    // needs this row's id first; until then a retry (after a crash or a
    // time-out) must answer again (§2.4).
    let outcome = match (call.carrier, decided) {
        (Carrier::Telnyx, Outcome::Routed) => Outcome::AnswerFailed,
        _ => decided,
    };
    let (config_id, org_id) = number.as_ref().map_or_else(
        || (call.verified[0].config_id, call.verified[0].org_id),
        |n| (n.config_id, n.org_id),
    );
    let to_normalized = number
        .as_ref()
        .map(|n| n.address.clone())
        .or_else(|| addresses.into_iter().next());
    let fields = call.fields.clone();
    let call_id = call.call_id.clone();
    let (row, inserted) = state
        .write_call_log(move |c| {
            let new = db::calls::NewCall {
                org_id,
                provider,
                call_id: &call_id,
                config_id,
                phone_number_id: number.as_ref().map(|n| n.id),
                workflow_id: number
                    .as_ref()
                    .and_then(|n| n.workflow_id)
                    .filter(|_| decided != Outcome::WorkflowNotFound),
                from_number: fields.from.as_deref(),
                to_number: fields.to.as_deref(),
                to_normalized: to_normalized.as_deref(),
                outcome: outcome.as_str(),
            };
            Ok(db::calls::insert_once(c, &new)?)
        })
        .await?;
    Ok(if inserted {
        Recorded::First(row)
    } else {
        retried(call, row)
    })
}

/// The recorded call `first`, which this request retries, unless it was
/// recorded under configurations that did not sign this request.
fn retried(call: &StartedCall, first: InboundCall) -> Recorded {
    if call
        .verified
        .iter()
        .any(|c| c.config_id == first.telephony_configuration_id)
    {
        return Recorded::Again(first);
    }
    log::warn!(
        "inbound {}: call id {} is recorded under another account",
        call.carrier.kind().as_str(),
        call.call_id
    );
    Recorded::Elsewhere
}

/// The canonical forms of the called number (§5) and the number found at
/// one of them in `config_ids`; several matches are refused, as none.
async fn called_number(
    state: &AppState,
    router: &Router,
    provider: &'static str,
    fields: &CallFields,
    config_ids: Vec<ConfigId>,
) -> Result<(Vec<String>, Option<CalledRow>), ApiError> {
    let to = fields.to.clone().unwrap_or_default();
    let addresses = match called_form(&to) {
        CalledForm::Exact(address) => vec![address],
        CalledForm::National => {
            let hints = match &fields.to_country {
                Some(country) => vec![country.clone()],
                // Reads every number of the configurations: the blocking pool's work.
                None => {
                    let ids = config_ids.clone();
                    state.read(move |c| Ok(db::calls::country_codes(c, &ids)?)).await?
                }
            };
            let mut addresses: Vec<String> = hints.iter().filter_map(|h| with_hint(&to, h)).collect();
            addresses.dedup();
            addresses
        }
        CalledForm::Invalid => Vec::new(),
    };
    if addresses.is_empty() {
        return Ok((addresses, None));
    }
    let read = |(provider, ids, forms): NumberLookup| async move {
        let found = state
            .point(move |c| Ok(db::calls::called_numbers(c, provider, &ids, &forms)?))
            .await?;
        Ok::<_, ApiError>(Arc::from(found))
    };
    let lookup = (provider, config_ids, addresses.clone());
    let generation = state.db.generation();
    let (found, _) = router.numbers.get_or_read(lookup, generation, read).await?;
    if found.len() > 1 {
        log::warn!("inbound {provider}: {to} matches {} numbers; refusing", found.len());
        return Ok((addresses, None));
    }
    Ok((addresses, found.first().cloned()))
}

/// The stream a recorded call is handed to, when it is to be handed on.
fn media_target(call: &InboundCall, inbound: &InboundConfig) -> Option<String> {
    let to_hand_on = [Outcome::Routed, Outcome::AnswerFailed]
        .iter()
        .any(|o| call.outcome == o.as_str());
    let workflow_id = call
        .workflow_id
        .filter(|_| to_hand_on && !inbound.media_ws_url.is_empty())?;
    Some(media::media_url(
        &inbound.media_ws_url,
        &inbound.ws_token_secret,
        workflow_id,
        call.organization_id,
        call.id,
    ))
}

/// The answer to a recorded call (`first`: recorded by this request, else
/// a retry of it), counted as a decision. Built from the row alone, so a
/// retry gets what the first request got; Telnyx is answered or rejected
/// through its API.
async fn deliver(state: &AppState, call: &StartedCall, row: InboundCall, first: bool) -> Document {
    let inbound = &state.config.inbound;
    let outcome = Outcome::parse(&row.outcome).unwrap_or(Outcome::NumberNotConfigured);
    if call.carrier == Carrier::Telnyx {
        return telnyx(state, call, row, outcome, first).await;
    }
    count(call.carrier, first, outcome);
    match media_target(&row, inbound) {
        Some(url) => document::connect(call.carrier, &url, row.id, &row.call_id),
        None => document::reject(call.carrier, &inbound.reject_message),
    }
}

/// Counts a verified start: its outcome when it made the row, else a retry.
fn count(carrier: Carrier, first: bool, outcome: Outcome) {
    let decision = if first { outcome.as_str() } else { "retry" };
    crate::metrics::inbound_decision(carrier.kind().as_str(), decision);
}

/// Telnyx ignores webhook bodies: a call is answered with a stream, or
/// rejected, by a Call Control command (§4.4), off the async workers and
/// within `sync.timeout_ms`. A call answered before gets nothing new; one
/// whose answer failed is answered again with the same `command_id`.
async fn telnyx(state: &AppState, call: &StartedCall, row: InboundCall, outcome: Outcome, first: bool) -> Document {
    let stream_url = media_target(&row, &state.config.inbound);
    let command = match (outcome, stream_url) {
        (Outcome::Routed, Some(_)) => {
            count(Carrier::Telnyx, first, outcome);
            return document::telnyx("ok");
        }
        (_, Some(stream_url)) => CallCommand::Answer { stream_url },
        (_, None) => CallCommand::Reject,
    };
    let Some(config) = call
        .verified
        .iter()
        .find(|c| c.config_id == row.telephony_configuration_id)
    else {
        // `retried` let the row through only under a verified configuration.
        return document::telnyx("error");
    };
    let answering = matches!(command, CallCommand::Answer { .. });
    let (carriers, creds, call_id) = (state.carriers.clone(), config.credentials.clone(), row.call_id.clone());
    let sent = web::block(move || carriers.telnyx_command(&creds, &call_id, &command))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    let (document, outcome) = match (answering, sent) {
        (true, Ok(())) => {
            let (id, routed) = (row.id, Outcome::Routed.as_str());
            if let Err(e) = state
                .write_call_log(move |c| Ok(db::calls::set_outcome(c, id, routed)?))
                .await
            {
                log::error!("inbound telnyx: call {id} was answered but not recorded as routed: {e}");
            }
            (document::telnyx("ok"), Outcome::Routed)
        }
        (true, Err(e)) => {
            log::warn!("inbound telnyx: answering call {} failed: {e}", row.call_id);
            (document::telnyx("error"), Outcome::AnswerFailed)
        }
        (false, sent) => {
            if let Err(e) = sent {
                log::warn!("inbound telnyx: rejecting call {} failed: {e}", row.call_id);
            }
            (document::telnyx("rejected"), outcome)
        }
    };
    count(Carrier::Telnyx, first, outcome);
    document
}
