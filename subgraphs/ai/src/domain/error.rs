//! Everything the AI subgraph can refuse, mapped onto client error codes.

use fittrack_kit::{error::InvalidInput, ApiError, ErrorCode};

/// Not `Display` on purpose (see `fittrack_kit::ApiError`).
#[derive(Debug)]
pub enum AiError {
    InvalidInput(InvalidInput),
    NotFound(&'static str),
    /// The account was deleted (its token may live a few minutes more).
    AccountDeleted,
    /// A per-user limit is spent (seconds until it admits again).
    RateLimited(u64),
    Internal(anyhow::Error),
}

pub type AiResult<T> = Result<T, AiError>;

impl AiError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidInput(InvalidInput::new(field, message))
    }
}

impl From<InvalidInput> for AiError {
    fn from(invalid: InvalidInput) -> Self {
        Self::InvalidInput(invalid)
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
            AiError::InvalidInput(invalid) => invalid.into(),
            AiError::AccountDeleted => ApiError::unauthenticated("This account has been deleted"),
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
