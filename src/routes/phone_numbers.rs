//! `/api/v1/organizations/telephony-configs/{config_id}/phone-numbers` (API.md §5).
//!
//! Each handler reads, decides and writes; telling the carrier is the sync
//! service's (`crate::sync`), asked once the write has committed.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::caller::Caller;
use super::extract::path::{ConfigPath, ForceQuery, NumberPath};
use super::extract::{page_query, query_flag, Body, PathIds};
use super::lists::{self, Listed, PageQuery};
use super::openapi::{PayloadTooLarge, Unavailable, ValidationFailed};
use super::request_id::RequestId;
use super::ErrorDetail;
use crate::db::phone_numbers::{Changes, NewRow, PhoneNumber};
use crate::db::{self, Unique};
use crate::domain::address::{Address, AddressError};
use crate::domain::ids::{ConfigId, NumberId};
use crate::domain::input::FieldError;
use crate::domain::phone_number::{needs_push, NewPhoneNumber, PhoneNumberPatch, SyncResult};
use crate::error::ApiError;
use crate::metrics::Cache;
use crate::providers::{Number, Ownership};
use crate::records::{
    check_config, check_number_trunk, check_unique_number, check_workflow, find_config, find_number as find,
    find_own_number, ADDRESS_TAKEN,
};
use crate::state::{AppState, CachedNumber};
use crate::sync::{Deletion, NumberKey};

/// `GET …/phone-numbers`' body (`lists::respond` writes it).
#[derive(ToSchema)]
#[schema(as = PhoneNumberListResponse)]
pub struct ListResponse {
    pub phone_numbers: Vec<PhoneNumber>,
}

/// What a delete answers.
#[derive(Serialize, ToSchema)]
#[schema(as = PhoneNumberDeleteResponse)]
pub struct Deleted {
    pub message: &'static str,
    /// The detach at the carrier, when the number may have been attached
    /// there; null when no carrier call was needed.
    pub provider_sync: Option<SyncResult>,
}

/// A rule over the address and its country: Pydantic's model-level `value_error`.
fn invalid(loc: &str, error: impl std::fmt::Display, input: &str) -> ApiError {
    let mut loc_parts = vec![Value::from("body")];
    if !loc.is_empty() {
        loc_parts.push(loc.into());
    }
    ApiError::Validation(vec![FieldError {
        kind: "value_error",
        loc: loc_parts,
        msg: format!("Value error, {error}"),
        input: input.into(),
        ctx: None,
    }])
}

/// The caller's number `id` of configuration `config_id`, or the 404.
async fn number_key(
    state: &AppState,
    caller: Caller,
    config_id: ConfigId,
    id: NumberId,
) -> Result<NumberKey, ApiError> {
    let org_id = caller.org_id;
    state.point(move |c| find_own_number(c, org_id, config_id, id)).await?;
    Ok(NumberKey { org_id, config_id, id })
}

/// Pushes the number's stored state and answers with it.
async fn push_current(state: &AppState, key: NumberKey, request_id: &RequestId) -> Result<HttpResponse, ApiError> {
    let (number, _) = state.sync.push(key, &request_id.0).await?;
    Ok(HttpResponse::Ok().json(number))
}

