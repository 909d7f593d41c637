//! `/api/v1/workflows`: the binding targets of phone numbers (API.md §3).

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::caller::Caller;
use super::extract::{Body, FromBody, PathIds};
use crate::db;
use crate::domain::ids::WorkflowId;
use crate::domain::input::{Need, Reader, Text};
use crate::error::ApiError;
use crate::records::WORKFLOW_NOT_FOUND;
use crate::state::AppState;

pub struct WorkflowBody {
    name: String,
}

impl FromBody for WorkflowBody {
    fn from_body(body: &Value, r: &mut Reader) -> Option<Self> {
        let f = r.object(body, vec!["body".into()])?;
        let name = r.text(&f, "name", Need::Required, Text::name(255));
        Some(WorkflowBody { name: name? })
    }
}

pub async fn list(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let workflows = state.read(move |c| Ok(db::workflows::list(c, caller.org_id)?)).await?;
    Ok(HttpResponse::Ok().json(json!({ "workflows": workflows })))
}

pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    Body(body, _): Body<WorkflowBody>,
) -> Result<HttpResponse, ApiError> {
    let workflow = state
        .write(move |c| Ok(db::workflows::insert(c, caller.org_id, &body.name)?))
        .await?;
    Ok(HttpResponse::Ok().json(workflow))
}

pub async fn get(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds(id): PathIds<WorkflowId>,
) -> Result<HttpResponse, ApiError> {
    let workflow = state
        .point(move |c| Ok(db::workflows::get(c, caller.org_id, id)?))
        .await?;
    Ok(HttpResponse::Ok().json(workflow.ok_or_else(|| ApiError::not_found(WORKFLOW_NOT_FOUND))?))
}

pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    Body(body, id): Body<WorkflowBody, WorkflowId>,
) -> Result<HttpResponse, ApiError> {
    let workflow = state
        .write(move |c| Ok(db::workflows::rename(c, caller.org_id, id, &body.name)?))
        .await?;
    Ok(HttpResponse::Ok().json(workflow.ok_or_else(|| ApiError::not_found(WORKFLOW_NOT_FOUND))?))
}

pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds(id): PathIds<WorkflowId>,
) -> Result<HttpResponse, ApiError> {
    state
        .write(move |c| {
            let workflow =
                db::workflows::get(c, caller.org_id, id)?.ok_or_else(|| ApiError::not_found(WORKFLOW_NOT_FOUND))?;
            if workflow.phone_number_count > 0 {
                return Err(ApiError::conflict(format!(
                    "Workflow is bound to {} phone number(s); unbind them first.",
                    workflow.phone_number_count
                )));
            }
            db::workflows::delete(c, caller.org_id, id)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "message": "Workflow deleted" })))
}
