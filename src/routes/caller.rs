//! The extractor that turns a request's API key into the organization it
//! acts for (API.md §2).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use subtle::ConstantTimeEq;

use crate::auth::hash_key;
use crate::db;
use crate::domain::ids::OrgId;
use crate::error::ApiError;
use crate::state::AppState;

pub const MISSING_KEY: &str = "Authorization header required";
pub const INVALID_KEY: &str = "Invalid or expired API key";

/// The caller of an authenticated request.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub org_id: OrgId,
}

/// `X-API-Key` wins over `Authorization: Bearer`.
fn presented_key(req: &HttpRequest) -> Option<String> {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(key) = header(header::HeaderName::from_static("x-api-key")).filter(|k| !k.is_empty()) {
        return Some(key.to_string());
    }
    let auth = header(header::AUTHORIZATION)?;
    let (scheme, key) = auth.split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then(|| key.to_string())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let key = presented_key(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let key = key.ok_or(ApiError::Unauthorized(MISSING_KEY))?;
            let hash = hash_key(&key);
            let key = match state.keys.get(&hash) {
                Some(key) => key,
                None => {
                    let epoch = state.keys.epoch();
                    let lookup = hash.clone();
                    let found = state.point(move |c| Ok(db::api_keys::find_active(c, &lookup)?)).await?;
                    // The lookup is by hash already; compare again without early exit all the same.
                    let key = found
                        .filter(|k| bool::from(k.key_hash.as_slice().ct_eq(&hash)))
                        .ok_or(ApiError::Unauthorized(INVALID_KEY))?;
                    state.keys.insert(key.clone(), epoch);
                    key
                }
            };
            // Authentication itself never waits on a write.
            if state.keys.due_for_touch(key.id) {
                let id = key.id;
                state.db.write_detached("when an API key was last used", move |c| {
                    Ok(db::api_keys::touch(c, id)?)
                });
            }
            Ok(Caller { org_id: key.org_id })
        })
    }
}
