//! `/api/v1/organizations/telephony-configs/{config_id}/trunks` (TRUNKS.md §2).
//!
//! A trunk write holds its configuration's lock (`AppState::config_locks`)
//! from its checks to its commit, the carrier's work included, and runs to
//! its end even when its client leaves: the carrier's trunk is made before
//! the row and removed before the row, and nothing else of the
//! configuration's trunks changes in between (W5–W8).

use actix_web::{web, HttpRequest, HttpResponse};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::caller::Caller;
use super::extract::path::{ConfigPath, TrunkPath};
use super::extract::{query_flag, Body, PathIds};
use super::openapi::{PayloadTooLarge, Unavailable, ValidationFailed};
use super::to_the_end;
use super::ErrorDetail;
use crate::db::configs::Config;
use crate::db::trunks::{Trunk, Values};
use crate::db::{self, Unique};
use crate::domain::credentials::Credentials;
use crate::domain::ids::{ConfigId, TrunkId};
use crate::domain::input::Reader;
use crate::domain::phone_number::SyncResult;
use crate::domain::provider::ProviderKind;
use crate::domain::trunk::{read_settings, TrunkCreateRequest, TrunkUpdateRequest};
use crate::error::ApiError;
use crate::providers::{Applied, RemoteTrunk};
use crate::records::find_config;
use crate::state::AppState;

pub const TRUNK_NOT_FOUND: &str = "Trunk not found";

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Delete even when the carrier cannot deactivate it (the failure is in
    /// `provider_sync`). Pydantic's booleans.
    #[param(default = false)]
    pub force: Option<bool>,
}

/// `GET …/trunks`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrunkListResponse {
    pub trunks: Vec<Trunk>,
}

/// `DELETE …/trunks/{trunk_id}`: `provider_sync` is the carrier's removal,
/// `null` when no carrier was asked (a telebind addition).
#[derive(Debug, Serialize, ToSchema)]
pub struct TrunkDeleteResponse {
    pub success: bool,
    pub provider_sync: Option<SyncResult>,
}

/// The caller's configuration, when its provider has trunks.
fn trunk_config(conn: &Connection, caller: Caller, id: ConfigId) -> Result<Config, ApiError> {
    let config = find_config(conn, caller.org_id, id)?;
    let kind = config.credentials.kind();
    if !kind.supports_trunks() {
        return Err(ApiError::bad_request(format!(
            "telebind does not model trunks on {} configurations \u{2014} calls route through the provider account itself. Numbers on this configuration need no trunk.",
            kind.as_str()
        )));
    }
    Ok(config)
}

/// Trunk `id` of configuration `config_id`.
fn find_trunk(conn: &Connection, config_id: ConfigId, id: TrunkId) -> Result<Trunk, ApiError> {
    db::trunks::get(conn, config_id, id)?.ok_or_else(|| ApiError::not_found(TRUNK_NOT_FOUND))
}

fn name_taken(name: &str) -> ApiError {
    ApiError::conflict(format!("A trunk named '{name}' already exists on this configuration."))
}

/// The 409 of a taken name, before the carrier is asked for anything (the
/// unique index refuses it again at the write).
fn check_name(conn: &Connection, config_id: ConfigId, name: &str, except: Option<TrunkId>) -> Result<(), ApiError> {
    match db::trunks::name_taken(conn, config_id, name, except)? {
        true => Err(name_taken(name)),
        false => Ok(()),
    }
}

/// Maps the name index's violation to its 409.
fn unique_name(name: &str) -> impl Fn(rusqlite::Error) -> ApiError + '_ {
    move |e| match db::violated(&e) {
        Some(Unique::TrunkName) => name_taken(name),
        _ => e.into(),
    }
}

/// `settings` in the provider's schema, or the 422 of every problem.
fn validated_settings(kind: ProviderKind, settings: &Map<String, Value>) -> Result<Value, ApiError> {
    let mut reader = Reader::new();
    let settings = read_settings(kind, settings, &mut reader);
    reader.finish(settings).map_err(ApiError::Validation)
}

