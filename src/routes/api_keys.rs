//! `/api/v1/user/api-keys`: keys of the caller's organization (API.md §2).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::caller::Caller;
use super::extract::{query_flag, Body, FromBody, PathIds};
use crate::auth;
use crate::db;
use crate::domain::ids::ApiKeyId;
use crate::domain::input::{Need, Reader, Text};
use crate::error::ApiError;
use crate::state::AppState;

const NOT_FOUND: &str = "API key not found";

pub struct CreateKey {
    name: String,
}

impl FromBody for CreateKey {
    fn from_body(body: &Value, r: &mut Reader) -> Option<Self> {
        let f = r.object(body, vec!["body".into()])?;
        let name = r.text(&f, "name", Need::Required, Text::name(255));
        Some(CreateKey { name: name? })
    }
}

pub async fn list(caller: Caller, state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let include_archived = query_flag(&req, "include_archived")?;
    let keys = state
        .read(move |c| Ok(db::api_keys::list(c, Some(caller.org_id), include_archived)?))
        .await?;
    Ok(HttpResponse::Ok().json(keys.into_iter().map(|(_, k)| k).collect::<Vec<_>>()))
}

pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    Body(body, _): Body<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    let (row, key) = state
        .write(move |c| Ok(auth::issue_key(c, caller.org_id, &body.name)?))
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "id": row.id,
        "name": row.name,
        "key_prefix": row.key_prefix,
        "api_key": key,
        "created_at": row.created_at,
    })))
}

pub async fn archive(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds(id): PathIds<ApiKeyId>,
) -> Result<HttpResponse, ApiError> {
    set_archived(caller, state, id, true, "API key archived successfully").await
}

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
    message: &str,
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
    Ok(HttpResponse::Ok().json(json!({ "success": true, "message": message })))
}