impl Listed for PhoneNumber {
    type Id = NumberId;
    fn list_id(&self) -> NumberId {
        self.id
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/organizations/telephony-configs/{config_id}/phone-numbers",
    operation_id = "list_phone_numbers",
    tag = "phone numbers",
    summary = "List a configuration's phone numbers (active and inactive)",
    description = "Ordered by creation time, then id. Without parameters, the whole list.",
    params(ConfigPath, PageQuery),
    responses(
        (status = 200, description = "Successful Response", body = ListResponse, headers(("Link" = String, description = "`<…?limit=…&after_id=…>; rel=\"next\"` when more items follow the page"))),
        (status = 400, description = "The query string could not be read", body = ErrorDetail),
        (status = 404, description = "`Telephony configuration not found`", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
    )
)]
pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds(config_id): PathIds<ConfigId>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = page_query(&req)?;
    lists::respond(&state, &req, "phone_numbers", page, move |c, page| {
        check_config(c, caller.org_id, config_id)?;
        Ok(db::phone_numbers::list(c, config_id, page)?)
    })
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/organizations/telephony-configs/{config_id}/phone-numbers/{phone_number_id}",
    operation_id = "get_phone_number",
    tag = "phone numbers",
    summary = "Get a phone number",
    params(NumberPath),
    responses(
        (status = 200, description = "Successful Response", body = PhoneNumber),
        (status = 404, description = "`Telephony configuration not found`, or `Phone number not found`", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
    )
)]
pub async fn get(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds((config_id, id)): PathIds<(ConfigId, NumberId)>,
) -> Result<HttpResponse, ApiError> {
    let generation = state.db.generation();
    let owned = |n: &CachedNumber| n.org_id == caller.org_id && n.config_id == config_id;
    // Another organization's or configuration's copy is not this caller's: the read words the 404.
    if let Some(hit) = state.numbers.get(&id, generation).filter(owned) {
        crate::metrics::cache_lookup(Cache::Numbers, true);
        return Ok(json_body(hit.body));
    }
    crate::metrics::cache_lookup(Cache::Numbers, false);
    let number = state
        .point(move |c| find_own_number(c, caller.org_id, config_id, id))
        .await?;
    let body = web::Bytes::from(serde_json::to_vec(&number).map_err(|e| ApiError::internal(e.to_string()))?);
    let cached = CachedNumber {
        org_id: caller.org_id,
        config_id,
        body: body.clone(),
    };
    state.numbers.insert(id, generation, cached);
    Ok(json_body(body))
}

fn json_body(body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body)
}

#[utoipa::path(
    post,
    path = "/api/v1/organizations/telephony-configs/{config_id}/phone-numbers",
    operation_id = "create_phone_number",
    tag = "phone numbers",
    summary = "Add a phone number; with `inbound_workflow_id`, bind it and push the webhook",
    params(ConfigPath),
    request_body = NewPhoneNumber,
    responses(
        (status = 200, description = "The number; `provider_sync` says how the push went when it was bound", body = PhoneNumber),
        (status = 400, description = "The carrier says the number is not in the account, or the body could not be read", body = ErrorDetail),
        (status = 404, description = "`Telephony configuration not found`, or `Workflow not found`", body = ErrorDetail),
        (status = 409, description = "The address is already in the organization, or its routing key is held by another configuration", body = ErrorDetail),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = ValidationFailed),
        (status = 502, description = "The ownership lookup at the carrier failed or timed out", body = ErrorDetail),
        (status = 503, response = Unavailable),
    )
)]
pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    request_id: RequestId,
    Body(new, config_id): Body<NewPhoneNumber, ConfigId>,
) -> Result<HttpResponse, ApiError> {
    let org_id = caller.org_id;
    let checked = new.clone();
    let (config, address) = state
        .read(move |c| {
            let config = find_config(c, org_id, config_id)?;
            check_workflow(c, org_id, checked.inbound_workflow_id)?;
            check_number_trunk(c, config_id, checked.telephony_trunk_id)?;
            let address = Address::parse(&checked.address, checked.country_code.as_ref())
                .map_err(|e| invalid("", e, &checked.address))?;
            check_unique_number(c, org_id, &config, address.normalized())?;
            Ok((config, address))
        })
        .await?;

    if state.config.sync.verify_ownership {
        let (carriers, credentials, normalized, kind) = (
            state.carriers.clone(),
            config.credentials.clone(),
            address.normalized().to_string(),
            address.kind(),
        );
        let number = move || {
            let number = Number {
                address: &normalized,
                kind,
            };
            carriers.check_ownership(&credentials, number)
        };
        match web::block(number).await? {
            Ownership::Owned => {}
            Ownership::NotOwned(message) => return Err(ApiError::bad_request(message)),
            Ownership::LookupFailed(message) => return Err(ApiError::bad_gateway(message)),
        }
    }

    let bound = new.inbound_workflow_id.is_some();
    // Its configuration's trunk work waits for the write: the trunk it is
    // pinned to is not being deleted (W6, W7), nor the configuration (W11).
    let turn = state.config_locks.lock(config_id).await;
    let id = state
        .write(move |c| {
            // Checked again in the transaction: any may have gone meanwhile.
            let config = find_config(c, org_id, config_id)?;
            check_workflow(c, org_id, new.inbound_workflow_id)?;
            check_number_trunk(c, config_id, new.telephony_trunk_id)?;
            let kind = config.credentials.kind();
            let row = NewRow {
                org_id,
                config_id,
                provider: kind.as_str(),
                routing_account: config.credentials.routing_account(),
                address: address.raw(),
                address_normalized: address.normalized(),
                address_type: address.kind(),
                country_code: new.country_code.as_ref().map(|c| c.as_str()),
                label: new.label.as_deref(),
                inbound_workflow_id: new.inbound_workflow_id,
                telephony_trunk_id: new.telephony_trunk_id,
                is_active: new.is_active,
                extra_metadata: &new.extra_metadata,
            };
            let id = db::phone_numbers::insert(c, &row).map_err(|e| match db::violated(&e) {
                Some(Unique::NumberInOrg) => ApiError::conflict(ADDRESS_TAKEN),
                Some(Unique::RoutingKey) => match check_unique_number(c, org_id, &config, address.normalized()) {
                    Err(conflict) => conflict,
                    Ok(()) => e.into(),
                },
                _ => e.into(),
            })?;
            if new.is_default_caller_id {
                db::phone_numbers::set_default_caller(c, config_id, id)?;
            }
            Ok(id)
        })
        .await?;
    drop(turn);

    if bound {
        return push_current(&state, NumberKey { org_id, config_id, id }, &request_id).await;
    }
    let number = state.point(move |c| find(c, config_id, id)).await?;
    Ok(HttpResponse::Ok().json(number))
}

