//! Personal records. Each recorded activity's best efforts are computed once
//! from its points ([`best_efforts`]) and kept beside it; a user's records
//! and their history are then queries over the efforts that remain
//! ([`records`], [`history`]), so deleting an activity takes its efforts
//! with it and the records fall back to the next best without any rework.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{model::ActivityType, recording::Sample};

/// What a record measures.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    async_graphql::Enum,
)]
pub enum RecordKind {
    /// Running: the fastest time over the distance, anywhere in a run.
    Fastest400M,
    Fastest1K,
    FastestMile,
    Fastest5K,
    Fastest10K,
    FastestHalfMarathon,
    FastestMarathon,
    /// Cycling: the highest mean power over the duration.
    BestPower5Min,
    BestPower20Min,
    BestPower60Min,
    /// Cycling: the longest ride, in metres.
    LongestRide,
    /// Any type: the longest workout, in seconds.
    LongestDuration,
}

impl RecordKind {
    pub const ALL: [RecordKind; 12] = [
        Self::Fastest400M,
        Self::Fastest1K,
        Self::FastestMile,
        Self::Fastest5K,
        Self::Fastest10K,
        Self::FastestHalfMarathon,
        Self::FastestMarathon,
        Self::BestPower5Min,
        Self::BestPower20Min,
        Self::BestPower60Min,
        Self::LongestRide,
        Self::LongestDuration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fastest400M => "FASTEST_400M",
            Self::Fastest1K => "FASTEST_1K",
            Self::FastestMile => "FASTEST_MILE",
            Self::Fastest5K => "FASTEST_5K",
            Self::Fastest10K => "FASTEST_10K",
            Self::FastestHalfMarathon => "FASTEST_HALF_MARATHON",
            Self::FastestMarathon => "FASTEST_MARATHON",
            Self::BestPower5Min => "BEST_POWER_5_MIN",
            Self::BestPower20Min => "BEST_POWER_20_MIN",
            Self::BestPower60Min => "BEST_POWER_60_MIN",
            Self::LongestRide => "LONGEST_RIDE",
            Self::LongestDuration => "LONGEST_DURATION",
        }
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| anyhow::anyhow!("unknown record kind {text:?}"))
    }

    /// Whether a smaller value is better (times) or a larger one (power,
    /// distance, duration).
    pub fn lower_is_better(self) -> bool {
        self.distance_m().is_some()
    }

    /// The distance of a fastest-time record.
    pub fn distance_m(self) -> Option<f64> {
        Some(match self {
            Self::Fastest400M => 400.0,
            Self::Fastest1K => 1_000.0,
            Self::FastestMile => 1_609.344,
            Self::Fastest5K => 5_000.0,
            Self::Fastest10K => 10_000.0,
            Self::FastestHalfMarathon => 21_097.5,
            Self::FastestMarathon => 42_195.0,
            _ => return None,
        })
    }

    /// The duration of a best-power record, in seconds.
    pub fn window_seconds(self) -> Option<f64> {
        Some(match self {
            Self::BestPower5Min => 300.0,
            Self::BestPower20Min => 1_200.0,
            Self::BestPower60Min => 3_600.0,
            _ => return None,
        })
    }

    /// Whether `self` beats `other` as a value of this kind.
    pub fn beats(self, value: f64, other: f64) -> bool {
        if self.lower_is_better() {
            value < other
        } else {
            value > other
        }
    }
}

/// One activity's best over one measure.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Effort {
    pub activity_id: Uuid,
    pub user_id: Uuid,
    /// The activity's type: `LONGEST_DURATION` is kept per type.
    pub activity_type: ActivityType,
    pub kind: RecordKind,
    /// Seconds (fastest times, longest duration), watts (power) or metres
    /// (longest ride).
    pub value: f64,
    /// When the activity started.
    pub achieved_at: DateTime<Utc>,
}

