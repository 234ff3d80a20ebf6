//! The profile: onboarding answers and the fields a user may change.

use uuid::Uuid;

use super::Accounts;
use crate::domain::{
    error::{UserError, UserResult},
    model::{FitnessGoal, Gender, User},
    ports::{ProfileChanges, UniqueViolation},
    validation::{normalize_name, normalize_username},
};

#[derive(Default)]
pub struct ProfileUpdate {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub gender: Option<Gender>,
    pub fitness_goal: Option<FitnessGoal>,
}

impl Accounts {
    /// Records the onboarding answers; onboarding is then complete.
    pub async fn complete_onboarding(
        &self,
        id: Uuid,
        fitness_goal: FitnessGoal,
        gender: Option<Gender>,
    ) -> UserResult<User> {
        self.store
            .complete_onboarding(id, fitness_goal, gender)
            .await?;
        self.user(id).await
    }

    pub async fn update_profile(&self, id: Uuid, update: ProfileUpdate) -> UserResult<User> {
        let changes = ProfileChanges {
            first_name: update
                .first_name
                .as_deref()
                .map(|n| normalize_name(n, "firstName"))
                .transpose()?,
            last_name: update
                .last_name
                .as_deref()
                .map(|n| normalize_name(n, "lastName"))
                .transpose()?,
            username: update
                .username
                .as_deref()
                .map(normalize_username)
                .transpose()?,
            gender: update.gender,
            fitness_goal: update.fitness_goal,
        };
        if let Some(username) = &changes.username {
            if self.store.username_taken(username, Some(id)).await? {
                return Err(UserError::UsernameTaken);
            }
        }
        self.store
            .update_profile(id, changes)
            .await
            .map_err(|error| match error.downcast_ref::<UniqueViolation>() {
                Some(_) => UserError::UsernameTaken,
                None => UserError::Internal(error),
            })?;
        self.user(id).await
    }
}
