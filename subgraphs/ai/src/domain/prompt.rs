//! Prompts and response schemas sent to Gemini.

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::model::ActivitySummary;

fn describe(a: &ActivitySummary) -> String {
    let mut text = format!(
        "{} {} for {} min, {} kcal",
        a.start_time.format("%Y-%m-%d %H:%M UTC"),
        a.activity_type,
        a.duration_minutes,
        a.calories_burned
    );
    if let Some(km) = a.distance_km {
        text.push_str(&format!(", {km:.2} km"));
    }
    if let Some(hr) = a.average_heart_rate {
        text.push_str(&format!(", avg HR {hr}"));
    }
    if let Some(hr) = a.max_heart_rate {
        text.push_str(&format!(", max HR {hr}"));
    }
    text
}

pub fn recommendation(activity: &ActivitySummary, history: &[ActivitySummary]) -> String {
    let mut prompt = String::from(
        "You are a certified fitness coach. Analyse the workout below in the context of \
         the athlete's recent history and answer in the requested JSON format. Be \
         specific, encouraging and safe; never give medical diagnoses.\n\nWorkout: ",
    );
    prompt.push_str(&describe(activity));
    prompt.push_str("\n\nRecent history (newest first):\n");
    if history.is_empty() {
        prompt.push_str("- none\n");
    }
    for a in history {
        prompt.push_str("- ");
        prompt.push_str(&describe(a));
        prompt.push('\n');
    }
    prompt
}

pub fn daily_plan(date: NaiveDate, goal: Option<&str>, history: &[ActivitySummary]) -> String {
    let mut prompt = format!(
        "You are a certified fitness coach. Write a training plan for {date} in the \
         requested JSON format. Goal: {}. Sessions use HH:MM local times, intensity \
         LOW, MODERATE or HIGH, and activity types RUNNING, CYCLING, SWIMMING, \
         WEIGHTLIFTING, YOGA, CARDIO, WALKING, HIKING or OTHER.\n\nRecent history:\n",
        goal.unwrap_or("general fitness")
    );
    if history.is_empty() {
        prompt.push_str("- none\n");
    }
    for a in history {
        prompt.push_str("- ");
        prompt.push_str(&describe(a));
        prompt.push('\n');
    }
    prompt
}

fn strings() -> Value {
    json!({"type": "ARRAY", "items": {"type": "STRING"}})
}

/// Gemini `responseSchema` (OpenAPI subset) for [`super::model::Advice`].
pub fn advice_schema() -> Value {
    json!({
        "type": "OBJECT",
        "properties": {
            "summary": {"type": "STRING"},
            "highlights": strings(),
            "improvements": strings(),
            "nextWorkout": {"type": "STRING"},
            "safetyNotes": strings(),
        },
        "required": ["summary", "highlights", "improvements", "nextWorkout", "safetyNotes"],
    })
}

/// Gemini `responseSchema` for [`super::model::PlanContent`].
pub fn plan_schema() -> Value {
    json!({
        "type": "OBJECT",
        "properties": {
            "focus": {"type": "STRING"},
            "sessions": {"type": "ARRAY", "items": {
                "type": "OBJECT",
                "properties": {
                    "time": {"type": "STRING"},
                    "activityType": {"type": "STRING"},
                    "durationMinutes": {"type": "INTEGER"},
                    "intensity": {"type": "STRING", "enum": ["LOW", "MODERATE", "HIGH"]},
                    "notes": {"type": "STRING"},
                },
                "required": ["time", "activityType", "durationMinutes", "intensity", "notes"],
            }},
            "nutritionTips": strings(),
            "rationale": {"type": "STRING"},
        },
        "required": ["focus", "sessions", "nutritionTips", "rationale"],
    })
}
