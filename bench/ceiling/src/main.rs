//! A minimal actix-web server: every request gets the same small JSON body.
//! `bench/run` measures it the same way as telebind to know the machine's ceiling.

use actix_web::{web, App, HttpResponse, HttpServer};

const BODY: &str = r#"{"status":"ok"}"#;

async fn fixed() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(BODY)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("TELEBIND_SERVER__BIND").unwrap_or_else(|_| "127.0.0.1:8090".into());
    HttpServer::new(|| App::new().default_service(web::to(fixed)))
        .bind(addr)?
        .run()
        .await
}
