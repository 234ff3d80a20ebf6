//! FIT (Garmin, Wahoo, Coros, Suunto, Zwift…), decoded by `fitparser`.
//!
//! A FIT activity file is a stream of messages: `record` (one per point),
//! `lap`, `session` (one per sport; several in a multi-sport file),
//! `activity`, and `file_id`, which says what kind of file it is. Each
//! session becomes one [`Recording`] with the records and laps of its time.

use std::collections::HashMap;

use chrono::{DateTime, Local, Offset, TimeZone, Utc};
use fitparser::{profile::MesgNum, FitDataRecord, Value};

use super::sport::activity_type_of;
use crate::domain::recording::{FileFormat, FileRefusal, Lap, Recording, Sample};

/// Semicircles (FIT's unit of latitude and longitude) to degrees.
const DEGREES_PER_SEMICIRCLE: f64 = 180.0 / 2_147_483_648.0;

/// The workouts of a FIT file: one per session.
pub fn read(bytes: &[u8]) -> Result<Vec<Recording>, FileRefusal> {
    let messages =
        fitparser::from_bytes(bytes).map_err(|e| FileRefusal::Damaged(first_line(&e)))?;
    let mut file_kind = None;
    let mut device = None;
    let mut samples = Vec::new();
    let mut laps = Vec::new();
    let mut sessions = Vec::new();
    let mut sports = Vec::new();
    let mut utc_offset_seconds = None;
    for message in &messages {
        let fields = Fields::of(message);
        match message.kind() {
            MesgNum::FileId => {
                file_kind = fields.text("type");
                let product = fields
                    .text("garmin_product")
                    .or_else(|| fields.text("product_name"))
                    .or_else(|| fields.text("product"));
                device = match (fields.text("manufacturer"), product) {
                    (Some(maker), Some(product)) => Some(format!("{maker} {product}")),
                    (maker, product) => maker.or(product),
                };
            }
            MesgNum::Record => {
                if let Some(sample) = sample_of(&fields) {
                    samples.push(sample);
                }
            }
            MesgNum::Lap => laps.extend(lap_of(&fields)),
            MesgNum::Session => sessions.extend(fields.time("start_time").map(|start| {
                (
                    start,
                    fields.number("total_elapsed_time"),
                    fields.number("total_timer_time"),
                    fields.number("total_distance"),
                    fields.number("total_calories"),
                    sport_name(&fields),
                )
            })),
            MesgNum::Sport => sports.push(sport_name(&fields)),
            MesgNum::Activity => utc_offset_seconds = local_offset(&fields),
            _ => {}
        }
    }
    if file_kind.as_deref().is_some_and(|kind| kind != "activity") {
        return Err(FileRefusal::NoWorkout);
    }
    if sessions.is_empty() {
        // A file cut short before its summary: one workout of every record.
        let Some(start) = samples.iter().map(|s| s.time).min() else {
            return Ok(vec![]);
        };
        let sport = sports.pop().unwrap_or_else(|| "generic".into());
        sessions.push((start, None, None, None, None, sport));
    }
    sessions.sort_by_key(|session| session.0);
    let starts: Vec<DateTime<Utc>> = sessions.iter().map(|s| s.0).collect();
    // Each record and lap belongs to the last session started by its time.
    let session_of =
        |time: DateTime<Utc>| starts.partition_point(|start| *start <= time).max(1) - 1;
    let mut by_session: HashMap<usize, (Vec<Sample>, Vec<Lap>)> = HashMap::new();
    for sample in samples {
        by_session
            .entry(session_of(sample.time))
            .or_default()
            .0
            .push(sample);
    }
    for lap in laps {
        by_session
            .entry(session_of(lap.start_time))
            .or_default()
            .1
            .push(lap);
    }
    Ok(sessions
        .into_iter()
        .enumerate()
        .map(
            |(index, (start, elapsed, timer, distance, calories, sport))| {
                let (samples, laps) = by_session.remove(&index).unwrap_or_default();
                Recording {
                    format: FileFormat::Fit,
                    sport: activity_type_of(&sport),
                    original_sport: sport,
                    start_time: start,
                    elapsed_seconds: elapsed.unwrap_or(0.0),
                    timer_seconds: timer,
                    distance_m: distance,
                    calories: calories.map(|c| c.round() as i32),
                    utc_offset_seconds,
                    device: device.clone(),
                    samples,
                    laps,
                }
            },
        )
        .collect())
}

/// A message's fields by name (what `fitparser` decoded, scaled to units).
struct Fields<'a>(HashMap<&'a str, &'a Value>);

impl<'a> Fields<'a> {
    fn of(message: &'a FitDataRecord) -> Self {
        Self(
            message
                .fields()
                .iter()
                .map(|field| (field.name(), field.value()))
                .collect(),
        )
    }

