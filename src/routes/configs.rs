//! `/api/v1/organizations/telephony-configs` and the providers' metadata (API.md §4).

use actix_web::{web, HttpRequest, HttpResponse};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::caller::Caller;
use super::extract::{page_query, query_flag, Body, FromBody, PathIds};
use super::lists::{self, Listed};
use super::to_the_end;
use crate::db::{self, Unique};
use crate::domain::credentials::{Credentials, ProviderChanged};
use crate::domain::ids::{ConfigId, OrgId};
use crate::domain::input::{Need, Patch, Reader, Text};
use crate::domain::phone_number::SyncResult;
use crate::domain::provider::{self, SetupChecklist, METADATA_JSON};
use crate::domain::trunk::sip_connectivity;
use crate::error::ApiError;
use crate::records::{find_config as find, routing_conflict, CONFIG_NOT_FOUND};
use crate::state::AppState;

const NAME: Text = Text::name(64);

pub struct CreateConfig {
    name: String,
    is_default_outbound: bool,
    config: Credentials,
}

pub struct UpdateConfig {
    name: Option<String>,
    config: Option<Credentials>,
}

/// `config`: the provider union; `None` when absent or null (and `required` not set).
fn read_config(r: &mut Reader, f: &crate::domain::input::Fields, required: bool) -> Option<Credentials> {
    match f.get("config") {
        Patch::Value(v) => Credentials::read(v, f.loc("config"), r),
        Patch::Absent if required => {
            r.error("missing", f.loc("config"), "Field required", f.whole().clone(), None);
            None
        }
        Patch::Null if required => {
            r.object(&Value::Null, f.loc("config"));
            None
        }
        _ => None,
    }
}

impl FromBody for CreateConfig {
    fn from_body(body: &Value, r: &mut Reader) -> Option<Self> {
        let f = r.object(body, vec!["body".into()])?;
        let name = r.text(&f, "name", Need::Required, NAME);
        let is_default_outbound = r.bool(&f, "is_default_outbound", Need::Optional).unwrap_or(false);
        let config = read_config(r, &f, true);
        r.map_inputs(provider::redact);
        Some(CreateConfig {
            name: name?,
            is_default_outbound,
            config: config?,
        })
    }
}

impl FromBody for UpdateConfig {
    fn from_body(body: &Value, r: &mut Reader) -> Option<Self> {
        let f = r.object(body, vec!["body".into()])?;
        let name = r.text(&f, "name", Need::Optional, NAME);
        let config = read_config(r, &f, false);
        r.map_inputs(provider::redact);
        Some(UpdateConfig { name, config })
    }
}

fn name_taken(name: &str) -> ApiError {
    ApiError::conflict(format!(
        "A telephony configuration named '{name}' already exists in this organization. Pick a different name."
    ))
}

/// Maps the name index's violation to its 409; everything else stays a 500.
fn unique_name(name: &str) -> impl Fn(rusqlite::Error) -> ApiError + '_ {
    move |e| match db::violated(&e) {
        Some(Unique::ConfigName) => name_taken(name),
        _ => e.into(),
    }
}

/// The fields `ListItem` and `Detail` share.
fn summary(c: &db::configs::Config) -> Map<String, Value> {
    let kind = c.credentials.kind();
    Map::from_iter([
        ("id".into(), json!(c.id)),
        ("name".into(), c.name.clone().into()),
        ("provider".into(), kind.as_str().into()),
        ("connectivity".into(), kind.connectivity().into()),
        ("is_default_outbound".into(), c.is_default_outbound.into()),
        ("inactive".into(), c.inactive.into()),
        ("inactive_since".into(), c.inactive_since.clone().into()),
        ("inactive_reason".into(), c.inactive_reason.clone().into()),
        ("created_at".into(), c.created_at.clone().into()),
        ("updated_at".into(), c.updated_at.clone().into()),
    ])
}

fn checklist(c: &db::configs::Config) -> Option<SetupChecklist> {
    c.credentials
        .kind()
        .setup_checklist(&c.setup, c.credentials.connected())
}

/// `is_ready_for_outbound` and `outbound_blocked_reason` of a list item: the
/// checklist's, except that a parked configuration places no calls (W16).
fn readiness(c: &db::configs::Config) -> (bool, Option<String>) {
    if c.inactive {
        let reason = c.inactive_reason.as_deref().unwrap_or_default();
        let text = format!("This configuration is inactive: {reason}. Reactivate it to place calls.");
        return (false, Some(text));
    }
    match checklist(c) {
        Some(list) => (list.ready_for_outbound, list.outbound_blocked_reason),
        None => (true, None),
    }
}

fn list_item(c: &db::configs::Config) -> Value {
    let (ready, blocked) = readiness(c);
    let mut item = summary(c);
    item.insert("phone_number_count".into(), c.setup.active_numbers.into());
    item.insert("is_ready_for_outbound".into(), ready.into());
    item.insert("outbound_blocked_reason".into(), blocked.into());
    Value::Object(item)
}

