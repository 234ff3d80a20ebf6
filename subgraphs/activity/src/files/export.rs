//! Writing an activity back out as a file other apps import: GPX (the
//! route, with heart rate, cadence and power in Garmin's extension) or TCX
//! (every point, with or without position, in laps). Written with
//! `quick-xml`, so text is escaped by the writer, and read back by this
//! crate's own readers in the tests.

use std::io::Cursor;

use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::{events::BytesText, Writer};

use crate::domain::{
    model::{Activity, ActivityType},
    recording::{Lap, Sample, StoredRecording},
};

type Xml = Writer<Cursor<Vec<u8>>>;
type Written = std::io::Result<()>;

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn text(writer: &mut Xml, name: &str, value: &str) -> Written {
    writer
        .create_element(name)
        .write_text_content(BytesText::new(value))?;
    Ok(())
}

fn finish(writer: Xml) -> Vec<u8> {
    let mut bytes = br#"<?xml version="1.0" encoding="UTF-8"?>"#.to_vec();
    bytes.push(b'\n');
    bytes.extend(writer.into_inner().into_inner());
    bytes
}

/// The activity as GPX 1.1: one track of the points that have a position
/// (GPX has no place for the others).
pub fn gpx(activity: &Activity, recording: &StoredRecording) -> std::io::Result<Vec<u8>> {
    let mut writer = Writer::new_with_indent(Cursor::new(Vec::new()), b' ', 1);
    writer
        .create_element("gpx")
        .with_attributes([
            ("version", "1.1"),
            ("creator", "FitTrack"),
            ("xmlns", "http://www.topografix.com/GPX/1/1"),
            (
                "xmlns:gpxtpx",
                "http://www.garmin.com/xmlschemas/TrackPointExtension/v1",
            ),
        ])
        .write_inner_content(|w| {
            w.create_element("metadata")
                .write_inner_content(|w| text(w, "time", &time(activity.start_time)))?;
            w.create_element("trk").write_inner_content(|w| {
                text(w, "name", &title(activity))?;
                text(w, "type", &recording.summary.original_sport)?;
                w.create_element("trkseg").write_inner_content(|w| {
                    for sample in recording.samples.iter() {
                        if let Some((lat, lon)) = sample.position {
                            gpx_point(w, sample, lat, lon)?;
                        }
                    }
                    Ok(())
                })?;
                Ok(())
            })?;
            Ok(())
        })?;
    Ok(finish(writer))
}

fn gpx_point(w: &mut Xml, sample: &Sample, lat: f64, lon: f64) -> Written {
    w.create_element("trkpt")
        .with_attributes([
            ("lat", format!("{lat:.7}").as_str()),
            ("lon", format!("{lon:.7}").as_str()),
        ])
        .write_inner_content(|w| {
            if let Some(altitude) = sample.altitude_m {
                text(w, "ele", &format!("{altitude:.1}"))?;
            }
            text(w, "time", &time(sample.time))?;
            if sample.heart_rate.is_some() || sample.cadence.is_some() || sample.power_w.is_some() {
                w.create_element("extensions").write_inner_content(|w| {
                    if let Some(power) = sample.power_w {
                        text(w, "power", &power.to_string())?;
                    }
                    if sample.heart_rate.is_some() || sample.cadence.is_some() {
                        w.create_element("gpxtpx:TrackPointExtension")
                            .write_inner_content(|w| {
                                if let Some(hr) = sample.heart_rate {
                                    text(w, "gpxtpx:hr", &hr.to_string())?;
                                }
                                if let Some(cadence) = sample.cadence {
                                    text(w, "gpxtpx:cad", &cadence.to_string())?;
                                }
                                Ok(())
                            })?;
                    }
                    Ok(())
                })?;
            }
            Ok(())
        })?;
    Ok(())
}