/// The carrier ids that other trunks of ours on the configuration's account
/// hold: never this one's too (W10).
fn held(conn: &Connection, credentials: &Credentials, except: Option<TrunkId>) -> Result<Vec<String>, ApiError> {
    let (kind, account) = (credentials.kind(), credentials.routing_account());
    Ok(db::trunks::external_ids_on_account(
        conn,
        kind.as_str(),
        account,
        except,
    )?)
}

fn not_at_carrier(external_id: Option<String>) -> Applied {
    Applied {
        external_id,
        created: false,
    }
}

/// What the trunk's write needs from the checks before it.
struct Planned {
    /// The trunk being updated; `None` for a new one.
    trunk: Option<TrunkId>,
    credentials: Credentials,
    name: String,
    enabled: bool,
    settings: Value,
    external_id: Option<String>,
    held: Vec<String>,
}

impl Planned {
    /// Makes the carrier's trunk match the plan, off the async workers.
    async fn apply(&self, state: &AppState) -> Result<Applied, ApiError> {
        let (carriers, credentials, held) = (state.carriers.clone(), self.credentials.clone(), self.held.clone());
        let (name, enabled, settings, external_id) = (
            self.name.clone(),
            self.enabled,
            self.settings.clone(),
            self.external_id.clone(),
        );
        let applied = web::block(move || {
            let trunk = RemoteTrunk {
                name: &name,
                enabled,
                settings: &settings,
            };
            carriers.apply_trunk(&credentials, &trunk, external_id.as_deref(), &held)
        })
        .await??;
        Ok(applied)
    }

    /// The carrier trunk `applied` made is of no row: it is deactivated again,
    /// as far as the carrier lets it (W5), unless another trunk of ours
    /// recorded it meanwhile (found by name after an answer without a UUID).
    async fn undo(&self, state: &AppState, applied: &Applied) {
        let Some(uuid) = applied.external_id.clone().filter(|_| applied.created) else {
            return;
        };
        let (credentials, except) = (self.credentials.clone(), self.trunk);
        match state.read(move |c| held(c, &credentials, except)).await {
            Ok(held) if held.contains(&uuid) => return,
            Ok(_) => {}
            Err(e) => {
                log::warn!(
                    "trunk '{}': the carrier trunk {uuid} made for it is left active: {e}",
                    self.name
                );
                return;
            }
        }
        let (carriers, credentials, ids) = (state.carriers.clone(), self.credentials.clone(), vec![uuid.clone()]);
        let undone = web::block(move || carriers.remove_trunks(&credentials, &ids)).await;
        match undone {
            Ok(Ok(())) => log::info!(
                "trunk '{}': the carrier trunk {uuid} made for it was deactivated again",
                self.name
            ),
            Ok(Err(e)) => log::warn!(
                "trunk '{}': the carrier trunk {uuid} made for it could not be deactivated: {}",
                self.name,
                e.detail
            ),
            Err(e) => log::warn!(
                "trunk '{}': deactivating the carrier trunk {uuid} failed: {e}",
                self.name
            ),
        }
    }
}

/// Runs `write` with what the carrier made; when it fails, what the carrier
/// made for it is undone.
async fn record<T: Send + 'static>(
    state: &AppState,
    planned: &Planned,
    applied: Applied,
    write: impl FnOnce(&Connection, Values) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let (name, enabled, settings) = (planned.name.clone(), planned.enabled, planned.settings.clone());
    let (credentials, except, external_id) = (planned.credentials.clone(), planned.trunk, applied.external_id.clone());
    let written = state
        .write(move |c| {
            // Another configuration on the account may have recorded the same
            // carrier trunk meanwhile (its lock is not ours).
            if let Some(id) = &external_id {
                if held(c, &credentials, except)?.contains(id) {
                    return Err(ApiError::conflict(format!(
                        "A Cloudonix trunk named '{name}' already exists"
                    )));
                }
            }
            let values = Values {
                name: &name,
                enabled,
                settings: &settings,
                external_id: external_id.as_deref(),
            };
            write(c, values)
        })
        .await;
    if written.is_err() {
        planned.undo(state, &applied).await;
    }
    written
}

