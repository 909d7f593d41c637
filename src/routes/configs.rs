//! `/api/v1/organizations/telephony-configs` and the providers' metadata (API.md §4).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::caller::Caller;
use super::extract::{page_query, Body, FromBody, PathIds};
use super::lists::{self, Listed};
use crate::db::{self, Unique};
use crate::domain::credentials::{Credentials, ProviderChanged};
use crate::domain::ids::{ConfigId, OrgId};
use crate::domain::input::{Need, Patch, Reader, Text};
use crate::domain::provider::{self, METADATA_JSON};
use crate::error::ApiError;
use crate::records::{find_config as find, routing_conflict};
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
        r.map_inputs(provider::redact_input);
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
        r.map_inputs(provider::redact_input);
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
        ("inactive".into(), false.into()),
        ("inactive_since".into(), Value::Null),
        ("inactive_reason".into(), Value::Null),
        ("created_at".into(), c.created_at.clone().into()),
        ("updated_at".into(), c.updated_at.clone().into()),
    ])
}

fn list_item(c: &db::configs::Config) -> Value {
    let checklist = c.credentials.kind().setup_checklist(c.active_numbers);
    let mut item = summary(c);
    item.insert("phone_number_count".into(), c.active_numbers.into());
    item.insert(
        "is_ready_for_outbound".into(),
        checklist.as_ref().is_none_or(|s| s.ready_for_outbound).into(),
    );
    item.insert(
        "outbound_blocked_reason".into(),
        checklist.and_then(|s| s.outbound_blocked_reason).into(),
    );
    Value::Object(item)
}

fn detail(c: &db::configs::Config) -> Value {
    let mut detail = summary(c);
    detail.extend([
        ("credentials".into(), c.credentials.display()),
        ("sip_connectivity".into(), Value::Null),
        (
            "setup_checklist".into(),
            json!(c.credentials.kind().setup_checklist(c.active_numbers)),
        ),
        ("supports_trunks".into(), false.into()),
        ("trunks".into(), json!([])),
    ]);
    Value::Object(detail)
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
    let config = state.point(move |c| find(c, caller.org_id, id)).await?;
    Ok(HttpResponse::Ok().json(detail(&config)))
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
    result.map_err(|e| {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
        ApiError::status(status, e.detail)
    })?;
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
            find(c, caller.org_id, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(detail(&created)))
}

pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    Body(body, id): Body<UpdateConfig, ConfigId>,
) -> Result<HttpResponse, ApiError> {
    let org_id = caller.org_id;
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
            }
            find(c, org_id, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(detail(&updated)))
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

pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds(id): PathIds<ConfigId>,
) -> Result<HttpResponse, ApiError> {
    state
        .write(move |c| {
            find(c, caller.org_id, id)?;
            // Deleting would leave the carriers' webhooks pointing at us (the reference cascades).
            let numbers = db::phone_numbers::count_for_config(c, id)?;
            if numbers > 0 {
                return Err(ApiError::conflict(format!(
                    "Telephony configuration has {numbers} phone number(s). Delete them first."
                )));
            }
            db::configs::delete(c, caller.org_id, id)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "message": "Telephony configuration deleted" })))
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
            find(c, caller.org_id, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(detail(&config)))
}
