//! GPX and TCX, read with `roxmltree` (a conforming XML parser that refuses
//! DTDs, so no entity expansion, and whose node count we cap).
//!
//! The `gpx` crate was the first choice for GPX, but 0.10 discards
//! `<extensions>` (its parser says "extensions are not implemented"), and
//! that is where Garmin, Wahoo and Strava write heart rate, cadence and
//! power. One XML parser for both formats keeps the same limits on both.
//!
//! Elements are matched by local name, whatever their namespace prefix:
//! exporters disagree on prefixes (`ns3:hr`, `gpxtpx:hr`) but not on names.

use chrono::{DateTime, Utc};
use roxmltree::{Document, Node, ParsingOptions};

use super::sport::activity_type_of;
use crate::domain::recording::{FileFormat, FileRefusal, Lap, Recording, Sample};

/// More nodes than a 25 MB file of real points holds (a TCX point is about
/// 15 nodes in 400 bytes); past it a file is built to exhaust memory.
const NODES_LIMIT: u32 = 2_000_000;

fn parse(bytes: &[u8]) -> Result<Document<'_>, FileRefusal> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| FileRefusal::Damaged("the XML is not UTF-8".into()))?;
    Document::parse_with_options(
        text,
        ParsingOptions {
            allow_dtd: false,
            nodes_limit: NODES_LIMIT,
            ..ParsingOptions::default()
        },
    )
    .map_err(|e| FileRefusal::Damaged(e.to_string()))
}

fn named<'a, 'i>(node: Node<'a, 'i>, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(move |child| child.is_element() && child.tag_name().name() == name)
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &'static str) -> Option<Node<'a, 'i>> {
    named(node, name).next()
}

fn text_of<'a>(node: Node<'a, '_>) -> Option<&'a str> {
    node.text().map(str::trim).filter(|t| !t.is_empty())
}

fn child_text<'a>(node: Node<'a, '_>, name: &'static str) -> Option<&'a str> {
    child(node, name).and_then(text_of)
}