#[utoipa::path(
    get,
    path = "/api/v1/organizations/telephony-configs/{config_id}/trunks",
    operation_id = "list_telephony_trunks",
    tag = "trunks",
    summary = "The configuration's SIP trunks (empty for providers without)",
    params(ConfigPath),
    responses(
        (status = 200, description = "Successful Response", body = TrunkListResponse),
        (status = 404, description = "`Telephony configuration not found`", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
        (status = 503, response = Unavailable),
    )
)]
pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds(config_id): PathIds<ConfigId>,
) -> Result<HttpResponse, ApiError> {
    let trunks = state
        .read(move |c| {
            let config = find_config(c, caller.org_id, config_id)?;
            // Other providers answer an empty list, not the 400 of a write (W14).
            match config.credentials.kind().supports_trunks() {
                true => Ok(db::trunks::list(c, config_id)?),
                false => Ok(Vec::new()),
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(TrunkListResponse { trunks }))
}

#[utoipa::path(
    post,
    path = "/api/v1/organizations/telephony-configs/{config_id}/trunks",
    operation_id = "create_telephony_trunk",
    tag = "trunks",
    summary = "Add a SIP trunk, made at the carrier before it is stored",
    params(ConfigPath),
    request_body = TrunkCreateRequest,
    responses(
        (status = 200, description = "Successful Response", body = Trunk),
        (status = 400, description = "The provider has no trunks, or the body could not be read", body = ErrorDetail),
        (status = 404, description = "`Telephony configuration not found`", body = ErrorDetail),
        (status = 409, description = "The name is taken in this configuration, or at the carrier by a trunk telebind does not manage", body = ErrorDetail),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = ValidationFailed),
        (status = 502, description = "The carrier refused or could not be reached; nothing is stored", body = ErrorDetail),
        (status = 503, response = Unavailable),
    )
)]
pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    Body(body, config_id): Body<TrunkCreateRequest, ConfigId>,
) -> Result<HttpResponse, ApiError> {
    to_the_end(async move {
        let _turn = state.config_locks.lock(config_id).await;
        let planned = state
            .read(move |c| {
                let config = trunk_config(c, caller, config_id)?;
                let settings = validated_settings(config.credentials.kind(), &body.settings)?;
                check_name(c, config_id, &body.name, None)?;
                Ok(Planned {
                    trunk: None,
                    held: held(c, &config.credentials, None)?,
                    credentials: config.credentials,
                    name: body.name,
                    enabled: body.enabled,
                    settings,
                    external_id: None,
                })
            })
            .await?;
        // A disabled new trunk has nothing to switch off at the carrier (W8).
        let applied = match planned.enabled {
            true => planned.apply(&state).await?,
            false => not_at_carrier(None),
        };
        let trunk = record(&state, &planned, applied, move |c, values| {
            trunk_config(c, caller, config_id)?;
            let id = db::trunks::insert(c, config_id, &values).map_err(unique_name(values.name))?;
            find_trunk(c, config_id, id)
        })
        .await?;
        Ok(HttpResponse::Ok().json(trunk))
    })
    .await
}

