//! Admin views across every user.

use async_graphql::{Context, Object, ID};
use chrono::{Duration, Utc};
use fittrack_kit::{auth::RoleGuard, Role};

use super::{
    activities::{connection, ActivityConnection},
    cursor, parse_id,
    types::{ActivityFilterInput, ActivityTypeStats, PlatformActivityStats},
};
use crate::domain::{
    activities::{page_size, Activities},
    model::ActivityFilter,
    stats::TypeBreakdown,
};

#[derive(Default)]
pub struct AdminActivityQuery;

#[Object]
impl AdminActivityQuery {
    /// Every user's activities (or one user's), newest first. Admins only.
    #[graphql(
        guard = "RoleGuard(Role::Admin)",
        complexity = "fittrack_kit::schema::page_complexity(first, child_complexity)",
        directive = fittrack_kit::schema::connection_size::apply()
    )]
    async fn activities(
        &self,
        ctx: &Context<'_>,
        user_id: Option<ID>,
        filter: Option<ActivityFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<ActivityConnection> {
        let user_id = user_id.map(|id| parse_id(&id, "userId")).transpose()?;
        let limit = page_size(first)?;
        let after = cursor::decode_opt(after.as_deref())?;
        let page = ctx
            .data::<Activities>()?
            .page(user_id, filter.unwrap_or_default().into(), after, limit)
            .await?;
        Ok(connection(page, after.is_some()))
    }

    /// Federation: `PlatformStats` references gain the activity figures.
    #[graphql(entity)]
    async fn find_platform_stats_by_id(&self, id: ID) -> PlatformStats {
        PlatformStats { id }
    }

    /// Platform totals, the last 24 hours, and the split by type. Admins only.
    // Uncached aggregations over every activity: costed as such.
    #[graphql(
        guard = "RoleGuard(Role::Admin)",
        directive = fittrack_kit::schema::cost::apply(1000)
    )]
    async fn platform_activity_stats(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<PlatformActivityStats> {
        let store = ctx.data::<Activities>()?.store().clone();
        Ok(platform_stats(store.as_ref())
            .await
            .map_err(fittrack_kit::ApiError::Internal)?)
    }
}

/// Platform totals, the last 24 hours and the split by type: two aggregations
/// in the store.
pub async fn platform_stats(
    store: &dyn crate::domain::ports::ActivityStore,
) -> anyhow::Result<PlatformActivityStats> {
    let all_time = ActivityFilter::default();
    let last_day = ActivityFilter {
        from: Some(Utc::now() - Duration::hours(24)),
        ..ActivityFilter::default()
    };
    let (mut totals, recent) = tokio::try_join!(
        store.type_totals(None, &all_time),
        store.type_totals(None, &last_day)
    )?;
    totals.sort_by_key(|t| t.activity_type);
    let by_type: Vec<ActivityTypeStats> = totals
        .iter()
        .map(|t| {
            TypeBreakdown {
                activity_type: t.activity_type,
                count: t.count,
                duration_minutes: t.duration_minutes,
                calories_burned: t.calories_burned,
            }
            .into()
        })
        .collect();
    let total_activities: i64 = totals.iter().map(|t| t.count).sum();
    let total_calories: i64 = totals.iter().map(|t| t.calories_burned).sum();
    Ok(PlatformActivityStats {
        total_activities,
        total_duration_minutes: totals.iter().map(|t| t.duration_minutes).sum(),
        total_calories_burned: total_calories,
        average_calories_burned: if total_activities == 0 {
            0.0
        } else {
            total_calories as f64 / total_activities as f64
        },
        activities_last_24_hours: recent.iter().map(|t| t.count).sum(),
        by_type,
    })
}

/// This subgraph's part of the admin dashboard (`PlatformStats`), cached 60 s.
#[derive(async_graphql::SimpleObject, Clone)]
#[graphql(complex)]
pub struct PlatformStats {
    pub id: ID,
}

/// The 60-second cache of this part (Redis when configured).
pub type PlatformStatsCache = std::sync::Arc<fittrack_kit::cache::TtlCache<PlatformActivityStats>>;

#[async_graphql::ComplexObject]
impl PlatformStats {
    /// Activities: totals, last 24 hours, by type, average calories.
    // Aggregations, cached for a minute: costed as such.
    #[graphql(
        guard = "RoleGuard(Role::Admin)",
        directive = fittrack_kit::schema::cost::apply(100)
    )]
    async fn activities(&self, ctx: &Context<'_>) -> async_graphql::Result<PlatformActivityStats> {
        let store = ctx.data::<Activities>()?.store().clone();
        let cache = ctx.data::<PlatformStatsCache>()?;
        Ok(cache
            .get_or_try(|| async move { platform_stats(store.as_ref()).await })
            .await
            .map_err(fittrack_kit::ApiError::Internal)?)
    }
}
