//! Input rules for workouts. Each failure names the offending field (by its
//! GraphQL path, e.g. `metrics.maxHeartRate`) and nothing is stored.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use super::{
    error::{ActivityError, ActivityResult},
    model::{ActivityFields, ActivityType, Metrics},
};

pub const DURATION_MINUTES: std::ops::RangeInclusive<i32> = 1..=1440;
pub const CALORIES: std::ops::RangeInclusive<i32> = 0..=20_000;
pub const HEART_RATE: std::ops::RangeInclusive<i32> = 30..=250;
pub const NOTES_MAX_CHARS: usize = 1000;
pub const CUSTOM_MAX_BYTES: usize = 16 * 1024;
pub const CUSTOM_MAX_DEPTH: usize = 5;
pub const IDEMPOTENCY_KEY_MAX: usize = 128;
pub const DISTANCE_KM_MAX: f64 = 1000.0;
pub const STEPS_MAX: i64 = 1_000_000;
/// Clock skew tolerated between a client and us for `startTime`.
pub const START_TIME_FUTURE_SLACK_MINUTES: i64 = 5;

/// Raw fields as a client sent them (from `logActivity` / `updateActivity`).
#[derive(Debug, Clone)]
pub struct RawActivity {
    pub activity_type: ActivityType,
    pub duration_minutes: i32,
    pub calories_burned: i32,
    pub start_time: DateTime<Utc>,
    pub notes: Option<String>,
    pub metrics: Option<Metrics>,
    /// An IANA name (`Europe/Paris`).
    pub time_zone: Option<String>,
}

/// An IANA time zone name, as its canonical spelling.
pub fn time_zone(name: &str) -> ActivityResult<String> {
    name.trim()
        .parse::<chrono_tz::Tz>()
        .map(|zone| zone.name().to_owned())
        .map_err(|_| {
            ActivityError::invalid(
                "timeZone",
                format!("{name:?} is not an IANA time zone (such as Europe/Paris)"),
            )
        })
}

pub fn validate(raw: RawActivity, now: DateTime<Utc>) -> ActivityResult<ActivityFields> {
    if !DURATION_MINUTES.contains(&raw.duration_minutes) {
        return Err(ActivityError::invalid(
            "durationMinutes",
            "must be between 1 and 1440 minutes",
        ));
    }
    if !CALORIES.contains(&raw.calories_burned) {
        return Err(ActivityError::invalid(
            "caloriesBurned",
            "must be between 0 and 20000",
        ));
    }
    if raw.start_time > now + Duration::minutes(START_TIME_FUTURE_SLACK_MINUTES) {
        return Err(ActivityError::invalid(
            "startTime",
            "must not be more than 5 minutes in the future",
        ));
    }
    let notes = match raw.notes.map(|n| n.trim().to_owned()) {
        Some(n) if n.chars().count() > NOTES_MAX_CHARS => {
            return Err(ActivityError::invalid(
                "notes",
                "must be at most 1000 characters",
            ))
        }
        Some(n) if n.is_empty() => None,
        other => other,
    };
    let metrics = match raw.metrics {
        Some(m) => validate_metrics(m)?,
        None => Metrics::default(),
    };
    Ok(ActivityFields {
        activity_type: raw.activity_type,
        duration_minutes: raw.duration_minutes,
        calories_burned: raw.calories_burned,
        // Stores keep milliseconds; truncating here keeps cursors exact on both.
        start_time: raw.start_time.trunc_subsecs(3),
        notes,
        metrics,
        time_zone: raw.time_zone.as_deref().map(time_zone).transpose()?,
    })
}

fn validate_metrics(metrics: Metrics) -> ActivityResult<Metrics> {
    if let Some(d) = metrics.distance_km {
        if !d.is_finite() || !(0.0..=DISTANCE_KM_MAX).contains(&d) {
            return Err(ActivityError::invalid(
                "metrics.distanceKm",
                "must be between 0 and 1000",
            ));
        }
    }
    for (field, value) in [
        ("metrics.averageHeartRate", metrics.average_heart_rate),
        ("metrics.maxHeartRate", metrics.max_heart_rate),
    ] {
        if value.is_some_and(|v| !HEART_RATE.contains(&v)) {
            return Err(ActivityError::invalid(field, "must be between 30 and 250"));
        }
    }
    if let (Some(avg), Some(max)) = (metrics.average_heart_rate, metrics.max_heart_rate) {
        if avg > max {
            return Err(ActivityError::invalid(
                "metrics.averageHeartRate",
                "must not exceed maxHeartRate",
            ));
        }
    }
    if metrics.steps.is_some_and(|s| !(0..=STEPS_MAX).contains(&s)) {
        return Err(ActivityError::invalid(
            "metrics.steps",
            "must be between 0 and 1000000",
        ));
    }
    if let Some(custom) = &metrics.custom {
        let size = serde_json::to_vec(custom)
            .map(|b| b.len())
            .unwrap_or(usize::MAX);
        if size > CUSTOM_MAX_BYTES {
            return Err(ActivityError::invalid(
                "metrics.custom",
                "must be at most 16 KB of JSON",
            ));
        }
        if depth(custom) > CUSTOM_MAX_DEPTH {
            return Err(ActivityError::invalid(
                "metrics.custom",
                "must not nest deeper than 5 levels",
            ));
        }
        if !custom.is_object() {
            return Err(ActivityError::invalid(
                "metrics.custom",
                "must be a JSON object",
            ));
        }
        if let Some(key) = custom_keys(custom).find(|k| k.starts_with('$') || k.contains('.')) {
            // Document stores give `$`/`.` in keys special meaning.
            return Err(ActivityError::invalid(
                "metrics.custom",
                format!("key {key:?} must not start with '$' or contain '.'"),
            ));
        }
    }
    Ok(metrics)
}

