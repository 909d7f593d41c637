//! `/api/v1/organizations/telephony-configs/{config_id}/phone-numbers` (API.md §5).
//!
//! Each handler reads, decides and writes; telling the carrier is the sync
//! service's (`crate::sync`), asked once the write has committed.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::caller::Caller;
use super::extract::{page_query, query_flag, Body, PathIds};
use super::lists::{self, Listed};
use super::request_id::RequestId;
use crate::db::phone_numbers::{Changes, NewRow, PhoneNumber};
use crate::db::{self, Unique};
use crate::domain::address::{Address, AddressError};
use crate::domain::ids::{ConfigId, NumberId};
use crate::domain::input::FieldError;
use crate::domain::phone_number::{needs_push, NewPhoneNumber, PhoneNumberPatch};
use crate::error::ApiError;
use crate::providers::{Number, Ownership};
use crate::records::{
    check_config, check_unique_number, check_workflow, find_config, find_number as find, find_own_number, ADDRESS_TAKEN,
};
use crate::state::{AppState, CachedNumber};
use crate::sync::{Deletion, NumberKey};

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

pub async fn get(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds((config_id, id)): PathIds<(ConfigId, NumberId)>,
) -> Result<HttpResponse, ApiError> {
    let generation = state.db.generation();
    let owned = |n: &CachedNumber| n.org_id == caller.org_id && n.config_id == config_id;
    // Another organization's or configuration's copy is not this caller's: the read words the 404.
    if let Some(hit) = state.numbers.get(id, generation).filter(owned) {
        crate::metrics::number_cache_lookup(true);
        return Ok(json_body(hit.body));
    }
    crate::metrics::number_cache_lookup(false);
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
    let id = state
        .write(move |c| {
            // Checked again in the transaction: either may have gone meanwhile.
            let config = find_config(c, org_id, config_id)?;
            check_workflow(c, org_id, new.inbound_workflow_id)?;
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

    if bound {
        return push_current(&state, NumberKey { org_id, config_id, id }, &request_id).await;
    }
    let number = state.point(move |c| find(c, config_id, id)).await?;
    Ok(HttpResponse::Ok().json(number))
}

pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    request_id: RequestId,
    Body(patch, (config_id, id)): Body<PhoneNumberPatch, (ConfigId, NumberId)>,
) -> Result<HttpResponse, ApiError> {
    let org_id = caller.org_id;
    let sync = state.sync.clone();
    let needs_sync = state
        .write(move |c| {
            check_config(c, org_id, config_id)?;
            let number = find(c, config_id, id)?;
            check_workflow(c, org_id, patch.inbound_workflow_id)?;
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
                is_active: patch.is_active.unwrap_or(number.is_active),
                country_code,
                extra_metadata: extra_metadata.as_ref().unwrap_or(&number.extra_metadata),
            };
            db::phone_numbers::update(c, id, &changes)?;
            let after = (changes.inbound_workflow_id, changes.is_active);
            Ok(needs_push(after, number.last_provider_sync.as_ref()) || sync.is_pushing(id))
        })
        .await?;

    if needs_sync {
        return push_current(&state, NumberKey { org_id, config_id, id }, &request_id).await;
    }
    let number = state.point(move |c| find(c, config_id, id)).await?;
    Ok(HttpResponse::Ok().json(number))
}

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
        Deletion::Deleted(provider_sync) => {
            Ok(HttpResponse::Ok().json(json!({ "message": "Phone number deleted", "provider_sync": provider_sync })))
        }
        Deletion::Refused(result) => {
            Err(ApiError::bad_gateway(result.message.unwrap_or_else(|| {
                "Provider rejected the phone-number detach request".into()
            })))
        }
    }
}

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

pub async fn sync(
    caller: Caller,
    state: web::Data<AppState>,
    request_id: RequestId,
    PathIds((config_id, id)): PathIds<(ConfigId, NumberId)>,
) -> Result<HttpResponse, ApiError> {
    let key = number_key(&state, caller, config_id, id).await?;
    push_current(&state, key, &request_id).await
}