/// The best efforts of one workout: its fastest stretches over each
/// distance (running), its best mean power over each duration and its
/// distance (cycling), and its duration (every type).
pub fn best_efforts(
    activity_type: ActivityType,
    samples: &[Sample],
    elapsed_seconds: f64,
    distance_m: Option<f64>,
) -> Vec<(RecordKind, f64)> {
    let mut efforts = Vec::new();
    if elapsed_seconds > 0.0 {
        efforts.push((RecordKind::LongestDuration, elapsed_seconds));
    }
    match activity_type {
        ActivityType::Running => {
            for kind in RecordKind::ALL {
                if let Some(distance) = kind.distance_m() {
                    if let Some(seconds) = fastest_over(samples, distance) {
                        efforts.push((kind, seconds));
                    }
                }
            }
        }
        ActivityType::Cycling => {
            for kind in RecordKind::ALL {
                if let Some(window) = kind.window_seconds() {
                    if let Some(watts) = best_mean_power(samples, window) {
                        efforts.push((kind, watts));
                    }
                }
            }
            if let Some(distance) = distance_m.filter(|d| *d > 0.0) {
                efforts.push((RecordKind::LongestRide, distance));
            }
        }
        _ => {}
    }
    efforts
}

fn seconds_between(a: &Sample, b: &Sample) -> f64 {
    (b.time - a.time).num_milliseconds() as f64 / 1000.0
}

/// The least time in which `distance` metres were covered: for each
/// point, the latest earlier point at least `distance` behind it (two
/// pointers, O(n)), the end interpolated back to exactly `distance`.
pub fn fastest_over(samples: &[Sample], distance: f64) -> Option<f64> {
    let measured: Vec<(&Sample, f64)> = samples
        .iter()
        .filter_map(|s| s.distance_m.map(|d| (s, d)))
        .collect();
    let mut best: Option<f64> = None;
    let mut start = 0;
    for end in 0..measured.len() {
        let (end_sample, end_d) = measured[end];
        while start + 1 < end && end_d - measured[start + 1].1 >= distance {
            start += 1;
        }
        let (start_sample, start_d) = measured[start];
        let covered = end_d - start_d;
        if covered < distance || covered <= 0.0 {
            continue;
        }
        // Covered a little more than `distance` in this time: scale down.
        let seconds = seconds_between(start_sample, end_sample) * distance / covered;
        if seconds > 0.0 && best.is_none_or(|b| seconds < b) {
            best = Some(seconds);
        }
    }
    best
}

/// The highest mean power over any `window` seconds (each sample's power
/// held until the next sample), where the recording covers that long.
pub fn best_mean_power(samples: &[Sample], window: f64) -> Option<f64> {
    let powered: Vec<(&Sample, f64)> = samples
        .iter()
        .filter_map(|s| s.power_w.map(|p| (s, f64::from(p))))
        .collect();
    if powered.len() < 2 {
        return None;
    }
    // Energy (J) before each point, so a window's energy is a difference.
    let mut energy = vec![0.0; powered.len()];
    for i in 1..powered.len() {
        let dt = seconds_between(powered[i - 1].0, powered[i].0).min(10.0);
        energy[i] = energy[i - 1] + powered[i - 1].1 * dt;
    }
    let mut best: Option<f64> = None;
    let mut start = 0;
    for end in 1..powered.len() {
        while start + 1 < end && seconds_between(powered[start + 1].0, powered[end].0) >= window {
            start += 1;
        }
        let span = seconds_between(powered[start].0, powered[end].0);
        if span < window {
            continue;
        }
        let mean = (energy[end] - energy[start]) / span;
        if best.is_none_or(|b| mean > b) {
            best = Some(mean);
        }
    }
    best
}

/// A record: the best effort of its kind (and, for `LONGEST_DURATION`, of
/// its activity type).
pub fn records(efforts: &[Effort]) -> Vec<Effort> {
    let mut best: std::collections::BTreeMap<(RecordKind, Option<ActivityType>), &Effort> =
        Default::default();
    for effort in efforts {
        let key = (effort.kind, per_type(effort));
        // Better, or as good and set earlier: the first to reach a value holds it.
        let replaces = best.get(&key).is_none_or(|current| {
            effort.kind.beats(effort.value, current.value)
                || (effort.value == current.value && effort.achieved_at < current.achieved_at)
        });
        if replaces {
            best.insert(key, effort);
        }
    }
    best.into_values().cloned().collect()
}

