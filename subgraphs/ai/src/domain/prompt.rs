//! Prompts and response schemas sent to Gemini.

use chrono::{DateTime, Duration, NaiveDate, Utc};
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
    if let Some(pace) = pace(a) {
        text.push_str(&format!(", {pace}"));
    }
    if let Some(hr) = a.average_heart_rate {
        text.push_str(&format!(", avg HR {hr}"));
    }
    if let Some(hr) = a.max_heart_rate {
        text.push_str(&format!(", max HR {hr}"));
    }
    text
}

/// Pace for the types people pace (min/km), speed for the rest (km/h).
fn pace(a: &ActivitySummary) -> Option<String> {
    let km = a.distance_km.filter(|km| *km >= 0.1)?;
    let minutes = f64::from(a.duration_minutes);
    match a.activity_type.as_str() {
        "RUNNING" | "WALKING" | "HIKING" => {
            let per_km = minutes / km;
            let (whole, seconds) = (per_km.trunc(), ((per_km.fract()) * 60.0).round());
            Some(format!("pace {whole:.0}:{seconds:02.0} /km"))
        }
        "CYCLING" | "SWIMMING" => Some(format!("{:.1} km/h", km / (minutes / 60.0))),
        _ => None,
    }
}

/// Training load before `now`: the last 7 days against the 3 weeks before
/// (a weekly average), from the workouts the coach keeps.
pub fn training_load(now: DateTime<Utc>, history: &[ActivitySummary]) -> Option<String> {
    if history.is_empty() {
        return None;
    }
    let week = now - Duration::days(7);
    let month = now - Duration::days(28);
    let (mut recent, mut recent_count, mut before) = (0_i64, 0, 0_i64);
    for a in history.iter().filter(|a| a.start_time < now) {
        if a.start_time >= week {
            recent += i64::from(a.duration_minutes);
            recent_count += 1;
        } else if a.start_time >= month {
            before += i64::from(a.duration_minutes);
        }
    }
    let average = before as f64 / 3.0;
    let trend = if average < 1.0 {
        "no training the 3 weeks before".to_owned()
    } else {
        format!(
            "{average:.0} min a week the 3 weeks before ({:+.0} %)",
            (recent as f64 / average - 1.0) * 100.0
        )
    };
    Some(format!(
        "Training load (from the last {} workouts): {recent} min in {recent_count} workouts over the last 7 days; {trend}.",
        history.len()
    ))
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
    if let Some(load) = training_load(activity.start_time, history) {
        prompt.push('\n');
        prompt.push_str(&load);
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
    let day_start = date.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    if let Some(load) = day_start.and_then(|start| training_load(start, history)) {
        prompt.push('\n');
        prompt.push_str(&load);
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;

    fn workout(kind: &str, days_ago: i64, minutes: i32, km: Option<f64>) -> ActivitySummary {
        let now = Utc
            .with_ymd_and_hms(2026, 6, 29, 12, 0, 0)
            .single()
            .expect("time");
        ActivitySummary {
            activity_id: Uuid::new_v4(),
            user_id: Uuid::nil(),
            activity_type: kind.into(),
            duration_minutes: minutes,
            calories_burned: 300,
            start_time: now - Duration::days(days_ago),
            distance_km: km,
            average_heart_rate: None,
            max_heart_rate: None,
        }
    }

    #[test]
    fn a_workout_is_described_with_its_pace_or_speed() {
        assert!(describe(&workout("RUNNING", 0, 52, Some(10.0))).contains("pace 5:12 /km"));
        assert!(describe(&workout("CYCLING", 0, 60, Some(30.0))).contains("30.0 km/h"));
        assert!(!describe(&workout("YOGA", 0, 60, None)).contains("pace"));
    }

    #[test]
    fn the_load_compares_the_last_week_with_the_three_before() {
        let today = workout("RUNNING", 0, 60, None);
        let history = [
            workout("RUNNING", 2, 60, None),
            workout("CYCLING", 5, 90, None),
            workout("RUNNING", 10, 60, None),
            workout("RUNNING", 20, 60, None),
            workout("RUNNING", 27, 30, None),
            // Over four weeks ago: not counted.
            workout("RUNNING", 40, 300, None),
        ];
        let load = training_load(today.start_time, &history).expect("a load");
        assert!(
            load.contains("150 min in 2 workouts over the last 7 days"),
            "{load}"
        );
        assert!(
            load.contains("50 min a week the 3 weeks before (+200 %)"),
            "{load}"
        );
        let prompt = recommendation(&today, &history);
        assert!(prompt.contains("Training load"), "{prompt}");
        assert_eq!(training_load(today.start_time, &[]), None);
    }
}
