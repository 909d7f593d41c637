//! HTTP in, JSON out: each file serves the endpoints of one section of API.md.

pub mod api_keys;
pub mod caller;
pub mod configs;
pub mod deadline;
pub mod extract;
pub mod health;
pub mod inbound;
pub mod inbound_calls;
pub mod lists;
pub mod metrics;
pub mod phone_numbers;
pub mod request_id;
pub mod workflows;

use actix_web::http::Method;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse, Resource, ResponseError, Route};
use serde_json::json;

use crate::error::{cause_chain, ApiError, RETRY_AFTER_SECS};

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::internal(e.to_string())
    }
}

/// The contract's JSON envelope of every error (API.md §1).
impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Status { status, .. } => *status,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        let body = match self {
            ApiError::Status { detail, .. } => json!({ "detail": detail }),
            ApiError::Unauthorized(detail) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
                json!({ "detail": detail })
            }
            ApiError::Unavailable(detail) => {
                response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
                json!({ "detail": detail })
            }
            ApiError::Validation(errors) => json!({ "detail": errors }),
            ApiError::Internal(cause) => {
                log::error!("internal error: {}", cause_chain(cause.as_ref()));
                json!({ "detail": "Internal Server Error" })
            }
        };
        response.json(body)
    }
}

/// A resource serving `routes`; any other method gets the contract's JSON 405
/// with `Allow` naming the methods it serves.
pub(crate) fn resource(path: &str, routes: Vec<(Method, Route)>) -> Resource {
    let allow = routes.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>().join(", ");
    let not_allowed = move || {
        let allow = allow.clone();
        async move {
            let mut response = ApiError::status(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed").error_response();
            let value = header::HeaderValue::from_str(&allow).expect("method names are header-safe");
            response.headers_mut().insert(header::ALLOW, value);
            response
        }
    };
    routes.into_iter().fold(
        web::resource(path).default_service(web::to(not_allowed)),
        |r, (method, route)| r.route(route.method(method)),
    )
}

/// Unknown routes: the contract's JSON 404.
pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found("Not Found"))
}

const CONFIG: &str = "/api/v1/organizations/telephony-configs/{config_id}";
const NUMBER: &str = "/api/v1/organizations/telephony-configs/{config_id}/phone-numbers/{phone_number_id}";

/// Every route of the API: path, method, handler. The server is built from
/// this one list, and `paths` reports it.
fn endpoints() -> Vec<(String, Method, Route)> {
    let config = |rest: &str| format!("{CONFIG}{rest}");
    let number = |rest: &str| format!("{NUMBER}{rest}");
    let api = |rest: &str| format!("/api/v1{rest}");
    vec![
        ("/healthz".into(), Method::GET, web::to(health::healthz)),
        (api("/user/api-keys"), Method::GET, web::to(api_keys::list)),
        (api("/user/api-keys"), Method::POST, web::to(api_keys::create)),
        (
            api("/user/api-keys/{api_key_id}"),
            Method::DELETE,
            web::to(api_keys::archive),
        ),
        (
            api("/user/api-keys/{api_key_id}/reactivate"),
            Method::PUT,
            web::to(api_keys::reactivate),
        ),
        (
            api("/organizations/telephony-providers/metadata"),
            Method::GET,
            web::to(configs::metadata),
        ),
        (
            api("/organizations/telephony-configs"),
            Method::GET,
            web::to(configs::list),
        ),
        (
            api("/organizations/telephony-configs"),
            Method::POST,
            web::to(configs::create),
        ),
        (config(""), Method::GET, web::to(configs::get)),
        (config(""), Method::PUT, web::to(configs::update)),
        (config(""), Method::DELETE, web::to(configs::delete)),
        (
            config("/set-default-outbound"),
            Method::POST,
            web::to(configs::set_default_outbound),
        ),
        (config("/phone-numbers"), Method::GET, web::to(phone_numbers::list)),
        (config("/phone-numbers"), Method::POST, web::to(phone_numbers::create)),
        (number(""), Method::GET, web::to(phone_numbers::get)),
        (number(""), Method::PUT, web::to(phone_numbers::update)),
        (number(""), Method::DELETE, web::to(phone_numbers::delete)),
        (
            number("/set-default-caller"),
            Method::POST,
            web::to(phone_numbers::set_default_caller),
        ),
        (number("/sync"), Method::POST, web::to(phone_numbers::sync)),
        // Carriers call this one; their signature, not an API key, authenticates it.
        (api("/telephony/inbound/run"), Method::POST, web::to(inbound::run)),
        (
            api("/telephony/inbound-calls"),
            Method::GET,
            web::to(inbound_calls::list),
        ),
        (
            api("/telephony/inbound-calls/{inbound_call_id}"),
            Method::GET,
            web::to(inbound_calls::get),
        ),
        (api("/workflows"), Method::GET, web::to(workflows::list)),
        (api("/workflows"), Method::POST, web::to(workflows::create)),
        (api("/workflows/{workflow_id}"), Method::GET, web::to(workflows::get)),
        (api("/workflows/{workflow_id}"), Method::PUT, web::to(workflows::update)),
        (
            api("/workflows/{workflow_id}"),
            Method::DELETE,
            web::to(workflows::delete),
        ),
    ]
}

/// `endpoints` grouped by path, in their order.
fn by_path<T>(items: impl IntoIterator<Item = (String, Method, T)>) -> Vec<(String, Vec<(Method, T)>)> {
    let mut paths: Vec<(String, Vec<(Method, T)>)> = Vec::new();
    for (path, method, item) in items {
        match paths.iter_mut().find(|(p, _)| *p == path) {
            Some((_, methods)) => methods.push((method, item)),
            None => paths.push((path, vec![(method, item)])),
        }
    }
    paths
}

/// Every path the API serves, with its methods.
pub fn paths() -> Vec<(String, Vec<Method>)> {
    by_path(endpoints())
        .into_iter()
        .map(|(path, routes)| (path, routes.into_iter().map(|(m, _)| m).collect()))
        .collect()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    for (path, routes) in by_path(endpoints()) {
        cfg.service(resource(&path, routes));
    }
}
