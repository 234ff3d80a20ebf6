//! Everything the activity subgraph can refuse, mapped onto client error codes.

use fittrack_kit::{error::InvalidInput, ApiError, ErrorCode};

/// Not `Display` on purpose (see `fittrack_kit::ApiError`).
#[derive(Debug)]
pub enum ActivityError {
    InvalidInput(InvalidInput),
    /// Missing, or someone else's: callers cannot tell the two apart.
    NotFound,
    /// An import missing, or someone else's.
    ImportNotFound,
    /// The account was deleted while the request was in flight.
    AccountErased,
    /// The user has [`MAX_OPEN_IMPORTS`](super::imports::MAX_OPEN_IMPORTS)
    /// imports unfinished.
    TooManyOpenImports,
    /// A goal missing, or someone else's.
    GoalNotFound,
    /// The user keeps [`MAX_GOALS_PER_USER`](super::goals::MAX_GOALS_PER_USER) goals.
    TooManyGoals,
    /// A piece of gear missing, or someone else's.
    GearNotFound,
    /// The user keeps [`MAX_GEAR_PER_USER`](super::gear::MAX_GEAR_PER_USER) pieces of gear.
    TooMuchGear,
    Internal(anyhow::Error),
}

pub type ActivityResult<T> = Result<T, ActivityError>;

impl ActivityError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidInput(InvalidInput::new(field, message))
    }
}

impl From<InvalidInput> for ActivityError {
    fn from(invalid: InvalidInput) -> Self {
        Self::InvalidInput(invalid)
    }
}

impl From<anyhow::Error> for ActivityError {
    fn from(error: anyhow::Error) -> Self {
        Self::Internal(error)
    }
}

impl From<ActivityError> for ApiError {
    fn from(error: ActivityError) -> Self {
        match error {
            ActivityError::InvalidInput(invalid) => invalid.into(),
            ActivityError::NotFound => ApiError::new(ErrorCode::NotFound, "Activity not found"),
            ActivityError::ImportNotFound => ApiError::new(ErrorCode::NotFound, "Import not found"),
            ActivityError::AccountErased => {
                ApiError::unauthenticated("This account was deleted; nothing was saved")
            }
            ActivityError::TooManyOpenImports => ApiError::new(
                ErrorCode::RateLimited,
                "Finish or wait for your unfinished imports before starting another",
            ),
            ActivityError::GoalNotFound => ApiError::new(ErrorCode::NotFound, "Goal not found"),
            ActivityError::TooManyGoals => ApiError::new(
                ErrorCode::BadUserInput,
                format!(
                    "At most {} goals; delete one first",
                    super::goals::MAX_GOALS_PER_USER
                ),
            ),
            ActivityError::GearNotFound => ApiError::new(ErrorCode::NotFound, "Gear not found"),
            ActivityError::TooMuchGear => ApiError::new(
                ErrorCode::BadUserInput,
                format!(
                    "At most {} pieces of gear; delete one first",
                    super::gear::MAX_GEAR_PER_USER
                ),
            ),
            ActivityError::Internal(error) => ApiError::from(error),
        }
    }
}

impl From<ActivityError> for async_graphql::Error {
    fn from(error: ActivityError) -> Self {
        ApiError::from(error).into()
    }
}
