//! `/api/v1/workflows`: the binding targets of phone numbers (API.md §3).

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::caller::Caller;
use super::extract::path::WorkflowPath;
use super::extract::{Body, FromBody, PathIds};
use super::openapi::{PayloadTooLarge, Unavailable, ValidationFailed};
use super::ErrorDetail;
use crate::db;
use crate::db::workflows::Workflow;
use crate::domain::ids::WorkflowId;
use crate::domain::input::{Need, Reader, Text};
use crate::error::ApiError;
use crate::records::WORKFLOW_NOT_FOUND;
use crate::state::AppState;

/// The body of a create or rename.
#[derive(ToSchema)]
#[schema(as = WorkflowRequest)]
pub struct WorkflowBody {
    /// Trimmed; 1–255 characters.
    #[schema(min_length = 1, max_length = 255)]
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct WorkflowListResponse {
    pub workflows: Vec<Workflow>,
}

/// `{"message": …}`: what a delete answers.
#[derive(Serialize, ToSchema)]
pub struct Message {
    pub message: &'static str,
}

impl FromBody for WorkflowBody {
    fn from_body(body: &Value, r: &mut Reader) -> Option<Self> {
        let f = r.object(body, vec!["body".into()])?;
        let name = r.text(&f, "name", Need::Required, Text::name(255));
        Some(WorkflowBody { name: name? })
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/workflows",
    operation_id = "list_workflows",
    tag = "workflows",
    summary = "List the organization's workflows",
    responses((status = 200, description = "Ordered by id", body = WorkflowListResponse))
)]
pub async fn list(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let workflows = state.read(move |c| Ok(db::workflows::list(c, caller.org_id)?)).await?;
    Ok(HttpResponse::Ok().json(WorkflowListResponse { workflows }))
}

#[utoipa::path(
    post,
    path = "/api/v1/workflows",
    operation_id = "create_workflow",
    tag = "workflows",
    summary = "Create a workflow",
    request_body = WorkflowBody,
    responses(
        (status = 200, description = "Successful Response", body = Workflow),
        (status = 400, description = "The body could not be read", body = ErrorDetail),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = ValidationFailed),
        (status = 503, response = Unavailable),
    )
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/workflows/{workflow_id}",
    operation_id = "get_workflow",
    tag = "workflows",
    summary = "Get a workflow",
    params(WorkflowPath),
    responses(
        (status = 200, description = "Successful Response", body = Workflow),
        (status = 404, description = "`Workflow not found`", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
    )
)]
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

#[utoipa::path(
    put,
    path = "/api/v1/workflows/{workflow_id}",
    operation_id = "update_workflow",
    tag = "workflows",
    summary = "Rename a workflow",
    params(WorkflowPath),
    request_body = WorkflowBody,
    responses(
        (status = 200, description = "Successful Response", body = Workflow),
        (status = 400, description = "The body could not be read", body = ErrorDetail),
        (status = 404, description = "`Workflow not found`", body = ErrorDetail),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = ValidationFailed),
        (status = 503, response = Unavailable),
    )
)]
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

#[utoipa::path(
    delete,
    path = "/api/v1/workflows/{workflow_id}",
    operation_id = "delete_workflow",
    tag = "workflows",
    summary = "Delete a workflow no number is bound to",
    params(WorkflowPath),
    responses(
        (status = 200, description = "`{\"message\":\"Workflow deleted\"}`", body = Message),
        (status = 404, description = "`Workflow not found`", body = ErrorDetail),
        (status = 409, description = "`Workflow is bound to N phone number(s); unbind them first.`", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
        (status = 503, response = Unavailable),
    )
)]
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
    Ok(HttpResponse::Ok().json(Message {
        message: "Workflow deleted",
    }))
}
