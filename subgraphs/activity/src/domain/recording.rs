//! What a watch or an app recorded: one workout read from a FIT, GPX or TCX
//! file by the file-format adapter, before it becomes an [`Activity`](super::model::Activity).
//!
//! [`Recording::checked`] is the one place a file's values are judged: sensor
//! glitches become gaps, and what no real workout has refuses the file with a
//! [`FileRefusal`] that says why.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::{model::ActivityType, validation};

/// The file formats an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FileFormat {
    Fit,
    Gpx,
    Tcx,
}

impl FileFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fit => "FIT",
            Self::Gpx => "GPX",
            Self::Tcx => "TCX",
        }
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        [Self::Fit, Self::Gpx, Self::Tcx]
            .into_iter()
            .find(|format| format.as_str() == text)
            .ok_or_else(|| anyhow::anyhow!("unknown file format {text:?}"))
    }
}

/// One recorded point. Every value but the time may be missing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sample {
    pub time: DateTime<Utc>,
    /// Degrees (WGS 84): `(latitude, longitude)`.
    pub position: Option<(f64, f64)>,
    /// Metres from the start.
    pub distance_m: Option<f64>,
    pub altitude_m: Option<f64>,
    pub speed_mps: Option<f64>,
    pub heart_rate: Option<u16>,
    /// Revolutions (or, running, strides of one foot) per minute.
    pub cadence: Option<u16>,
    pub power_w: Option<u16>,
}

/// The file a workout was imported from, as uploaded (unpacked from its
/// archive), for the user to take back whole.
#[derive(Debug, Clone, PartialEq)]
pub struct OriginalFile {
    /// Its name in the upload (`Move_2024_05_01.fit`, or its path in a zip).
    pub name: String,
    pub format: FileFormat,
    pub bytes: Vec<u8>,
}

/// A lap as the device split it (manual, by distance, by time…).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lap {
    pub start_time: DateTime<Utc>,
    pub elapsed_seconds: f64,
    pub distance_m: Option<f64>,
    pub calories: Option<i32>,
    pub average_heart_rate: Option<u16>,
    pub max_heart_rate: Option<u16>,
}

/// One workout as a file holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    pub format: FileFormat,
    pub sport: ActivityType,
    /// The file's own name for the sport (`running`, `Biking`,
    /// `cycling/indoor_cycling`…), kept because our types are coarser.
    pub original_sport: String,
    pub start_time: DateTime<Utc>,
    /// From start to end, pauses included.
    pub elapsed_seconds: f64,
    /// Time the device's timer ran (pauses excluded), where the file says.
    pub timer_seconds: Option<f64>,
    pub distance_m: Option<f64>,
    pub calories: Option<i32>,
    /// Offset of the device's local time from UTC, where the file says
    /// (FIT's `activity.local_timestamp`).
    pub utc_offset_seconds: Option<i32>,
    /// What recorded it, where the file says (`garmin fenix5`…).
    pub device: Option<String>,
    /// Time order, strictly increasing after [`Recording::checked`].
    pub samples: Vec<Sample>,
    pub laps: Vec<Lap>,
}

/// What is kept of a recording beside its activity: where it came from,
/// its own totals and its laps. The points are kept apart, as chunks.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingSummary {
    pub format: FileFormat,
    pub original_sport: String,
    pub device: Option<String>,
    pub utc_offset_seconds: Option<i32>,
    pub elapsed_seconds: f64,
    pub timer_seconds: Option<f64>,
    pub distance_m: Option<f64>,
    /// SHA-256 (hex) of the file as uploaded, after decompression.
    pub file_sha256: String,
    pub laps: Vec<Lap>,
}

/// A recording as the store keeps it for one activity.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecording {
    pub summary: RecordingSummary,
    /// In time order.
    pub samples: Vec<Sample>,
}

impl Recording {
    /// What is stored of this recording, read from a file with this hash.
    pub fn into_stored(self, file_sha256: String) -> StoredRecording {
        StoredRecording {
            summary: RecordingSummary {
                format: self.format,
                original_sport: self.original_sport,
                device: self.device,
                utc_offset_seconds: self.utc_offset_seconds,
                elapsed_seconds: self.elapsed_seconds,
                timer_seconds: self.timer_seconds,
                distance_m: self.distance_m,
                file_sha256,
                laps: self.laps,
            },
            samples: self.samples,
        }
    }
}

/// Why a file (or one workout in it) was not imported, as the user reads it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileRefusal {
    #[error("not a FIT, GPX or TCX file")]
    UnknownFormat,
    #[error("the file is damaged or cut short: {0}")]
    Damaged(String),
    #[error("the file holds no workout")]
    NoWorkout,
    #[error("the file is larger than {limit_mb} MB")]
    TooLarge { limit_mb: u64 },
    #[error("the archive holds more than {limit} files")]
    TooManyFiles { limit: usize },
    #[error("the workout has more than {limit} points")]
    TooManyPoints { limit: usize },
    #[error("the workout has no start time")]
    NoStartTime,
    #[error("the start time {0} is not a plausible date")]
    ImplausibleStart(String),
    #[error("the workout lasts {0}; imports take 1 minute to 24 hours")]
    ImplausibleDuration(String),
    #[error("the distance {0} km is not plausible")]
    ImplausibleDistance(String),
}

