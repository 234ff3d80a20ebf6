//! Turning store aggregates (per-type totals, per-day totals) into the stats a
//! user sees. The heavy lifting (grouping every document) happens in the store;
//! this only walks at most one entry per active day.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Utc};
use chrono_tz::Tz;

use super::model::{ActivityType, TypeTotals};

/// How many weeks the weekly trend covers (the current week included).
pub const TREND_WEEKS: i64 = 12;

/// Totals of one local calendar day, as aggregated by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyTotals {
    pub day: NaiveDate,
    pub count: i64,
    pub duration_minutes: i64,
    pub calories_burned: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeBreakdown {
    pub activity_type: ActivityType,
    pub count: i64,
    pub duration_minutes: i64,
    pub calories_burned: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WeekTotals {
    /// Monday of the week, in the user's time zone.
    pub week_start: NaiveDate,
    pub count: i64,
    pub duration_minutes: i64,
    pub calories_burned: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActivityStats {
    pub count: i64,
    pub total_duration_minutes: i64,
    pub total_calories_burned: i64,
    pub average_duration_minutes: f64,
    pub average_calories_burned: f64,
    pub by_type: Vec<TypeBreakdown>,
    pub current_streak_days: i64,
    pub longest_streak_days: i64,
    pub weekly_trend: Vec<WeekTotals>,
}

/// Today's date in a fixed UTC offset.
pub fn local_day(at: DateTime<Utc>, offset: FixedOffset) -> NaiveDate {
    at.with_timezone(&offset).date_naive()
}

/// Where a user's days begin: a fixed UTC offset, or an IANA zone (whose
/// offset changes with daylight saving).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayBoundary {
    Offset(FixedOffset),
    Zone(Tz),
}

impl DayBoundary {
    pub fn day_of(self, at: DateTime<Utc>) -> NaiveDate {
        match self {
            Self::Offset(offset) => local_day(at, offset),
            Self::Zone(zone) => at.with_timezone(&zone).date_naive(),
        }
    }
}

/// Totals of one quarter hour in UTC, as aggregated by the store. Every UTC
/// offset in use is a multiple of 15 minutes, so each quarter hour lies
/// within one local day in any zone, whatever its clock changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarterHourTotals {
    pub start: DateTime<Utc>,
    /// The zone of the workouts counted here (one row per zone in a
    /// quarter hour); `None` for workouts stored without one.
    pub time_zone: Option<String>,
    pub count: i64,
    pub duration_minutes: i64,
    pub calories_burned: i64,
}

/// Quarter hours gathered into local days, oldest first: each workout's
/// day where it was done (a run at 00:30 in Tokyo is on Tokyo's date),
/// `zone`'s for workouts stored without a zone.
pub fn local_days(quarters: &[QuarterHourTotals], zone: Tz) -> Vec<DailyTotals> {
    let mut days: BTreeMap<NaiveDate, DailyTotals> = BTreeMap::new();
    for quarter in quarters {
        let own = quarter
            .time_zone
            .as_deref()
            .and_then(|name| name.parse::<Tz>().ok())
            .unwrap_or(zone);
        let day = quarter.start.with_timezone(&own).date_naive();
        let total = days.entry(day).or_insert(DailyTotals {
            day,
            count: 0,
            duration_minutes: 0,
            calories_burned: 0,
        });
        total.count += quarter.count;
        total.duration_minutes += quarter.duration_minutes;
        total.calories_burned += quarter.calories_burned;
    }
    days.into_values().collect()
}

/// Builds stats from the range's per-type totals and the user's per-day totals
/// (all history: streaks and the trend are not limited to the range).
pub fn summarize(
    type_totals: &[TypeTotals],
    daily: &[DailyTotals],
    today: NaiveDate,
) -> ActivityStats {
    let mut by_type: BTreeMap<ActivityType, TypeBreakdown> = BTreeMap::new();
    for t in type_totals {
        let entry = by_type.entry(t.activity_type).or_insert(TypeBreakdown {
            activity_type: t.activity_type,
            count: 0,
            duration_minutes: 0,
            calories_burned: 0,
        });
        entry.count += t.count;
        entry.duration_minutes += t.duration_minutes;
        entry.calories_burned += t.calories_burned;
    }
    let count: i64 = by_type.values().map(|t| t.count).sum();
    let total_duration: i64 = by_type.values().map(|t| t.duration_minutes).sum();
    let total_calories: i64 = by_type.values().map(|t| t.calories_burned).sum();
    let average = |total: i64| {
        if count == 0 {
            0.0
        } else {
            total as f64 / count as f64
        }
    };
    let (current, longest) = streaks(daily.iter().map(|d| d.day), today);
    ActivityStats {
        count,
        total_duration_minutes: total_duration,
        total_calories_burned: total_calories,
        average_duration_minutes: average(total_duration),
        average_calories_burned: average(total_calories),
        by_type: by_type.into_values().collect(),
        current_streak_days: current,
        longest_streak_days: longest,
        weekly_trend: weekly_trend(daily, today),
    }
}

/// (current, longest) runs of consecutive active days. The current streak is
/// still alive if its last day is today or yesterday (today is not over yet).
pub fn streaks(days: impl IntoIterator<Item = NaiveDate>, today: NaiveDate) -> (i64, i64) {
    let mut days: Vec<NaiveDate> = days.into_iter().filter(|d| *d <= today).collect();
    days.sort_unstable();
    days.dedup();
    let mut longest = 0;
    let mut run = 0;
    let mut previous: Option<NaiveDate> = None;
    for day in &days {
        run = match previous {
            Some(p) if *day - p == Duration::days(1) => run + 1,
            _ => 1,
        };
        longest = longest.max(run);
        previous = Some(*day);
    }
    let current = match previous {
        Some(last) if today - last <= Duration::days(1) => run,
        _ => 0,
    };
    (current, longest)
}

