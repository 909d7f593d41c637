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
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod providers;
pub mod records;
pub mod routes;
pub mod scrub;
pub mod secrets;
pub mod serve;
pub mod startup;
pub mod state;
pub mod sync;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{self, Logger};
use actix_web::{web, App};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;
use crate::state::AppState;

/// The name of the organization made on first start.
pub const DEFAULT_ORG: &str = "default";

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("cannot start the carrier sync threads: {0}")]
    Sync(std::io::Error),
    #[error("cannot start the call-log retention thread: {0}")]
    CallLog(std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
}

/// The server, built and listening, not yet running.
pub struct Application {
    server: Server,
    port: u16,
    /// The server of `GET /metrics` when `server.metrics_bind` is set, and its port.
    metrics_server: Option<(Server, u16)>,
    bootstrap_key: Option<String>,
    storage: db::Opened,
    stored: startup::Stored,
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
        Application::build_with_clock(config, listener, inbound::Clock::System)
    }

    /// As `build_with_listener`, with the clock of the inbound router's
    /// freshness checks (tests replay the carriers' signed vectors).
    pub fn build_with_clock(
        config: Config,
        listener: TcpListener,
        clock: inbound::Clock,
    ) -> Result<Application, StartupError> {
        let addr = config.server.bind.to_string();
        let bind_error = |source| StartupError::Bind {
            addr: addr.clone(),
            source,
        };
        let port = listener.local_addr().map_err(bind_error)?.port();
        let (pool, store, storage) = db::open_with(&config, db::Create::IfMissing)?;
        let bootstrap_key = bootstrap(&pool)?;
        let stored = startup::Stored::read(&*pool.get().map_err(db::DbError::from)?).map_err(db::DbError::from)?;
        let metrics = web::Data::new(metrics::install());
        let metrics_server = config
            .server
            .metrics_bind
            .map(|addr| serve_metrics(addr, &config.server, metrics.clone()))
            .transpose()?;
        // With a `metrics_bind` of its own, /metrics is not on the API's address.
        let metrics_here = metrics_server.is_none().then_some(metrics);
        let state = Arc::new(AppState::new(pool, &store, Arc::new(config))?);
        call_log::start_retention(Arc::downgrade(&state), state.config.inbound.call_log_days)
            .map_err(StartupError::CallLog)?;
        let state = web::Data::from(state);
        let router = web::Data::new(routes::inbound::Router::new(clock, &state.config.server));
        let served_metrics = metrics_here.is_some();
        let document = web::Data::new(routes::openapi::Document::new(&routes::operations(served_metrics)));
        let settings = serve::Settings {
            request_timeout: Duration::from_millis(state.config.server.request_timeout_ms),
            workers: None,
            signals: true,
        };
        let server = serve::serve(listener, settings, move || {
            let mut app = App::new()
                .app_data(state.clone())
                .app_data(router.clone())
                .app_data(document.clone());
            if let Some(metrics) = &metrics_here {
                app = app.app_data(metrics.clone());
            }
            app.wrap(middleware::from_fn(routes::deadline::body))
                .wrap(middleware::from_fn(routes::metrics::record))
                .wrap(middleware::from_fn(routes::request_id::assign))
                // Headers, where keys travel, are never logged; the request id is.
                // The peer from the socket, as `%a` gives it without the
                // connection info `%a` works out (host, scheme) for every request.
                .wrap(
                    Logger::new("%{peer}xi \"%r\" %s %b %Dms %{x-request-id}o").custom_request_replace("peer", |req| {
                        req.peer_addr().map_or("-".into(), |a| a.ip().to_string())
                    }),
                )
                .configure(|cfg| routes::configure(cfg, routes::operations(served_metrics)))
                .default_service(web::to(routes::not_found))
        })
        .map_err(bind_error)?;
        Ok(Application {
            server,
            port,
            metrics_server,
            bootstrap_key,
            storage,
            stored,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The key made for org `default` when the database was empty; shown once.
    pub fn bootstrap_key(&self) -> Option<&str> {
        self.bootstrap_key.as_deref()
    }

    /// Whether the database was created, and its schema version.
    pub fn storage(&self) -> &db::Opened {
        &self.storage
    }

    /// What start-up warnings are drawn from (`startup::warnings`).
    pub fn stored(&self) -> &startup::Stored {
        &self.stored
    }

    /// Stops the server; `graceful` lets in-flight requests finish.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The port of `GET /metrics` when `server.metrics_bind` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(_, port)| *port)
    }

    /// Serves until stopped; SIGINT and SIGTERM stop it gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Some((metrics, _)) = self.metrics_server else {
            return self.server.await;
        };
        let metrics_handle = metrics.handle();
        let metrics = tokio::spawn(metrics);
        let served = self.server.await;
        metrics_handle.stop(true).await;
        let _ = metrics.await;
        served
    }
}

/// `GET /metrics` alone on `addr`, with one worker; it ignores signals and
/// stops with the API's server.
fn serve_metrics(
    addr: SocketAddr,
    server: &config::ServerConfig,
    metrics: web::Data<PrometheusHandle>,
) -> Result<(Server, u16), StartupError> {
    let bind_error = |source| StartupError::Bind {
        addr: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).map_err(bind_error)?;
    let port = listener.local_addr().map_err(bind_error)?.port();
    let settings = serve::Settings {
        request_timeout: Duration::from_millis(server.request_timeout_ms),
        workers: Some(1),
        signals: false,
    };
    let server = serve::serve(listener, settings, move || {
        App::new()
            .app_data(metrics.clone())
            .service(routes::metrics::resource())
            .default_service(web::to(routes::not_found))
    })
    .map_err(bind_error)?;
    Ok((server, port))
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