#[utoipa::path(
    put,
    path = "/api/v1/organizations/telephony-configs/{config_id}/phone-numbers/{phone_number_id}",
    operation_id = "update_phone_number",
    tag = "phone numbers",
    summary = "Update a phone number: bind, unbind (`clear_inbound_workflow`), label, activity, metadata",
    description = "Absent or null means no change. The carrier is told only when where the number's calls \
        should go changes, or its last push failed; `provider_sync` is null otherwise.",
    params(NumberPath),
    request_body = PhoneNumberPatch,
    responses(
        (status = 200, description = "Successful Response", body = PhoneNumber),
        (status = 400, description = "The body could not be read", body = ErrorDetail),
        (status = 404, description = "`Telephony configuration not found`, `Phone number not found`, or `Workflow not found`", body = ErrorDetail),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = ValidationFailed),
        (status = 503, response = Unavailable),
    )
)]
pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    request_id: RequestId,
    Body(patch, (config_id, id)): Body<PhoneNumberPatch, (ConfigId, NumberId)>,
) -> Result<HttpResponse, ApiError> {
    let org_id = caller.org_id;
    let sync = state.sync.clone();
    // A trunk being deleted is not pinned to meanwhile (W6, W7).
    let pinning = match patch.telephony_trunk_id {
        Some(_) => Some(state.config_locks.lock(config_id).await),
        None => None,
    };
    let needs_sync = state
        .write(move |c| {
            check_config(c, org_id, config_id)?;
            let number = find(c, config_id, id)?;
            check_workflow(c, org_id, patch.inbound_workflow_id)?;
            check_number_trunk(c, config_id, patch.telephony_trunk_id)?;
            if let Some(address) = &patch.address {
                if *address != number.address && *address != number.address_normalized {
                    let text = "address is immutable; delete the number and create it again";
                    return Err(invalid("address", text, address));
                }
            }
            let country_code = match &patch.country_code {
                Some(country) => {
                    Address::parse(&number.address_normalized, None)
                        .and_then(|a| a.check_country(country))
                        .map_err(|e: AddressError| invalid("country_code", e, country.as_str()))?;
                    Some(country.as_str())
                }
                None => number.country_code.as_deref(),
            };
            let extra_metadata = patch.extra_metadata.clone().map(Value::Object);
            let changes = Changes {
                label: patch.label.as_deref().or(number.label.as_deref()),
                inbound_workflow_id: patch.workflow_after(number.inbound_workflow_id),
                telephony_trunk_id: patch.trunk_after(number.telephony_trunk_id),
                is_active: patch.is_active.unwrap_or(number.is_active),
                country_code,
                extra_metadata: extra_metadata.as_ref().unwrap_or(&number.extra_metadata),
            };
            db::phone_numbers::update(c, id, &changes)?;
            let after = (changes.inbound_workflow_id, changes.is_active);
            Ok(needs_push(after, number.last_provider_sync.as_ref()) || sync.is_pushing(id))
        })
        .await?;
    drop(pinning);

    if needs_sync {
        return push_current(&state, NumberKey { org_id, config_id, id }, &request_id).await;
    }
    let number = state.point(move |c| find(c, config_id, id)).await?;
    Ok(HttpResponse::Ok().json(number))
}