pub fn validate_idempotency_key(key: Option<String>) -> ActivityResult<Option<String>> {
    match key.map(|k| k.trim().to_owned()) {
        Some(k) if k.is_empty() || k.len() > IDEMPOTENCY_KEY_MAX => Err(ActivityError::invalid(
            "idempotencyKey",
            "must be 1 to 128 characters",
        )),
        other => Ok(other),
    }
}

/// Nesting depth: a scalar is 0, `{}`/`[]` is 1, `{"a": {}}` is 2.
fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn custom_keys(value: &serde_json::Value) -> Box<dyn Iterator<Item = &String> + '_> {
    match value {
        serde_json::Value::Object(map) => {
            Box::new(map.keys().chain(map.values().flat_map(custom_keys)))
        }
        serde_json::Value::Array(items) => Box::new(items.iter().flat_map(custom_keys)),
        _ => Box::new(std::iter::empty()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn raw() -> RawActivity {
        RawActivity {
            activity_type: ActivityType::Running,
            duration_minutes: 30,
            calories_burned: 300,
            start_time: Utc::now(),
            notes: None,
            metrics: None,
            time_zone: None,
        }
    }

    fn field_of(result: ActivityResult<ActivityFields>) -> &'static str {
        match result {
            Err(ActivityError::InvalidInput(invalid)) => invalid.field,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn accepts_a_plain_workout() {
        assert!(validate(raw(), Utc::now()).is_ok());
    }

    #[test]
    fn names_each_bad_field() {
        let now = Utc::now();
        let mut r = raw();
        r.duration_minutes = 0;
        assert_eq!(field_of(validate(r, now)), "durationMinutes");
        let mut r = raw();
        r.duration_minutes = 1441;
        assert_eq!(field_of(validate(r, now)), "durationMinutes");
        let mut r = raw();
        r.calories_burned = 20_001;
        assert_eq!(field_of(validate(r, now)), "caloriesBurned");
        let mut r = raw();
        r.start_time = now + Duration::minutes(6);
        assert_eq!(field_of(validate(r, now)), "startTime");
        let mut r = raw();
        r.notes = Some("x".repeat(1001));
        assert_eq!(field_of(validate(r, now)), "notes");
        let mut r = raw();
        r.metrics = Some(Metrics {
            average_heart_rate: Some(150),
            max_heart_rate: Some(140),
            ..Default::default()
        });
        assert_eq!(field_of(validate(r, now)), "metrics.averageHeartRate");
        let mut r = raw();
        r.metrics = Some(Metrics {
            max_heart_rate: Some(251),
            ..Default::default()
        });
        assert_eq!(field_of(validate(r, now)), "metrics.maxHeartRate");
    }

    #[test]
    fn bounds_custom_metrics() {
        let now = Utc::now();
        let mut r = raw();
        r.metrics = Some(Metrics {
            custom: Some(json!({"a": {"b": {"c": {"d": {"e": 1}}}}})),
            ..Default::default()
        });
        assert!(validate(r, now).is_ok(), "depth 5 is allowed");
        let mut r = raw();
        r.metrics = Some(Metrics {
            custom: Some(json!({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}})),
            ..Default::default()
        });
        assert_eq!(field_of(validate(r, now)), "metrics.custom");
        let mut r = raw();
        r.metrics = Some(Metrics {
            custom: Some(json!({"blob": "x".repeat(17 * 1024)})),
            ..Default::default()
        });
        assert_eq!(field_of(validate(r, now)), "metrics.custom");
        let mut r = raw();
        r.metrics = Some(Metrics {
            custom: Some(json!({"$where": 1})),
            ..Default::default()
        });
        assert_eq!(field_of(validate(r, now)), "metrics.custom");
    }
}
