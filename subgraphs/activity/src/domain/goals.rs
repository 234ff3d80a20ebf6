//! Goals: a weekly or monthly target (distance, duration, count or
//! calories) for some activity types or all, with progress over the current
//! period. A period is local to the goal's own IANA time zone (a week starts
//! on Monday at midnight there), so a workout at 23:30 on Sunday in Auckland
//! counts for the week it was done in, across daylight-saving changes too.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::{
    error::{ActivityError, ActivityResult},
    model::{ActivityFilter, ActivityType},
    ports::{ActivityStore, GoalStore},
};

/// Goals one user may keep.
pub const MAX_GOALS_PER_USER: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum GoalPeriod {
    /// Monday to Sunday.
    Week,
    Month,
}

impl GoalPeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Week => "WEEK",
            Self::Month => "MONTH",
        }
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        match text {
            "WEEK" => Ok(Self::Week),
            "MONTH" => Ok(Self::Month),
            other => anyhow::bail!("unknown goal period {other:?}"),
        }
    }
}

/// What a goal counts, in SI units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum GoalMetric {
    /// Metres.
    Distance,
    /// Seconds.
    Duration,
    /// Workouts.
    Count,
    /// Kilocalories.
    Calories,
}

impl GoalMetric {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Distance => "DISTANCE",
            Self::Duration => "DURATION",
            Self::Count => "COUNT",
            Self::Calories => "CALORIES",
        }
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        match text {
            "DISTANCE" => Ok(Self::Distance),
            "DURATION" => Ok(Self::Duration),
            "COUNT" => Ok(Self::Count),
            "CALORIES" => Ok(Self::Calories),
            other => anyhow::bail!("unknown goal metric {other:?}"),
        }
    }

    /// The largest sensible target for a month (a week's is the same
    /// bound: a typo, not an ambition, is what it stops).
    fn max_target(self) -> f64 {
        match self {
            // 10 000 km.
            Self::Distance => 10_000_000.0,
            // Every second of a month.
            Self::Duration => 31.0 * 24.0 * 3600.0,
            Self::Count => 1_000.0,
            Self::Calories => 1_000_000.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    pub id: Uuid,
    pub user_id: Uuid,
    pub period: GoalPeriod,
    pub metric: GoalMetric,
    /// In the metric's unit (metres, seconds, workouts, kcal).
    pub target: f64,
    /// Empty means every type.
    pub activity_types: Vec<ActivityType>,
    /// IANA name, checked: `Europe/Paris`.
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a client asks for; checked by [`Goals::create`] and [`Goals::update`].
#[derive(Debug, Clone)]
pub struct GoalInput {
    pub period: GoalPeriod,
    pub metric: GoalMetric,
    pub target: f64,
    pub activity_types: Vec<ActivityType>,
    pub time_zone: String,
}

/// How far a goal is in its current period.
#[derive(Debug, Clone, PartialEq)]
pub struct GoalProgress {
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// In the metric's unit.
    pub value: f64,
    /// `value / target`, not capped (1.2 is 20 % over).
    pub fraction: f64,
}

/// Parses an IANA time zone name.
pub fn time_zone(name: &str) -> ActivityResult<Tz> {
    name.parse::<Tz>().map_err(|_| {
        ActivityError::invalid(
            "timeZone",
            format!("{name:?} is not an IANA time zone (such as Europe/Paris)"),
        )
    })
}

/// Midnight at the start of `day` in `zone`, as an instant. Where a
/// daylight-saving change skips midnight, the day starts at the first
/// local time that exists.
fn start_of(day: NaiveDate, zone: Tz) -> DateTime<Utc> {
    let mut time = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    for _ in 0..4 {
        if let Some(start) = zone.from_local_datetime(&time).earliest() {
            return start.with_timezone(&Utc);
        }
        time += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// The period containing `now`, local to `zone`: `[start, end)`.
pub fn period_bounds(
    period: GoalPeriod,
    zone: Tz,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let today = now.with_timezone(&zone).date_naive();
    let (first, next) = match period {
        GoalPeriod::Week => {
            let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
            (monday, monday + Duration::days(7))
        }
        GoalPeriod::Month => {
            let first = today.with_day(1).unwrap_or(today);
            let next = if first.month() == 12 {
                NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
            };
            (first, next.unwrap_or(first + Duration::days(31)))
        }
    };
    (start_of(first, zone), start_of(next, zone))
}

#[derive(Clone)]
pub struct Goals {
    goals: Arc<dyn GoalStore>,
    activities: Arc<dyn ActivityStore>,
}

impl Goals {
    pub fn new(goals: Arc<dyn GoalStore>, activities: Arc<dyn ActivityStore>) -> Self {
        Self { goals, activities }
    }

    fn checked(input: GoalInput) -> ActivityResult<GoalInput> {
        time_zone(&input.time_zone)?;
        if !(input.target.is_finite()
            && input.target > 0.0
            && input.target <= input.metric.max_target())
        {
            return Err(ActivityError::invalid(
                "target",
                format!(
                    "target must be above 0 and at most {} for {}",
                    input.metric.max_target(),
                    input.metric.as_str()
                ),
            ));
        }
        if input.metric == GoalMetric::Count && input.target.fract() != 0.0 {
            return Err(ActivityError::invalid(
                "target",
                "a COUNT target is a whole number of workouts",
            ));
        }
        let mut types = input.activity_types;
        types.sort();
        types.dedup();
        Ok(GoalInput {
            activity_types: types,
            ..input
        })
    }

    pub async fn create(&self, owner: Uuid, input: GoalInput) -> ActivityResult<Goal> {
        let input = Self::checked(input)?;
        // What the stores keep: milliseconds.
        let now = Utc::now().trunc_subsecs(3);
        let goal = Goal {
            id: Uuid::now_v7(),
            user_id: owner,
            period: input.period,
            metric: input.metric,
            target: input.target,
            activity_types: input.activity_types,
            time_zone: input.time_zone,
            created_at: now,
            updated_at: now,
        };
        // Counted in the same write, so two creations at once cannot both
        // slip under the cap.
        if !self.goals.insert_goal(&goal, MAX_GOALS_PER_USER).await? {
            return Err(ActivityError::TooManyGoals);
        }
        Ok(goal)
    }

    pub async fn update(&self, owner: Uuid, id: Uuid, input: GoalInput) -> ActivityResult<Goal> {
        let input = Self::checked(input)?;
        let current = self
            .goals
            .goals(owner)
            .await?
            .into_iter()
            .find(|g| g.id == id)
            .ok_or(ActivityError::GoalNotFound)?;
        let goal = Goal {
            period: input.period,
            metric: input.metric,
            target: input.target,
            activity_types: input.activity_types,
            time_zone: input.time_zone,
            updated_at: Utc::now().trunc_subsecs(3),
            ..current
        };
        if !self.goals.replace_goal(&goal).await? {
            return Err(ActivityError::GoalNotFound);
        }
        Ok(goal)
    }

    pub async fn delete(&self, owner: Uuid, id: Uuid) -> ActivityResult<()> {
        if self.goals.delete_goal(owner, id).await? {
            Ok(())
        } else {
            Err(ActivityError::GoalNotFound)
        }
    }

    /// A user's goals, oldest first, each with its progress now.
    pub async fn with_progress(&self, owner: Uuid) -> ActivityResult<Vec<(Goal, GoalProgress)>> {
        let goals = self.goals.goals(owner).await?;
        self.progress_of(owner, goals).await
    }

    /// The progress now of `owner`'s `goals` (read already: with a new
    /// workout, `ActivityStore::workout_reads`); no read without goals.
    pub async fn progress_of(
        &self,
        owner: Uuid,
        goals: Vec<Goal>,
    ) -> ActivityResult<Vec<(Goal, GoalProgress)>> {
        let now = Utc::now();
        // Goals sharing a period (same kind, same zone) share one read.
        let mut totals: std::collections::HashMap<(DateTime<Utc>, DateTime<Utc>), Vec<_>> =
            Default::default();
        let mut out = Vec::with_capacity(goals.len());
        for goal in goals {
            let (start, end) = period_bounds(goal.period, time_zone(&goal.time_zone)?, now);
            if let std::collections::hash_map::Entry::Vacant(slot) = totals.entry((start, end)) {
                let filter = ActivityFilter {
                    types: Vec::new(),
                    from: Some(start),
                    to: Some(end),
                };
                slot.insert(self.activities.type_totals(Some(&[owner]), &filter).await?);
            }
            let value: f64 = totals[&(start, end)]
                .iter()
                .filter(|t| {
                    goal.activity_types.is_empty() || goal.activity_types.contains(&t.activity_type)
                })
                .map(|t| match goal.metric {
                    GoalMetric::Distance => t.distance_km * 1000.0,
                    GoalMetric::Duration => t.duration_minutes as f64 * 60.0,
                    GoalMetric::Count => t.count as f64,
                    GoalMetric::Calories => t.calories_burned as f64,
                })
                .sum();
            let progress = GoalProgress {
                period_start: start,
                period_end: end,
                value,
                fraction: value / goal.target,
            };
            out.push((goal, progress));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("test data")
    }

    #[test]
    fn a_week_starts_on_monday_at_midnight_in_the_goals_zone() {
        // Monday 2026-03-02 00:30 in Auckland is still Sunday in UTC.
        let auckland: Tz = "Pacific/Auckland".parse().expect("zone");
        let (start, end) = period_bounds(GoalPeriod::Week, auckland, at("2026-03-01T11:30:00Z"));
        assert_eq!(start, at("2026-03-01T11:00:00Z"), "Monday 00:00 NZDT");
        assert_eq!(end, at("2026-03-08T11:00:00Z"));
        // The same instant in UTC belongs to the week before.
        let (start, _) = period_bounds(GoalPeriod::Week, Tz::UTC, at("2026-03-01T11:30:00Z"));
        assert_eq!(start, at("2026-02-23T00:00:00Z"));
    }

    #[test]
    fn a_month_spanning_a_clock_change_is_local_at_both_ends() {
        // Paris moves to summer time on 2026-03-29.
        let paris: Tz = "Europe/Paris".parse().expect("zone");
        let (start, end) = period_bounds(GoalPeriod::Month, paris, at("2026-03-15T12:00:00Z"));
        assert_eq!(start, at("2026-02-28T23:00:00Z"), "1 March 00:00 CET");
        assert_eq!(end, at("2026-03-31T22:00:00Z"), "1 April 00:00 CEST");
        let (_, end) = period_bounds(GoalPeriod::Month, paris, at("2026-12-15T12:00:00Z"));
        assert_eq!(end, at("2026-12-31T23:00:00Z"), "into the next year");
    }

    #[test]
    fn a_day_whose_midnight_is_skipped_starts_at_its_first_hour() {
        // Santiago skipped 2026-09-06 00:00 (to 01:00).
        let santiago: Tz = "America/Santiago".parse().expect("zone");
        let start = start_of(NaiveDate::from_ymd_opt(2026, 9, 6).expect("date"), santiago);
        assert_eq!(
            start.with_timezone(&santiago).format("%H:%M").to_string(),
            "01:00"
        );
    }

    #[test]
    fn bad_targets_and_zones_are_refused() {
        let input = |metric, target: f64, zone: &str| GoalInput {
            period: GoalPeriod::Week,
            metric,
            target,
            activity_types: vec![ActivityType::Running, ActivityType::Running],
            time_zone: zone.into(),
        };
        for (metric, target, zone) in [
            (GoalMetric::Distance, 0.0, "UTC"),
            (GoalMetric::Distance, f64::NAN, "UTC"),
            (GoalMetric::Distance, 1e12, "UTC"),
            (GoalMetric::Count, 2.5, "UTC"),
            (GoalMetric::Count, 3.0, "Mars/Olympus"),
            (GoalMetric::Count, 3.0, "+02:00"),
        ] {
            assert!(
                Goals::checked(input(metric, target, zone)).is_err(),
                "{metric:?} {target} {zone}"
            );
        }
        let fine = Goals::checked(input(GoalMetric::Count, 3.0, "Asia/Kolkata")).expect("fine");
        assert_eq!(fine.activity_types, [ActivityType::Running]);
    }
}
