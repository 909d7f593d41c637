//! The caller's records or the contract's 404, and the uniqueness rules:
//! what the configuration, number and workflow routes all apply (API.md
//! §4–§5), kept here so that no route file depends on another.

use rusqlite::Connection;

use crate::db::phone_numbers::{PhoneNumber, RoutingHolder};
use crate::db::{self, configs::Config};
use crate::domain::ids::{ConfigId, NumberId, OrgId, TrunkId, WorkflowId};
use crate::error::ApiError;
use crate::providers::ProvisionError;
use crate::sync::SyncError;

pub const CONFIG_NOT_FOUND: &str = "Telephony configuration not found";
pub const NUMBER_NOT_FOUND: &str = "Phone number not found";
pub const WORKFLOW_NOT_FOUND: &str = "Workflow not found";
pub const ADDRESS_TAKEN: &str = "A phone number with this address already exists in the org.";
pub const NUMBER_TRUNK_NOT_FOUND: &str = "Trunk not found on this telephony configuration";

/// Configuration `id` of the caller's organization.
pub fn find_config(conn: &Connection, org_id: OrgId, id: ConfigId) -> Result<Config, ApiError> {
    db::configs::get(conn, org_id, id)?.ok_or_else(|| ApiError::not_found(CONFIG_NOT_FOUND))
}

/// The configuration must be the caller's; cheaper than `find_config`.
pub fn check_config(conn: &Connection, org_id: OrgId, config_id: ConfigId) -> Result<(), ApiError> {
    if db::configs::exists(conn, org_id, config_id)? {
        Ok(())
    } else {
        Err(ApiError::not_found(CONFIG_NOT_FOUND))
    }
}

/// Number `id` of configuration `config_id`.
pub fn find_number(conn: &Connection, config_id: ConfigId, id: NumberId) -> Result<PhoneNumber, ApiError> {
    db::phone_numbers::get(conn, config_id, id)?.ok_or_else(|| ApiError::not_found(NUMBER_NOT_FOUND))
}

/// Number `id` of the caller's configuration `config_id`: one lookup when
/// it is there; when not, the 404 says whether the configuration is missing.
pub fn find_own_number(
    conn: &Connection,
    org_id: OrgId,
    config_id: ConfigId,
    id: NumberId,
) -> Result<PhoneNumber, ApiError> {
    match db::phone_numbers::get_in_org(conn, org_id, config_id, id)? {
        Some(number) => Ok(number),
        None => {
            check_config(conn, org_id, config_id)?;
            Err(ApiError::not_found(NUMBER_NOT_FOUND))
        }
    }
}

/// A workflow given in a body must be one of the caller's.
pub fn check_workflow(conn: &Connection, org_id: OrgId, workflow_id: Option<WorkflowId>) -> Result<(), ApiError> {
    match workflow_id {
        Some(id) if db::workflows::get(conn, org_id, id)?.is_none() => Err(ApiError::not_found(WORKFLOW_NOT_FOUND)),
        _ => Ok(()),
    }
}

/// A trunk given in a number's body must be one of the number's
/// configuration's (TRUNKS.md §2.6); disabled ones count.
pub fn check_number_trunk(conn: &Connection, config_id: ConfigId, trunk_id: Option<TrunkId>) -> Result<(), ApiError> {
    match trunk_id {
        Some(id) if !db::trunks::exists(conn, config_id, id)? => Err(ApiError::not_found(NUMBER_TRUNK_NOT_FOUND)),
        _ => Ok(()),
    }
}

/// The 409 of an inbound routing key held elsewhere (API.md §5.3).
pub fn routing_conflict(holder: &RoutingHolder, org_id: OrgId) -> ApiError {
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

/// Both uniqueness rules of a number, as a check before the carrier is asked
/// about it; the unique indexes enforce them again at insert.
pub fn check_unique_number(
    conn: &Connection,
    org_id: OrgId,
    config: &Config,
    normalized: &str,
) -> Result<(), ApiError> {
    if db::phone_numbers::exists_in_org(conn, org_id, normalized)? {
        return Err(ApiError::conflict(ADDRESS_TAKEN));
    }
    let (kind, account) = (config.credentials.kind(), config.credentials.routing_account());
    match db::phone_numbers::routing_holder(conn, kind.as_str(), account, normalized, None)? {
        Some(holder) => Err(routing_conflict(&holder, org_id)),
        None => Ok(()),
    }
}

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::NotFound => ApiError::not_found(NUMBER_NOT_FOUND),
            other => ApiError::internal(other),
        }
    }
}

/// A carrier refusing a save (provisioning, a trunk) refuses the request.
impl From<ProvisionError> for ApiError {
    fn from(e: ProvisionError) -> Self {
        let status = http::StatusCode::from_u16(e.status).unwrap_or(http::StatusCode::BAD_GATEWAY);
        ApiError::status(status, e.detail)
    }
}
