use async_graphql::{dataloader::DataLoader, Context, Object, ID};
use fittrack_kit::{
    auth::{Authenticated, ContextAuthExt},
    ApiError,
};

use super::{
    loader::UserLoader,
    types::{parse_user_id, UpdateProfileInput, User},
};
use crate::domain::accounts::{Accounts, ProfileUpdate};

#[derive(Default)]
pub struct ProfileQuery;

#[Object]
impl ProfileQuery {
    /// The signed-in user.
    #[graphql(guard = "Authenticated")]
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let viewer = ctx.current_user()?;
        let user = ctx.data::<Accounts>()?.user(viewer.id).await?;
        Ok(User::new(user, true))
    }

    /// A user by id: yourself, or anyone for admins.
    #[graphql(guard = "Authenticated")]
    async fn user(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<User> {
        let viewer = ctx.current_user()?;
        let id = parse_user_id(&id, "id")?;
        if !viewer.may_access(id) {
            // Same answer as a missing user: no hint that the id exists.
            return Err(ApiError::not_found("User").into());
        }
        let user = ctx.data::<Accounts>()?.user(id).await?;
        Ok(User::new(user, false))
    }

    /// Federation: resolves `User` references from other subgraphs, batched.
    #[graphql(entity)]
    async fn find_user_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<User>> {
        let Ok(id) = uuid::Uuid::parse_str(&id) else {
            return Ok(None);
        };
        let loader = ctx.data::<DataLoader<UserLoader>>()?;
        let user = loader
            .load_one(id)
            .await
            .map_err(|e| ApiError::from_shared(&e))?;
        Ok(user.map(|user| User::new(user, false)))
    }
}

#[derive(Default)]
pub struct ProfileMutation;

#[Object]
impl ProfileMutation {
    /// Changes the signed-in user's profile.
    #[graphql(guard = "Authenticated")]
    async fn update_profile(
        &self,
        ctx: &Context<'_>,
        input: UpdateProfileInput,
    ) -> async_graphql::Result<User> {
        let viewer = ctx.current_user()?;
        let user = ctx
            .data::<Accounts>()?
            .update_profile(
                viewer.id,
                ProfileUpdate {
                    first_name: input.first_name,
                    last_name: input.last_name,
                    username: input.username,
                    gender: input.gender,
                    fitness_goal: input.fitness_goal,
                },
            )
            .await?;
        Ok(User::new(user, true))
    }
}
