//! telebind: telephony-provider configurations and phone numbers in one
//! binary, wire-compatible with the Dograh telephony-configuration API.

pub mod auth;
pub mod call_log;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod inbound;
pub mod providers;
pub mod records;
pub mod routes;
pub mod state;
pub mod sync;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{self, Logger};
use actix_web::{web, App, HttpServer};

use crate::config::Config;
use crate::state::AppState;

/// The name of the organization made on first start.
pub const DEFAULT_ORG: &str = "default";

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("cannot start the database writer: {0}")]
    Writer(std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
}

/// The server, built and listening, not yet running.
pub struct Application {
    server: Server,
    port: u16,
    bootstrap_key: Option<String>,
}

impl Application {
    /// Opens the database and binds `server.bind`.
    pub fn build(config: Config) -> Result<Application, StartupError> {
        let addr = config.server.bind;
        let listener = TcpListener::bind(addr).map_err(|source| StartupError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        Application::build_with_listener(config, listener)
    }

    /// As `build`, on a listener the caller made (tests bind port 0).
    pub fn build_with_listener(config: Config, listener: TcpListener) -> Result<Application, StartupError> {
        let addr = config.server.bind.to_string();
        let bind_error = |source| StartupError::Bind {
            addr: addr.clone(),
            source,
        };
        let port = listener.local_addr().map_err(bind_error)?.port();
        let pool = db::open(&config.database)?;
        let bootstrap_key = bootstrap(&pool)?;
        warn_if_calls_go_nowhere(&pool, &config)?;
        let state = Arc::new(AppState::new(pool, Arc::new(config)).map_err(StartupError::Writer)?);
        call_log::start_retention(Arc::downgrade(&state), state.config.inbound.call_log_days)
            .map_err(StartupError::Writer)?;
        let state = web::Data::from(state);
        let router = web::Data::new(routes::inbound::Router::default());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(router.clone())
                .wrap(middleware::from_fn(routes::request_id::assign))
                // Headers, where keys travel, are never logged; the request id is.
                .wrap(Logger::new("%a \"%r\" %s %b %Dms %{x-request-id}o"))
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)
        .map_err(bind_error)?
        .run();
        Ok(Application {
            server,
            port,
            bootstrap_key,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The key made for org `default` when the database was empty; shown once.
    pub fn bootstrap_key(&self) -> Option<&str> {
        self.bootstrap_key.as_deref()
    }

    /// Stops the server; `graceful` lets in-flight requests finish.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped; SIGINT and SIGTERM stop it gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Bound numbers whose calls cannot be handed to a voice agent deserve a
/// word at start-up (INBOUND.md §2.6).
fn warn_if_calls_go_nowhere(pool: &db::Pool, config: &Config) -> Result<(), db::DbError> {
    if config.inbound.media_ws_url.is_empty() && db::calls::any_bound(&*pool.get()?)? {
        log::warn!("numbers are bound to workflows but inbound.media_ws_url is not set: their calls will be refused");
    }
    Ok(())
}

/// On an empty database: org `default` and its first key.
fn bootstrap(pool: &db::Pool) -> Result<Option<String>, db::DbError> {
    let mut conn = pool.get()?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if !db::orgs::is_empty(&tx)? {
        return Ok(None);
    }
    let org = db::orgs::insert(&tx, DEFAULT_ORG)?;
    let (_, key) = auth::issue_key(&tx, org.id, "bootstrap")?;
    tx.commit()?;
    Ok(Some(key))
}