fn week_start(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// The last [`TREND_WEEKS`] weeks, oldest first, empty weeks included as zeros.
pub fn weekly_trend(daily: &[DailyTotals], today: NaiveDate) -> Vec<WeekTotals> {
    let this_week = week_start(today);
    let mut weeks: Vec<WeekTotals> = (0..TREND_WEEKS)
        .rev()
        .map(|back| WeekTotals {
            week_start: this_week - Duration::weeks(back),
            count: 0,
            duration_minutes: 0,
            calories_burned: 0,
        })
        .collect();
    let first = this_week - Duration::weeks(TREND_WEEKS - 1);
    for d in daily.iter().filter(|d| d.day >= first && d.day <= today) {
        let index = ((week_start(d.day) - first).num_days() / 7) as usize;
        if let Some(week) = weeks.get_mut(index) {
            week.count += d.count;
            week.duration_minutes += d.duration_minutes;
            week.calories_burned += d.calories_burned;
        }
    }
    weeks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn streaks_count_consecutive_days() {
        let today = day("2026-11-23");
        let days = [
            "2026-11-01",
            "2026-11-02",
            "2026-11-03",
            "2026-11-10",
            "2026-11-22",
            "2026-11-23",
        ]
        .map(day);
        assert_eq!(streaks(days, today), (2, 3));
    }

    #[test]
    fn current_streak_survives_until_today_ends() {
        let today = day("2026-11-23");
        assert_eq!(
            streaks([day("2026-11-21"), day("2026-11-22")], today),
            (2, 2)
        );
        assert_eq!(
            streaks([day("2026-11-20"), day("2026-11-21")], today),
            (0, 2)
        );
        assert_eq!(streaks([], today), (0, 0));
    }

    #[test]
    fn trend_has_twelve_weeks_oldest_first() {
        let today = day("2026-11-23"); // a Monday
        let daily = [
            DailyTotals {
                day: day("2026-11-23"),
                count: 1,
                duration_minutes: 30,
                calories_burned: 300,
            },
            DailyTotals {
                day: day("2026-11-22"),
                count: 2,
                duration_minutes: 60,
                calories_burned: 500,
            },
            DailyTotals {
                day: day("2026-08-01"),
                count: 9,
                duration_minutes: 9,
                calories_burned: 9,
            },
        ];
        let trend = weekly_trend(&daily, today);
        assert_eq!(trend.len(), 12);
        assert_eq!(trend[11].week_start, today);
        assert_eq!(trend[11].count, 1);
        assert_eq!(trend[10].count, 2);
        assert_eq!(
            trend.iter().map(|w| w.count).sum::<i64>(),
            3,
            "older days fall outside"
        );
    }

    #[test]
    fn local_day_applies_the_offset() {
        let at: DateTime<Utc> = "2026-11-23T23:30:00Z".parse().expect("time");
        let plus_two = FixedOffset::east_opt(2 * 3600).expect("offset");
        assert_eq!(local_day(at, plus_two), day("2026-11-24"));
    }
}

#[cfg(test)]
mod zone_tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn quarter_hours_fall_on_the_local_day_across_a_clock_change() {
        let quarter = |y, mo, d, h, mi, minutes| QuarterHourTotals {
            start: Utc
                .with_ymd_and_hms(y, mo, d, h, mi, 0)
                .single()
                .expect("time"),
            time_zone: None,
            count: 1,
            duration_minutes: minutes,
            calories_burned: 100,
        };
        let paris: Tz = "Europe/Paris".parse().expect("zone");
        let days = local_days(
            &[
                // 23:30 UTC in winter is 00:30 the next day in Paris (UTC+1)…
                quarter(2026, 3, 1, 23, 30, 30),
                // …and 22:15 UTC in summer is 00:15 the next day (UTC+2),
                quarter(2026, 7, 1, 22, 15, 40),
                // while 21:45 UTC is still the same day.
                quarter(2026, 7, 1, 21, 45, 50),
            ],
            paris,
        );
        let days: Vec<(String, i64)> = days
            .iter()
            .map(|d| (d.day.to_string(), d.duration_minutes))
            .collect();
        assert_eq!(
            days,
            [
                ("2026-03-02".to_owned(), 30),
                ("2026-07-01".to_owned(), 50),
                ("2026-07-02".to_owned(), 40)
            ]
        );
    }

    #[test]
    fn a_workout_counts_on_the_day_where_it_was_done() {
        let at = |h, zone: Option<&str>, minutes| QuarterHourTotals {
            start: Utc
                .with_ymd_and_hms(2026, 3, 1, h, 30, 0)
                .single()
                .expect("time"),
            time_zone: zone.map(str::to_owned),
            count: 1,
            duration_minutes: minutes,
            calories_burned: 100,
        };
        let paris: Tz = "Europe/Paris".parse().expect("zone");
        let days: Vec<(String, i64)> = local_days(
            &[
                // 15:30 UTC is 00:30 on the 2nd in Tokyo, 16:30 on the 1st in Paris.
                at(15, Some("Asia/Tokyo"), 30),
                at(15, None, 40),
                // A zone no longer known falls back to the viewer's.
                at(15, Some("Mars/Olympus_Mons"), 50),
            ],
            paris,
        )
        .iter()
        .map(|d| (d.day.to_string(), d.duration_minutes))
        .collect();
        assert_eq!(
            days,
            [("2026-03-01".to_owned(), 90), ("2026-03-02".to_owned(), 30)]
        );
    }
}
