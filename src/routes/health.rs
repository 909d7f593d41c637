use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

/// `{"status":"ok"}` when the database answers, 503 otherwise.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    // Reads the database itself, not just the connection.
    let answered = state
        .read(|c| Ok(c.query_row("PRAGMA schema_version", [], |r| r.get::<_, i64>(0))?))
        .await;
    match answered {
        Ok(_) => HttpResponse::Ok().json(json!({ "status": "ok" })),
        Err(e) => {
            log::error!("health check failed: {e}");
            HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE).json(json!({ "status": "unavailable" }))
        }
    }
}
