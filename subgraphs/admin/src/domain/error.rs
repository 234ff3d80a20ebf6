//! The admin subgraph's errors, each with its `extensions.code`.

use fittrack_kit::{error::InvalidInput, ApiError};

#[derive(Debug)]
pub enum AdminError {
    /// `BAD_USER_INPUT`.
    Invalid(InvalidInput),
    /// The user subgraph refused the change or was out of reach: its code
    /// (`NOT_FOUND`, `SERVICE_UNAVAILABLE`, …) passed on as it is.
    Accounts(ApiError),
    /// Logged with its context, masked for the client.
    Internal(anyhow::Error),
}

impl From<InvalidInput> for AdminError {
    fn from(invalid: InvalidInput) -> Self {
        Self::Invalid(invalid)
    }
}

impl From<anyhow::Error> for AdminError {
    fn from(error: anyhow::Error) -> Self {
        Self::Internal(error)
    }
}

impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::Invalid(invalid) => invalid.into(),
            AdminError::Accounts(refusal) => refusal,
            AdminError::Internal(error) => ApiError::from(error),
        }
    }
}

impl From<AdminError> for async_graphql::Error {
    fn from(error: AdminError) -> Self {
        ApiError::from(error).into()
    }
}
