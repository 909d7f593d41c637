//! `X-Request-Id`: taken from the request when it is sane, generated
//! otherwise, echoed in the response and named in every log line the request
//! causes (the access log and the carrier pushes).

use std::future::{ready, Ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use rand::RngCore;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");
/// Longest id taken from a client; longer ones are replaced.
const MAX_LEN: usize = 128;

/// The id of the request being served.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// An id a client sent, if it is safe to echo and to log.
fn sane(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let ok = !text.is_empty()
        && text.len() <= MAX_LEN
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| text.to_string())
}

fn generate() -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Middleware: gives every request its id and every response the header.
pub async fn assign(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req.headers().get(HEADER).and_then(sane).unwrap_or_else(generate);
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.call(req).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    Ok(response)
}

impl FromRequest for RequestId {
    type Error = actix_web::Error;
    type Future = Ready<Result<RequestId, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let id = req.extensions().get::<RequestId>().cloned();
        ready(Ok(id.unwrap_or_else(|| RequestId(generate()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_taken_from_clients() {
        let take = |s: &str| sane(&HeaderValue::from_str(s).unwrap());
        assert_eq!(take("req-42_a.b:c").as_deref(), Some("req-42_a.b:c"));
        for bad in ["", "has space", "semi;colon", "new\tline", &"a".repeat(MAX_LEN + 1)] {
            assert_eq!(take(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn generated_ids_are_16_hex_and_distinct() {
        let id = generate();
        assert!(id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        assert_ne!(generate(), id);
    }
}
