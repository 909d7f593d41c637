//! `/api/v1/user/api-keys`: keys of the caller's organization (API.md §2).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::extract::path::ApiKeyPath;
use super::extract::{query_flag, Body, FromBody, PathIds};
use super::openapi::{PayloadTooLarge, Unavailable, ValidationFailed};
use super::ErrorDetail;
use crate::auth;
use crate::db;
use crate::db::api_keys::ApiKey;
use crate::domain::ids::ApiKeyId;
use crate::domain::input::{Need, Reader, Text};
use crate::error::ApiError;
use crate::state::AppState;

const NOT_FOUND: &str = "API key not found";

#[derive(ToSchema)]
#[schema(as = APIKeyCreateRequest)]
pub struct CreateKey {
    /// Trimmed; 1–255 characters.
    #[schema(min_length = 1, max_length = 255)]
    name: String,
}

/// A new key: the only time `api_key` is shown.
#[derive(Serialize, ToSchema)]
#[schema(as = APIKeyCreateResponse)]
pub struct CreatedKey {
    #[schema(value_type = i64)]
    pub id: ApiKeyId,
    pub name: String,
    pub key_prefix: String,
    /// The key itself; only its hash is stored.
    pub api_key: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// What archiving or reactivating a key answers.
#[derive(Serialize, ToSchema)]
#[schema(as = APIKeyStatusResponse)]
pub struct KeyStatus {
    pub success: bool,
    pub message: &'static str,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Archived keys too; Pydantic's booleans (`true`, `false`, `1`, `0`, `yes`, `no`, …).
    #[param(default = false)]
    pub include_archived: Option<bool>,
}

impl FromBody for CreateKey {
    fn from_body(body: &Value, r: &mut Reader) -> Option<Self> {
        let f = r.object(body, vec!["body".into()])?;
        let name = r.text(&f, "name", Need::Required, Text::name(255));
        Some(CreateKey { name: name? })
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/user/api-keys",
    operation_id = "list_api_keys",
    tag = "API keys",
    summary = "List the organization's API keys",
    params(ListQuery),
    responses(
        (status = 200, description = "Ordered by id; archived keys only when asked", body = [ApiKey]),
        (status = 400, description = "The query string could not be read", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
    )
)]
pub async fn list(caller: Caller, state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let include_archived = query_flag(&req, "include_archived")?;
    let keys = state
        .read(move |c| Ok(db::api_keys::list(c, Some(caller.org_id), include_archived)?))
        .await?;
    Ok(HttpResponse::Ok().json(keys.into_iter().map(|(_, k)| k).collect::<Vec<_>>()))
}

#[utoipa::path(
    post,
    path = "/api/v1/user/api-keys",
    operation_id = "create_api_key",
    tag = "API keys",
    summary = "Create an API key of the organization",
    request_body = CreateKey,
    responses(
        (status = 200, description = "Successful Response", body = CreatedKey),
        (status = 400, description = "The body could not be read", body = ErrorDetail),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = ValidationFailed),
        (status = 503, response = Unavailable),
    )
)]
pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    Body(body, _): Body<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    let (row, key) = state
        .write(move |c| Ok(auth::issue_key(c, caller.org_id, &body.name)?))
        .await?;
    Ok(HttpResponse::Ok().json(CreatedKey {
        id: row.id,
        name: row.name,
        key_prefix: row.key_prefix,
        api_key: key,
        created_at: row.created_at,
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/user/api-keys/{api_key_id}",
    operation_id = "archive_api_key",
    tag = "API keys",
    summary = "Archive (revoke) an API key; it stops authenticating at once",
    params(ApiKeyPath),
    responses(
        (status = 200, description = "`API key archived successfully`", body = KeyStatus),
        (status = 404, description = "`API key not found`", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
        (status = 503, response = Unavailable),
    )
)]
pub async fn archive(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds(id): PathIds<ApiKeyId>,
) -> Result<HttpResponse, ApiError> {
    set_archived(caller, state, id, true, "API key archived successfully").await
}

#[utoipa::path(
    put,
    path = "/api/v1/user/api-keys/{api_key_id}/reactivate",
    operation_id = "reactivate_api_key",
    tag = "API keys",
    summary = "Reactivate an archived API key",
    params(ApiKeyPath),
    responses(
        (status = 200, description = "`API key reactivated successfully`", body = KeyStatus),
        (status = 404, description = "`API key not found`", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
        (status = 503, response = Unavailable),
    )
)]
pub async fn reactivate(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds(id): PathIds<ApiKeyId>,
) -> Result<HttpResponse, ApiError> {
    set_archived(caller, state, id, false, "API key reactivated successfully").await
}

async fn set_archived(
    caller: Caller,
    state: web::Data<AppState>,
    id: ApiKeyId,
    archived: bool,
    message: &'static str,
) -> Result<HttpResponse, ApiError> {
    let found = state
        .write(move |c| Ok(db::api_keys::set_archived(c, caller.org_id, id, archived)?))
        .await?;
    if !found {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    if archived {
        state.keys.forget(id);
    }
    Ok(HttpResponse::Ok().json(KeyStatus { success: true, message }))
}
