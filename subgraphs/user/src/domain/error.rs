//! Everything the user subgraph can refuse, mapped onto client error codes.

use fittrack_kit::{error::InvalidInput, ApiError, ErrorCode};

use super::model::AccountStatus;

/// Not `Display` on purpose (see `fittrack_kit::ApiError`): every path to a client
/// goes through the conversion below and gets its code.
#[derive(Debug)]
pub enum UserError {
    InvalidInput(InvalidInput),
    /// Unknown email and wrong password look the same to the caller.
    InvalidCredentials,
    /// Too many attempts on this account from everywhere (seconds to wait).
    AccountLocked(u64),
    /// Too many attempts from this address (seconds to wait).
    SignInThrottled(u64),
    /// Every password-hashing slot is busy (seconds to wait).
    Busy(u64),
    AccountUnavailable(AccountStatus),
    EmailTaken,
    UsernameTaken,
    InvalidRefreshToken,
    /// A password-reset link that is unknown, used or expired.
    InvalidResetToken,
    /// Too many password-reset requests (seconds to wait).
    ResetThrottled(u64),
    /// Token revocations cannot be written: security changes fail closed.
    RevocationUnavailable(anyhow::Error),
    NotFound,
    /// Not one of the caller's devices.
    DeviceNotFound,
    Forbidden,
    RateLimited,
    Internal(anyhow::Error),
}

impl From<InvalidInput> for UserError {
    fn from(invalid: InvalidInput) -> Self {
        Self::InvalidInput(invalid)
    }
}

impl From<anyhow::Error> for UserError {
    fn from(error: anyhow::Error) -> Self {
        Self::Internal(error)
    }
}

impl UserError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidInput(InvalidInput::new(field, message))
    }
}

impl From<UserError> for ApiError {
    fn from(error: UserError) -> Self {
        match error {
            UserError::InvalidInput(invalid) => invalid.into(),
            UserError::RateLimited => ApiError::new(
                ErrorCode::RateLimited,
                "Too many messages from you in the last hour; please try again later",
            ),
            UserError::InvalidCredentials => {
                ApiError::new(ErrorCode::Unauthenticated, "Invalid email or password")
            }
            UserError::AccountLocked(retry_after_secs) => ApiError::Client {
                code: ErrorCode::AccountLocked,
                message: format!(
                    "Too many sign-in attempts on this account; try again in {retry_after_secs} s"
                ),
                field: None,
                retry_after_secs: Some(retry_after_secs),
            },
            UserError::SignInThrottled(retry_after_secs) => ApiError::rate_limited(
                format!("Too many sign-in attempts; try again in {retry_after_secs} s"),
                retry_after_secs,
            ),
            UserError::ResetThrottled(retry_after_secs) => ApiError::rate_limited(
                format!("Too many password-reset requests; try again in {retry_after_secs} s"),
                retry_after_secs,
            ),
            UserError::InvalidResetToken => ApiError::bad_input(
                "token",
                "This password-reset link is invalid, used or expired; request a new one",
            ),
            UserError::RevocationUnavailable(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "token revocations cannot be written"
                );
                ApiError::unavailable(
                    "Sessions cannot be ended right now, so nothing was changed; try again shortly",
                    5,
                )
            }
            UserError::Busy(retry_after_secs) => ApiError::unavailable(
                "Too many sign-ins at once; please retry shortly",
                retry_after_secs,
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
                retry_after_secs: None,
            },
            UserError::UsernameTaken => ApiError::Client {
                code: ErrorCode::Conflict,
                message: "This username is taken".into(),
                field: Some("username".into()),
                retry_after_secs: None,
            },
            UserError::InvalidRefreshToken => ApiError::new(
                ErrorCode::Unauthenticated,
                "Refresh token is invalid, expired or revoked",
            ),
            UserError::NotFound => ApiError::not_found("User"),
            UserError::DeviceNotFound => ApiError::not_found("Device"),
            UserError::Forbidden => ApiError::forbidden(),
            UserError::Internal(error) => ApiError::from(error),
        }
    }
}

impl From<UserError> for async_graphql::Error {
    fn from(error: UserError) -> Self {
        ApiError::from(error).into()
    }
}

pub type UserResult<T> = Result<T, UserError>;
