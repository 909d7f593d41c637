use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// `GET /healthz`'s body.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the database answers (200), else `unavailable` (503).
    pub status: HealthStatus,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Ok,
    Unavailable,
}

#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    summary = "Whether the server and its database answer",
    responses(
        (status = 200, description = "The database answers: `{\"status\":\"ok\"}`", body = Health),
        (status = 503, description = "The database does not answer: `{\"status\":\"unavailable\"}`", body = Health),
    )
)]
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    // Reads the database itself, not just the connection.
    let answered = state
        .read(|c| Ok(c.query_row("PRAGMA schema_version", [], |r| r.get::<_, i64>(0))?))
        .await;
    match answered {
        Ok(_) => HttpResponse::Ok().json(Health {
            status: HealthStatus::Ok,
        }),
        Err(e) => {
            log::error!("health check failed: {e}");
            HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE).json(Health {
                status: HealthStatus::Unavailable,
            })
        }
    }
}
