//! `/api/v1/organizations/telephony-configs/{config_id}/phone-numbers` (API.md §5).
//!
//! Each handler orders the work: read → decide → write → push → record. A
//! push runs after the write's transaction has committed, on a blocking
//! thread, one at a time per number (see `state::AppState::lock_number`).

use actix_web::http::header::ContentType;
use actix_web::{web, HttpRequest, HttpResponse};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::{json, Value};

use super::configs::find as find_config;
use super::extract::{query_flag, Body, PathIds};
use crate::auth::Caller;
use crate::db::phone_numbers::{Changes, NewRow, PhoneNumber, RoutingHolder};
use crate::db::{self, Unique};
use crate::domain::address::{Address, AddressError};
use crate::domain::input::FieldError;
use crate::domain::phone_number::{
    may_be_attached, should_attach, LastSync, NewPhoneNumber, PhoneNumberPatch, SyncResult,
};
use crate::error::ApiError;
use crate::providers::Ownership;
use crate::state::AppState;

pub const NOT_FOUND: &str = "Phone number not found";
const ADDRESS_TAKEN: &str = "A phone number with this address already exists in the org.";

/// The configuration must be the caller's: 404 otherwise.
fn check_config(conn: &Connection, org_id: i64, config_id: i64) -> Result<(), ApiError> {
    if db::configs::exists(conn, org_id, config_id)? {
        Ok(())
    } else {
        Err(ApiError::not_found(super::configs::NOT_FOUND))
    }
}

fn find(conn: &Connection, config_id: i64, id: i64) -> Result<PhoneNumber, ApiError> {
    db::phone_numbers::get(conn, config_id, id)?.ok_or_else(|| ApiError::not_found(NOT_FOUND))
}

/// A workflow given in a body must be one of the caller's.
fn check_workflow(conn: &Connection, org_id: i64, workflow_id: Option<i64>) -> Result<(), ApiError> {
    match workflow_id {
        Some(id) if db::workflows::get(conn, org_id, id)?.is_none() => {
            Err(ApiError::not_found(super::workflows::NOT_FOUND))
        }
        _ => Ok(()),
    }
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

/// The 409 of an inbound routing key held elsewhere (API.md §5.3).
pub fn routing_conflict(holder: &RoutingHolder, org_id: i64) -> ApiError {
    let place = if holder.org_id == org_id {
        format!("telephony configuration '{}'", holder.config_name)
    } else {
        "another organization using the same provider account".to_string()
    };
    ApiError::conflict(format!(
        "Phone number {} is already registered under {place}. Inbound calls cannot be uniquely routed when the same number is configured against the same provider account in more than one place.",
        holder.address
    ))
}

/// Both uniqueness rules, as a check before the carrier is asked about a
/// number; the unique indexes enforce them again at insert.
fn check_unique(
    conn: &Connection,
    org_id: i64,
    config: &db::configs::Config,
    normalized: &str,
) -> Result<(), ApiError> {
    if db::phone_numbers::exists_in_org(conn, org_id, normalized)? {
        return Err(ApiError::conflict(ADDRESS_TAKEN));
    }
    let (kind, account) = (config.credentials.kind(), config.credentials.routing_account());
    match db::phone_numbers::routing_holder(conn, kind.as_str(), account, normalized, 0)? {
        Some(holder) => Err(routing_conflict(&holder, org_id)),
        None => Ok(()),
    }
}

/// Runs the push for number `id` and records it. `detach` forces a detach;
/// otherwise the number's stored state decides. The caller holds the number's lock.
async fn push(
    state: &AppState,
    org_id: i64,
    config_id: i64,
    id: i64,
    detach: bool,
) -> Result<(PhoneNumber, SyncResult), ApiError> {
    let (config, mut number) = state
        .read(move |c| Ok((find_config(c, org_id, config_id)?, find(c, config_id, id)?)))
        .await?;
    let attach = !detach && should_attach(number.inbound_workflow_id, number.is_active);
    let carriers = state.carriers.clone();
    let address = number.address_normalized.clone();
    let result = web::block(move || carriers.configure_inbound(&config.credentials, &address, attach)).await?;
    let last = LastSync {
        ok: result.ok,
        message: result.message.clone(),
        attached: attach,
        at: db::now(),
    };
    let stored = last.clone();
    state
        .write(move |c| Ok(db::phone_numbers::record_sync(c, id, &stored)?))
        .await?;
    number.last_provider_sync = Some(last);
    number.provider_sync = Some(result.clone());
    Ok((number, result))
}

/// Locks the number, pushes its current state and answers with it.
async fn push_current(state: &AppState, org_id: i64, config_id: i64, id: i64) -> Result<HttpResponse, ApiError> {
    let _lock = state.lock_number(id).await;
    let (number, _) = push(state, org_id, config_id, id, false).await?;
    Ok(HttpResponse::Ok().json(number))
}

#[derive(Serialize)]
struct NumberList {
    phone_numbers: Vec<PhoneNumber>,
}

pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds([config_id]): PathIds<1>,
) -> Result<HttpResponse, ApiError> {
    // Serialized on the thread that read the rows, straight from them: what
    // waits for an async worker is the JSON (about 0.5 KB a number), not the
    // rows (about three times that), and no `serde_json::Value` copy is made.
    let body = state
        .read(move |c| {
            check_config(c, caller.org_id, config_id)?;
            let numbers = db::phone_numbers::list(c, config_id)?;
            let mut body = Vec::with_capacity(64 + numbers.len() * 640);
            serde_json::to_writer(&mut body, &NumberList { phone_numbers: numbers }).map_err(ApiError::internal)?;
            Ok(body)
        })
        .await?;
    Ok(HttpResponse::Ok().content_type(ContentType::json()).body(body))
}

