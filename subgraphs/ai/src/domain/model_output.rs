//! What a model's answer must be before it is shown to anyone: structured
//! output can still be nonsense, so empty or enormous fields are refused.

use super::model::{Advice, PlanContent};

const MAX_ITEMS: usize = 10;
const MAX_TEXT: usize = 2_000;

fn check_text(field: &str, text: &str) -> Result<(), String> {
    if text.trim().is_empty() || text.chars().count() > MAX_TEXT {
        return Err(format!("{field} is empty or too long"));
    }
    Ok(())
}

fn check_list(field: &str, items: &[String]) -> Result<(), String> {
    if items.len() > MAX_ITEMS {
        return Err(format!("{field} has too many items"));
    }
    items.iter().try_for_each(|item| check_text(field, item))
}

pub fn validate_advice(advice: Advice) -> Result<Advice, String> {
    check_text("summary", &advice.summary)?;
    check_text("nextWorkout", &advice.next_workout)?;
    check_list("highlights", &advice.highlights)?;
    check_list("improvements", &advice.improvements)?;
    check_list("safetyNotes", &advice.safety_notes)?;
    Ok(advice)
}

pub fn validate_plan(plan: PlanContent) -> Result<PlanContent, String> {
    check_text("focus", &plan.focus)?;
    check_text("rationale", &plan.rationale)?;
    check_list("nutritionTips", &plan.nutrition_tips)?;
    if plan.sessions.is_empty() || plan.sessions.len() > MAX_ITEMS {
        return Err("sessions must hold 1 to 10 items".into());
    }
    for session in &plan.sessions {
        if !(1..=1440).contains(&session.duration_minutes)
            || !["LOW", "MODERATE", "HIGH"].contains(&session.intensity.as_str())
        {
            return Err("a session is out of range".into());
        }
    }
    Ok(plan)
}