/// The activity as TCX: its laps (one for the whole workout if the file
/// had none), each with the points recorded during it.
pub fn tcx(activity: &Activity, recording: &StoredRecording) -> std::io::Result<Vec<u8>> {
    let laps = if recording.summary.laps.is_empty() {
        vec![Lap {
            start_time: activity.start_time,
            elapsed_seconds: recording.summary.elapsed_seconds,
            distance_m: recording.summary.distance_m,
            calories: Some(activity.calories_burned),
            average_heart_rate: None,
            max_heart_rate: None,
        }]
    } else {
        recording.summary.laps.clone()
    };
    let sport = match activity.activity_type {
        ActivityType::Running => "Running",
        ActivityType::Cycling => "Biking",
        _ => "Other",
    };
    let mut writer = Writer::new_with_indent(Cursor::new(Vec::new()), b' ', 1);
    writer
        .create_element("TrainingCenterDatabase")
        .with_attributes([
            (
                "xmlns",
                "http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2",
            ),
            (
                "xmlns:ns3",
                "http://www.garmin.com/xmlschemas/ActivityExtension/v2",
            ),
        ])
        .write_inner_content(|w| {
            w.create_element("Activities").write_inner_content(|w| {
                w.create_element("Activity")
                    .with_attribute(("Sport", sport))
                    .write_inner_content(|w| {
                        text(w, "Id", &time(activity.start_time))?;
                        for (index, lap) in laps.iter().enumerate() {
                            let end = laps.get(index + 1).map(|next| next.start_time);
                            let points = recording.samples.iter().filter(|s| {
                                (index == 0 || s.time >= lap.start_time)
                                    && end.is_none_or(|end| s.time < end)
                            });
                            tcx_lap(w, lap, points)?;
                        }
                        Ok(())
                    })?;
                Ok(())
            })?;
            Ok(())
        })?;
    Ok(finish(writer))
}

fn tcx_lap<'s>(w: &mut Xml, lap: &Lap, points: impl Iterator<Item = &'s Sample>) -> Written {
    w.create_element("Lap")
        .with_attribute(("StartTime", time(lap.start_time).as_str()))
        .write_inner_content(|w| {
            text(
                w,
                "TotalTimeSeconds",
                &format!("{:.3}", lap.elapsed_seconds),
            )?;
            text(
                w,
                "DistanceMeters",
                &format!("{:.2}", lap.distance_m.unwrap_or(0.0)),
            )?;
            text(w, "Calories", &lap.calories.unwrap_or(0).max(0).to_string())?;
            for (name, rate) in [
                ("AverageHeartRateBpm", lap.average_heart_rate),
                ("MaximumHeartRateBpm", lap.max_heart_rate),
            ] {
                if let Some(rate) = rate {
                    w.create_element(name)
                        .write_inner_content(|w| text(w, "Value", &rate.to_string()))?;
                }
            }
            text(w, "Intensity", "Active")?;
            text(w, "TriggerMethod", "Manual")?;
            w.create_element("Track").write_inner_content(|w| {
                for sample in points {
                    tcx_point(w, sample)?;
                }
                Ok(())
            })?;
            Ok(())
        })?;
    Ok(())
}

fn tcx_point(w: &mut Xml, sample: &Sample) -> Written {
    w.create_element("Trackpoint").write_inner_content(|w| {
        text(w, "Time", &time(sample.time))?;
        if let Some((lat, lon)) = sample.position {
            w.create_element("Position").write_inner_content(|w| {
                text(w, "LatitudeDegrees", &format!("{lat:.7}"))?;
                text(w, "LongitudeDegrees", &format!("{lon:.7}"))
            })?;
        }
        if let Some(altitude) = sample.altitude_m {
            text(w, "AltitudeMeters", &format!("{altitude:.2}"))?;
        }
        if let Some(distance) = sample.distance_m {
            text(w, "DistanceMeters", &format!("{distance:.2}"))?;
        }
        if let Some(hr) = sample.heart_rate {
            w.create_element("HeartRateBpm")
                .write_inner_content(|w| text(w, "Value", &hr.to_string()))?;
        }
        if let Some(cadence) = sample.cadence {
            text(w, "Cadence", &cadence.to_string())?;
        }
        if sample.speed_mps.is_some() || sample.power_w.is_some() {
            w.create_element("Extensions").write_inner_content(|w| {
                w.create_element("ns3:TPX").write_inner_content(|w| {
                    if let Some(speed) = sample.speed_mps {
                        text(w, "ns3:Speed", &format!("{speed:.3}"))?;
                    }
                    if let Some(power) = sample.power_w {
                        text(w, "ns3:Watts", &power.to_string())?;
                    }
                    Ok(())
                })?;
                Ok(())
            })?;
        }
        Ok(())
    })?;
    Ok(())
}

fn title(activity: &Activity) -> String {
    match &activity.notes {
        Some(notes) => notes.chars().take(100).collect(),
        None => format!(
            "{} {}",
            activity.activity_type.as_str().to_ascii_lowercase(),
            activity.start_time.format("%Y-%m-%d")
        ),
    }
}
