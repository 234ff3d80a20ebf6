//! Everything the AI subgraph can refuse, mapped onto client error codes.

use fittrack_kit::{ApiError, ErrorCode};

/// Not `Display` on purpose (see `fittrack_kit::ApiError`).
#[derive(Debug)]
pub enum AiError {
    InvalidInput {
        field: &'static str,
        message: String,
    },
    NotFound(&'static str),
    /// A per-user limit is spent (seconds until it admits again).
    RateLimited(u64),
    Internal(anyhow::Error),
}

pub type AiResult<T> = Result<T, AiError>;

impl AiError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            message: message.into(),
        }
    }
}

impl From<anyhow::Error> for AiError {
    fn from(error: anyhow::Error) -> Self {
        Self::Internal(error)
    }
}

impl From<AiError> for ApiError {
    fn from(error: AiError) -> Self {
        match error {
            AiError::RateLimited(retry_after_secs) => ApiError::rate_limited(
                format!("Too many plan requests; try again in {retry_after_secs} s"),
                retry_after_secs,
            ),
            AiError::InvalidInput { field, message } => {
                ApiError::bad_input(field, format!("{field}: {message}"))
            }
            AiError::NotFound(what) => {
                ApiError::new(ErrorCode::NotFound, format!("{what} not found"))
            }
            AiError::Internal(error) => ApiError::from(error),
        }
    }
}

impl From<AiError> for async_graphql::Error {
    fn from(error: AiError) -> Self {
        ApiError::from(error).into()
    }
}
