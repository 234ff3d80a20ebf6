//! A user's recommendations: one by activity, and the paged list.

use async_graphql::{Context, Object, ID};
use fittrack_kit::{auth::Authenticated, auth::ContextAuthExt, pagination::Page, ApiError};
use uuid::Uuid;

use super::{loaders::recommendation_for, page_size, AiContext, RecommendationConnection};
use crate::{
    domain::{error::AiError, model::Recommendation, ports::RecommendationCursor},
    graphql::RecommendationObject,
};

#[derive(Default)]
pub struct RecommendationQuery;

#[Object]
impl RecommendationQuery {
    /// The recommendation for one of your activities (admins: anyone's); null
    /// while it is being written.
    #[graphql(guard = "Authenticated")]
    async fn recommendation(
        &self,
        ctx: &Context<'_>,
        activity_id: ID,
    ) -> async_graphql::Result<Option<RecommendationObject>> {
        let viewer = ctx.current_user()?;
        recommendation_for(ctx, viewer, &activity_id).await
    }

    /// Your recommendations, newest first.
    #[graphql(
        guard = "Authenticated",
        complexity = "fittrack_kit::schema::page_complexity(first, child_complexity)",
        directive = fittrack_kit::schema::connection_size::apply()
    )]
    async fn my_recommendations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<RecommendationConnection> {
        let viewer = ctx.current_user()?;
        let limit = page_size(first)?;
        let after = decode_cursor(after.as_deref())?;
        page_of(ctx, viewer.id, after, limit).await
    }
}

/// `user_id`'s recommendations after `after`, newest first: one store query.
pub(super) async fn page_of(
    ctx: &Context<'_>,
    user_id: Uuid,
    after: Option<RecommendationCursor>,
    limit: usize,
) -> async_graphql::Result<RecommendationConnection> {
    let items = ctx
        .data::<AiContext>()?
        .store
        .recommendations_page(user_id, after, limit + 1)
        .await
        .map_err(ApiError::from)?;
    Ok(recommendation_connection(items, limit, after.is_some()))
}

/// A page of `limit` from `limit + 1` fetched items.
pub(super) fn recommendation_connection(
    items: Vec<Recommendation>,
    limit: usize,
    has_previous: bool,
) -> RecommendationConnection {
    Page::from_overfetch(items, limit).into_connection(
        has_previous,
        |r| fittrack_kit::cursor::encode(r.created_at, r.id),
        RecommendationObject::from,
    )
}

pub(super) fn decode_cursor(after: Option<&str>) -> Result<Option<RecommendationCursor>, AiError> {
    Ok(fittrack_kit::pagination::decode_after(after)?
        .map(|(created_at, id)| RecommendationCursor { created_at, id }))
}
