//! Daily plans: one per user and date, written by the advisor on request
//! (`generateDailyPlan`), limited per user, kept unless regenerated.

use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use fittrack_kit::erasure::ErasedUsers;
use uuid::Uuid;

use super::{
    error::{AiError, AiResult},
    model::DailyPlan,
    ports::{Advisor, AiStore},
    recommendations::HISTORY_FOR_PROMPT,
};

/// The longest goal a user may give.
const MAX_GOAL_CHARS: usize = 200;
/// How far from today a plan's date may be.
const MAX_DAYS_AWAY: i64 = 366;

#[derive(Clone)]
pub struct Planner {
    store: Arc<dyn AiStore>,
    advisor: Arc<dyn Advisor>,
    erased: Arc<dyn ErasedUsers>,
}

impl Planner {
    pub fn new(
        store: Arc<dyn AiStore>,
        advisor: Arc<dyn Advisor>,
        erased: Arc<dyn ErasedUsers>,
    ) -> Self {
        Self {
            store,
            advisor,
            erased,
        }
    }

    /// `user_id`'s plan for `date`: the stored one unless `regenerate`, else a
    /// new one from the advisor (which falls back to the rules). Every call
    /// counts against the user's plan limits, before anything is read.
    pub async fn plan_for(
        &self,
        user_id: Uuid,
        date: NaiveDate,
        goal: Option<String>,
        regenerate: bool,
    ) -> AiResult<DailyPlan> {
        let goal = goal.map(|g| g.trim().to_owned()).filter(|g| !g.is_empty());
        if goal
            .as_ref()
            .is_some_and(|g| g.chars().count() > MAX_GOAL_CHARS)
        {
            return Err(AiError::invalid("goal", "must be at most 200 characters"));
        }
        let today = Utc::now().date_naive();
        if (date - today).num_days().abs() > MAX_DAYS_AWAY {
            return Err(AiError::invalid("date", "must be within a year of today"));
        }
        // Counted before anything is read or generated: aliases count too.
        if let Err(limit) = self.advisor.admit_plan(user_id).await? {
            return Err(AiError::RateLimited(limit.retry_after_secs));
        }
        if self.erased.is_erased(user_id).await? {
            return Err(AiError::AccountDeleted);
        }
        if !regenerate {
            if let Some(plan) = self.store.daily_plan(user_id, date).await? {
                return Ok(plan);
            }
        }
        let history = self
            .store
            .recent_activities(user_id, HISTORY_FOR_PROMPT)
            .await?;
        let (source, content) = self.advisor.plan(date, goal.as_deref(), &history).await;
        let plan = DailyPlan {
            id: Uuid::now_v7(),
            user_id,
            date,
            goal,
            source,
            content,
            created_at: Utc::now(),
        };
        let saved = self
            .store
            .save_daily_plan(plan, regenerate)
            .await?
            .into_inner();
        // Erased while we wrote: written first, checked after (kit::erasure),
        // so either the eraser saw this plan or we see the mark and undo it.
        if self.erased.is_erased(user_id).await? {
            self.store.forget_user(user_id).await?;
            return Err(AiError::AccountDeleted);
        }
        Ok(saved)
    }
}
