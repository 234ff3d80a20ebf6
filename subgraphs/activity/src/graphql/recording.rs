//! What a file recorded for an activity, as the API shows it: its source,
//! laps, splits, elevation, route and streams (`domain::analysis`).
//! Loaded once per request per activity ([`RecordingLoader`]).

use std::{collections::HashMap, sync::Arc};

use async_graphql::{dataloader::DataLoader, Context, Enum, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::internal;
use crate::domain::{
    analysis::{self, StreamResolution, StreamType},
    ports::ActivityStore,
    recording::{FileFormat, StoredRecording},
};

/// Recordings by activity id.
pub struct RecordingLoader(pub Arc<dyn ActivityStore>);

impl async_graphql::dataloader::Loader<Uuid> for RecordingLoader {
    type Value = Arc<StoredRecording>;
    type Error = Arc<anyhow::Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let found = self.0.recordings(keys).await.map_err(Arc::new)?;
        Ok(found.into_iter().map(|(id, r)| (id, Arc::new(r))).collect())
    }
}

/// The recording of an activity, if it has one.
pub async fn load(
    ctx: &Context<'_>,
    activity: Uuid,
) -> async_graphql::Result<Option<Arc<StoredRecording>>> {
    Ok(ctx
        .data::<DataLoader<RecordingLoader>>()?
        .load_one(activity)
        .await
        .map_err(internal)?)
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "FileFormat")]
pub enum FileFormatObject {
    Fit,
    Gpx,
    Tcx,
}

impl From<FileFormat> for FileFormatObject {
    fn from(format: FileFormat) -> Self {
        match format {
            FileFormat::Fit => Self::Fit,
            FileFormat::Gpx => Self::Gpx,
            FileFormat::Tcx => Self::Tcx,
        }
    }
}

/// Where an imported workout came from.
#[derive(SimpleObject)]
#[graphql(name = "ActivitySource")]
pub struct ActivitySource {
    pub format: FileFormatObject,
    /// The file's own name for the sport (`running/trail`, `Biking`).
    pub original_sport: String,
    /// What recorded it (`garmin fenix5`), where the file says.
    pub device: Option<String>,
    /// The device's UTC offset at the time, where the file says.
    pub utc_offset_minutes: Option<i32>,
    /// Start to end, pauses included.
    pub elapsed_seconds: f64,
    /// Time the device's timer ran (pauses excluded), where the file says.
    pub moving_seconds: Option<f64>,
    /// Points recorded.
    pub points: i32,
    /// SHA-256 of the file, as unpacked.
    pub file_sha256: String,
}

impl ActivitySource {
    pub fn of(recording: &StoredRecording) -> Self {
        let summary = &recording.summary;
        Self {
            format: summary.format.into(),
            original_sport: summary.original_sport.clone(),
            device: summary.device.clone(),
            utc_offset_minutes: summary.utc_offset_seconds.map(|s| s / 60),
            elapsed_seconds: summary.elapsed_seconds,
            moving_seconds: summary.timer_seconds,
            points: i32::try_from(recording.samples.len()).unwrap_or(i32::MAX),
            file_sha256: summary.file_sha256.clone(),
        }
    }
}

/// A lap as the device split it.
#[derive(SimpleObject)]
pub struct Lap {
    pub start_time: DateTime<Utc>,
    pub elapsed_seconds: f64,
    pub distance_metres: Option<f64>,
    pub calories: Option<i32>,
    pub average_heart_rate: Option<i32>,
    pub max_heart_rate: Option<i32>,
}

