//! HTTP in, JSON out: each file serves the endpoints of one section of API.md.

pub mod api_keys;
pub mod caller;
pub mod configs;
pub mod extract;
pub mod health;
pub mod inbound;
pub mod inbound_calls;
pub mod lists;
pub mod metrics;
pub mod phone_numbers;
pub mod request_id;
pub mod trunks;
pub mod workflows;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse, Resource, ResponseError};
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

/// Runs `work` to its end even if the client goes away meanwhile (actix
/// drops a request's future then): work that changes a carrier and then
/// records it must not stop between the two.
pub async fn to_the_end<T: 'static>(
    work: impl std::future::Future<Output = Result<T, ApiError>> + 'static,
) -> Result<T, ApiError> {
    actix_web::rt::spawn(work).await.map_err(ApiError::internal)?
}

/// A resource whose unmatched methods answer the contract's JSON 405.
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(|| async {
        Err::<actix_web::HttpResponse, _>(ApiError::status(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"))
    }))
}

/// Unknown routes: the contract's JSON 404.
pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found("Not Found"))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz").route(web::get().to(health::healthz)));
    cfg.service(
        web::scope("/api/v1")
            .service(
                resource("/user/api-keys")
                    .route(web::get().to(api_keys::list))
                    .route(web::post().to(api_keys::create)),
            )
            .service(resource("/user/api-keys/{api_key_id}").route(web::delete().to(api_keys::archive)))
            .service(resource("/user/api-keys/{api_key_id}/reactivate").route(web::put().to(api_keys::reactivate)))
            .service(resource("/organizations/telephony-providers/metadata").route(web::get().to(configs::metadata)))
            .service(resource("/organizations/telephony-config-warnings").route(web::get().to(configs::warnings)))
            .service(
                resource("/organizations/telephony-configs")
                    .route(web::get().to(configs::list))
                    .route(web::post().to(configs::create)),
            )
            .service(
                resource("/organizations/telephony-configs/{config_id}")
                    .route(web::get().to(configs::get))
                    .route(web::put().to(configs::update))
                    .route(web::delete().to(configs::delete)),
            )
            .service(
                resource("/organizations/telephony-configs/{config_id}/set-default-outbound")
                    .route(web::post().to(configs::set_default_outbound)),
            )
            .service(
                resource("/organizations/telephony-configs/{config_id}/reactivate")
                    .route(web::post().to(configs::reactivate)),
            )
            .service(
                resource("/organizations/telephony-configs/{config_id}/trunks")
                    .route(web::get().to(trunks::list))
                    .route(web::post().to(trunks::create)),
            )
            .service(
                resource("/organizations/telephony-configs/{config_id}/trunks/{trunk_id}")
                    .route(web::put().to(trunks::update))
                    .route(web::delete().to(trunks::delete)),
            )
            .service(
                resource("/organizations/telephony-configs/{config_id}/phone-numbers")
                    .route(web::get().to(phone_numbers::list))
                    .route(web::post().to(phone_numbers::create)),
            )
            .service(
                resource("/organizations/telephony-configs/{config_id}/phone-numbers/{phone_number_id}")
                    .route(web::get().to(phone_numbers::get))
                    .route(web::put().to(phone_numbers::update))
                    .route(web::delete().to(phone_numbers::delete)),
            )
            .service(
                resource(
                    "/organizations/telephony-configs/{config_id}/phone-numbers/{phone_number_id}/set-default-caller",
                )
                .route(web::post().to(phone_numbers::set_default_caller)),
            )
            .service(
                resource("/organizations/telephony-configs/{config_id}/phone-numbers/{phone_number_id}/sync")
                    .route(web::post().to(phone_numbers::sync)),
            )
            // Carriers call this one; their signature, not an API key, authenticates it.
            .service(resource("/telephony/inbound/run").route(web::post().to(inbound::run)))
            .service(resource("/telephony/inbound-calls").route(web::get().to(inbound_calls::list)))
            .service(resource("/telephony/inbound-calls/{inbound_call_id}").route(web::get().to(inbound_calls::get)))
            .service(
                resource("/workflows")
                    .route(web::get().to(workflows::list))
                    .route(web::post().to(workflows::create)),
            )
            .service(
                resource("/workflows/{workflow_id}")
                    .route(web::get().to(workflows::get))
                    .route(web::put().to(workflows::update))
                    .route(web::delete().to(workflows::delete)),
            ),
    );
}
