//! Request extractors that report problems in the contract's shapes:
//! the 422 list for bodies, path ids and query flags; 413 for large bodies.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde_json::{json, Value};

pub use crate::domain::input::FromBody;
use crate::domain::input::{FieldError, Reader};
use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body parsed into `T`.
pub struct Body<T>(pub T);

impl<T: FromBody + 'static> FromRequest for Body<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Body<T>, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(64 * 1024, |s| s.config.server.max_body_bytes);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
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
            parse(&bytes).map(Body).map_err(ApiError::Validation)
        })
    }
}

fn parse<T: FromBody>(bytes: &[u8]) -> Result<T, Vec<FieldError>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        let missing = FieldError {
            kind: "missing",
            loc: vec!["body".into()],
            msg: "Field required".into(),
            input: Value::Null,
            ctx: None,
        };
        return Err(vec![missing]);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        let offset = byte_offset(bytes, e.line(), e.column());
        vec![FieldError {
            kind: "json_invalid",
            loc: vec!["body".into(), offset.into()],
            msg: "JSON decode error".into(),
            input: json!({}),
            ctx: Some(json!({ "error": e.to_string() })),
        }]
    })?;
    let mut reader = Reader::new();
    let parsed = T::from_body(&value, &mut reader);
    reader.finish(parsed)
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

/// The positive integer ids of the path, in the order the route names them.
pub struct PathIds<const N: usize>(pub [i64; N]);

impl<const N: usize> FromRequest for PathIds<N> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<PathIds<N>, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let mut reader = Reader::new();
        let mut ids = [0; N];
        for (slot, (name, raw)) in ids.iter_mut().zip(req.match_info().iter()) {
            *slot = reader.id(vec!["path".into(), name.into()], raw).unwrap_or_default();
        }
        std::future::ready(reader.finish(Some(PathIds(ids))).map_err(ApiError::Validation))
    }
}

/// A boolean query parameter (`?force=true`); absent is false.
pub fn query_flag(req: &HttpRequest, name: &str) -> Result<bool, ApiError> {
    let query = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request(format!("Malformed query string: {e}")))?;
    let Some((_, raw)) = query.iter().rev().find(|(k, _)| k == name) else {
        return Ok(false);
    };
    let mut reader = Reader::new();
    let flag = reader.flag(vec!["query".into(), name.into()], raw);
    reader.finish(flag).map_err(ApiError::Validation)
}