#[utoipa::path(
    put,
    path = "/api/v1/organizations/telephony-configs/{config_id}/trunks/{trunk_id}",
    operation_id = "update_telephony_trunk",
    tag = "trunks",
    summary = "Rename, enable, disable or re-set a SIP trunk, at the carrier first",
    params(TrunkPath),
    request_body = TrunkUpdateRequest,
    responses(
        (status = 200, description = "Successful Response", body = Trunk),
        (status = 400, description = "The provider has no trunks, or the body could not be read", body = ErrorDetail),
        (status = 404, description = "The configuration or the trunk is not found", body = ErrorDetail),
        (status = 409, description = "The name is taken", body = ErrorDetail),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = ValidationFailed),
        (status = 502, description = "The carrier refused or could not be reached; the row is kept as it was", body = ErrorDetail),
        (status = 503, response = Unavailable),
    )
)]
pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    Body(body, (config_id, trunk_id)): Body<TrunkUpdateRequest, (ConfigId, TrunkId)>,
) -> Result<HttpResponse, ApiError> {
    to_the_end(async move {
        let _turn = state.config_locks.lock(config_id).await;
        let planned = state
            .read(move |c| {
                let config = trunk_config(c, caller, config_id)?;
                let trunk = find_trunk(c, config_id, trunk_id)?;
                let settings = match &body.settings {
                    Some(given) => validated_settings(config.credentials.kind(), given)?,
                    None => trunk.settings,
                };
                let name = body.name.unwrap_or(trunk.name.clone());
                if name != trunk.name {
                    check_name(c, config_id, &name, Some(trunk_id))?;
                }
                Ok(Planned {
                    trunk: Some(trunk_id),
                    held: held(c, &config.credentials, Some(trunk_id))?,
                    credentials: config.credentials,
                    name,
                    enabled: body.enabled.unwrap_or(trunk.enabled),
                    settings,
                    external_id: trunk.external_id,
                })
            })
            .await?;
        // Every save doubles as a resync, unless there is nothing at the
        // carrier and nothing to make there.
        let applied = match planned.enabled || planned.external_id.is_some() {
            true => planned.apply(&state).await?,
            false => not_at_carrier(None),
        };
        let trunk = record(&state, &planned, applied, move |c, values| {
            trunk_config(c, caller, config_id)?;
            if !db::trunks::update(c, config_id, trunk_id, &values).map_err(unique_name(values.name))? {
                return Err(ApiError::not_found(TRUNK_NOT_FOUND));
            }
            find_trunk(c, config_id, trunk_id)
        })
        .await?;
        Ok(HttpResponse::Ok().json(trunk))
    })
    .await
}

/// The 409 while numbers dial out over the trunk, active or not.
fn refuse_numbers(conn: &Connection, trunk: &Trunk) -> Result<(), ApiError> {
    match db::trunks::count_numbers(conn, trunk.id)? {
        0 => Ok(()),
        n => Err(ApiError::conflict(format!(
            "{n} phone number(s) dial out over '{}'. Move them to another trunk before deleting it.",
            trunk.name
        ))),
    }
}

/// Deactivates the carrier's trunk first; a refusal keeps the row unless
/// `?force=true` (W8). Never provisioned: no carrier call.
#[utoipa::path(
    delete,
    path = "/api/v1/organizations/telephony-configs/{config_id}/trunks/{trunk_id}",
    operation_id = "delete_telephony_trunk",
    tag = "trunks",
    summary = "Delete a SIP trunk without numbers, deactivating it at the carrier first",
    params(TrunkPath, DeleteQuery),
    responses(
        (status = 200, description = "Deleted", body = TrunkDeleteResponse),
        (status = 400, description = "The provider has no trunks", body = ErrorDetail),
        (status = 404, description = "The configuration or the trunk is not found", body = ErrorDetail),
        (status = 409, description = "Numbers are pinned to the trunk", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
        (status = 502, description = "The carrier could not deactivate it (without `force`)", body = ErrorDetail),
        (status = 503, response = Unavailable),
    )
)]
pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds((config_id, trunk_id)): PathIds<(ConfigId, TrunkId)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let force = query_flag(&req, "force")?;
    to_the_end(async move {
        let _turn = state.config_locks.lock(config_id).await;
        let (credentials, trunk) = state
            .read(move |c| {
                let config = trunk_config(c, caller, config_id)?;
                let trunk = find_trunk(c, config_id, trunk_id)?;
                refuse_numbers(c, &trunk)?;
                Ok((config.credentials, trunk))
            })
            .await?;
        let provider_sync = match trunk.external_id.clone() {
            None => None,
            Some(uuid) => {
                let carriers = state.carriers.clone();
                match web::block(move || carriers.remove_trunks(&credentials, &[uuid])).await? {
                    Ok(()) => Some(SyncResult::ok()),
                    Err(e) if force => Some(SyncResult::failed(e.detail)),
                    Err(e) => return Err(e.into()),
                }
            }
        };
        state
            .write(move |c| {
                trunk_config(c, caller, config_id)?;
                let trunk = find_trunk(c, config_id, trunk_id)?;
                refuse_numbers(c, &trunk)?;
                db::trunks::delete(c, config_id, trunk_id)?;
                Ok(())
            })
            .await?;
        Ok(HttpResponse::Ok().json(TrunkDeleteResponse {
            success: true,
            provider_sync,
        }))
    })
    .await
}