/// Each record of `kind` in the order it was set: the efforts, oldest
/// activity first, that beat every effort before them.
pub fn history(
    efforts: &[Effort],
    kind: RecordKind,
    activity_type: Option<ActivityType>,
) -> Vec<Effort> {
    let mut mine: Vec<&Effort> = efforts
        .iter()
        .filter(|e| {
            e.kind == kind
                && per_type(e) == activity_type.filter(|_| kind == RecordKind::LongestDuration)
        })
        .collect();
    mine.sort_by_key(|e| (e.achieved_at, e.activity_id));
    let mut set: Vec<Effort> = Vec::new();
    for effort in mine {
        if set
            .last()
            .is_none_or(|last| kind.beats(effort.value, last.value))
        {
            set.push(effort.clone());
        }
    }
    set
}

/// A record just set, as it is announced live.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewRecord {
    pub record: Effort,
    /// The record it beat; `None` for the first of its kind.
    pub previous: Option<f64>,
}

impl fittrack_kit::live::LiveEvent for NewRecord {
    const TOPIC: &'static str = "records";

    fn user_id(&self) -> Uuid {
        self.record.user_id
    }
}

/// The records `activity_id` holds among `efforts` (its own, and every
/// other effort of its user or only the holder of each record it competes
/// for: `ActivityStore::record_holders`), each with the record it took over.
pub fn new_records(efforts: &[Effort], activity_id: Uuid) -> Vec<NewRecord> {
    let others: Vec<Effort> = efforts
        .iter()
        .filter(|e| e.activity_id != activity_id)
        .cloned()
        .collect();
    let before: std::collections::HashMap<(RecordKind, Option<ActivityType>), f64> =
        records(&others)
            .into_iter()
            .map(|e| ((e.kind, per_type(&e)), e.value))
            .collect();
    records(efforts)
        .into_iter()
        .filter(|record| record.activity_id == activity_id)
        .map(|record| NewRecord {
            previous: before.get(&(record.kind, per_type(&record))).copied(),
            record,
        })
        .collect()
}

/// The records each activity set when it was recorded (beaten since or
/// not): the history of every kind, and of every type for
/// `LONGEST_DURATION`, by activity.
pub fn set_by_activity(efforts: &[Effort]) -> std::collections::HashMap<Uuid, Vec<Effort>> {
    let kinds: std::collections::BTreeSet<(RecordKind, Option<ActivityType>)> =
        efforts.iter().map(|e| (e.kind, per_type(e))).collect();
    let mut by_activity: std::collections::HashMap<Uuid, Vec<Effort>> = Default::default();
    for (kind, activity_type) in kinds {
        for effort in history(efforts, kind, activity_type) {
            by_activity
                .entry(effort.activity_id)
                .or_default()
                .push(effort);
        }
    }
    by_activity
}

fn per_type(effort: &Effort) -> Option<ActivityType> {
    (effort.kind == RecordKind::LongestDuration).then_some(effort.activity_type)
}

/// What a record is kept per: its kind and, for `LONGEST_DURATION`, the
/// activity type.
pub type RecordKey = (RecordKind, Option<ActivityType>);