pub async fn get(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds([config_id, id]): PathIds<2>,
) -> Result<HttpResponse, ApiError> {
    let number = state
        .read(move |c| {
            check_config(c, caller.org_id, config_id)?;
            find(c, config_id, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(number))
}

pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    Body(new, [config_id]): Body<NewPhoneNumber, 1>,
) -> Result<HttpResponse, ApiError> {
    let org_id = caller.org_id;
    let checked = new.clone();
    let (config, address) = state
        .read(move |c| {
            let config = find_config(c, org_id, config_id)?;
            check_workflow(c, org_id, checked.inbound_workflow_id)?;
            let address = Address::parse(&checked.address, checked.country_code.as_ref())
                .map_err(|e| invalid("", e, &checked.address))?;
            check_unique(c, org_id, &config, address.normalized())?;
            Ok((config, address))
        })
        .await?;

    if state.config.sync.verify_ownership {
        let (carriers, credentials, normalized) = (
            state.carriers.clone(),
            config.credentials.clone(),
            address.normalized().to_string(),
        );
        match web::block(move || carriers.check_ownership(&credentials, &normalized)).await? {
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
                address_type: address.kind().as_str(),
                country_code: new.country_code.as_ref().map(|c| c.as_str()),
                label: new.label.as_deref(),
                inbound_workflow_id: new.inbound_workflow_id,
                is_active: new.is_active,
                extra_metadata: &new.extra_metadata,
            };
            let id = db::phone_numbers::insert(c, &row).map_err(|e| match db::violated(&e) {
                Some(Unique::NumberInOrg) => ApiError::conflict(ADDRESS_TAKEN),
                Some(Unique::RoutingKey) => match check_unique(c, org_id, &config, address.normalized()) {
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
        return push_current(&state, org_id, config_id, id).await;
    }
    let number = state.read(move |c| find(c, config_id, id)).await?;
    Ok(HttpResponse::Ok().json(number))
}

pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    Body(patch, [config_id, id]): Body<PhoneNumberPatch, 2>,
) -> Result<HttpResponse, ApiError> {
    let org_id = caller.org_id;
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
            Ok(patch.needs_sync(number.is_active, number.last_provider_sync.as_ref()))
        })
        .await?;

    if needs_sync {
        return push_current(&state, org_id, config_id, id).await;
    }
    let number = state.read(move |c| find(c, config_id, id)).await?;
    Ok(HttpResponse::Ok().json(number))
}

pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds([config_id, id]): PathIds<2>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let force = query_flag(&req, "force")?;
    let org_id = caller.org_id;
    let _lock = state.lock_number(id).await;
    let number = state
        .read(move |c| {
            check_config(c, org_id, config_id)?;
            find(c, config_id, id)
        })
        .await?;
    let mut provider_sync = None;
    if may_be_attached(number.inbound_workflow_id, number.last_provider_sync.as_ref()) {
        let (_, result) = push(&state, org_id, config_id, id, true).await?;
        if !result.ok && !force {
            let message = result
                .message
                .unwrap_or_else(|| "Provider rejected the phone-number detach request".into());
            return Err(ApiError::bad_gateway(message));
        }
        provider_sync = Some(result);
    }
    state.write(move |c| Ok(db::phone_numbers::delete(c, id)?)).await?;
    Ok(HttpResponse::Ok().json(json!({ "message": "Phone number deleted", "provider_sync": provider_sync })))
}

pub async fn set_default_caller(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds([config_id, id]): PathIds<2>,
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
    PathIds([config_id, id]): PathIds<2>,
) -> Result<HttpResponse, ApiError> {
    push_current(&state, caller.org_id, config_id, id).await
}
