//! Prompts and response schemas sent to Gemini.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use fittrack_kit::events::{GoalStatus, RecordSet, WorkoutInsights};
use serde_json::{json, Value};

use super::model::ActivitySummary;

/// `1:02:03` or `4:05`.
fn clock(seconds: f64) -> String {
    let whole = seconds.round().max(0.0) as u64;
    let (hours, minutes, seconds) = (whole / 3600, whole / 60 % 60, whole % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{seconds:02}")
    } else {
        format!("{minutes}:{seconds:02}")
    }
}

/// `fastest 5K 24:31`, `best power 20min 250 W`, `longest ride 85.2 km`.
fn record(record: &RecordSet) -> String {
    let name = record.kind.to_lowercase().replace('_', " ");
    let value = if record.kind.starts_with("BEST_POWER") {
        format!("{:.0} W", record.value)
    } else if record.kind == "LONGEST_RIDE" {
        format!("{:.1} km", record.value / 1000.0)
    } else {
        clock(record.value)
    };
    format!("{name} {value}")
}

/// `WEEK DISTANCE (RUNNING): 12.3 of 20.0 km, until 2026-07-06`.
fn goal(goal: &GoalStatus) -> String {
    let (value, target, unit) = match goal.metric.as_str() {
        "DISTANCE" => (goal.value / 1000.0, goal.target / 1000.0, "km"),
        "DURATION" => (goal.value / 60.0, goal.target / 60.0, "min"),
        "CALORIES" => (goal.value, goal.target, "kcal"),
        _ => (goal.value, goal.target, "workouts"),
    };
    let types = if goal.activity_types.is_empty() {
        "all types".to_owned()
    } else {
        goal.activity_types.join(", ")
    };
    format!(
        "{} {} ({types}): {value:.1} of {target:.1} {unit}, until {}",
        goal.period,
        goal.metric,
        goal.period_end.format("%Y-%m-%d %H:%M UTC")
    )
}

/// The lines a workout's insights add under it: its splits, its time in
/// heart-rate zones and the athlete's goals (records go on its own line).
fn insight_lines(insights: &WorkoutInsights) -> String {
    let mut text = String::new();
    if !insights.kilometre_split_seconds.is_empty() {
        let splits: Vec<String> = insights
            .kilometre_split_seconds
            .iter()
            .map(|s| clock(*s))
            .collect();
        text.push_str(&format!("Kilometre splits: {}\n", splits.join(", ")));
    }
    if let Some(zones) = &insights.zone_seconds {
        let zones: Vec<String> = zones
            .iter()
            .enumerate()
            .map(|(i, s)| format!("Z{} {}", i + 1, clock(*s)))
            .collect();
        text.push_str(&format!(
            "Time in the athlete's heart-rate zones: {}\n",
            zones.join(", ")
        ));
    }
    text.push_str(&goals(&insights.goals));
    text
}

fn goals(goals: &[GoalStatus]) -> String {
    let mut text = String::new();
    if !goals.is_empty() {
        text.push_str("The athlete's goals, with this workout counted:\n");
        for status in goals {
            text.push_str("- ");
            text.push_str(&goal(status));
            text.push('\n');
        }
    }
    text
}

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
    let records = a.insights.as_ref().map_or(&[][..], |i| &i.records[..]);
    if !records.is_empty() {
        let records: Vec<String> = records.iter().map(record).collect();
        text.push_str(&format!(", personal records: {}", records.join(", ")));
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
    prompt.push('\n');
    if let Some(insights) = &activity.insights {
        prompt.push_str(&insight_lines(insights));
    }
    prompt.push_str("\nRecent history (newest first):\n");
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
    // The goals as the newest workout that carried them left them.
    if let Some((latest, insights)) = history.iter().find_map(|a| {
        a.insights
            .as_ref()
            .filter(|i| !i.goals.is_empty())
            .map(|i| (a, i))
    }) {
        prompt.push_str(&format!(
            "\nAs of the workout of {}: ",
            latest.start_time.format("%Y-%m-%d")
        ));
        prompt.push_str(&goals(&insights.goals));
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
            insights: None,
        }
    }

    #[test]
    fn records_splits_zones_and_goals_reach_the_coach() {
        let mut run = workout("RUNNING", 0, 26, Some(5.0));
        let week_end = run.start_time + Duration::days(3);
        run.insights = Some(WorkoutInsights {
            records: vec![
                RecordSet {
                    kind: "FASTEST_5K".into(),
                    value: 1471.0,
                },
                RecordSet {
                    kind: "LONGEST_DURATION".into(),
                    value: 3720.0,
                },
            ],
            kilometre_split_seconds: vec![301.0, 298.0, 305.0, 299.0, 268.0],
            zone_seconds: Some(vec![60.0, 120.0, 600.0, 700.0, 80.0]),
            goals: vec![GoalStatus {
                period: "WEEK".into(),
                metric: "DISTANCE".into(),
                activity_types: vec!["RUNNING".into()],
                target: 20_000.0,
                value: 12_300.0,
                period_end: week_end,
            }],
        });
        let prompt = recommendation(&run, &[workout("CYCLING", 2, 60, Some(30.0))]);
        for expected in [
            "personal records: fastest 5k 24:31, longest duration 1:02:00",
            "Kilometre splits: 5:01, 4:58, 5:05, 4:59, 4:28",
            "Z1 1:00, Z2 2:00, Z3 10:00, Z4 11:40, Z5 1:20",
            "WEEK DISTANCE (RUNNING): 12.3 of 20.0 km, until",
        ] {
            assert!(prompt.contains(expected), "{expected:?} in {prompt}");
        }
        // Tomorrow's plan knows the goals from the newest workout that had them.
        let plan = daily_plan(
            (run.start_time + Duration::days(1)).date_naive(),
            None,
            &[run.clone()],
        );
        assert!(plan.contains("12.3 of 20.0 km"), "{plan}");
        assert!(plan.contains("fastest 5k 24:31"), "{plan}");
        // Without insights (a resent event), nothing of the kind.
        let plain = recommendation(&workout("RUNNING", 0, 26, Some(5.0)), &[]);
        assert!(
            !plain.contains("splits") && !plain.contains("goals"),
            "{plain}"
        );
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
