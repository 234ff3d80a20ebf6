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

use async_trait::async_trait;

use crate::{
    domain::{
        model::{ActivitySummary, Advice, PlanContent, Source},
        model_output::{validate_advice, validate_plan},
        ports::{AdviceError, Advisor, PlanLimitReached},
        prompt, rules,
    },
    gemini::{GeminiClient, GeminiError},
};

pub struct Coach {
    gemini: GeminiClient,
    limiter: Arc<dyn RateLimiter>,
    limits: AiLimitsConfig,
    answers: Option<opentelemetry::metrics::Counter<u64>>,
}

/// Live subscriptions one user may hold on one AI replica by default
/// (`AiLimitsConfig::live_subscriptions_per_user`): a phone, a browser tab or
/// two, with room to spare; a loop opening them is bounded.
pub const MAX_SUBSCRIPTIONS_PER_USER: usize = 10;

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
    /// `recommendationAdded` streams one user may hold open on one replica.
    pub live_subscriptions_per_user: usize,
}

impl Default for AiLimitsConfig {
    fn default() -> Self {
        Self {
            gemini_per_user_minute: Quota::per_minute(6),
            gemini_per_user_day: Quota::per_day(200),
            plans_per_minute: Quota::per_minute(10),
            plans_per_day: Quota::per_day(100),
            live_subscriptions_per_user: MAX_SUBSCRIPTIONS_PER_USER,
        }
    }
}

impl Coach {
    /// The per-user limits this coach applies.
    pub fn limits(&self) -> &AiLimitsConfig {
        &self.limits
    }

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
            answers: None,
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

    /// Records where each answer came from (`fittrack_coach_answers_total`:
    /// Gemini, or the rules and why: the fallback share) and what the
    /// Gemini client does (`GeminiInstruments`); reports the breaker's
    /// state at each scrape (`fittrack_gemini_breaker`).
    pub fn with_metrics(mut self, metrics: &fittrack_kit::metrics::Metrics) -> Self {
        self.gemini = self
            .gemini
            .with_metrics(crate::gemini::GeminiInstruments::new(metrics));
        self.answers = Some(
            metrics
                .meter()
                .u64_counter("fittrack.coach.answers")
                .with_description(
                    "Advice and plans by source (gemini, rules, none) and reason \
                     (ok, not_configured, breaker_open, throttled, rejected, unavailable, \
                     invalid_output)",
                )
                .build(),
        );
        self
    }

    fn record_answer(&self, kind: &'static str, source: &'static str, reason: &'static str) {
        if let Some(answers) = &self.answers {
            answers.add(
                1,
                &[
                    opentelemetry::KeyValue::new("kind", kind),
                    opentelemetry::KeyValue::new("source", source),
                    opentelemetry::KeyValue::new("reason", reason),
                ],
            );
        }
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
                .and_then(|advice| validate_advice(advice).map_err(GeminiError::InvalidOutput))
        };
        let (source, reason) = answer_labels(&answer);
        self.record_answer("advice", source, reason);
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
            .and_then(|plan| validate_plan(plan).map_err(GeminiError::InvalidOutput));
        // Every failure falls back to the rules here.
        let (_, reason) = answer_labels(&answer);
        let source = if answer.is_ok() { "gemini" } else { "rules" };
        self.record_answer("plan", source, reason);
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

/// The domain's advisor: Gemini within each user's budget, else the rules.
/// A refused request (400/401/403/404) is `Rejected` (dead-lettered at once);
/// any other Gemini failure is `Failed` (the queue retries).
#[async_trait]
impl Advisor for Coach {
    async fn advise(
        &self,
        activity: &ActivitySummary,
        history: &[ActivitySummary],
    ) -> Result<(Source, Advice), AdviceError> {
        Coach::advise(self, activity, history)
            .await
            .map_err(|error| match error {
                GeminiError::Rejected { .. } => AdviceError::Rejected(error.to_string()),
                other => AdviceError::Failed(anyhow::Error::new(other)),
            })
    }

    async fn plan(
        &self,
        date: NaiveDate,
        goal: Option<&str>,
        history: &[ActivitySummary],
    ) -> (Source, PlanContent) {
        Coach::plan(self, date, goal, history).await
    }

    async fn admit_plan(&self, user_id: Uuid) -> anyhow::Result<Result<(), PlanLimitReached>> {
        Coach::admit_plan(self, user_id).await
    }
}

/// `(source, reason)` for an advice answer: Gemini's, the rules' (and why),
/// or none (the queue retries or dead-letters the job).
fn answer_labels<T>(answer: &Result<T, GeminiError>) -> (&'static str, &'static str) {
    match answer {
        Ok(_) => ("gemini", "ok"),
        Err(GeminiError::NotConfigured) => ("rules", "not_configured"),
        Err(GeminiError::BreakerOpen) => ("rules", "breaker_open"),
        Err(GeminiError::Throttled) => ("rules", "throttled"),
        Err(GeminiError::Rejected { .. }) => ("none", "rejected"),
        Err(GeminiError::Unavailable(_)) => ("none", "unavailable"),
        Err(GeminiError::InvalidOutput(_)) => ("none", "invalid_output"),
    }
}

/// The Gemini breaker's state at each scrape, one-hot by `state`
/// (`fittrack_gemini_breaker{state="open"} 1`).
pub fn report_breaker(metrics: &fittrack_kit::metrics::Metrics, coach: Arc<Coach>) {
    use crate::domain::model::BreakerStatus;
    let gauge = metrics
        .meter()
        .u64_gauge("fittrack.gemini.breaker")
        .with_description("1 for the Gemini breaker's state in this process: closed, open, half_open or disabled (no API key)")
        .build();
    metrics.on_scrape(move || {
        let (coach, gauge) = (coach.clone(), gauge.clone());
        Box::pin(async move {
            let now = coach.gemini().breaker_status();
            for (state, status) in [
                ("closed", BreakerStatus::Closed),
                ("open", BreakerStatus::Open),
                ("half_open", BreakerStatus::HalfOpen),
                ("disabled", BreakerStatus::Disabled),
            ] {
                gauge.record(
                    u64::from(now == status),
                    &[opentelemetry::KeyValue::new("state", state)],
                );
            }
        })
    });
}