    fn number(&self, name: &str) -> Option<f64> {
        let value = match self.0.get(name)? {
            Value::Byte(v) | Value::Enum(v) | Value::UInt8(v) => f64::from(*v),
            Value::UInt8z(v) if *v != 0 => f64::from(*v),
            Value::SInt8(v) => f64::from(*v),
            Value::SInt16(v) => f64::from(*v),
            Value::UInt16(v) => f64::from(*v),
            Value::UInt16z(v) if *v != 0 => f64::from(*v),
            Value::SInt32(v) => f64::from(*v),
            Value::UInt32(v) => f64::from(*v),
            Value::UInt32z(v) if *v != 0 => f64::from(*v),
            Value::SInt64(v) => *v as f64,
            Value::UInt64(v) => *v as f64,
            Value::UInt64z(v) if *v != 0 => *v as f64,
            Value::Float32(v) => f64::from(*v),
            Value::Float64(v) => *v,
            _ => return None,
        };
        value.is_finite().then_some(value)
    }

    /// The first of several names that has a value (`enhanced_speed`, the
    /// 32-bit field newer devices write, before `speed`).
    fn first_number(&self, names: &[&str]) -> Option<f64> {
        names.iter().find_map(|name| self.number(name))
    }

    fn text(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(text) if !text.is_empty() => Some(text.clone()),
            other => self.number(name).map(|_| other.to_string()),
        }
    }

    fn time(&self, name: &str) -> Option<DateTime<Utc>> {
        match self.0.get(name)? {
            Value::Timestamp(time) => Some(time.with_timezone(&Utc)),
            _ => None,
        }
    }
}

fn sample_of(fields: &Fields<'_>) -> Option<Sample> {
    let position = match (
        fields.number("position_lat"),
        fields.number("position_long"),
    ) {
        (Some(lat), Some(lon)) => {
            Some((lat * DEGREES_PER_SEMICIRCLE, lon * DEGREES_PER_SEMICIRCLE))
        }
        _ => None,
    };
    let small = |names: &[&str]| {
        fields
            .first_number(names)
            .filter(|v| (0.0..=f64::from(u16::MAX)).contains(v))
            .map(|v| v.round() as u16)
    };
    Some(Sample {
        time: fields.time("timestamp")?,
        position,
        distance_m: fields.number("distance"),
        altitude_m: fields.first_number(&["enhanced_altitude", "altitude"]),
        speed_mps: fields.first_number(&["enhanced_speed", "speed"]),
        heart_rate: small(&["heart_rate"]),
        cadence: small(&["cadence"]),
        power_w: small(&["power"]),
    })
}

fn lap_of(fields: &Fields<'_>) -> Option<Lap> {
    let rate = |name: &str| fields.number(name).map(|v| v.round() as u16);
    Some(Lap {
        start_time: fields.time("start_time")?,
        elapsed_seconds: fields.number("total_elapsed_time")?,
        distance_m: fields.number("total_distance"),
        calories: fields.number("total_calories").map(|c| c.round() as i32),
        average_heart_rate: rate("avg_heart_rate"),
        max_heart_rate: rate("max_heart_rate"),
    })
}

/// `sport`, or `sport/sub_sport` where the sub-sport says more.
fn sport_name(fields: &Fields<'_>) -> String {
    let sport = fields.text("sport").unwrap_or_else(|| "generic".into());
    match fields.text("sub_sport") {
        Some(sub) if sub != "generic" && sub != "all" => format!("{sport}/{sub}"),
        _ => sport,
    }
}

/// The device's UTC offset from the activity message: `local_timestamp`
/// minus `timestamp`, to the quarter hour (devices write them a few seconds
/// apart). `fitparser` reads local times in this machine's zone, so that
/// zone's offset is added back.
fn local_offset(fields: &Fields<'_>) -> Option<i32> {
    let utc = fields.time("timestamp")?;
    let local = fields.time("local_timestamp")?;
    let reference = chrono::NaiveDate::from_ymd_opt(1989, 12, 31)?.and_hms_opt(0, 0, 0)?;
    let machine = Local
        .offset_from_local_datetime(&reference)
        .single()?
        .fix()
        .local_minus_utc();
    let seconds = (local - utc).num_seconds() + i64::from(machine);
    let quarters = (seconds as f64 / 900.0).round() as i64;
    let offset = i32::try_from(quarters * 900).ok()?;
    (offset.abs() <= 14 * 3600).then_some(offset)
}

fn first_line(error: &impl std::fmt::Display) -> String {
    let text = error.to_string();
    let line = text.lines().next().unwrap_or("unreadable").trim();
    line.chars().take(200).collect()
}
