//! `/api/v1/telephony/inbound-calls`: what the inbound router decided for
//! each verified call (INBOUND.md §10), the caller's organization only.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::extract::path::InboundCallPath;
use super::extract::PathIds;
use super::openapi::ValidationFailed;
use super::ErrorDetail;
use crate::db::calls::InboundCall;
use crate::db::{self, calls::Filter};
use crate::domain::ids::{CallId, NumberId, WorkflowId};
use crate::domain::input::Reader;
use crate::error::ApiError;
use crate::inbound::Outcome;
use crate::state::AppState;

pub const CALL_NOT_FOUND: &str = "Inbound call not found";
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 500;

/// A page of the call log, newest first.
#[derive(Serialize, ToSchema)]
#[schema(as = InboundCallListResponse)]
pub struct CallList {
    pub calls: Vec<InboundCall>,
    /// The `before_id` of the next page; null on a page that is not full.
    #[schema(value_type = Option<i64>)]
    pub next_before_id: Option<CallId>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// At most this many calls.
    #[param(minimum = 1, maximum = 500, default = 100)]
    pub limit: Option<i64>,
    /// Only calls older than this one (the previous page's `next_before_id`).
    #[param(minimum = 1)]
    pub before_id: Option<i64>,
    #[param(schema_with = Outcome::schema)]
    pub outcome: Option<String>,
    #[param(minimum = 1)]
    pub phone_number_id: Option<i64>,
    #[param(minimum = 1)]
    pub workflow_id: Option<i64>,
}

/// The list's query: `limit`, `before_id`, `outcome`, `phone_number_id`, `workflow_id`.
fn filter(req: &HttpRequest) -> Result<Filter, ApiError> {
    let query = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request(format!("Malformed query string: {e}")))?;
    let mut r = Reader::new();
    let mut filter = Filter {
        limit: DEFAULT_LIMIT,
        ..Filter::default()
    };
    for (name, raw) in query.iter() {
        let loc = || vec![Value::from("query"), Value::from(name.as_str())];
        match name.as_str() {
            "limit" => match raw.trim().parse::<i64>() {
                Ok(n) if n < 1 => r.error(
                    "greater_than_equal",
                    loc(),
                    "Input should be greater than or equal to 1",
                    raw.as_str().into(),
                    Some(json!({ "ge": 1 })),
                ),
                Ok(n) if n > MAX_LIMIT => r.error(
                    "less_than_equal",
                    loc(),
                    format!("Input should be less than or equal to {MAX_LIMIT}"),
                    raw.as_str().into(),
                    Some(json!({ "le": MAX_LIMIT })),
                ),
                Ok(n) => filter.limit = n,
                Err(_) => r.error(
                    "int_parsing",
                    loc(),
                    "Input should be a valid integer, unable to parse string as an integer",
                    raw.as_str().into(),
                    None,
                ),
            },
            "before_id" => filter.before_id = r.id(loc(), raw).map(CallId),
            "phone_number_id" => filter.phone_number_id = r.id(loc(), raw).map(NumberId),
            "workflow_id" => filter.workflow_id = r.id(loc(), raw).map(WorkflowId),
            "outcome" => match Outcome::parse(raw) {
                Some(outcome) => filter.outcome = Some(outcome.as_str().to_string()),
                None => {
                    let expected = Outcome::ALL.map(|o| format!("'{}'", o.as_str()));
                    let (last, rest) = expected.split_last().expect("outcomes exist");
                    let expected = format!("{} or {last}", rest.join(", "));
                    r.error(
                        "enum",
                        loc(),
                        format!("Input should be {expected}"),
                        raw.as_str().into(),
                        Some(json!({ "expected": expected })),
                    )
                }
            },
            // Unknown parameters are ignored, as FastAPI does.
            _ => {}
        }
    }
    Ok(r.finish(Some(filter))?)
}

#[utoipa::path(
    get,
    path = "/api/v1/telephony/inbound-calls",
    operation_id = "list_inbound_calls",
    tag = "inbound calls",
    summary = "The organization's call log: what the router decided for each verified call",
    params(ListQuery),
    responses(
        (status = 200, description = "Successful Response", body = CallList),
        (status = 400, description = "The query string could not be read", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
    )
)]
pub async fn list(caller: Caller, state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let filter = filter(&req)?;
    let limit = filter.limit;
    let calls = state
        .read(move |c| Ok(db::calls::list(c, caller.org_id, &filter)?))
        .await?;
    // A full page may have more behind it; the next page starts below its last row.
    let next_before_id = (calls.len() as i64 == limit)
        .then(|| calls.last().map(|c| c.id))
        .flatten();
    Ok(HttpResponse::Ok().json(CallList { calls, next_before_id }))
}

#[utoipa::path(
    get,
    path = "/api/v1/telephony/inbound-calls/{inbound_call_id}",
    operation_id = "get_inbound_call",
    tag = "inbound calls",
    summary = "One call of the log",
    params(InboundCallPath),
    responses(
        (status = 200, description = "Successful Response", body = InboundCall),
        (status = 404, description = "`Inbound call not found`", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
    )
)]
pub async fn get(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds(id): PathIds<CallId>,
) -> Result<HttpResponse, ApiError> {
    let call = state.read(move |c| Ok(db::calls::get(c, caller.org_id, id)?)).await?;
    Ok(HttpResponse::Ok().json(call.ok_or_else(|| ApiError::not_found(CALL_NOT_FOUND))?))
}