/// The record `effort` competes for.
pub fn key_of(effort: &Effort) -> RecordKey {
    (effort.kind, per_type(effort))
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 7, 0, 0)
            .single()
            .expect("test data")
    }

    /// 3 m/s, with a 1 km stretch at 5 m/s from 600 s.
    fn run_with_a_fast_kilometre() -> Vec<Sample> {
        let mut distance = 0.0;
        (0..2_000)
            .map(|s| {
                let speed = if (600..800).contains(&s) { 5.0 } else { 3.0 };
                let sample = Sample {
                    time: start() + Duration::seconds(s),
                    distance_m: Some(distance),
                    ..Sample::default()
                };
                distance += speed;
                sample
            })
            .collect()
    }

    #[test]
    fn the_fastest_stretch_is_found_anywhere_in_the_run() {
        let run = run_with_a_fast_kilometre();
        let kilometre = fastest_over(&run, 1_000.0).expect("covered");
        assert!((kilometre - 200.0).abs() < 0.5, "{kilometre}");
        let four_hundred = fastest_over(&run, 400.0).expect("covered");
        assert!((four_hundred - 80.0).abs() < 0.5, "{four_hundred}");
        // 6 400 m in all: no 10 km.
        assert_eq!(fastest_over(&run, 10_000.0), None);
        let efforts = best_efforts(ActivityType::Running, &run, 1_999.0, Some(6_400.0));
        let kinds: Vec<RecordKind> = efforts.iter().map(|e| e.0).collect();
        assert_eq!(
            kinds,
            [
                RecordKind::LongestDuration,
                RecordKind::Fastest400M,
                RecordKind::Fastest1K,
                RecordKind::FastestMile,
                RecordKind::Fastest5K
            ]
        );
    }

    #[test]
    fn best_power_is_the_highest_mean_over_the_window() {
        let ride: Vec<Sample> = (0..1_800)
            .map(|s| Sample {
                time: start() + Duration::seconds(s),
                power_w: Some(if (300..600).contains(&s) { 300 } else { 200 }),
                ..Sample::default()
            })
            .collect();
        let five = best_mean_power(&ride, 300.0).expect("long enough");
        assert!((five - 300.0).abs() < 1e-9, "{five}");
        let twenty = best_mean_power(&ride, 1_200.0).expect("long enough");
        assert!((twenty - 225.0).abs() < 1e-9, "{twenty}");
        assert_eq!(best_mean_power(&ride, 3_600.0), None);
    }

    #[test]
    fn records_and_their_history_follow_the_efforts_that_remain() {
        let user = Uuid::new_v4();
        let effort = |day: i64, seconds: f64| Effort {
            activity_id: Uuid::new_v4(),
            user_id: user,
            activity_type: ActivityType::Running,
            kind: RecordKind::Fastest5K,
            value: seconds,
            achieved_at: start() + Duration::days(day),
        };
        let efforts = vec![
            effort(0, 1_500.0),
            effort(1, 1_560.0),
            effort(2, 1_440.0),
            effort(3, 1_450.0),
        ];
        let best = records(&efforts);
        assert_eq!(best.len(), 1);
        assert_eq!(best[0].value, 1_440.0);
        let set: Vec<f64> = history(&efforts, RecordKind::Fastest5K, None)
            .iter()
            .map(|e| e.value)
            .collect();
        assert_eq!(set, [1_500.0, 1_440.0]);
        // The record's activity deleted: the next best is the record.
        let remaining: Vec<Effort> = efforts.into_iter().filter(|e| e.value != 1_440.0).collect();
        assert_eq!(records(&remaining)[0].value, 1_450.0);
    }

    #[test]
    fn each_activity_lists_the_records_it_set_when_it_was_recorded() {
        let user = Uuid::new_v4();
        let [first, second, third] = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
        let effort = |activity_id, day: i64, kind, activity_type, value| Effort {
            activity_id,
            user_id: user,
            activity_type,
            kind,
            value,
            achieved_at: start() + Duration::days(day),
        };
        use ActivityType::{Running, Yoga};
        use RecordKind::{Fastest1K, LongestDuration};
        let efforts = vec![
            effort(first, 0, Fastest1K, Running, 300.0),
            effort(first, 0, LongestDuration, Running, 1_800.0),
            // Faster, but shorter: one record of two.
            effort(second, 1, Fastest1K, Running, 280.0),
            effort(second, 1, LongestDuration, Running, 1_500.0),
            // The first yoga session is the longest yoga so far.
            effort(third, 2, LongestDuration, Yoga, 600.0),
        ];
        let set = set_by_activity(&efforts);
        let kinds = |id| {
            let mut kinds: Vec<(RecordKind, ActivityType)> =
                set[&id].iter().map(|e| (e.kind, e.activity_type)).collect();
            kinds.sort();
            kinds
        };
        assert_eq!(
            kinds(first),
            [(Fastest1K, Running), (LongestDuration, Running)]
        );
        assert_eq!(kinds(second), [(Fastest1K, Running)]);
        assert_eq!(kinds(third), [(LongestDuration, Yoga)]);

        // Only what an activity holds now is new, with what it beat.
        let second_holds = new_records(&efforts, second);
        assert_eq!(second_holds.len(), 1);
        assert_eq!(second_holds[0].record.kind, Fastest1K);
        assert_eq!(second_holds[0].previous, Some(300.0));
        let third_holds = new_records(&efforts, third);
        assert_eq!(third_holds[0].previous, None, "the first yoga session");
        assert_eq!(
            new_records(&efforts, first).len(),
            1,
            "still the longest run"
        );
    }
}
