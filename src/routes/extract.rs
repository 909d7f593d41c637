//! Request extractors that report problems in the contract's shapes:
//! the 422 list for bodies, path ids and query flags; 413 for large bodies.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::mime;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::db::Page;
use crate::domain::ids::Id;
pub use crate::domain::input::FromBody;
use crate::domain::input::Reader;
use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body parsed into `T`, with the path's ids as `P`: one extractor, so
/// that a request's path and body errors are reported together.
pub struct Body<T, P = ()>(pub T, pub P);

impl<T: FromBody + 'static, P: FromPath + 'static> FromRequest for Body<T, P> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Body<T, P>, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(64 * 1024, |s| s.config.server.max_body_bytes);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        let mut reader = Reader::new();
        let ids = path_ids(req, &mut reader);
        let json = declares_json(req);
        let mut payload = payload.take();
        Box::pin(async move {
            let too_large = || ApiError::status(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
            if declared.is_some_and(|n| n > limit) {
                return Err(too_large());
            }
            let mut bytes = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk =
                    chunk.map_err(|e| ApiError::bad_request(format!("Could not read the request body: {e}")))?;
                if bytes.len() + chunk.len() > limit {
                    return Err(too_large());
                }
                bytes.extend_from_slice(&chunk);
            }
            let parsed = parse(&bytes, json, &mut reader);
            reader
                .finish(parsed)
                .map(|body| Body(body, ids))
                .map_err(ApiError::Validation)
        })
    }
}

/// Whether the body may be read as JSON: its `Content-Type` is
/// `application/json` or `application/…+json`, or missing (clients rely on
/// that), as FastAPI decides.
fn declares_json(req: &HttpRequest) -> bool {
    if !req.headers().contains_key(header::CONTENT_TYPE) {
        return true;
    }
    req.mime_type().ok().flatten().is_some_and(|m| {
        m.type_() == mime::APPLICATION && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
    })
}

fn parse<T: FromBody>(bytes: &[u8], json: bool, reader: &mut Reader) -> Option<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        reader.error("missing", vec!["body".into()], "Field required", Value::Null, None);
        return None;
    }
    if !json {
        // FastAPI hands such a body to the model as bytes, which no model takes.
        let text = String::from_utf8_lossy(bytes).into_owned();
        reader.object(&Value::String(text), vec!["body".into()]);
        return None;
    }
    match serde_json::from_slice(bytes) {
        Ok(value) => T::from_body(&value, reader),
        Err(e) => {
            let loc = vec!["body".into(), byte_offset(bytes, e.line(), e.column()).into()];
            reader.error(
                "json_invalid",
                loc,
                "JSON decode error",
                json!({}),
                Some(json!({ "error": e.to_string() })),
            );
            None
        }
    }
}

/// serde_json reports line and column; FastAPI reports a character offset.
fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = bytes
        .split(|b| *b == b'\n')
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    line_start + column.saturating_sub(1)
}

/// The positive integer ids of the path, in the order the route names them,
/// as the id types the route asks for: `PathIds<(ConfigId, NumberId)>`.
pub struct PathIds<P>(pub P);

impl<P: FromPath> FromRequest for PathIds<P> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<PathIds<P>, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let mut reader = Reader::new();
        let ids = path_ids(req, &mut reader);
        std::future::ready(reader.finish(Some(PathIds(ids))).map_err(ApiError::Validation))
    }
}

/// The path ids as `/openapi.json` describes them, one struct per shape of
/// path: positive integers, anything else a 422 (`loc: ["path", <name>]`).
pub mod path {
    use utoipa::IntoParams;

    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub struct ConfigPath {
        #[param(minimum = 1)]
        pub config_id: i64,
    }

    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub struct NumberPath {
        #[param(minimum = 1)]
        pub config_id: i64,
        #[param(minimum = 1)]
        pub phone_number_id: i64,
    }

    /// `DELETE …?force=true`: delete even when the carrier could not be
    /// told (its failure is in the answer's `provider_sync`). Pydantic's
    /// booleans.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct ForceQuery {
        #[param(default = false)]
        pub force: Option<bool>,
    }

    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub struct TrunkPath {
        #[param(minimum = 1)]
        pub config_id: i64,
        #[param(minimum = 1)]
        pub trunk_id: i64,
    }

    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub struct WorkflowPath {
        #[param(minimum = 1)]
        pub workflow_id: i64,
    }

    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub struct ApiKeyPath {
        #[param(minimum = 1)]
        pub api_key_id: i64,
    }

    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub struct InboundCallPath {
        #[param(minimum = 1)]
        pub inbound_call_id: i64,
    }
}

/// What a route's path ids are read as: nothing, one id, or two, in the
/// order the path names them.
pub trait FromPath: Sized {
    fn from_path(ids: &mut impl Iterator<Item = i64>) -> Self;
}

impl FromPath for () {
    fn from_path(_: &mut impl Iterator<Item = i64>) -> Self {}
}

impl<I: Id> FromPath for I {
    fn from_path(ids: &mut impl Iterator<Item = i64>) -> Self {
        I::new(ids.next().unwrap_or_default())
    }
}

impl<A: Id, B: Id> FromPath for (A, B) {
    fn from_path(ids: &mut impl Iterator<Item = i64>) -> Self {
        (A::from_path(ids), B::from_path(ids))
    }
}

/// The path's ids as `P`; a bad one is recorded and read as 0, and only the
/// ids `P` takes are read.
fn path_ids<P: FromPath>(req: &HttpRequest, reader: &mut Reader) -> P {
    let mut ids = req
        .match_info()
        .iter()
        .map(|(name, raw)| reader.id(vec!["path".into(), name.into()], raw).unwrap_or_default());
    P::from_path(&mut ids)
}

/// The query's parameters; the last of a repeated name wins.
fn query_params(req: &HttpRequest) -> Result<Vec<(String, String)>, ApiError> {
    let query = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request(format!("Malformed query string: {e}")))?;
    Ok(query.into_inner())
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A boolean query parameter (`?force=true`); absent is false.
pub fn query_flag(req: &HttpRequest, name: &str) -> Result<bool, ApiError> {
    let query = query_params(req)?;
    let Some(raw) = param(&query, name) else {
        return Ok(false);
    };
    let mut reader = Reader::new();
    let flag = reader.flag(vec!["query".into(), name.into()], raw);
    reader.finish(flag).map_err(ApiError::Validation)
}

/// Largest `limit` of a page.
pub const MAX_PAGE: u32 = 1000;

/// A list's optional `limit` (1–1000), `after_id` (an id) and `q` (text);
/// every bad value is reported together.
pub fn page_query<I: Id>(req: &HttpRequest) -> Result<Page<I>, ApiError> {
    let query = query_params(req)?;
    let mut reader = Reader::new();
    let loc = |name: &str| vec![Value::from("query"), Value::from(name)];
    let limit = param(&query, "limit").map(|raw| reader.bounded(loc("limit"), raw, 1, MAX_PAGE));
    let after_id = param(&query, "after_id").map(|raw| reader.id(loc("after_id"), raw).map(I::new));
    let page = Page {
        limit: limit.flatten(),
        after_id: after_id.flatten(),
        q: param(&query, "q").map(str::to_string),
    };
    reader.finish(Some(page)).map_err(ApiError::Validation)
}
