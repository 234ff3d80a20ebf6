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
    #[graphql(guard = "RoleGuard(Role::Admin)")]
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

    /// Platform totals, the last 24 hours, and the split by type. Admins only.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn platform_activity_stats(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<PlatformActivityStats> {
        let store = ctx.data::<Activities>()?.store().clone();
        let all_time = ActivityFilter::default();
        let last_day = ActivityFilter {
            from: Some(Utc::now() - Duration::hours(24)),
            ..ActivityFilter::default()
        };
        let (mut totals, recent) = tokio::try_join!(
            store.type_totals(None, &all_time),
            store.type_totals(None, &last_day)
        )
        .map_err(fittrack_kit::ApiError::Internal)?;
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
}
