//! The one error type of the HTTP API (API.md §1); `routes` renders it as
//! the contract's JSON envelope.

use http::StatusCode;

use crate::domain::input::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A client-facing failure: `{"detail": "<message>"}` with `status`.
    #[error("{status}: {detail}")]
    Status { status: StatusCode, detail: String },
    /// 401 with `WWW-Authenticate: Bearer`.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
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
        ApiError::internal(e)
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        ApiError::internal(e)
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(e: r2d2::Error) -> Self {
        ApiError::internal(e)
    }
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
