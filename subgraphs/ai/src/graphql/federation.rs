//! Federation: `Activity` references gain `recommendation`, `User`
//! references gain `recommendations`.

use async_graphql::{dataloader::DataLoader, ComplexObject, Context, Object, ID};
use fittrack_kit::{auth::ContextAuthExt, ApiError};
use uuid::Uuid;

use super::{
    internal,
    loaders::{recommendation_for, UserRecommendationsLoader},
    page_size,
    recommendations::{decode_cursor, page_of, recommendation_connection},
    ActivityRef, RecommendationConnection, RecommendationObject, UserRef,
};
use crate::domain::error::AiError;

#[derive(Default)]
pub struct EntityQuery;

#[Object]
impl EntityQuery {
    /// Federation: `Activity` references gain `recommendation`.
    #[graphql(entity)]
    async fn find_activity_by_id(&self, id: ID) -> ActivityRef {
        ActivityRef { id }
    }

    /// Federation: `User` references gain `recommendations`.
    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> UserRef {
        UserRef { id }
    }
}

#[ComplexObject]
impl ActivityRef {
    /// The coaching for this activity (owner or admin); null until written.
    async fn recommendation(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<RecommendationObject>> {
        let Some(viewer) = ctx.current_user_opt() else {
            return Ok(None);
        };
        recommendation_for(ctx, viewer, &self.id).await
    }
}

#[ComplexObject]
impl UserRef {
    /// This user's recommendations, newest first (the user themself or an admin).
    #[graphql(
        complexity = "fittrack_kit::schema::page_complexity(first, child_complexity)",
        directive = fittrack_kit::schema::connection_size::apply()
    )]
    async fn recommendations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<RecommendationConnection> {
        let viewer = ctx.current_user()?;
        let user_id = Uuid::parse_str(&self.id).map_err(|_| AiError::NotFound("User"))?;
        if !viewer.may_access(user_id) {
            return Err(ApiError::forbidden().into());
        }
        let limit = page_size(first)?;
        if let Some(after) = decode_cursor(after.as_deref())? {
            return page_of(ctx, user_id, Some(after), limit).await;
        }
        // First pages of many users (a federated list of users) in one query.
        let items = ctx
            .data::<DataLoader<UserRecommendationsLoader>>()?
            .load_one((user_id, limit))
            .await
            .map_err(internal)?
            .unwrap_or_default();
        Ok(recommendation_connection(items, limit, false))
    }
}
