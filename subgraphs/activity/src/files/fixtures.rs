//! The real files of `tests/fixtures/import` (see its SOURCES.md), read
//! end to end: what a user importing them would see.

use chrono::{TimeZone, Utc};

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/import/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("test data")
}

/// The one workout of a fixture.
fn workout(name: &str) -> Recording {
    let mut workouts = read(&fixture(name), now()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(workouts.len(), 1, "{name}");
    workouts.remove(0).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn count(
    recording: &Recording,
    present: impl Fn(&crate::domain::recording::Sample) -> bool,
) -> usize {
    recording.samples.iter().filter(|s| present(s)).count()
}

#[test]
fn a_fit_ride_indoors_has_power_laps_and_the_device_s_time_zone() {
    let ride = workout("hrv-activity.fit");
    assert_eq!(ride.format, FileFormat::Fit);
    assert_eq!(ride.sport, crate::domain::model::ActivityType::Cycling);
    assert_eq!(ride.original_sport, "cycling/indoor_cycling");
    assert_eq!(
        ride.start_time,
        Utc.with_ymd_and_hms(2022, 2, 7, 16, 47, 52)
            .single()
            .expect("test data")
    );
    assert_eq!(ride.elapsed_seconds, 1072.488);
    assert_eq!(ride.timer_seconds, Some(1071.188));
    assert_eq!(ride.distance_m, Some(6873.6));
    assert_eq!(ride.calories, Some(216));
    assert_eq!(ride.utc_offset_seconds, Some(3600));
    assert_eq!(ride.device.as_deref(), Some("garmin edge_530"));
    assert_eq!(ride.samples.len(), 1072);
    assert_eq!(ride.laps.len(), 15);
    assert_eq!(ride.heart_rate_summary(), Some((155, 185)));
    assert_eq!(count(&ride, |s| s.position.is_some()), 0, "indoors: no GPS");
    assert_eq!(count(&ride, |s| s.power_w.is_some()), 1071);
}

#[test]
fn a_fit_ride_outdoors_has_its_route() {
    let ride = workout("garmin-fenix-5-bike.fit");
    assert_eq!(ride.original_sport, "cycling");
    assert_eq!(
        ride.utc_offset_seconds,
        Some(-7 * 3600),
        "California in June"
    );
    assert_eq!(ride.device.as_deref(), Some("garmin fenix5"));
    assert_eq!(ride.samples.len(), 19);
    assert_eq!(count(&ride, |s| s.position.is_some()), 19);
    let (lat, lon) = ride.samples[0].position.expect("test data");
    assert!((lat - 37.4113).abs() < 1e-3 && (lon + 122.0691).abs() < 1e-3);
    assert_eq!(ride.distance_m, Some(459.52));
}

#[test]
fn a_gpx_run_keeps_heart_rate_and_cadence_from_its_extensions() {
    let run = workout("garmin-activity.gpx");
    assert_eq!(run.format, FileFormat::Gpx);
    assert_eq!(run.sport, crate::domain::model::ActivityType::Running);
    assert_eq!(
        run.start_time,
        Utc.with_ymd_and_hms(2017, 7, 29, 14, 46, 35)
            .single()
            .expect("test data")
    );
    assert_eq!(run.elapsed_seconds, 5498.0);
    assert_eq!(run.samples.len(), 988);
    assert_eq!(count(&run, |s| s.heart_rate.is_some()), 988);
    assert_eq!(count(&run, |s| s.cadence.is_some()), 988);
    assert_eq!(run.heart_rate_summary(), Some((145, 171)));
    // GPX has no distance: it is measured along the positions.
    let distance = run.distance_m.expect("test data");
    assert!((12_800.0..12_850.0).contains(&distance), "{distance}");
}

#[test]
fn tcx_files_give_runs_rides_with_power_and_sessions_without_gps() {
    let run = workout("20210119_run_garmin_fenix6.tcx");
    assert_eq!(
        (run.format, run.original_sport.as_str()),
        (FileFormat::Tcx, "Running")
    );
    assert_eq!(run.distance_m, Some(5124.84));
    assert_eq!(run.calories, Some(268));
    assert_eq!(run.device.as_deref(), Some("fenix 6 Sapphire"));
    assert_eq!(run.samples.len(), 1232);
    assert_eq!(run.laps.len(), 1);
    assert_eq!(run.heart_rate_summary(), Some((156, 189)));

    let ride = workout("20210308_virtual_ride_with_power.tcx");
    assert_eq!(ride.sport, crate::domain::model::ActivityType::Cycling);
    assert_eq!(ride.original_sport, "Biking");
    assert_eq!(count(&ride, |s| s.power_w.is_some()), 1434);
    assert_eq!(ride.samples[1].power_w, Some(233));

    let yoga = workout("20210323_yoga.tcx");
    assert_eq!(yoga.original_sport, "Other");
    assert_eq!(yoga.distance_m, None);
    assert_eq!(count(&yoga, |s| s.position.is_some()), 0);
    assert_eq!(yoga.heart_rate_summary(), Some((68, 93)));
}

#[test]
fn files_that_hold_no_workout_say_why() {
    let refused = |name: &str| match read(&fixture(name), now()) {
        Err(refusal) => refusal.to_string(),
        Ok(workouts) => match workouts.as_slice() {
            [Err(refusal)] => refusal.to_string(),
            other => panic!("{name}: {other:?}"),
        },
    };
    assert_eq!(refused("Settings.fit"), "the file holds no workout");
    assert_eq!(
        refused("strava_route_example.gpx"),
        "the workout has no start time"
    );
    assert_eq!(
        refused("Activity.fit"),
        "the workout lasts 0:00:14; imports take 1 minute to 24 hours"
    );
    assert_eq!(
        refused("wahoo_example.gpx"),
        "the workout lasts 0:00:02; imports take 1 minute to 24 hours"
    );
    let mut cut = fixture("hrv-activity.fit");
    cut.truncate(cut.len() / 2);
    assert!(refused_bytes(&cut).starts_with("the file is damaged or cut short"));
    let mut cut = fixture("garmin-activity.gpx");
    cut.truncate(cut.len() / 2);
    assert!(refused_bytes(&cut).starts_with("the file is damaged or cut short"));
    assert_eq!(
        refused_bytes(b"\x89PNG\r\n\x1a\n"),
        "not a FIT, GPX or TCX file"
    );
    // Entities are how an XML bomb expands; a DTD is refused outright.
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><gpx>&b;</gpx>"#;
    assert!(refused_bytes(bomb.as_bytes()).starts_with("the file is damaged or cut short"));
}

fn refused_bytes(bytes: &[u8]) -> String {
    match read(bytes, now()) {
        Err(refusal) => refusal.to_string(),
        Ok(workouts) => panic!("read: {workouts:?}"),
    }
}

/// A TCX file of our own: a multi-sport race (a run, a ride, and a
/// 30-second transition between them that is too short to import).
fn multisport() -> String {
    let activity = |sport: &str, start: &str, seconds: u32| {
        let points: String = (0..=seconds)
            .step_by(10)
            .map(|s| {
                let at = chrono::DateTime::parse_from_rfc3339(start).expect("test data")
                    + chrono::Duration::seconds(i64::from(s));
                format!(
                    "<Trackpoint><Time>{}</Time><HeartRateBpm><Value>150</Value></HeartRateBpm></Trackpoint>",
                    at.to_rfc3339()
                )
            })
            .collect();
        format!(
            r#"<Activity Sport="{sport}"><Id>{start}</Id><Lap StartTime="{start}"><TotalTimeSeconds>{seconds}</TotalTimeSeconds><Track>{points}</Track></Lap></Activity>"#
        )
    };
    format!(
        r#"<?xml version="1.0"?><TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"><Activities>{}{}{}</Activities></TrainingCenterDatabase>"#,
        activity("Running", "2024-05-01T07:00:00Z", 1200),
        activity("Other", "2024-05-01T07:20:00Z", 30),
        activity("Biking", "2024-05-01T07:20:30Z", 3600),
    )
}

#[test]
fn a_multisport_file_gives_each_leg_and_refuses_only_the_transition() {
    let legs = read(multisport().as_bytes(), now()).expect("test data");
    assert_eq!(legs.len(), 3);
    let run = legs[0].as_ref().expect("test data");
    assert_eq!(
        (run.sport, run.elapsed_seconds),
        (crate::domain::model::ActivityType::Running, 1200.0)
    );
    assert!(matches!(legs[1], Err(FileRefusal::ImplausibleDuration(_))));
    let ride = legs[2].as_ref().expect("test data");
    assert_eq!(
        (ride.sport, ride.elapsed_seconds),
        (crate::domain::model::ActivityType::Cycling, 3600.0)
    );
}

#[test]
fn a_pause_counts_in_the_elapsed_time() {
    // Two segments an hour apart: the watch was paused for lunch.
    let point =
        |at: &str, lon: f64| format!(r#"<trkpt lat="46.5" lon="{lon}"><time>{at}</time></trkpt>"#);
    let gpx = format!(
        r#"<gpx version="1.1"><trk><type>hiking</type><trkseg>{}{}</trkseg><trkseg>{}{}</trkseg></trk></gpx>"#,
        point("2024-05-01T09:00:00Z", 7.0),
        point("2024-05-01T10:00:00Z", 7.05),
        point("2024-05-01T11:00:00Z", 7.05),
        point("2024-05-01T12:00:00Z", 7.1),
    );
    let hike = read(gpx.as_bytes(), now())
        .expect("test data")
        .remove(0)
        .expect("test data");
    assert_eq!(hike.sport, crate::domain::model::ActivityType::Hiking);
    assert_eq!(hike.elapsed_seconds, 3.0 * 3600.0);
    // 0.1° of longitude at 46.5° N.
    let distance = hike.distance_m.expect("test data");
    assert!((7_600.0..7_700.0).contains(&distance), "{distance}");
}

/// An activity as an import would store this recording.
fn activity_of(recording: &Recording) -> crate::domain::model::Activity {
    crate::domain::model::Activity {
        id: uuid::Uuid::now_v7(),
        user_id: uuid::Uuid::new_v4(),
        activity_type: recording.sport,
        duration_minutes: (recording.elapsed_seconds / 60.0).round() as i32,
        calories_burned: recording.calories.unwrap_or(0),
        start_time: recording.start_time,
        notes: Some("Tempo <run> & \"friends\"".into()),
        metrics: Default::default(),
        idempotency_key: None,
        created_at: now(),
        updated_at: now(),
        event_enqueued: true,
        time_zone: None,
    }
}

#[test]
fn what_is_exported_reads_back_as_it_was_recorded() {
    for (name, format) in [
        ("20210119_run_garmin_fenix6.tcx", FileFormat::Tcx),
        ("20210119_run_garmin_fenix6.tcx", FileFormat::Gpx),
        ("hrv-activity.fit", FileFormat::Tcx),
        ("garmin-activity.gpx", FileFormat::Gpx),
        ("garmin-activity.gpx", FileFormat::Tcx),
        ("20210308_virtual_ride_with_power.tcx", FileFormat::Gpx),
    ] {
        let original = workout(name);
        let activity = activity_of(&original);
        let stored = original.clone().into_stored(String::new());
        let bytes = match format {
            FileFormat::Gpx => export::gpx(&activity, &stored),
            _ => export::tcx(&activity, &stored),
        }
        .expect("written");
        assert_eq!(sniff(&bytes), Some(format), "{name}");
        let mut back = read(&bytes, now()).unwrap_or_else(|e| panic!("{name} as {format:?}: {e}"));
        let back = back
            .remove(0)
            .unwrap_or_else(|e| panic!("{name} as {format:?}: {e}"));
        assert_eq!(back.sport, original.sport, "{name} as {format:?}");
        let expected: Vec<&crate::domain::recording::Sample> = original
            .samples
            .iter()
            .filter(|s| format == FileFormat::Tcx || s.position.is_some())
            .collect();
        assert_eq!(back.samples.len(), expected.len(), "{name} as {format:?}");
        for (read, written) in back.samples.iter().zip(expected) {
            assert_eq!(read.time, written.time, "{name} as {format:?}");
            assert_eq!(
                (read.heart_rate, read.cadence, read.power_w),
                (written.heart_rate, written.cadence, written.power_w),
                "{name} as {format:?}"
            );
            match (read.position, written.position) {
                (Some(p), Some(q)) => assert!((p.0 - q.0).abs() < 1e-6 && (p.1 - q.1).abs() < 1e-6),
                (p, q) => assert_eq!(p.is_some(), q.is_some(), "{name} as {format:?}"),
            }
            if let (Some(a), Some(b)) = (read.altitude_m, written.altitude_m) {
                assert!((a - b).abs() <= 0.05, "{name} as {format:?}: {a} {b}");
            }
        }
        if format == FileFormat::Tcx {
            assert_eq!(back.laps.len(), original.laps.len().max(1), "{name}");
        }
    }
}
