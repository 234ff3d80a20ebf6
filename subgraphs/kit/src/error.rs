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

/// Input the client must change: which argument, and what is wrong with it.
/// Every subgraph's domain error carries this one type; clients see
/// `BAD_USER_INPUT` with `extensions.field` and the message `<field>: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInput {
    pub field: &'static str,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl From<InvalidInput> for ApiError {
    fn from(InvalidInput { field, message }: InvalidInput) -> Self {
        ApiError::bad_input(field, format!("{field}: {message}"))
    }
}

impl From<InvalidInput> for async_graphql::Error {
    fn from(invalid: InvalidInput) -> Self {
        ApiError::from(invalid).into()
    }
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 12] = [
        Self::Unauthenticated,
        Self::Forbidden,
        Self::BadUserInput,
        Self::NotFound,
        Self::Conflict,
        Self::AccountLocked,
        Self::AccountBanned,
        Self::AccountSuspended,
        Self::AccountDeactivated,
        Self::RateLimited,
        Self::ServiceUnavailable,
        Self::InternalServerError,
    ];

    /// The code an `extensions.code` names (another service's refusal, passed on).
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|known| known.as_str() == code)
    }

    /// The code whose name `code` is, when it is one of ours.
    pub fn named(code: &str) -> Option<Self> {
        use ErrorCode::*;
        [
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
            ServiceUnavailable,
            InternalServerError,
        ]
        .into_iter()
        .find(|known| known.as_str() == code)
    }

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
    /// A dependency that cannot be reached is `SERVICE_UNAVAILABLE` with a
    /// retry hint (logged, the cause not shown); anything else is internal.
    fn from(error: anyhow::Error) -> Self {
        match dependency_outage(&error) {
            Some(dependency) => {
                tracing::warn!(
                    dependency,
                    error = format!("{error:#}"),
                    "dependency unavailable"
                );
                Self::unavailable(
                    format!("A service FitTrack depends on ({dependency}) is not reachable right now; try again shortly"),
                    DEPENDENCY_RETRY_AFTER_SECS,
                )
            }
            None => Self::Internal(error),
        }
    }
}

/// What clients are told to wait when a dependency is down.
pub const DEPENDENCY_RETRY_AFTER_SECS: u64 = 5;

/// Which dependency `error` says is unreachable (connection refused or
/// dropped, no connection within its timeout, a command that timed out),
/// if that is what it is: "database", "Redis" or "MongoDB".
pub fn dependency_outage(error: &anyhow::Error) -> Option<&'static str> {
    use sea_orm::{error::ConnAcquireErr, sqlx, DbErr, RuntimeErr};
    for cause in error.chain() {
        if let Some(db) = cause.downcast_ref::<DbErr>() {
            let unreachable = match db {
                DbErr::ConnectionAcquire(
                    ConnAcquireErr::Timeout | ConnAcquireErr::ConnectionClosed,
                ) => true,
                DbErr::Conn(RuntimeErr::SqlxError(error))
                | DbErr::Exec(RuntimeErr::SqlxError(error))
                | DbErr::Query(RuntimeErr::SqlxError(error)) => matches!(
                    error,
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::WorkerCrashed
                ),
                DbErr::Conn(_) => true,
                _ => false,
            };
            if unreachable {
                return Some("database");
            }
        }
        if let Some(sqlx_error) = cause.downcast_ref::<sea_orm::sqlx::Error>() {
            if matches!(
                sqlx_error,
                sea_orm::sqlx::Error::Io(_)
                    | sea_orm::sqlx::Error::PoolTimedOut
                    | sea_orm::sqlx::Error::PoolClosed
            ) {
                return Some("database");
            }
        }
        if let Some(redis) = cause.downcast_ref::<fred::error::Error>() {
            use fred::error::ErrorKind;
            if matches!(
                redis.kind(),
                ErrorKind::IO | ErrorKind::Timeout | ErrorKind::Canceled
            ) {
                return Some("Redis");
            }
        }
        if let Some(mongo) = cause.downcast_ref::<mongodb::error::Error>() {
            use mongodb::error::ErrorKind;
            if matches!(
                mongo.kind.as_ref(),
                ErrorKind::ServerSelection { .. }
                    | ErrorKind::Io(_)
                    | ErrorKind::ConnectionPoolCleared { .. }
            ) {
                return Some("MongoDB");
            }
        }
    }
    None
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

    /// As `From<anyhow::Error>`, for an error shared by several callers (a
    /// dataloader's batch): same classification, the chain kept as text.
    pub fn from_shared(error: &std::sync::Arc<anyhow::Error>) -> Self {
        match dependency_outage(error) {
            Some(dependency) => Self::outage(dependency, error),
            None => Self::Internal(anyhow::anyhow!("{error:#}")),
        }
    }

    /// `dependency` is down: logged with its cause, `SERVICE_UNAVAILABLE`.
    fn outage(dependency: &'static str, error: &anyhow::Error) -> Self {
        tracing::warn!(
            dependency,
            error = format!("{error:#}"),
            "dependency unavailable"
        );
        Self::unavailable(
            format!(
                "A service FitTrack depends on ({dependency}) is not reachable right now; try again shortly"
            ),
            DEPENDENCY_RETRY_AFTER_SECS,
        )
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
    fn unreachable_dependencies_are_service_unavailable_with_a_retry_hint() {
        let outages = [
            anyhow::Error::new(sea_orm::DbErr::ConnectionAcquire(
                sea_orm::error::ConnAcquireErr::Timeout,
            ))
            .context("reading a user"),
            anyhow::Error::new(fred::error::Error::new(
                fred::error::ErrorKind::Timeout,
                "Request timed out.",
            ))
            .context("redis XADD on activity-events"),
            anyhow::Error::new(fred::error::Error::new(
                fred::error::ErrorKind::IO,
                "Connection refused",
            )),
        ];
        for outage in outages {
            let error = ApiError::from(outage);
            assert_eq!(error.code(), ErrorCode::ServiceUnavailable);
            let error: async_graphql::Error = error.into();
            assert!(
                !error.message.contains("timed out"),
                "causes stay in the logs"
            );
            assert!(error
                .extensions
                .as_ref()
                .is_some_and(|e| e.get("retryAfterSeconds").is_some()));
        }
        let other = ApiError::from(anyhow::Error::new(sea_orm::DbErr::RecordNotFound(
            "x".into(),
        )));
        assert_eq!(other.code(), ErrorCode::InternalServerError);
    }

    #[test]
    fn bad_input_names_the_field() {
        let err: async_graphql::Error = ApiError::bad_input("email", "is not valid").into();
        assert_eq!(code_of(&err), "\"BAD_USER_INPUT\"");
        let field = err.extensions.as_ref().and_then(|e| e.get("field"));
        assert_eq!(field.map(|v| v.to_string()), Some("\"email\"".into()));
    }
}
