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
    check_config, check_number_trunk, check_unique_number, check_workflow, find_config, find_number as find,
    find_own_number, ADDRESS_TAKEN,
};
use crate::state::AppState;
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
    let number = state
        .point(move |c| find_own_number(c, caller.org_id, config_id, id))
        .await?;
    Ok(HttpResponse::Ok().json(number))
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

pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    request_id: RequestId,
    Body(patch, (config_id, id)): Body<PhoneNumberPatch, (ConfigId, NumberId)>,
) -> Result<HttpResponse, ApiError> {
    let org_id = caller.org_id;
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
            Ok(needs_push(after, number.last_provider_sync.as_ref()))
        })
        .await?;
    drop(pinning);

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
