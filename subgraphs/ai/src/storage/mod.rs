//! Where the AI subgraph keeps its data. One interface, [`AiStore`], two
//! backends passing one contract suite (`tests/store_contract.rs`):
//! [`mongo::MongoAiStore`] (`ai_db`, when `MONGODB_URI` is set) and
//! [`embedded::EmbeddedAiStore`] (SQLite in the data directory).

pub mod embedded;
pub mod mongo;

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::domain::model::{ActivitySummary, DailyPlan, Recommendation, Source};

/// Recent activities kept per user for prompts.
pub const RECENT_ACTIVITIES_KEPT: usize = 20;

/// Outcome of a write guarded by a uniqueness rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Saved<T> {
    New(T),
    /// Already there: the stored value, nothing written.
    Existing(T),
}

impl<T> Saved<T> {
    pub fn into_inner(self) -> T {
        match self {
            Self::New(v) | Self::Existing(v) => v,
        }
    }
}

/// Position in newest-first order of recommendations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecommendationCursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

#[async_trait]
pub trait AiStore: Send + Sync + 'static {
    /// Upserts one activity of the projection; keeps the newest
    /// [`RECENT_ACTIVITIES_KEPT`] per user.
    async fn remember_activity(&self, activity: &ActivitySummary) -> anyhow::Result<()>;
    /// Drops an activity from the projection and its recommendation, and
    /// remembers that it was deleted; whether a recommendation was removed.
    async fn forget_activity(&self, activity_id: Uuid) -> anyhow::Result<bool>;
    /// Whether the activity was deleted (its events may arrive out of order).
    async fn is_forgotten(&self, activity_id: Uuid) -> anyhow::Result<bool>;
    /// The user's remembered activities, newest first.
    async fn recent_activities(
        &self,
        user_id: Uuid,
        limit: usize,
    ) -> anyhow::Result<Vec<ActivitySummary>>;
    /// Stores a recommendation unless its activity already has one.
    async fn save_recommendation(
        &self,
        recommendation: Recommendation,
    ) -> anyhow::Result<Saved<Recommendation>>;
    async fn recommendations_for_activities(
        &self,
        activity_ids: &[Uuid],
    ) -> anyhow::Result<Vec<Recommendation>>;
    /// Newest first, strictly after `after`.
    async fn recommendations_page(
        &self,
        user_id: Uuid,
        after: Option<RecommendationCursor>,
        limit: usize,
    ) -> anyhow::Result<Vec<Recommendation>>;
    /// The newest `limit` of each user, in one query.
    async fn first_recommendation_pages(
        &self,
        user_ids: &[Uuid],
        limit: usize,
    ) -> anyhow::Result<HashMap<Uuid, Vec<Recommendation>>>;
    async fn daily_plan(&self, user_id: Uuid, date: NaiveDate)
        -> anyhow::Result<Option<DailyPlan>>;
    /// Stores the plan for its (user, date); an existing one is kept unless
    /// `replace`.
    async fn save_daily_plan(
        &self,
        plan: DailyPlan,
        replace: bool,
    ) -> anyhow::Result<Saved<DailyPlan>>;
    /// Newest date first, strictly before `before`.
    async fn daily_plans_page(
        &self,
        user_id: Uuid,
        before: Option<NaiveDate>,
        limit: usize,
    ) -> anyhow::Result<Vec<DailyPlan>>;
    /// Erases everything about a user (account deletion): recommendations,
    /// plans and the projection.
    async fn forget_user(&self, user_id: Uuid) -> anyhow::Result<()>;
    /// How many recommendations each source wrote (the admin dashboard).
    async fn recommendation_counts(&self) -> anyhow::Result<HashMap<Source, i64>>;
    async fn ping(&self) -> anyhow::Result<()>;
}
