//! The one error shape clients see: a message plus `extensions.code`.
//!
//! Each service keeps its own error enum and converts into [`ApiError`]; this is
//! where codes are fixed and where internal failures are logged and masked.

use async_graphql::ErrorExtensions;

/// Machine-readable codes exposed as `extensions.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    BadUserInput,
    NotFound,
    Conflict,
    AccountLocked,
    AccountBanned,
    AccountSuspended,
    AccountDeactivated,
    RateLimited,
    /// A dependency or a bounded resource is out of reach for now; retry later.
    ServiceUnavailable,
    InternalServerError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::AccountLocked => "ACCOUNT_LOCKED",
            Self::AccountBanned => "ACCOUNT_BANNED",
            Self::AccountSuspended => "ACCOUNT_SUSPENDED",
            Self::AccountDeactivated => "ACCOUNT_DEACTIVATED",
            Self::RateLimited => "RATE_LIMITED",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }
}

pub const INTERNAL_MESSAGE: &str = "Internal server error";

/// An error on its way to a client.
///
/// Deliberately not `Display`: async-graphql converts any `Display` type into an
/// error *without* a code, so a missing conversion must fail to compile instead.
#[derive(Debug)]
pub enum ApiError {
    Client {
        code: ErrorCode,
        message: String,
        /// Input field at fault, for `BAD_USER_INPUT` (`extensions.field`).
        field: Option<String>,
        /// When to try again (`extensions.retryAfterSeconds`), for refusals
        /// that pass with time (`RATE_LIMITED`, `SERVICE_UNAVAILABLE`).
        retry_after_secs: Option<u64>,
    },
    /// Anything unexpected: logged with its context, shown to clients as a bare
    /// "Internal server error" plus the request id.
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        Self::Internal(error)
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Client {
            code,
            message: message.into(),
            field: None,
            retry_after_secs: None,
        }
    }

    /// A refusal that passes with time: `RATE_LIMITED` with `retryAfterSeconds`.
    pub fn rate_limited(message: impl Into<String>, retry_after_secs: u64) -> Self {
        Self::Client {
            code: ErrorCode::RateLimited,
            message: message.into(),
            field: None,
            retry_after_secs: Some(retry_after_secs.max(1)),
        }
    }

    /// A bounded resource or a dependency is out of reach: `SERVICE_UNAVAILABLE`.
    pub fn unavailable(message: impl Into<String>, retry_after_secs: u64) -> Self {
        Self::Client {
            code: ErrorCode::ServiceUnavailable,
            message: message.into(),
            field: None,
            retry_after_secs: Some(retry_after_secs.max(1)),
        }
    }

    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Client {
            code: ErrorCode::BadUserInput,
            message: message.into(),
            field: Some(field.into()),
            retry_after_secs: None,
        }
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    pub fn forbidden() -> Self {
        Self::new(
            ErrorCode::Forbidden,
            "You are not allowed to perform this action",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Client { code, .. } => *code,
            Self::Internal(_) => ErrorCode::InternalServerError,
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Client {
                code,
                message,
                field,
                retry_after_secs,
            } => async_graphql::Error::new(message).extend_with(|_, ext| {
                ext.set("code", code.as_str());
                if let Some(field) = field {
                    ext.set("field", field);
                }
                if let Some(secs) = retry_after_secs {
                    ext.set("retryAfterSeconds", secs);
                }
            }),
            ApiError::Internal(source) => {
                // The current span carries the request id (see `server`), so this log
                // line and the masked response can be matched up.
                tracing::error!(error = format!("{source:#}"), "internal error");
                async_graphql::Error::new(INTERNAL_MESSAGE).extend_with(|_, ext| {
                    ext.set("code", ErrorCode::InternalServerError.as_str());
                })
            }
        }
    }
}

/// Shorthand for resolvers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(err: &async_graphql::Error) -> String {
        err.extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .map(|v| v.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn internal_errors_are_masked() {
        let err: async_graphql::Error =
            ApiError::Internal(anyhow::anyhow!("relation \"users\" does not exist")).into();
        assert_eq!(err.message, INTERNAL_MESSAGE);
        assert_eq!(code_of(&err), "\"INTERNAL_SERVER_ERROR\"");
    }

    #[test]
    fn bad_input_names_the_field() {
        let err: async_graphql::Error = ApiError::bad_input("email", "is not valid").into();
        assert_eq!(code_of(&err), "\"BAD_USER_INPUT\"");
        let field = err.extensions.as_ref().and_then(|e| e.get("field"));
        assert_eq!(field.map(|v| v.to_string()), Some("\"email\"".into()));
    }
}