/// Most points one workout may have: a day at one point a second, twice over.
pub const MAX_SAMPLES: usize = 200_000;
/// Earliest start accepted (FIT's epoch is 1989-12-31: a zero timestamp is
/// an unset clock, not a workout).
pub fn earliest_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1990, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Plausible ranges: outside them a value is a sensor glitch, dropped.
const HEART_RATE: std::ops::RangeInclusive<u16> = 30..=250;
const CADENCE_MAX: u16 = 300;
const POWER_MAX_W: u16 = 3_000;
/// Faster than any human-powered sport: 150 m/s is 540 km/h.
const SPEED_MAX_MPS: f64 = 150.0;
const ALTITUDE_M: std::ops::RangeInclusive<f64> = -500.0..=9_000.0;

impl Sample {
    pub fn at(time: DateTime<Utc>) -> Self {
        Self {
            time,
            ..Self::default()
        }
    }

    /// The sample with every implausible value turned into a gap.
    fn plausible(self) -> Self {
        let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
        Self {
            time: self.time,
            position: self.position.filter(|(lat, lon)| {
                lat.is_finite()
                    && lon.is_finite()
                    && (-90.0..=90.0).contains(lat)
                    && (-180.0..=180.0).contains(lon)
                    // (0, 0) is what devices write before a fix.
                    && !(*lat == 0.0 && *lon == 0.0)
            }),
            distance_m: finite(self.distance_m).filter(|d| *d >= 0.0),
            altitude_m: finite(self.altitude_m).filter(|a| ALTITUDE_M.contains(a)),
            speed_mps: finite(self.speed_mps).filter(|s| (0.0..=SPEED_MAX_MPS).contains(s)),
            heart_rate: self.heart_rate.filter(|hr| HEART_RATE.contains(hr)),
            cadence: self.cadence.filter(|c| *c <= CADENCE_MAX),
            power_w: self.power_w.filter(|p| *p <= POWER_MAX_W),
        }
    }
}

impl Recording {
    /// The recording as it may be stored: samples in time order without
    /// repeats or glitches, summary values filled from the samples where the
    /// file left them out, and refused if no real workout looks like it.
    pub fn checked(mut self, now: DateTime<Utc>) -> Result<Self, FileRefusal> {
        if self.samples.len() > MAX_SAMPLES {
            return Err(FileRefusal::TooManyPoints { limit: MAX_SAMPLES });
        }
        self.samples.sort_by_key(|s| s.time);
        // A repeated timestamp keeps its first sample (devices write a
        // second record at a lap or pause boundary).
        self.samples.dedup_by_key(|s| s.time);
        self.samples = self.samples.into_iter().map(Sample::plausible).collect();
        if let Some(first) = self.samples.first() {
            self.start_time = self.start_time.min(first.time);
        }
        if self.start_time < earliest_start()
            || self.start_time
                > now + Duration::minutes(validation::START_TIME_FUTURE_SLACK_MINUTES)
        {
            return Err(FileRefusal::ImplausibleStart(self.start_time.to_rfc3339()));
        }
        let recorded = self
            .samples
            .last()
            .map(|last| (last.time - self.start_time).num_milliseconds() as f64 / 1000.0);
        if !self.elapsed_seconds.is_finite() || self.elapsed_seconds <= 0.0 {
            self.elapsed_seconds = recorded.unwrap_or(0.0);
        }
        let minutes = self.elapsed_seconds / 60.0;
        if !(1.0..=f64::from(*validation::DURATION_MINUTES.end())).contains(&minutes) {
            return Err(FileRefusal::ImplausibleDuration(format_duration(
                self.elapsed_seconds,
            )));
        }
        self.fill_distances();
        if self.distance_m.is_none_or(|d| !d.is_finite() || d <= 0.0) {
            self.distance_m = self.samples.iter().rev().find_map(|s| s.distance_m);
        }
        if let Some(d) = self.distance_m {
            if !d.is_finite() || d < 0.0 || d / 1000.0 > validation::DISTANCE_KM_MAX {
                return Err(FileRefusal::ImplausibleDistance(format!(
                    "{:.1}",
                    d / 1000.0
                )));
            }
        }
        self.timer_seconds = self
            .timer_seconds
            .filter(|t| t.is_finite() && *t > 0.0 && *t <= self.elapsed_seconds + 1.0);
        self.calories = self.calories.filter(|c| validation::CALORIES.contains(c));
        Ok(self)
    }

