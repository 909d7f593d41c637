//! The one error type of the HTTP API (API.md §1); `routes` renders it as
//! the contract's JSON envelope.

use http::StatusCode;

use crate::db::point::{sqlite_busy, Busy};
use crate::db::writer::WriteError;
use crate::db::DbError;
use crate::domain::input::FieldError;

/// Seconds a client is told to wait before retrying a 503.
pub const RETRY_AFTER_SECS: u32 = 1;
/// A write refused for lack of space is a 503, not a 500: nothing was
/// stored, the server recovers by itself once space returns, and clients
/// and proxies know to retry a 503 (507 says the same, but few clients
/// know it).
const DISK_FULL: &str = "The database's disk is full and nothing was stored; try again later";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A client-facing failure: `{"detail": "<message>"}` with `status`.
    #[error("{status}: {detail}")]
    Status { status: StatusCode, detail: String },
    /// 401 with `WWW-Authenticate: Bearer`.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// 503 with `Retry-After`: nothing was done, and trying again later may work.
    #[error("unavailable: {0}")]
    Unavailable(&'static str),
    /// 422 with the list of every problem of the request.
    #[error("validation failed: {0:?}")]
    Validation(Vec<FieldError>),
    /// Anything unexpected: logged whole, answered as a bare 500.
    #[error(transparent)]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn status(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError::Status {
            status,
            detail: detail.into(),
        }
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::status(StatusCode::NOT_FOUND, detail)
    }

    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::status(StatusCode::CONFLICT, detail)
    }

    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::status(StatusCode::BAD_REQUEST, detail)
    }

    pub fn bad_gateway(detail: impl Into<String>) -> ApiError {
        ApiError::status(StatusCode::BAD_GATEWAY, detail)
    }

    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ApiError {
        ApiError::Internal(error.into())
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        ApiError::Validation(errors)
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        if is_disk_full(&e) {
            log::error!("database: {e}");
            return ApiError::Unavailable(DISK_FULL);
        }
        ApiError::internal(e)
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Write(e) => e.into(),
            DbError::Sqlite(e) => e.into(),
            e => ApiError::internal(e),
        }
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Busy => ApiError::Unavailable("Too many writes are waiting; try again shortly"),
            WriteError::TransactionLost => {
                ApiError::Unavailable("The write was undone by a database error and nothing was stored; try again")
            }
            // The writer has logged it.
            WriteError::Begin(e) | WriteError::Commit(e) if is_disk_full(&e) => ApiError::Unavailable(DISK_FULL),
            e => ApiError::internal(e),
        }
    }
}

/// A point read that met a lock is retried on the blocking pool.
impl Busy for ApiError {
    fn is_busy(&self) -> bool {
        match self {
            ApiError::Internal(e) => e.downcast_ref::<rusqlite::Error>().is_some_and(sqlite_busy),
            _ => false,
        }
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(e: r2d2::Error) -> Self {
        ApiError::internal(e)
    }
}

fn is_disk_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

pub fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
