//! What the AI domain needs from the outside, as traits it owns: where its
//! data is kept ([`AiStore`], implemented in `storage`), who writes advice
//! and plans ([`Advisor`], the `coach`: Gemini or the rules) and where new
//! recommendations are announced ([`RecommendationBus`], the `bus`: Redis
//! pub/sub or in process).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::stream::BoxStream;
use uuid::Uuid;

use super::model::{ActivitySummary, Advice, DailyPlan, PlanContent, Recommendation, Source};

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

/// What the store holds about a logged activity once it has taken it in
/// ([`AiStore::take_in_activity`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Intake {
    /// The activity was deleted (its events may arrive out of order):
    /// nothing was remembered.
    Forgotten,
    /// It already has its recommendation: a redelivery.
    Recommended(Recommendation),
    /// Remembered; the user's other remembered activities, newest first.
    New { history: Vec<ActivitySummary> },
}

#[async_trait]
pub trait AiStore: Send + Sync + 'static {
    /// What the worker needs for one logged activity, in as few round trips
    /// as the backend allows (each one is two thread hand-offs on SQLite):
    /// unless the activity was deleted, upserts it into the projection
    /// (keeping the newest [`RECENT_ACTIVITIES_KEPT`] per user) and returns
    /// its recommendation if it has one, else up to `history` of the user's
    /// other activities.
    async fn take_in_activity(
        &self,
        activity: &ActivitySummary,
        history: usize,
    ) -> anyhow::Result<Intake>;
    /// Drops an activity from the projection and its recommendation, and
    /// remembers that it was deleted; whether a recommendation was removed.
    async fn forget_activity(&self, activity_id: Uuid) -> anyhow::Result<bool>;
    /// The user's remembered activities, newest first.
    async fn recent_activities(
        &self,
        user_id: Uuid,
        limit: usize,
    ) -> anyhow::Result<Vec<ActivitySummary>>;
    /// Stores a recommendation unless its activity already has one
    /// (`Existing`) or was deleted (`None`: nothing is kept, even when the
    /// deletion lands while this is written).
    async fn save_recommendation(
        &self,
        recommendation: Recommendation,
    ) -> anyhow::Result<Option<Saved<Recommendation>>>;
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

/// Announces new recommendations to live subscribers.
#[async_trait]
pub trait RecommendationBus: Send + Sync + 'static {
    async fn publish(&self, recommendation: &Recommendation) -> anyhow::Result<()>;
    /// New recommendations of `user_id`, from now on. The stream ends when
    /// the bus may have lost some (its connection dropped or came back, or
    /// this subscriber fell too far behind); subscribe again.
    fn subscribe(&self, user_id: Uuid) -> BoxStream<'static, Recommendation>;
    /// Ends every stream of this replica (it is stopping): subscribers are
    /// told and subscribe again elsewhere.
    fn end_all(&self);
}

/// Any shared live bus of recommendations (`fittrack_kit::live`) is one.
#[async_trait]
impl<B: fittrack_kit::live::LiveBus<Recommendation>> RecommendationBus for B {
    async fn publish(&self, recommendation: &Recommendation) -> anyhow::Result<()> {
        fittrack_kit::live::LiveBus::publish(self, recommendation).await
    }

    fn subscribe(&self, user_id: Uuid) -> BoxStream<'static, Recommendation> {
        fittrack_kit::live::LiveBus::subscribe(self, user_id)
    }

    fn end_all(&self) {
        fittrack_kit::live::LiveBus::end_all(self)
    }
}

/// Writes advice on workouts and daily plans.
#[async_trait]
pub trait Advisor: Send + Sync + 'static {
    /// Advice on `activity`, given the user's `history` (newest first), and
    /// who wrote it.
    async fn advise(
        &self,
        activity: &ActivitySummary,
        history: &[ActivitySummary],
    ) -> Result<(Source, Advice), AdviceError>;
    /// A plan for `date` (always one: the rules stand in for a failing model).
    async fn plan(
        &self,
        date: NaiveDate,
        goal: Option<&str>,
        history: &[ActivitySummary],
    ) -> (Source, PlanContent);
    /// Counts one plan request of `user_id`, or says when it may ask again.
    async fn admit_plan(&self, user_id: Uuid) -> anyhow::Result<Result<(), PlanLimitReached>>;
}

/// Why no advice was written.
#[derive(Debug)]
pub enum AdviceError {
    /// Asking again cannot help (the model refused the request).
    Rejected(String),
    /// It may work later (an outage, a throttled or broken answer).
    Failed(anyhow::Error),
}

/// A refused plan request: seconds until the user may ask again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimitReached {
    pub retry_after_secs: u64,
}
