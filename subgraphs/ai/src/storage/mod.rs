//! Where the AI subgraph keeps its data: the domain's [`AiStore`] port, two
//! backends passing one contract suite (`tests/store_contract.rs`):
//! [`mongo::MongoAiStore`] (`ai_db`, when `MONGODB_URI` is set) and
//! [`embedded::EmbeddedAiStore`] (SQLite in the data directory).

pub mod embedded;
pub mod mongo;

use std::{collections::HashMap, sync::Arc};

use chrono::NaiveDate;
use uuid::Uuid;

use crate::domain::model::{ActivitySummary, DailyPlan, Recommendation, Source};
pub use crate::domain::ports::{
    AiStore, Intake, RecommendationCursor, Saved, RECENT_ACTIVITIES_KEPT,
};

/// Wraps the service's store: each call timed in
/// `fittrack_store_call_duration_seconds` and traced as a `store.<operation>`
/// span (`kit::metrics::StoreTimings`).
pub struct TimedStore {
    inner: Arc<dyn AiStore>,
    timings: fittrack_kit::metrics::StoreTimings,
}

impl TimedStore {
    pub fn new(inner: Arc<dyn AiStore>, timings: fittrack_kit::metrics::StoreTimings) -> Self {
        Self { inner, timings }
    }
}

#[async_trait::async_trait]
impl AiStore for TimedStore {
    async fn take_in_activity(
        &self,
        activity: &ActivitySummary,
        history: usize,
    ) -> anyhow::Result<Intake> {
        self.timings
            .time(
                "take_in_activity",
                self.inner.take_in_activity(activity, history),
            )
            .await
    }
    async fn forget_activity(&self, activity_id: Uuid) -> anyhow::Result<bool> {
        self.timings
            .time("forget_activity", self.inner.forget_activity(activity_id))
            .await
    }
    async fn recent_activities(
        &self,
        user_id: Uuid,
        limit: usize,
    ) -> anyhow::Result<Vec<ActivitySummary>> {
        self.timings
            .time(
                "recent_activities",
                self.inner.recent_activities(user_id, limit),
            )
            .await
    }
    async fn save_recommendation(
        &self,
        recommendation: Recommendation,
    ) -> anyhow::Result<Option<Saved<Recommendation>>> {
        self.timings
            .time(
                "save_recommendation",
                self.inner.save_recommendation(recommendation),
            )
            .await
    }
    async fn recommendations_for_activities(
        &self,
        activity_ids: &[Uuid],
    ) -> anyhow::Result<Vec<Recommendation>> {
        self.timings
            .time_batch(
                "recommendations_for_activities",
                "recommendation",
                activity_ids.len(),
                self.inner.recommendations_for_activities(activity_ids),
            )
            .await
    }
    async fn recommendations_page(
        &self,
        user_id: Uuid,
        after: Option<RecommendationCursor>,
        limit: usize,
    ) -> anyhow::Result<Vec<Recommendation>> {
        self.timings
            .time(
                "recommendations_page",
                self.inner.recommendations_page(user_id, after, limit),
            )
            .await
    }
    async fn first_recommendation_pages(
        &self,
        user_ids: &[Uuid],
        limit: usize,
    ) -> anyhow::Result<HashMap<Uuid, Vec<Recommendation>>> {
        self.timings
            .time_batch(
                "first_recommendation_pages",
                "user_recommendations",
                user_ids.len(),
                self.inner.first_recommendation_pages(user_ids, limit),
            )
            .await
    }
    async fn daily_plan(
        &self,
        user_id: Uuid,
        date: NaiveDate,
    ) -> anyhow::Result<Option<DailyPlan>> {
        self.timings
            .time("daily_plan", self.inner.daily_plan(user_id, date))
            .await
    }
    async fn save_daily_plan(
        &self,
        plan: DailyPlan,
        replace: bool,
    ) -> anyhow::Result<Saved<DailyPlan>> {
        self.timings
            .time("save_daily_plan", self.inner.save_daily_plan(plan, replace))
            .await
    }
    async fn daily_plans_page(
        &self,
        user_id: Uuid,
        before: Option<NaiveDate>,
        limit: usize,
    ) -> anyhow::Result<Vec<DailyPlan>> {
        self.timings
            .time(
                "daily_plans_page",
                self.inner.daily_plans_page(user_id, before, limit),
            )
            .await
    }
    async fn forget_user(&self, user_id: Uuid) -> anyhow::Result<()> {
        self.timings
            .time("forget_user", self.inner.forget_user(user_id))
            .await
    }
    async fn recommendation_counts(&self) -> anyhow::Result<HashMap<Source, i64>> {
        self.timings
            .time("recommendation_counts", self.inner.recommendation_counts())
            .await
    }
    async fn ping(&self) -> anyhow::Result<()> {
        self.inner.ping().await
    }
}