fn detail(c: &db::configs::Config, trunks: &[db::trunks::Trunk]) -> Value {
    let mut detail = summary(c);
    detail.extend([
        ("credentials".into(), c.credentials.display()),
        ("sip_connectivity".into(), json!(sip_connectivity(&c.credentials))),
        ("setup_checklist".into(), json!(checklist(c))),
        ("supports_trunks".into(), c.credentials.kind().supports_trunks().into()),
        ("trunks".into(), json!(trunks)),
    ]);
    Value::Object(detail)
}

/// The caller's configuration `id` as its Detail, with its trunks when its
/// provider has any (no trunk query otherwise).
fn find_detail(conn: &Connection, org_id: OrgId, id: ConfigId) -> Result<Value, ApiError> {
    let config = find(conn, org_id, id)?;
    let trunks = match config.credentials.kind().supports_trunks() {
        true => db::trunks::list(conn, id)?,
        false => Vec::new(),
    };
    Ok(detail(&config, &trunks))
}

/// `GET /telephony-config-warnings` (TRUNKS.md §4).
#[derive(Debug, Serialize)]
pub struct TelephonyConfigWarningsResponse {
    pub telnyx_missing_webhook_public_key_count: usize,
    pub vonage_missing_signature_secret_count: usize,
}

pub async fn metadata(_: Caller) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(METADATA_JSON)
}

/// A configuration as listed, with its id for the next page's link.
struct ListItem(ConfigId, Value);

impl Serialize for ListItem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.1.serialize(s)
    }
}

impl Listed for ListItem {
    type Id = ConfigId;
    fn list_id(&self) -> ConfigId {
        self.0
    }
}

pub async fn list(caller: Caller, state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let page = page_query(&req)?;
    lists::respond(&state, &req, "configurations", page, move |c, page| {
        let configs = db::configs::list(c, caller.org_id, page)?;
        Ok(configs.iter().map(|c| ListItem(c.id, list_item(c))).collect())
    })
    .await
}

pub async fn get(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds(id): PathIds<ConfigId>,
) -> Result<HttpResponse, ApiError> {
    let detail = state.point(move |c| find_detail(c, caller.org_id, id)).await?;
    Ok(HttpResponse::Ok().json(detail))
}

/// The 409 of a taken name, before anything is made at the carrier: a
/// refused save must leave nothing behind there (the insert checks again).
async fn check_name(state: &AppState, org_id: OrgId, name: &str, id: Option<ConfigId>) -> Result<(), ApiError> {
    let name = name.to_string();
    state
        .point(move |c| match db::configs::name_taken(c, org_id, &name, id)? {
            true => Err(name_taken(&name)),
            false => Ok(()),
        })
        .await
}

/// Runs save-time provisioning off the async workers; a failure refuses the save.
async fn provision(state: &AppState, mut credentials: Credentials) -> Result<Credentials, ApiError> {
    let carriers = state.carriers.clone();
    let (result, credentials) = web::block(move || (carriers.provision(&mut credentials), credentials)).await?;
    result?;
    Ok(credentials)
}

pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    Body(body, _): Body<CreateConfig>,
) -> Result<HttpResponse, ApiError> {
    let CreateConfig {
        name,
        is_default_outbound,
        mut config,
    } = body;
    config.mint();
    check_name(&state, caller.org_id, &name, None).await?;
    let config = provision(&state, config).await?;
    let created = state
        .write(move |c| {
            let id = db::configs::insert(c, caller.org_id, &name, &config).map_err(unique_name(&name))?;
            if is_default_outbound {
                db::configs::set_default_outbound(c, caller.org_id, id)?;
            }
            find_detail(c, caller.org_id, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(created))
}

pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    Body(body, id): Body<UpdateConfig, ConfigId>,
) -> Result<HttpResponse, ApiError> {
    let org_id = caller.org_id;
    // Trunk work reads these credentials and records what the carrier made under them.
    let _turn = state.config_locks.lock(id).await;
    let stored = state.point(move |c| find(c, org_id, id)).await?;
    let name = body.name.unwrap_or(stored.name);
    check_name(&state, org_id, &name, Some(id)).await?;
    let credentials = match body.config {
        Some(submitted) => {
            let merged = submitted.update_over(&stored.credentials).map_err(|ProviderChanged| {
                ApiError::bad_request("Provider cannot be changed; create a new configuration instead.")
            })?;
            provision(&state, merged).await?
        }
        None => stored.credentials,
    };
    let updated = state
        .write(move |c| {
            let current = find(c, org_id, id)?;
            db::configs::update(c, org_id, id, &name, &credentials).map_err(unique_name(&name))?;
            if credentials.routing_account() != current.credentials.routing_account() {
                follow_routing_account(c, org_id, id, &credentials)?;
                forget_carrier_trunks(c, id)?;
            }
            find_detail(c, org_id, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(updated))
}

/// Moves the configuration's numbers to its new routing account, in the
/// update's transaction; a key held elsewhere refuses the whole update.
fn follow_routing_account(
    conn: &Connection,
    org_id: OrgId,
    id: ConfigId,
    credentials: &Credentials,
) -> Result<(), ApiError> {
    let (kind, account) = (credentials.kind().as_str(), credentials.routing_account());
    match db::phone_numbers::set_routing_account(conn, id, account) {
        Err(e) if db::violated(&e) == Some(Unique::RoutingKey) => {
            for address in db::phone_numbers::addresses(conn, id)? {
                if let Some(holder) = db::phone_numbers::routing_holder(conn, kind, account, &address, Some(id))? {
                    return Err(routing_conflict(&holder, org_id));
                }
            }
            Err(e.into())
        }
        other => Ok(other?),
    }
}

/// A new account's carrier knows nothing of the trunks recorded under the
/// old one (W12): they are provisioned there at their next update, and the
/// old account's stay as they are.
fn forget_carrier_trunks(conn: &Connection, id: ConfigId) -> Result<(), ApiError> {
    let forgotten = db::trunks::forget_external_ids(conn, id)?;
    if forgotten > 0 {
        log::info!(
            "telephony configuration {id}: its account changed; {forgotten} trunk(s) no longer name their carrier \
             trunks on the old account, which stay as they are; each is provisioned on the new account at its next update"
        );
    }
    Ok(())
}

/// Deleting a configuration with numbers would leave the carriers' webhooks
/// pointing at us (the reference cascades).
fn refuse_numbers(conn: &Connection, id: ConfigId) -> Result<(), ApiError> {
    match db::phone_numbers::count_for_config(conn, id)? {
        0 => Ok(()),
        numbers => Err(ApiError::conflict(format!(
            "Telephony configuration has {numbers} phone number(s). Delete them first."
        ))),
    }
}

/// Deactivates the configuration's carrier trunks first (W11): a failure
/// refuses the delete unless `?force=true`, which deletes anyway and says
/// so in `provider_sync` (`null`: no carrier was asked).
pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds(id): PathIds<ConfigId>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let force = query_flag(&req, "force")?;
    let org_id = caller.org_id;
    to_the_end(async move {
        let _turn = state.config_locks.lock(id).await;
        let (credentials, provisioned) = state
            .read(move |c| {
                let config = find(c, org_id, id)?;
                refuse_numbers(c, id)?;
                let trunks = db::trunks::list(c, id)?;
                let provisioned: Vec<String> = trunks.into_iter().filter_map(|t| t.external_id).collect();
                Ok((config.credentials, provisioned))
            })
            .await?;
        let provider_sync = match provisioned.is_empty() {
            true => None,
            false => {
                let carriers = state.carriers.clone();
                match web::block(move || carriers.remove_trunks(&credentials, &provisioned)).await? {
                    Ok(()) => Some(SyncResult::ok()),
                    Err(e) if force => Some(SyncResult::failed(e.detail)),
                    Err(e) => return Err(e.into()),
                }
            }
        };
        state
            .write(move |c| {
                find(c, org_id, id)?;
                refuse_numbers(c, id)?;
                db::configs::delete(c, org_id, id)?;
                Ok(())
            })
            .await?;
        Ok(HttpResponse::Ok()
            .json(json!({ "message": "Telephony configuration deleted", "provider_sync": provider_sync })))
    })
    .await
}

pub async fn set_default_outbound(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds(id): PathIds<ConfigId>,
) -> Result<HttpResponse, ApiError> {
    let config = state
        .write(move |c| {
            find(c, caller.org_id, id)?;
            db::configs::set_default_outbound(c, caller.org_id, id)?;
            find_detail(c, caller.org_id, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(config))
}

/// Clears `inactive` and answers with the Detail of the row it updated, in
/// one transaction: a re-park meanwhile cannot turn it into a 404 (W20).
/// There is no body; whatever is sent is not read.
pub async fn reactivate(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds(id): PathIds<ConfigId>,
) -> Result<HttpResponse, ApiError> {
    let detail = state
        .write(move |c| {
            if !db::configs::set_inactive(c, Some(caller.org_id), id, None)? {
                return Err(ApiError::not_found(CONFIG_NOT_FOUND));
            }
            find_detail(c, caller.org_id, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(detail))
}

/// Counts of the caller's configurations whose webhooks cannot be verified
/// for want of a secret (TRUNKS.md §4); parked ones count.
pub async fn warnings(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let signers = state
        .read(move |c| Ok(db::configs::webhook_signers(c, caller.org_id)?))
        .await?;
    let missing = |kind| {
        signers
            .iter()
            .filter(|c| c.kind() == kind && c.webhook_secret_missing())
            .count()
    };
    Ok(HttpResponse::Ok().json(TelephonyConfigWarningsResponse {
        telnyx_missing_webhook_public_key_count: missing(provider::ProviderKind::Telnyx),
        vonage_missing_signature_secret_count: missing(provider::ProviderKind::Vonage),
    }))
}