fn number(text: Option<&str>) -> Option<f64> {
    text?.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A whole number that fits a sample's `u16` (heart rate, cadence, power).
fn small(value: Option<f64>) -> Option<u16> {
    value
        .filter(|v| (0.0..=f64::from(u16::MAX)).contains(v))
        .map(|v| v.round() as u16)
}

fn time(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The first descendant element with one of these local names.
fn descendant_number(node: Node<'_, '_>, names: &[&str]) -> Option<f64> {
    node.descendants()
        .find(|n| n.is_element() && names.contains(&n.tag_name().name()))
        .and_then(|n| number(text_of(n)))
}

/// Every track of a GPX file with times, as a workout. Tracks without
/// times are routes (planned, not recorded) and are left out.
pub fn read_gpx(bytes: &[u8]) -> Result<Vec<Recording>, FileRefusal> {
    let document = parse(bytes)?;
    let root = document.root_element();
    let creator = root.attribute("creator").map(str::to_owned);
    let mut untimed = false;
    let mut recordings = Vec::new();
    for track in named(root, "trk") {
        let sport = child_text(track, "type").unwrap_or("generic").to_owned();
        let mut samples = Vec::new();
        for point in named(track, "trkseg").flat_map(|segment| named(segment, "trkpt")) {
            let Some(at) = time(child_text(point, "time")) else {
                untimed = true;
                continue;
            };
            let position = match (
                number(point.attribute("lat")),
                number(point.attribute("lon")),
            ) {
                (Some(lat), Some(lon)) => Some((lat, lon)),
                _ => None,
            };
            let extensions = child(point, "extensions");
            let extension = |names: &[&str]| extensions.and_then(|e| descendant_number(e, names));
            samples.push(Sample {
                time: at,
                position,
                distance_m: extension(&["distance"]),
                altitude_m: number(child_text(point, "ele")),
                speed_mps: extension(&["speed"]),
                heart_rate: small(extension(&["hr", "heartrate"])),
                cadence: small(extension(&["cad", "cadence"])),
                power_w: small(extension(&["power", "PowerInWatts"])),
            });
        }
        let Some(start) = samples.iter().map(|s| s.time).min() else {
            continue;
        };
        recordings.push(Recording {
            format: FileFormat::Gpx,
            sport: activity_type_of(&sport),
            original_sport: sport,
            start_time: start,
            elapsed_seconds: 0.0,
            timer_seconds: None,
            distance_m: None,
            calories: None,
            utc_offset_seconds: None,
            device: creator.clone(),
            samples,
            laps: vec![],
        });
    }
    if recordings.is_empty() && untimed {
        return Err(FileRefusal::NoStartTime);
    }
    Ok(recordings)
}

/// Every `Activity` of a TCX file, with its laps.
pub fn read_tcx(bytes: &[u8]) -> Result<Vec<Recording>, FileRefusal> {
    let document = parse(bytes)?;
    let root = document.root_element();
    let mut recordings = Vec::new();
    for activities in named(root, "Activities") {
        for activity in named(activities, "Activity") {
            recordings.push(tcx_activity(activity)?);
        }
    }
    Ok(recordings)
}

fn tcx_activity(activity: Node<'_, '_>) -> Result<Recording, FileRefusal> {
    let sport = activity.attribute("Sport").unwrap_or("Other").to_owned();
    let mut samples = Vec::new();
    let mut laps = Vec::new();
    for lap in named(activity, "Lap") {
        let rate = |name| small(child(lap, name).and_then(|n| number(child_text(n, "Value"))));
        let start = time(lap.attribute("StartTime"));
        if let Some(start_time) = start {
            laps.push(Lap {
                start_time,
                elapsed_seconds: number(child_text(lap, "TotalTimeSeconds")).unwrap_or(0.0),
                distance_m: number(child_text(lap, "DistanceMeters")),
                calories: number(child_text(lap, "Calories")).map(|c| c.round() as i32),
                average_heart_rate: rate("AverageHeartRateBpm"),
                max_heart_rate: rate("MaximumHeartRateBpm"),
            });
        }
        for point in named(lap, "Track").flat_map(|track| named(track, "Trackpoint")) {
            let Some(at) = time(child_text(point, "Time")) else {
                continue;
            };
            let position = child(point, "Position").and_then(|p| {
                Some((
                    number(child_text(p, "LatitudeDegrees"))?,
                    number(child_text(p, "LongitudeDegrees"))?,
                ))
            });
            let extensions = child(point, "Extensions");
            let extension = |names: &[&str]| extensions.and_then(|e| descendant_number(e, names));
            samples.push(Sample {
                time: at,
                position,
                distance_m: number(child_text(point, "DistanceMeters")),
                altitude_m: number(child_text(point, "AltitudeMeters")),
                speed_mps: extension(&["Speed"]),
                heart_rate: small(
                    child(point, "HeartRateBpm").and_then(|n| number(child_text(n, "Value"))),
                ),
                cadence: small(
                    number(child_text(point, "Cadence")).or_else(|| extension(&["RunCadence"])),
                ),
                power_w: small(extension(&["Watts"])),
            });
        }
    }
    let start = time(child_text(activity, "Id"))
        .into_iter()
        .chain(laps.first().map(|l| l.start_time))
        .chain(samples.first().map(|s| s.time))
        .min()
        .ok_or(FileRefusal::NoStartTime)?;
    let end = laps
        .iter()
        .map(|lap| {
            lap.start_time + chrono::Duration::milliseconds((lap.elapsed_seconds * 1000.0) as i64)
        })
        .chain(samples.iter().map(|s| s.time))
        .max()
        .unwrap_or(start);
    let sum = |values: Vec<Option<f64>>| -> Option<f64> {
        let present: Vec<f64> = values.into_iter().flatten().collect();
        (!present.is_empty()).then(|| present.iter().sum())
    };
    let timer = sum(laps.iter().map(|l| Some(l.elapsed_seconds)).collect());
    let distance = sum(laps.iter().map(|l| l.distance_m).collect());
    let calories = sum(laps.iter().map(|l| l.calories.map(f64::from)).collect());
    let device = child(activity, "Creator").and_then(|c| child_text(c, "Name"));
    Ok(Recording {
        format: FileFormat::Tcx,
        sport: activity_type_of(&sport),
        original_sport: sport,
        start_time: start,
        elapsed_seconds: (end - start).num_milliseconds() as f64 / 1000.0,
        timer_seconds: timer,
        distance_m: distance,
        calories: calories.map(|c| c.round() as i32),
        utc_offset_seconds: None,
        device: device.map(str::to_owned),
        samples,
        laps,
    })
}
