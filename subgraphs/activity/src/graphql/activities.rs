//! A signed-in user's own activities.

use async_graphql::{
    connection::{Connection, EmptyFields},
    dataloader::DataLoader,
    Context, Object, ID,
};
use fittrack_kit::auth::{Authenticated, ContextAuthExt};

use super::{
    cursor, day_boundary, internal,
    loaders::{StatsKey, StatsLoader},
    parse_id,
    types::{
        ActivityFilterInput, ActivityObject, ActivityStats, LogActivityInput, StatsRangeInput,
        UpdateActivityInput,
    },
    Quotas,
};
use crate::domain::{
    activities::{page_size, Activities, Page},
    model::Cursor,
};

pub type ActivityConnection = Connection<String, ActivityObject, EmptyFields, EmptyFields>;

/// Turns a page into a Relay connection.
pub fn connection(page: Page, has_previous: bool) -> ActivityConnection {
    page.into_connection(
        has_previous,
        |activity| cursor::encode(&Cursor::of(activity)),
        ActivityObject::from,
    )
}

#[derive(Default)]
pub struct ActivityQuery;

#[Object]
impl ActivityQuery {
    /// One activity: your own, or anyone's for admins.
    #[graphql(guard = "Authenticated")]
    async fn activity(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ActivityObject> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_write(viewer.id).await?;
        let id = parse_id(&id, "id")?;
        let activity = ctx.data::<Activities>()?.get(viewer, id).await?;
        Ok(activity.into())
    }

    /// Your activities, newest `startTime` first. `first` is capped at 100.
    #[graphql(
        guard = "Authenticated",
        complexity = "fittrack_kit::schema::page_complexity(first, child_complexity)",
        directive = fittrack_kit::schema::connection_size::apply()
    )]
    async fn my_activities(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<ActivityFilterInput>,
    ) -> async_graphql::Result<ActivityConnection> {
        let viewer = ctx.current_user()?;
        let limit = page_size(first)?;
        let after = cursor::decode_opt(after.as_deref())?;
        let page = ctx
            .data::<Activities>()?
            .page(
                Some(viewer.id),
                filter.unwrap_or_default().into(),
                after,
                limit,
            )
            .await?;
        Ok(connection(page, after.is_some()))
    }

    /// Your statistics over `range` (all time when omitted). Days, streaks and
    /// weeks are local to `timeZone` (an IANA name, daylight saving
    /// included) when given, each workout that has its own zone counting on
    /// its day there; else to `utcOffsetMinutes` (e.g. 120 for UTC+2).
    // A whole-history aggregation: it costs as much as a large page, and
    // each aliased copy counts against the caller's stats quota.
    #[graphql(
        guard = "Authenticated",
        directive = fittrack_kit::schema::cost::apply(1000)
    )]
    async fn my_activity_stats(
        &self,
        ctx: &Context<'_>,
        range: Option<StatsRangeInput>,
        #[graphql(default = 0)] utc_offset_minutes: i32,
        time_zone: Option<String>,
    ) -> async_graphql::Result<ActivityStats> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_stats(viewer.id).await?;
        let days = day_boundary(utc_offset_minutes, time_zone.as_deref())?;
        let stats = ctx
            .data::<DataLoader<StatsLoader>>()?
            .load_one(StatsKey {
                user_id: viewer.id,
                filter: range.unwrap_or_default().into(),
                days,
            })
            .await
            .map_err(internal)?
            .ok_or_else(|| internal(anyhow::anyhow!("stats loader returned nothing").into()))?;
        Ok(stats.into())
    }
}

#[derive(Default)]
pub struct ActivityMutation;

#[Object]
impl ActivityMutation {
    /// Records a workout. With an `idempotencyKey`, a retry returns the first
    /// activity instead of storing a copy.
    #[graphql(guard = "Authenticated")]
    async fn log_activity(
        &self,
        ctx: &Context<'_>,
        input: LogActivityInput,
    ) -> async_graphql::Result<ActivityObject> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_write(viewer.id).await?;
        let (raw, key) = input.into_parts();
        let activity = ctx.data::<Activities>()?.log(viewer.id, raw, key).await?;
        Ok(activity.into())
    }

    /// Changes your activity; omitted fields keep their values.
    #[graphql(guard = "Authenticated")]
    async fn update_activity(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateActivityInput,
    ) -> async_graphql::Result<ActivityObject> {
        let viewer = ctx.current_user()?;
        let id = parse_id(&id, "id")?;
        let activity = ctx
            .data::<Activities>()?
            .update(viewer.id, id, input.into())
            .await?;
        Ok(activity.into())
    }

    /// Deletes your activity; returns its id.
    #[graphql(guard = "Authenticated")]
    async fn delete_activity(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_write(viewer.id).await?;
        let id = parse_id(&id, "id")?;
        let deleted = ctx.data::<Activities>()?.delete(viewer.id, id).await?;
        Ok(ID(deleted.id.to_string()))
    }
}
