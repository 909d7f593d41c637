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
pub mod openapi;
pub mod phone_numbers;
pub mod request_id;
pub mod trunks;
pub mod workflows;

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, FromRequest, Handler, HttpResponse, Resource, Responder, ResponseError, Route};
use serde::Serialize;
use utoipa::openapi::path::HttpMethod;
use utoipa::ToSchema;

use crate::domain::input::FieldError;
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
        let detail = match self {
            ApiError::Status { detail, .. } => detail,
            ApiError::Unauthorized(detail) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
                *detail
            }
            ApiError::Unavailable(detail) => {
                response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
                *detail
            }
            ApiError::Validation(errors) => return response.json(HttpValidationError { detail: errors }),
            ApiError::Internal(cause) => {
                log::error!("internal error: {}", cause_chain(cause.as_ref()));
                "Internal Server Error"
            }
        };
        response.json(ErrorDetail { detail })
    }
}

/// Every error but a 422: `{"detail": "<message>"}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail<'a> {
    /// What went wrong, in words.
    pub detail: &'a str,
}

/// A 422: every problem of the request at once, in FastAPI's shape.
#[derive(Serialize, ToSchema)]
#[schema(as = HTTPValidationError)]
pub struct HttpValidationError<'a> {
    // Not `required`, as the reference's document has it.
    #[schema(required = false)]
    pub detail: &'a [FieldError],
}

/// Runs `work` to its end even if the client goes away meanwhile (actix
/// drops a request's future then): work that changes a carrier and then
/// records it must not stop between the two.
pub async fn to_the_end<T: 'static>(
    work: impl std::future::Future<Output = Result<T, ApiError>> + 'static,
) -> Result<T, ApiError> {
    actix_web::rt::spawn(work).await.map_err(ApiError::internal)?
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

/// One operation the API serves: a handler, at the method and path its
/// `#[utoipa::path]` annotation documents.
pub struct Operation {
    pub method: Method,
    pub path: String,
    /// Answered only with an API key: documented with the key's security
    /// schemes and its 401.
    pub keyed: bool,
    /// Its method as `/openapi.json` names it.
    documented: HttpMethod,
    route: Route,
}

impl Operation {
    fn new<P, F, Args>(handler: F, keyed: bool) -> Operation
    where
        P: utoipa::Path,
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let path = P::path();
        let (documented, method) = match P::methods().as_slice() {
            [documented] => (documented.clone(), http_method(documented)),
            _ => panic!("{path}: #[utoipa::path] must name exactly one HTTP method"),
        };
        Operation {
            route: web::to(handler),
            method,
            path,
            keyed,
            documented,
        }
    }
}

/// The method a documented one is served at: the same name, upper-cased.
fn http_method(documented: &HttpMethod) -> Method {
    serde_json::to_value(documented)
        .ok()
        .and_then(|name| Method::from_bytes(name.as_str()?.to_ascii_uppercase().as_bytes()).ok())
        .expect("OpenAPI's methods are HTTP methods")
}

/// The table of every operation: `operations` serves exactly these (through
/// `configure`) and `openapi::build` describes exactly these, so the two
/// cannot drift apart.
///
/// To add a route: annotate its handler with `#[utoipa::path(...)]` (method,
/// `path`, `operation_id` — the reference's route name where it has the
/// route —, `tag`, `params`, `request_body`, and every status it answers:
/// `openapi::{PayloadTooLarge, ValidationFailed, Unavailable}` for the 413,
/// 422 and 503, `ErrorDetail` bodies for the others), then name it here,
/// under `keyed` when it takes a `Caller` (its 401 and the key's schemes are
/// added for it). A handler named here without the annotation does not
/// build ("cannot find `__path_<handler>`"); `tests/api/openapi.rs` then
/// asks for one answer of it to be checked against the document.
macro_rules! operations {
    (
        public: [$($public_module:ident::$public:ident),* $(,)?],
        keyed: [$($keyed_module:ident::$keyed:ident),* $(,)?] $(,)?
    ) => {
        /// Collects the schemas of every operation's bodies for the document.
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($public_module::$public,)* $($keyed_module::$keyed,)*))]
        pub(crate) struct Described;

        fn table() -> Vec<Operation> {
            pastey::paste! {
                vec![
                    $(Operation::new::<$public_module::[<__path_ $public>], _, _>($public_module::$public, false),)*
                    $(Operation::new::<$keyed_module::[<__path_ $keyed>], _, _>($keyed_module::$keyed, true),)*
                ]
            }
        }
    };
}

operations! {
    public: [
        health::healthz,
        metrics::render,
        openapi::document_json,
        openapi::docs_page,
        // Carriers call this one; their signature, not an API key, authenticates it.
        inbound::run,
    ],
    keyed: [
        api_keys::list,
        api_keys::create,
        api_keys::archive,
        api_keys::reactivate,
        configs::metadata,
        configs::list,
        configs::create,
        configs::get,
        configs::update,
        configs::delete,
        configs::set_default_outbound,
        configs::reactivate,
        configs::warnings,
        trunks::list,
        trunks::create,
        trunks::update,
        trunks::delete,
        phone_numbers::list,
        phone_numbers::create,
        phone_numbers::get,
        phone_numbers::update,
        phone_numbers::delete,
        phone_numbers::set_default_caller,
        phone_numbers::sync,
        inbound_calls::list,
        inbound_calls::get,
        workflows::list,
        workflows::create,
        workflows::get,
        workflows::update,
        workflows::delete,
    ],
}

/// The operations served on the API's address: all of them, but `GET
/// /metrics` only when `server.metrics_bind` does not give it an address of
/// its own.
pub fn operations(metrics_here: bool) -> Vec<Operation> {
    let mut operations = table();
    operations.retain(|op| metrics_here || op.path != metrics::PATH);
    operations
}

/// Serves `operations`, one resource per path, whose other methods answer 405
/// naming those it serves.
pub fn configure(cfg: &mut web::ServiceConfig, operations: Vec<Operation>) {
    let mut resources: Vec<(String, Vec<(Method, Route)>)> = Vec::new();
    for op in operations {
        match resources.iter_mut().find(|(path, _)| *path == op.path) {
            Some((_, routes)) => routes.push((op.method, op.route)),
            None => resources.push((op.path, vec![(op.method, op.route)])),
        }
    }
    for (path, routes) in resources {
        cfg.service(resource(&path, routes));
    }
}
