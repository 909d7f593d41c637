//! `POST /api/v1/telephony/inbound/run`: the carrier webhook of every bound
//! number (INBOUND.md §1). No API key: the carrier's signature is verified
//! against the configurations of the claimed account before any number or
//! workflow is read, and every pre-auth failure gets the same bytes.
//! Every outcome of a POST is HTTP 200 with the carrier's document.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use rusqlite::Connection;

use crate::config::InboundConfig;
use crate::db::{self, calls::Candidate, calls::InboundCall};
use crate::domain::ids::{ConfigId, OrgId};
use crate::error::ApiError;
use crate::inbound::document::{self, Document};
use crate::inbound::fields::{signing_secret, CallFields};
use crate::inbound::replay::{NonceCache, NonceUse};
use crate::inbound::request::{BodyError, Headers, Params, Payload};
use crate::inbound::resolve::{called_form, with_hint, CalledForm};
use crate::inbound::signature::Proof;
use crate::inbound::{decide, detect, media, CalledNumber, Carrier, Outcome, PreAuthCause, WEBHOOK_PATH};
use crate::state::AppState;

/// At most this many distinct secrets are tried per request (§1 step 5).
const MAX_SECRETS: usize = 8;
/// Verified when no configuration matches, so that "no such account" costs
/// what "bad signature" does.
const DUMMY_SECRET: &str = "telebind-no-candidate-0000000000";

/// The router's own state: the nonce cache and the pre-auth reject counters.
#[derive(Default)]
pub struct Router {
    nonces: NonceCache,
    refusals: Mutex<HashMap<(Carrier, PreAuthCause), Refusals>>,
}

#[derive(Default)]
struct Refusals {
    count: u64,
    logged: Option<Instant>,
}

impl Router {
    /// Counts a pre-auth reject; logs at most one line a second per cause.
    fn refused(&self, carrier: Carrier, cause: PreAuthCause) {
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
        `X-Plivo-Signature-V3` with its nonce, Vobiz's), checked over the URL built from \
        `server.public_base_url`, authenticates it, not an API key. Every outcome is a 200 with \
        the carrier's document: a stream to the voice agent, the one neutral reject line, an \
        acknowledgement of a callback, or a hangup (unknown carrier, unsupported or oversize body).",
    request_body(
        description = "The carrier's call fields as it sends them",
        content(
            (Object = "application/x-www-form-urlencoded"),
            (Object = "application/json"),
        )
    ),
    responses((status = 200, description = "The carrier's call-control document", body = String, content_type = "application/xml"))
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
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))),
    );
    let payload = match Payload::parse(headers.get("content-type"), &bytes) {
        Ok(payload) => Some(payload),
        Err(BodyError::UnsupportedType) => return document::generic_hangup(),
        Err(BodyError::Malformed) => None,
    };
    let Some(carrier) = detect::detect(&headers, payload.as_ref()) else {
        return document::generic_hangup();
    };
    if !matches!(carrier, Carrier::Twilio | Carrier::Plivo | Carrier::Vobiz) {
        log::info!(
            "inbound {}: not supported yet; answered with a hangup",
            carrier.kind().as_str()
        );
        return document::generic_hangup();
    }
    let inbound = &state.config.inbound;
    let reject = || document::reject(carrier, &inbound.reject_message);
    // These carriers post forms; anything else is a body that cannot be theirs.
    let Some(params) = payload.as_ref().and_then(Payload::params).cloned() else {
        router.refused(carrier, PreAuthCause::Malformed);
        return reject();
    };
    let query = req.query_string().to_string();
    let Some(proof) = Proof::read(carrier, &headers, &query) else {
        router.refused(carrier, PreAuthCause::BadSignature);
        return reject();
    };
    let fields = CallFields::read(carrier, &params);

    let lookup = (fields.account.clone(), fields.to.clone());
    let candidates = match state.read(move |c| Ok(candidates(c, carrier, lookup)?)).await {
        Ok(candidates) => candidates,
        Err(e) => return internal(e),
    };
    let verified = verify(carrier, &proof, &candidates, state, &query, &params);
    if verified.is_empty() {
        let cause = if candidates.is_empty() {
            PreAuthCause::NoCandidate
        } else {
            PreAuthCause::BadSignature
        };
        router.refused(carrier, cause);
        return reject();
    }
    if let Some(nonce) = proof.nonce() {
        match router.nonces.first_use(carrier, nonce, Instant::now()) {
            NonceUse::First => {}
            NonceUse::Replayed => {
                router.refused(carrier, PreAuthCause::Replayed);
                return reject();
            }
            NonceUse::Full => {
                log::error!("inbound: the nonce cache is full; refusing signed requests until nonces expire");
                return reject();
            }
        }
    }

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
    let pending = PendingCall {
        provider: carrier.kind().as_str(),
        call_id,
        fields,
        verified: verified.iter().map(|c| (c.config_id, c.org_id)).collect(),
        media_target: !inbound.media_ws_url.is_empty(),
    };
    match state.write(move |c| record(c, &pending)).await {
        Ok(Some(call)) => answer(carrier, &call, inbound),
        Ok(None) => reject(),
        Err(e) => internal(e),
    }
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

