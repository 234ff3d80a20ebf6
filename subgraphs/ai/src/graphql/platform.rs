//! This subgraph's part of the admin dashboard: `PlatformStats.ai`.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Object, SimpleObject, ID};
use fittrack_kit::{auth::RoleGuard, cache::TtlCache, ApiError, Role};
use serde::{Deserialize, Serialize};

use super::AiContext;
use crate::domain::model::{BreakerStatus, Source};

/// Recommendation and pipeline figures.
#[derive(SimpleObject, Clone, Serialize, Deserialize)]
pub struct AiPlatformStats {
    pub recommendations_total: i64,
    /// Written by the built-in rules (no key, Gemini failing or breaker open).
    pub recommendations_from_rules: i64,
    /// `recommendationsFromRules / recommendationsTotal`, 0 when there are none.
    pub rules_share: f64,
    /// Activity events waiting for the worker.
    pub queue_waiting: i64,
    /// Events a worker holds and has not finished.
    pub queue_in_flight: i64,
    /// Events the worker gave up on (see `deadLetters`).
    pub dead_letters: i64,
    /// The worst Gemini circuit breaker among this AI instance and the workers
    /// that reported in the last 45 s (through Redis).
    pub breaker_state: BreakerStatus,
}

/// The 60-second cache of this part (Redis when configured).
pub type AiStatsCache = Arc<TtlCache<AiPlatformStats>>;

async fn compute(context: &AiContext) -> anyhow::Result<AiPlatformStats> {
    let (counts, queue, reported) = tokio::try_join!(
        context.store.recommendation_counts(),
        context.queue.stats(),
        context.breakers.reported()
    )?;
    let total: i64 = counts.values().sum();
    let from_rules = counts.get(&Source::Rules).copied().unwrap_or(0);
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Ok(AiPlatformStats {
        recommendations_total: total,
        recommendations_from_rules: from_rules,
        rules_share: if total == 0 {
            0.0
        } else {
            from_rules as f64 / total as f64
        },
        queue_waiting: as_i64(queue.waiting),
        queue_in_flight: as_i64(queue.in_flight),
        dead_letters: as_i64(queue.dead_letters),
        breaker_state: crate::breakers::worst(
            std::iter::once(context.coach.gemini().breaker_status()).chain(reported),
        ),
    })
}

/// Platform-wide figures for admins; each subgraph contributes its fields.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct PlatformStats {
    pub id: ID,
}

#[ComplexObject]
impl PlatformStats {
    /// Recommendations, the rules fallback share, the event queue and Gemini's breaker.
    // Aggregations, cached for a minute: costed as such.
    #[graphql(
        guard = "RoleGuard(Role::Admin)",
        directive = fittrack_kit::schema::cost::apply(100)
    )]
    async fn ai(&self, ctx: &Context<'_>) -> async_graphql::Result<AiPlatformStats> {
        let context = ctx.data::<AiContext>()?;
        Ok(context
            .dashboard
            .get_or_try(|| compute(context))
            .await
            .map_err(ApiError::from)?)
    }
}

#[derive(Default)]
pub struct PlatformQuery;

#[Object]
impl PlatformQuery {
    /// Federation: `PlatformStats` references gain the AI figures.
    #[graphql(entity)]
    async fn find_platform_stats_by_id(&self, id: ID) -> PlatformStats {
        PlatformStats { id }
    }
}
