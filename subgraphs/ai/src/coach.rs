//! Writes advice and plans: Gemini when it can, the rules when it cannot.
//!
//! Gemini is a shared, paid resource, so every user has a budget of calls
//! ([`AiLimitsConfig`]): a few per minute (one user's burst takes at most that
//! share of the shared token bucket, so other users' recommendations are not
//! held up behind it) and a daily allowance. Past either, that user's advice
//! comes from the rules at once. Daily plans, which a user asks for directly,
//! are limited per user and refused with `RATE_LIMITED` past the limit.

use std::sync::Arc;

use chrono::NaiveDate;
use fittrack_kit::ratelimit::{MemoryRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    domain::{
        model::{ActivitySummary, Advice, PlanContent, Source},
        prompt, rules,
    },
    gemini::{GeminiClient, GeminiError},
};

pub struct Coach {
    gemini: GeminiClient,
    limiter: Arc<dyn RateLimiter>,
    limits: AiLimitsConfig,
}

/// Per-user limits on AI work (`[ai.limits]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AiLimitsConfig {
    /// Gemini calls for one user's recommendations, per minute and per day.
    pub gemini_per_user_minute: Quota,
    pub gemini_per_user_day: Quota,
    /// `generateDailyPlan` calls per user, per minute and per day.
    pub plans_per_minute: Quota,
    pub plans_per_day: Quota,
}

impl Default for AiLimitsConfig {
    fn default() -> Self {
        Self {
            gemini_per_user_minute: Quota::per_minute(6),
            gemini_per_user_day: Quota::per_day(200),
            plans_per_minute: Quota::per_minute(10),
            plans_per_day: Quota::per_day(100),
        }
    }
}

/// A refused `generateDailyPlan`: seconds until the user may ask again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimitReached {
    pub retry_after_secs: u64,
}

const MAX_ITEMS: usize = 10;
const MAX_TEXT: usize = 2_000;

fn check_text(field: &str, text: &str) -> Result<(), GeminiError> {
    if text.trim().is_empty() || text.chars().count() > MAX_TEXT {
        return Err(GeminiError::InvalidOutput(format!(
            "{field} is empty or too long"
        )));
    }
    Ok(())
}

fn check_list(field: &str, items: &[String]) -> Result<(), GeminiError> {
    if items.len() > MAX_ITEMS {
        return Err(GeminiError::InvalidOutput(format!(
            "{field} has too many items"
        )));
    }
    items.iter().try_for_each(|item| check_text(field, item))
}

/// Structured output can still be nonsense: empty or enormous fields are refused.
pub fn validate_advice(advice: Advice) -> Result<Advice, GeminiError> {
    check_text("summary", &advice.summary)?;
    check_text("nextWorkout", &advice.next_workout)?;
    check_list("highlights", &advice.highlights)?;
    check_list("improvements", &advice.improvements)?;
    check_list("safetyNotes", &advice.safety_notes)?;
    Ok(advice)
}

pub fn validate_plan(plan: PlanContent) -> Result<PlanContent, GeminiError> {
    check_text("focus", &plan.focus)?;
    check_text("rationale", &plan.rationale)?;
    check_list("nutritionTips", &plan.nutrition_tips)?;
    if plan.sessions.is_empty() || plan.sessions.len() > MAX_ITEMS {
        return Err(GeminiError::InvalidOutput(
            "sessions must hold 1 to 10 items".into(),
        ));
    }
    for session in &plan.sessions {
        if !(1..=1440).contains(&session.duration_minutes)
            || !["LOW", "MODERATE", "HIGH"].contains(&session.intensity.as_str())
        {
            return Err(GeminiError::InvalidOutput(
                "a session is out of range".into(),
            ));
        }
    }
    Ok(plan)
}

impl Coach {
    /// A coach with the default limits, counted in this process.
    pub fn new(gemini: GeminiClient) -> Self {
        Self::with_limits(
            gemini,
            Arc::new(MemoryRateLimiter::default()),
            AiLimitsConfig::default(),
        )
    }

    /// A coach whose limits are counted by `limiter` (Redis: shared by replicas).
    pub fn with_limits(
        gemini: GeminiClient,
        limiter: Arc<dyn RateLimiter>,
        limits: AiLimitsConfig,
    ) -> Self {
        Self {
            gemini,
            limiter,
            limits,
        }
    }

    /// Counts one `generateDailyPlan` for `user_id`, or says when to retry.
    pub async fn admit_plan(&self, user_id: Uuid) -> anyhow::Result<Result<(), PlanLimitReached>> {
        for (window, quota) in [
            ("minute", self.limits.plans_per_minute),
            ("day", self.limits.plans_per_day),
        ] {
            let decision = self
                .limiter
                .check(&format!("ai:plans:{window}:{user_id}"), quota, 1)
                .await?;
            if !decision.allowed {
                return Ok(Err(PlanLimitReached {
                    retry_after_secs: decision.retry_after_secs(),
                }));
            }
        }
        Ok(Ok(()))
    }

    /// Whether `user_id` may spend one more Gemini call now. A limiter that
    /// cannot be reached spends nothing: the rules answer.
    async fn within_gemini_budget(&self, user_id: Uuid) -> bool {
        for (window, quota) in [
            ("minute", self.limits.gemini_per_user_minute),
            ("day", self.limits.gemini_per_user_day),
        ] {
            match self
                .limiter
                .check(&format!("ai:gemini:{window}:{user_id}"), quota, 1)
                .await
            {
                Ok(decision) if decision.allowed => {}
                Ok(_) => {
                    tracing::info!(%user_id, window, "user's Gemini budget spent; rules instead");
                    return false;
                }
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "Gemini budget unknown; rules instead"
                    );
                    return false;
                }
            }
        }
        true
    }

    pub fn gemini(&self) -> &GeminiClient {
        &self.gemini
    }

    /// Gemini's advice; the rules' when Gemini is not configured, its breaker
    /// is open, no token came in time or the user's budget is spent. Other
    /// failures are returned: the worker retries or dead-letters.
    pub async fn advise(
        &self,
        activity: &ActivitySummary,
        history: &[ActivitySummary],
    ) -> Result<(Source, Advice), GeminiError> {
        let answer = if !self.gemini.is_configured() {
            Err(GeminiError::NotConfigured)
        } else if !self.within_gemini_budget(activity.user_id).await {
            Err(GeminiError::Throttled)
        } else {
            self.gemini
                .generate::<Advice>(
                    &prompt::recommendation(activity, history),
                    prompt::advice_schema(),
                )
                .await
                .and_then(validate_advice)
        };
        match answer {
            Ok(advice) => Ok((Source::Gemini, advice)),
            Err(GeminiError::NotConfigured | GeminiError::BreakerOpen | GeminiError::Throttled) => {
                Ok((Source::Rules, rules::advise(activity, history)))
            }
            Err(error) => Err(error),
        }
    }

    /// A plan for a waiting user: any Gemini failure falls back to the rules.
    pub async fn plan(
        &self,
        date: NaiveDate,
        goal: Option<&str>,
        history: &[ActivitySummary],
    ) -> (Source, PlanContent) {
        let answer = self
            .gemini
            .generate::<PlanContent>(
                &prompt::daily_plan(date, goal, history),
                prompt::plan_schema(),
            )
            .await
            .and_then(validate_plan);
        match answer {
            Ok(plan) => (Source::Gemini, plan),
            Err(error) => {
                if !matches!(error, GeminiError::NotConfigured) {
                    tracing::warn!(error = %error, "daily plan from the rules instead of Gemini");
                }
                (Source::Rules, rules::plan(date, goal, history))
            }
        }
    }
}