/// The configurations of the claimed account; for Plivo without one, those
/// owning the called number (§1: safe only because every pre-auth reject
/// is the same).
fn candidates(
    conn: &Connection,
    carrier: Carrier,
    (account, to): (Option<String>, Option<String>),
) -> rusqlite::Result<Vec<Candidate>> {
    let provider = carrier.kind().as_str();
    match (account, to) {
        (Some(account), _) => db::calls::candidates(conn, provider, &account),
        (None, Some(to)) if carrier == Carrier::Plivo => match called_form(&to) {
            CalledForm::Exact(address) => db::calls::candidates_by_number(conn, provider, &address),
            _ => Ok(Vec::new()),
        },
        _ => Ok(Vec::new()),
    }
}

/// The candidates whose secret verifies the proof.
fn verify<'a>(
    carrier: Carrier,
    proof: &Proof,
    candidates: &'a [Candidate],
    state: &AppState,
    query: &str,
    params: &Params,
) -> Vec<&'a Candidate> {
    let server = &state.config.server;
    let bases: Vec<String> = std::iter::once(&server.public_base_url)
        .chain(&server.public_base_url_aliases)
        .cloned()
        .collect();
    let mut tried: Vec<(&str, bool)> = Vec::new();
    for secret in candidates
        .iter()
        .filter_map(|c| signing_secret(carrier, &c.credentials))
    {
        if tried.len() < MAX_SECRETS && !tried.iter().any(|(s, _)| *s == secret) {
            tried.push((secret, proof.verifies(secret, &bases, query, params)));
        }
    }
    if tried.is_empty() {
        proof.verifies(DUMMY_SECRET, &bases, query, params);
    }
    candidates
        .iter()
        .filter(|c| signing_secret(carrier, &c.credentials).is_some_and(|s| tried.iter().any(|(t, ok)| *ok && *t == s)))
        .collect()
}

/// A verified start request, to decide and record.
struct PendingCall {
    provider: &'static str,
    call_id: String,
    fields: CallFields,
    /// The verified configurations, with their organizations, oldest first.
    verified: Vec<(ConfigId, OrgId)>,
    media_target: bool,
}

/// The call's row: the first one when the carrier retries (§2.4), else a
/// new one with the decision. `None` when the call id is already recorded
/// under configurations that did not sign this request.
fn record(conn: &Connection, call: &PendingCall) -> Result<Option<InboundCall>, ApiError> {
    let config_ids: Vec<ConfigId> = call.verified.iter().map(|(config, _)| *config).collect();
    if let Some(first) = db::calls::find(conn, call.provider, &call.call_id)? {
        if config_ids.contains(&first.telephony_configuration_id) {
            return Ok(Some(first));
        }
        log::warn!(
            "inbound {}: call id {} is recorded under another account",
            call.provider,
            call.call_id
        );
        return Ok(None);
    }
    let to = call.fields.to.as_deref().unwrap_or("");
    let addresses = match called_form(to) {
        CalledForm::Exact(address) => vec![address],
        CalledForm::National => {
            let hints = match &call.fields.to_country {
                Some(country) => vec![country.clone()],
                None => db::calls::country_codes(conn, &config_ids)?,
            };
            let mut addresses: Vec<String> = hints.iter().filter_map(|h| with_hint(to, h)).collect();
            addresses.dedup();
            addresses
        }
        CalledForm::Invalid => Vec::new(),
    };
    let mut found = Vec::new();
    for address in &addresses {
        found.extend(
            db::calls::called_numbers(conn, &config_ids, address)?
                .into_iter()
                .map(|n| (address, n)),
        );
    }
    if found.len() > 1 {
        log::warn!(
            "inbound {}: {to} matches {} numbers; refusing",
            call.provider,
            found.len()
        );
        found.clear();
    }
    let number = found.pop();
    let called = number.as_ref().map(|(_, n)| CalledNumber {
        is_active: n.is_active,
        workflow_id: n.workflow_id,
        workflow_in_org: n.workflow_in_org,
    });
    let outcome = decide(called.as_ref(), call.media_target);
    let (config_id, org_id) = match &number {
        Some((_, n)) => (n.config_id, n.org_id),
        None => call.verified[0],
    };
    let to_normalized = number
        .as_ref()
        .map(|(a, _)| a.as_str())
        .or(addresses.first().map(String::as_str));
    let row = db::calls::insert(
        conn,
        &db::calls::NewCall {
            org_id,
            provider: call.provider,
            call_id: &call.call_id,
            config_id,
            phone_number_id: number.as_ref().map(|(_, n)| n.id),
            workflow_id: number
                .as_ref()
                .and_then(|(_, n)| n.workflow_id)
                .filter(|_| outcome != Outcome::WorkflowNotFound),
            from_number: call.fields.from.as_deref(),
            to_number: call.fields.to.as_deref(),
            to_normalized,
            outcome: outcome.as_str(),
        },
    )?;
    Ok(Some(row))
}

/// The document of a recorded call: the same for the first request and
/// every retry, since it is built from the row alone.
fn answer(carrier: Carrier, call: &InboundCall, inbound: &InboundConfig) -> Document {
    match (call.outcome == Outcome::Routed.as_str(), call.workflow_id) {
        (true, Some(workflow_id)) if !inbound.media_ws_url.is_empty() => {
            let url = media::media_url(
                &inbound.media_ws_url,
                &inbound.ws_token_secret,
                workflow_id,
                call.organization_id,
                call.id,
            );
            document::connect(carrier, &url)
        }
        _ => document::reject(carrier, &inbound.reject_message),
    }
}
