//! The API reference: `GET /openapi.json`, an OpenAPI 3.1 document built at
//! start-up from the operations served (`routes::operations`) and the types
//! their handlers read and answer, and `GET /docs`, a page of its own that
//! renders it without fetching anything but the document.

use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};
use utoipa::openapi::path::Paths;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{OpenApi, ToResponse};

use super::{Described, ErrorDetail, HttpValidationError, Operation};

/// The two ways of presenting a key (API.md §2), named as FastAPI names them.
const KEY_HEADER: &str = "APIKeyHeader";
const BEARER: &str = "HTTPBearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "telebind",
        description = "Telephony-provider configurations and phone numbers, wire-compatible with \
            Dograh's telephony-configuration API. Every `/api/v1` operation but the carrier webhook \
            needs an API key, as `X-API-Key: <key>` or `Authorization: Bearer <key>`."
    ),
    tags(
        (name = "workflows", description = "The voice workflows numbers are bound to."),
        (name = "telephony configurations", description = "Carrier accounts: credentials, masked on every read."),
        (name = "phone numbers", description = "Numbers of a configuration, bound to workflows; binding pushes the \
            webhook to the carrier."),
        (name = "inbound calls", description = "The carrier webhook and the log of what it decided."),
        (name = "API keys", description = "Keys of the caller's organization."),
        (name = "operations", description = "Health and metrics, without a key."),
        (name = "reference", description = "This document and its page, without a key."),
    ),
    components(
        schemas(ErrorDetail, HttpValidationError),
        responses(Unauthorized, PayloadTooLarge, ValidationFailed, Unavailable)
    )
)]
struct Base;

/// 401 of every keyed operation, added by `build` to each of them.
#[derive(ToResponse)]
#[response(
    description = "No key (`Authorization header required`), or an unknown or revoked one \
        (`Invalid or expired API key`)",
    headers(("WWW-Authenticate" = String, description = "`Bearer`"))
)]
pub struct Unauthorized<'a>(pub ErrorDetail<'a>);

/// 413 of every operation with a JSON body.
#[derive(ToResponse)]
#[response(description = "The body is larger than `server.max_body_bytes` (`Request body too large`)")]
pub struct PayloadTooLarge<'a>(pub ErrorDetail<'a>);

/// 422: a path id, query parameter or body field the operation refuses.
#[derive(ToResponse)]
#[response(description = "Validation error: every problem of the request, FastAPI's shape")]
pub struct ValidationFailed<'a>(pub HttpValidationError<'a>);

/// 503 of every operation that writes.
#[derive(ToResponse)]
#[response(
    description = "Nothing was stored: too many writes are waiting, the database's disk is full, or \
        another write's database error undid the transaction; retry after `Retry-After` seconds",
    headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))
)]
pub struct Unavailable<'a>(pub ErrorDetail<'a>);

/// The document of `operations`: their paths as `configure` serves them,
/// the keyed ones with the key's security schemes and its 401.
pub fn build(operations: &[Operation]) -> utoipa::openapi::OpenApi {
    let mut document = Base::openapi().merge_from(Described::openapi());
    let described = std::mem::take(&mut document.paths);
    let mut paths = Paths::new();
    for op in operations {
        let mut operation = described
            .get_path_operation(&op.path, op.documented.clone())
            .cloned()
            .expect("every operation of the table is described");
        operation.operation_id = operation.operation_id.map(|name| operation_id(&name, op));
        if op.keyed {
            operation.security = Some(vec![
                SecurityRequirement::new(KEY_HEADER, Vec::<String>::new()),
                SecurityRequirement::new(BEARER, Vec::<String>::new()),
            ]);
            operation
                .responses
                .responses
                .insert("401".into(), RefOr::Ref(Ref::from_response_name("Unauthorized")));
        }
        paths.add_path_operation(&op.path, vec![op.documented.clone()], operation);
    }
    document.paths = paths;
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        KEY_HEADER,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
    );
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    document
}

/// FastAPI's unique id, `<name><path>_<method>` with every non-word
/// character an underscore, as the reference's ids are made: a handler's
/// `operation_id` is the reference's route name where it has the route.
fn operation_id(name: &str, op: &Operation) -> String {
    let id = format!("{name}{}_{}", op.path, op.method.as_str().to_ascii_lowercase());
    id.chars()
        .map(|c| if c.is_alphanumeric() || c == '_' { c } else { '_' })
        .collect()
}

/// The document, serialized once at start-up.
pub struct Document(web::Bytes);

impl Document {
    pub fn new(operations: &[Operation]) -> Document {
        let json = serde_json::to_vec(&build(operations)).expect("the document serializes");
        Document(json.into())
    }
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "reference",
    summary = "This document",
    responses((status = 200, description = "The OpenAPI 3.1 document of this server", body = Object))
)]
pub async fn document_json(document: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(document.0.clone())
}

/// The reference page: renders `/openapi.json` with a little script of its own.
const PAGE: &str = include_str!("docs.html");

#[utoipa::path(
    get,
    path = "/docs",
    operation_id = "docs",
    tag = "reference",
    summary = "A page that renders this document",
    responses((status = 200, description = "An HTML page; it fetches nothing but `/openapi.json`", body = String, content_type = "text/html; charset=utf-8"))
)]
pub async fn docs_page() -> HttpResponse {
    HttpResponse::Ok().content_type(ContentType::html()).body(PAGE)
}
