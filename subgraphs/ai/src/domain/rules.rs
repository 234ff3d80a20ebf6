//! Rule-based coaching: what users get when Gemini is not configured or not
//! available. Deterministic, so it is also what tests can pin down.

use chrono::NaiveDate;

use super::model::{ActivitySummary, Advice, PlanContent, PlannedSession};

/// Advice for `activity` given the user's recent history (newest first,
/// `activity` itself excluded).
pub fn advise(activity: &ActivitySummary, history: &[ActivitySummary]) -> Advice {
    let kind = activity.activity_type.to_lowercase();
    let mut highlights = vec![format!(
        "{} minutes of {kind}, about {} kcal.",
        activity.duration_minutes, activity.calories_burned
    )];
    if let Some(km) = activity.distance_km.filter(|km| *km > 0.0) {
        let pace = f64::from(activity.duration_minutes) / km;
        highlights.push(format!("{km:.1} km at {pace:.1} min/km."));
    }
    let same_kind: Vec<_> = history
        .iter()
        .filter(|h| h.activity_type == activity.activity_type)
        .collect();
    let mut improvements = Vec::new();
    if let Some(previous) = same_kind.first() {
        if activity.duration_minutes > previous.duration_minutes {
            highlights.push(format!(
                "Longer than your last {kind} ({} min).",
                previous.duration_minutes
            ));
        } else {
            improvements.push(format!(
                "Your last {kind} was {} min; aim to build back up gradually.",
                previous.duration_minutes
            ));
        }
    }
    if history.len() >= 5 {
        improvements.push("Plan a recovery day: you have trained often lately.".into());
    } else {
        improvements.push("Consistency beats intensity: aim for three sessions a week.".into());
    }
    let mut safety_notes = vec!["Warm up for 5–10 minutes and stay hydrated.".into()];
    if let Some(max) = activity.max_heart_rate.filter(|hr| *hr >= 185) {
        safety_notes.push(format!(
            "Your heart rate peaked at {max} bpm; keep most sessions below that."
        ));
    }
    let next_minutes = (activity.duration_minutes + activity.duration_minutes / 10).clamp(15, 120);
    Advice {
        summary: format!(
            "Good work on your {kind} session. Keep the momentum with steady, gradual progress."
        ),
        highlights,
        improvements,
        next_workout: format!("An easy {next_minutes}-minute {kind} session in the next two days."),
        safety_notes,
    }
}

/// A plan for `date` when Gemini cannot write one.
pub fn plan(date: NaiveDate, goal: Option<&str>, history: &[ActivitySummary]) -> PlanContent {
    let favourite = history
        .first()
        .map(|h| h.activity_type.clone())
        .unwrap_or_else(|| "WALKING".into());
    let focus = match goal {
        Some(goal) if !goal.trim().is_empty() => {
            format!("Steady progress towards: {}", goal.trim())
        }
        _ => "Balanced movement and recovery".into(),
    };
    PlanContent {
        focus,
        sessions: vec![
            PlannedSession {
                time: "07:30".into(),
                activity_type: favourite,
                duration_minutes: 30,
                intensity: "MODERATE".into(),
                notes: "Keep a pace at which you can still talk.".into(),
            },
            PlannedSession {
                time: "18:30".into(),
                activity_type: "YOGA".into(),
                duration_minutes: 20,
                intensity: "LOW".into(),
                notes: "Mobility and stretching.".into(),
            },
        ],
        nutrition_tips: vec![
            "Eat protein with every meal.".into(),
            "Drink water before, during and after training.".into(),
        ],
        rationale: format!(
            "A default plan for {date} built from your {} recent sessions.",
            history.len()
        ),
    }
}