    /// Cumulative distance from the positions, for files that record only
    /// positions (most GPX); kept as recorded where the device measured it.
    fn fill_distances(&mut self) {
        if self.samples.iter().any(|s| s.distance_m.is_some()) {
            return;
        }
        let mut total = 0.0;
        let mut previous: Option<(f64, f64)> = None;
        let mut any = false;
        for sample in &mut self.samples {
            if let Some(here) = sample.position {
                if let Some(there) = previous {
                    total += haversine_m(there, here);
                }
                previous = Some(here);
                sample.distance_m = Some(total);
                any = true;
            }
        }
        if any && total > 0.0 && self.distance_m.is_none() {
            self.distance_m = Some(total);
        }
    }

    /// Mean and highest heart rate over the samples.
    pub fn heart_rate_summary(&self) -> Option<(u16, u16)> {
        let rates: Vec<u16> = self.samples.iter().filter_map(|s| s.heart_rate).collect();
        let max = *rates.iter().max()?;
        let mean = rates.iter().map(|r| u64::from(*r)).sum::<u64>() / rates.len() as u64;
        Some((mean as u16, max))
    }
}

/// Great-circle distance in metres (mean Earth radius).
pub fn haversine_m((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_371_008.8;
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let dphi = (lat2 - lat1).to_radians();
    let dlambda = (lon2 - lon1).to_radians();
    let a = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

fn format_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "an unknown time".into();
    }
    let total = seconds.round() as i64;
    format!("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recording(samples: Vec<Sample>) -> Recording {
        Recording {
            format: FileFormat::Gpx,
            sport: ActivityType::Running,
            original_sport: "running".into(),
            start_time: samples.first().map_or_else(Utc::now, |s| s.time),
            elapsed_seconds: 0.0,
            timer_seconds: None,
            distance_m: None,
            calories: None,
            utc_offset_seconds: None,
            device: None,
            samples,
            laps: vec![],
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 7, 0, 0)
            .single()
            .expect("test data")
            + Duration::seconds(seconds)
    }

    #[test]
    fn glitches_become_gaps_and_time_runs_forward() {
        let mut points: Vec<Sample> = (0..120)
            .map(|i| Sample {
                position: Some((51.5, -0.1 + f64::from(i) * 0.0001)),
                heart_rate: Some(140),
                ..Sample::at(at(i64::from(i)))
            })
            .collect();
        points[10].heart_rate = Some(0);
        points[11].heart_rate = Some(255);
        points[12].position = Some((0.0, 0.0));
        points.push(points[5]);
        points.swap(0, 50);
        let checked = recording(points).checked(at(3600)).expect("test data");
        assert_eq!(checked.samples.len(), 120);
        assert!(checked.samples.windows(2).all(|w| w[0].time < w[1].time));
        assert_eq!(checked.samples[10].heart_rate, None);
        assert_eq!(checked.samples[11].heart_rate, None);
        assert_eq!(checked.samples[12].position, None);
        assert_eq!(checked.elapsed_seconds, 119.0);
        // 119 steps of 0.0001° of longitude at 51.5° N, less the one gap's
        // detour: about 7 m each.
        let distance = checked.distance_m.expect("test data");
        assert!((820.0..=830.0).contains(&distance), "{distance}");
        assert_eq!(checked.heart_rate_summary(), Some((140, 140)));
    }

    #[test]
    fn what_no_workout_looks_like_is_refused_with_its_reason() {
        let short: Vec<Sample> = (0..30).map(|i| Sample::at(at(i))).collect();
        assert_eq!(
            recording(short).checked(at(3600)),
            Err(FileRefusal::ImplausibleDuration("0:00:29".into()))
        );
        let unset_clock = Utc
            .with_ymd_and_hms(1989, 12, 31, 0, 0, 0)
            .single()
            .expect("test data");
        let old: Vec<Sample> = (0..120)
            .map(|i| Sample::at(unset_clock + Duration::seconds(i)))
            .collect();
        assert!(matches!(
            recording(old).checked(at(0)),
            Err(FileRefusal::ImplausibleStart(_))
        ));
        let future: Vec<Sample> = (0..120).map(|i| Sample::at(at(3600 + i))).collect();
        assert!(matches!(
            recording(future).checked(at(0)),
            Err(FileRefusal::ImplausibleStart(_))
        ));
        let teleport = vec![
            Sample {
                position: Some((51.5, 0.0)),
                ..Sample::at(at(0))
            },
            Sample {
                position: Some((-51.5, 179.0)),
                ..Sample::at(at(600))
            },
        ];
        assert!(matches!(
            recording(teleport).checked(at(3600)),
            Err(FileRefusal::ImplausibleDistance(_))
        ));
        let many = vec![Sample::at(at(0)); MAX_SAMPLES + 1];
        assert_eq!(
            recording(many).checked(at(0)),
            Err(FileRefusal::TooManyPoints { limit: MAX_SAMPLES })
        );
    }
}
