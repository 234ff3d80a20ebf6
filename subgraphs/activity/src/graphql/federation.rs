//! Federation: `Activity` and `User` entities, and the fields this subgraph adds
//! to `User`. All of it goes through dataloaders, so resolving N users or N
//! activities costs a constant number of store queries.

use async_graphql::{dataloader::DataLoader, ComplexObject, Context, Object, ID};
use fittrack_kit::auth::ContextAuthExt;

use super::{
    activities::{connection, ActivityConnection},
    cursor, day_boundary, internal,
    loaders::{ActivityLoader, FirstPageKey, FirstPageLoader, StatsKey, StatsLoader},
    types::{ActivityFilterInput, ActivityObject, ActivityStats, StatsRangeInput, UserRef},
};
use crate::domain::{
    activities::{page_size, Activities},
    error::ActivityError,
};

#[derive(Default)]
pub struct EntityQuery;

#[Object]
impl EntityQuery {
    /// Resolves `Activity` references (e.g. from AI recommendations). Only the
    /// owner (or an admin) gets the activity; anyone else gets null.
    #[graphql(entity)]
    async fn find_activity_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<ActivityObject>> {
        let Ok(id) = uuid::Uuid::parse_str(&id) else {
            return Ok(None);
        };
        let Some(viewer) = ctx.current_user_opt() else {
            return Ok(None);
        };
        let activity = ctx
            .data::<DataLoader<ActivityLoader>>()?
            .load_one(id)
            .await
            .map_err(internal)?;
        Ok(activity
            .filter(|a| viewer.may_access(a.user_id))
            .map(Into::into))
    }

    /// `User` references: the key is all this subgraph needs.
    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> UserRef {
        UserRef { id }
    }
}

/// Activity fields on `User` are visible to that user and to admins.
fn may_see(ctx: &Context<'_>, user: &UserRef) -> async_graphql::Result<uuid::Uuid> {
    let viewer = ctx.current_user()?;
    let id = uuid::Uuid::parse_str(&user.id).map_err(|_| ActivityError::NotFound)?;
    if viewer.may_access(id) {
        Ok(id)
    } else {
        Err(fittrack_kit::ApiError::forbidden().into())
    }
}

#[ComplexObject]
impl UserRef {
    /// This user's activities, newest first (the user themself or an admin).
    #[graphql(
        complexity = "fittrack_kit::schema::page_complexity(first, child_complexity)",
        directive = fittrack_kit::schema::connection_size::apply()
    )]
    async fn activities(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<ActivityFilterInput>,
    ) -> async_graphql::Result<ActivityConnection> {
        let user_id = may_see(ctx, self)?;
        let limit = page_size(first)?;
        let filter = filter.unwrap_or_default().into();
        let page = match cursor::decode_opt(after.as_deref())? {
            // Later pages are one user's scrolling: a direct query.
            Some(after) => {
                let page = ctx
                    .data::<Activities>()?
                    .page(Some(user_id), filter, Some(after), limit)
                    .await?;
                return Ok(connection(page, true));
            }
            None => ctx
                .data::<DataLoader<FirstPageLoader>>()?
                .load_one(FirstPageKey {
                    user_id,
                    filter,
                    limit,
                })
                .await
                .map_err(internal)?
                .unwrap_or_else(|| crate::domain::activities::Page {
                    items: vec![],
                    has_next: false,
                }),
        };
        Ok(connection(page, false))
    }

    /// This user's statistics (the user themself or an admin); days are local
    /// to `timeZone` when given (each workout with its own zone on its day
    /// there), else to `utcOffsetMinutes`.
    // A whole-history aggregation per user: costed (hive-router 0.2 counts an
    // entity field 20 times over, so its weight is small), and counted against the
    // caller's stats quota (a user can only ask for their own, aliased).
    #[graphql(directive = fittrack_kit::schema::cost::apply(50))]
    async fn activity_stats(
        &self,
        ctx: &Context<'_>,
        range: Option<StatsRangeInput>,
        #[graphql(default = 0)] utc_offset_minutes: i32,
        time_zone: Option<String>,
    ) -> async_graphql::Result<ActivityStats> {
        let user_id = may_see(ctx, self)?;
        let viewer = ctx.current_user()?;
        // Admins look at many users' figures; their reach is bounded by cost.
        if !viewer.is_admin() {
            ctx.data::<super::Quotas>()?.admit_stats(viewer.id).await?;
        }
        let days = day_boundary(utc_offset_minutes, time_zone.as_deref())?;
        let stats = ctx
            .data::<DataLoader<StatsLoader>>()?
            .load_one(StatsKey {
                user_id,
                filter: range.unwrap_or_default().into(),
                days,
            })
            .await
            .map_err(internal)?
            .ok_or_else(|| internal(anyhow::anyhow!("stats loader returned nothing").into()))?;
        Ok(stats.into())
    }
}