pub fn laps(recording: &StoredRecording) -> Vec<Lap> {
    recording
        .summary
        .laps
        .iter()
        .map(|lap| Lap {
            start_time: lap.start_time,
            elapsed_seconds: lap.elapsed_seconds,
            distance_metres: lap.distance_m,
            calories: lap.calories,
            average_heart_rate: lap.average_heart_rate.map(i32::from),
            max_heart_rate: lap.max_heart_rate.map(i32::from),
        })
        .collect()
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum SplitUnit {
    #[default]
    Kilometre,
    Mile,
}

/// A kilometre or a mile of a workout (the last may be shorter).
#[derive(SimpleObject)]
pub struct Split {
    /// 1-based.
    pub number: i32,
    pub distance_metres: f64,
    pub elapsed_seconds: f64,
    /// Seconds per kilometre, whatever the unit (clients format it).
    pub pace_seconds_per_km: Option<f64>,
    pub average_heart_rate: Option<f64>,
    pub elevation_gain_metres: Option<f64>,
    pub elevation_loss_metres: Option<f64>,
}

pub fn splits(recording: &StoredRecording, unit: SplitUnit) -> Vec<Split> {
    let unit_m = match unit {
        SplitUnit::Kilometre => analysis::KILOMETRE_M,
        SplitUnit::Mile => analysis::MILE_M,
    };
    analysis::splits(&recording.samples, unit_m)
        .into_iter()
        .map(|split| Split {
            number: i32::try_from(split.number).unwrap_or(i32::MAX),
            distance_metres: split.distance_m,
            elapsed_seconds: split.elapsed_seconds,
            pace_seconds_per_km: split.pace_seconds_per_km(),
            average_heart_rate: split.average_heart_rate,
            elevation_gain_metres: split.elevation_gain_m,
            elevation_loss_metres: split.elevation_loss_m,
        })
        .collect()
}

/// One channel of a recording, thinned to the resolution asked for; the
/// streams of one request share their points, so index `i` of each is the
/// same moment.
#[derive(SimpleObject)]
pub struct ActivityStream {
    #[graphql(name = "type")]
    pub stream_type: StreamType,
    /// SI units (see `StreamType`); `null` where nothing was recorded.
    pub data: Vec<Option<f64>>,
}

pub fn streams(
    recording: &StoredRecording,
    types: &[StreamType],
    resolution: StreamResolution,
) -> Vec<ActivityStream> {
    let points = analysis::thin(&recording.samples, resolution.max_points());
    let mut seen = Vec::new();
    types
        .iter()
        .filter(|t| {
            let first = !seen.contains(*t);
            seen.push(**t);
            first
        })
        .map(|t| ActivityStream {
            stream_type: *t,
            data: analysis::stream(&points, *t),
        })
        // A channel the device did not record is left out.
        .filter(|s| s.data.iter().any(Option::is_some))
        .collect()
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// GPX 1.1: the route, with heart rate, cadence and power.
    Gpx,
    /// TCX: every point, in laps.
    Tcx,
}

/// The file a workout was imported from, byte for byte.
#[derive(SimpleObject)]
pub struct OriginalFileObject {
    /// Its name in the upload (a path, for a file from a zip).
    pub file_name: String,
    pub format: FileFormatObject,
    /// Bytes.
    pub size: i32,
    /// The file, base64 (standard alphabet, padded): FIT is binary.
    pub content_base64: String,
}

impl From<crate::domain::recording::OriginalFile> for OriginalFileObject {
    fn from(file: crate::domain::recording::OriginalFile) -> Self {
        use base64::Engine as _;
        Self {
            file_name: file.name,
            format: file.format.into(),
            // At most 25 MB (files::MAX_FILE_BYTES): fits.
            size: i32::try_from(file.bytes.len()).unwrap_or(i32::MAX),
            content_base64: base64::engine::general_purpose::STANDARD.encode(&file.bytes),
        }
    }
}

/// A file to save: an activity written out for another app.
#[derive(SimpleObject)]
pub struct ExportedFile {
    /// A name to save it under (`running-2024-05-01.gpx`).
    pub file_name: String,
    pub content_type: String,
    /// The file itself (XML text).
    pub content: String,
}

pub fn export(
    activity: &crate::domain::model::Activity,
    recording: &StoredRecording,
    format: ExportFormat,
) -> anyhow::Result<ExportedFile> {
    let (bytes, extension, content_type) = match format {
        ExportFormat::Gpx => (
            crate::files::export::gpx(activity, recording)?,
            "gpx",
            "application/gpx+xml",
        ),
        ExportFormat::Tcx => (
            crate::files::export::tcx(activity, recording)?,
            "tcx",
            "application/vnd.garmin.tcx+xml",
        ),
    };
    Ok(ExportedFile {
        file_name: format!(
            "{}-{}.{extension}",
            activity.activity_type.as_str().to_ascii_lowercase(),
            activity.start_time.format("%Y-%m-%d-%H%M")
        ),
        content_type: content_type.into(),
        content: String::from_utf8(bytes)?,
    })
}

/// Time spent in one heart-rate zone.
#[derive(SimpleObject)]
pub struct HeartRateZone {
    /// 1 (easy) to 5 (maximal).
    pub zone: i32,
    pub min_bpm: f64,
    pub max_bpm: f64,
    pub seconds: f64,
}

pub fn heart_rate_zones(
    recording: &StoredRecording,
    zones: &[(f64, f64); 5],
) -> Vec<HeartRateZone> {
    let seconds = analysis::time_in_zones(&recording.samples, zones);
    zones
        .iter()
        .zip(seconds)
        .enumerate()
        .map(|(index, ((low, high), seconds))| HeartRateZone {
            zone: index as i32 + 1,
            min_bpm: *low,
            max_bpm: *high,
            seconds,
        })
        .collect()
}
