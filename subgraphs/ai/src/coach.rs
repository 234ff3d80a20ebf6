//! Writes advice and plans: Gemini when it can, the rules when it cannot.

use chrono::NaiveDate;

use crate::{
    domain::{
        model::{ActivitySummary, Advice, PlanContent, Source},
        prompt, rules,
    },
    gemini::{GeminiClient, GeminiError},
};

pub struct Coach {
    gemini: GeminiClient,
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
    pub fn new(gemini: GeminiClient) -> Self {
        Self { gemini }
    }

    pub fn gemini(&self) -> &GeminiClient {
        &self.gemini
    }

    /// Gemini's advice; the rules' when Gemini is not configured or its breaker
    /// is open. Other failures are returned: the worker retries or dead-letters.
    pub async fn advise(
        &self,
        activity: &ActivitySummary,
        history: &[ActivitySummary],
    ) -> Result<(Source, Advice), GeminiError> {
        let answer = self
            .gemini
            .generate::<Advice>(
                &prompt::recommendation(activity, history),
                prompt::advice_schema(),
            )
            .await
            .and_then(validate_advice);
        match answer {
            Ok(advice) => Ok((Source::Gemini, advice)),
            Err(GeminiError::NotConfigured | GeminiError::BreakerOpen) => {
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