#[utoipa::path(
    delete,
    path = "/api/v1/organizations/telephony-configs/{config_id}/phone-numbers/{phone_number_id}",
    operation_id = "delete_phone_number",
    tag = "phone numbers",
    summary = "Delete a phone number, detaching it at the carrier first",
    params(NumberPath, ForceQuery),
    responses(
        (status = 200, description = "Successful Response", body = Deleted),
        (status = 400, description = "The query string could not be read", body = ErrorDetail),
        (status = 404, description = "`Telephony configuration not found`, or `Phone number not found`", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
        (status = 502, description = "The detach at the carrier failed; the number is kept (unless `force=true`)", body = ErrorDetail),
    )
)]
pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    request_id: RequestId,
    PathIds((config_id, id)): PathIds<(ConfigId, NumberId)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let force = query_flag(&req, "force")?;
    let key = number_key(&state, caller, config_id, id).await?;
    match state.sync.delete(key, force, &request_id.0).await? {
        Deletion::Deleted(provider_sync) => Ok(HttpResponse::Ok().json(Deleted {
            message: "Phone number deleted",
            provider_sync,
        })),
        Deletion::Refused(result) => {
            Err(ApiError::bad_gateway(result.message.unwrap_or_else(|| {
                "Provider rejected the phone-number detach request".into()
            })))
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/organizations/telephony-configs/{config_id}/phone-numbers/{phone_number_id}/set-default-caller",
    operation_id = "set_default_caller_id",
    tag = "phone numbers",
    summary = "Make a number its configuration's default caller id",
    params(NumberPath),
    responses(
        (status = 200, description = "Successful Response", body = PhoneNumber),
        (status = 404, description = "`Telephony configuration not found`, or `Phone number not found`", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
        (status = 503, response = Unavailable),
    )
)]
pub async fn set_default_caller(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds((config_id, id)): PathIds<(ConfigId, NumberId)>,
) -> Result<HttpResponse, ApiError> {
    let number = state
        .write(move |c| {
            check_config(c, caller.org_id, config_id)?;
            find(c, config_id, id)?;
            db::phone_numbers::set_default_caller(c, config_id, id)?;
            find(c, config_id, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(number))
}

#[utoipa::path(
    post,
    path = "/api/v1/organizations/telephony-configs/{config_id}/phone-numbers/{phone_number_id}/sync",
    operation_id = "sync_phone_number",
    tag = "phone numbers",
    summary = "Push the number's binding to its carrier again (attach when bound and active, else detach)",
    params(NumberPath),
    responses(
        (status = 200, description = "The number, with `provider_sync`", body = PhoneNumber),
        (status = 404, description = "`Telephony configuration not found`, or `Phone number not found`", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
    )
)]
pub async fn sync(
    caller: Caller,
    state: web::Data<AppState>,
    request_id: RequestId,
    PathIds((config_id, id)): PathIds<(ConfigId, NumberId)>,
) -> Result<HttpResponse, ApiError> {
    let key = number_key(&state, caller, config_id, id).await?;
    push_current(&state, key, &request_id).await
}
