//! Everything the user subgraph can refuse, mapped onto client error codes.

use chrono::{DateTime, Utc};
use fittrack_kit::{ApiError, ErrorCode};

use super::model::AccountStatus;

/// Not `Display` on purpose (see `fittrack_kit::ApiError`): every path to a client
/// goes through the conversion below and gets its code.
#[derive(Debug)]
pub enum UserError {
    InvalidInput {
        field: &'static str,
        message: String,
    },
    /// Unknown email and wrong password look the same to the caller.
    InvalidCredentials,
    AccountLocked(DateTime<Utc>),
    AccountUnavailable(AccountStatus),
    EmailTaken,
    UsernameTaken,
    InvalidRefreshToken,
    NotFound,
    Forbidden,
    RateLimited,
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for UserError {
    fn from(error: anyhow::Error) -> Self {
        Self::Internal(error)
    }
}

impl UserError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            message: message.into(),
        }
    }
}

impl From<UserError> for ApiError {
    fn from(error: UserError) -> Self {
        match error {
            UserError::InvalidInput { field, message } => {
                ApiError::bad_input(field, format!("{field}: {message}"))
            }
            UserError::RateLimited => ApiError::new(
                ErrorCode::RateLimited,
                "Too many messages from you in the last hour; please try again later",
            ),
            UserError::InvalidCredentials => {
                ApiError::new(ErrorCode::Unauthenticated, "Invalid email or password")
            }
            UserError::AccountLocked(until) => ApiError::new(
                ErrorCode::AccountLocked,
                format!(
                    "Too many failed sign-in attempts; try again after {}",
                    until.to_rfc3339()
                ),
            ),
            UserError::AccountUnavailable(status) => match status {
                AccountStatus::Banned => {
                    ApiError::new(ErrorCode::AccountBanned, "This account is banned")
                }
                AccountStatus::Suspended => {
                    ApiError::new(ErrorCode::AccountSuspended, "This account is suspended")
                }
                AccountStatus::Deactivated | AccountStatus::Active => {
                    ApiError::new(ErrorCode::AccountDeactivated, "This account is deactivated")
                }
            },
            UserError::EmailTaken => ApiError::Client {
                code: ErrorCode::Conflict,
                message: "An account with this email already exists".into(),
                field: Some("email".into()),
            },
            UserError::UsernameTaken => ApiError::Client {
                code: ErrorCode::Conflict,
                message: "This username is taken".into(),
                field: Some("username".into()),
            },
            UserError::InvalidRefreshToken => ApiError::new(
                ErrorCode::Unauthenticated,
                "Refresh token is invalid, expired or revoked",
            ),
            UserError::NotFound => ApiError::not_found("User"),
            UserError::Forbidden => ApiError::forbidden(),
            UserError::Internal(error) => ApiError::Internal(error),
        }
    }
}

impl From<UserError> for async_graphql::Error {
    fn from(error: UserError) -> Self {
        ApiError::from(error).into()
    }
}

pub type UserResult<T> = Result<T, UserError>;
