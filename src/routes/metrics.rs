//! `GET /metrics` and the middleware that counts every request.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use metrics_exporter_prometheus::PrometheusHandle;

/// `GET /metrics` alone, for the server of `server.metrics_bind`.
pub fn resource() -> actix_web::Resource {
    super::resource(PATH, vec![(Method::GET, web::to(render))])
}

/// Where metrics are served, on the API's address or on `server.metrics_bind`.
pub const PATH: &str = "/metrics";

/// The Prometheus text format; no API key, by design.
#[utoipa::path(
    get,
    path = PATH,
    operation_id = "metrics",
    tag = "operations",
    summary = "Metrics in the Prometheus text format (no API key, by design)",
    description = "Served here unless `server.metrics_bind` gives it an address of its own; \
        then this operation is not in this document.",
    responses((
        status = 200,
        description = "Prometheus text exposition format 0.0.4",
        body = String,
        content_type = "text/plain; version=0.0.4; charset=utf-8"
    ))
)]
pub async fn render(handle: web::Data<PrometheusHandle>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}

/// Counts the request by the route pattern it matched ("unmatched" for the
/// 404 of unknown paths) and times it to its response head.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let response = next.call(req).await?;
    let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".into());
    crate::metrics::request(route, method, response.status().as_u16(), started.elapsed());
    Ok(response)
}

/// Standard methods by name; any other is one label, so a client cannot
/// make series at will.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}
