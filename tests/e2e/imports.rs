//! Importing workout files end to end, through the router: a bulk export of
//! mixed FIT, GPX and TCX files sent in chunks, read by the importer, each
//! workout stored once, duplicates and bad files reported per file.

use fittrack_testkit as support;

use std::{
    io::{Cursor, Write},
    time::Duration,
};

use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{gql, ws_operation, Stack, WsSubscription};

const START: &str = "mutation($files: [ImportFileInput!]!, $timeZone: String) { startImport(files: $files, timeZone: $timeZone) { id state chunkBytes files { name sizeBytes state } } }";
const CHUNK: &str = "mutation($id: ID!, $file: Int!, $offset: Int!, $data: String!) { uploadImportChunk(importId: $id, file: $file, offset: $offset, data: $data) { receivedBytes sizeBytes } }";
const FINISH: &str = "mutation($id: ID!) { finishImport(importId: $id) { id state } }";
const STATUS: &str = "query($id: ID!) { importStatus(id: $id) { id state imported duplicates failed files { name state reason skippedEntries workouts { file outcome activityId type startTime reason } } } }";
const PAGE: &str = "query($id: ID!) { activity(id: $id) { type source { format originalSport device points movingSeconds } route elevationGainMetres laps { elapsedSeconds distanceMetres averageHeartRate maxHeartRate } splits { number distanceMetres elapsedSeconds paceSecondsPerKm averageHeartRate } miles: splits(unit: MILE) { number } streams(types: [TIME, HEART_RATE, DISTANCE, POWER, LATITUDE], resolution: LOW) { type data } } }";
const MINE: &str = "query { myActivities(first: 100) { nodes { id type durationMinutes caloriesBurned startTime metrics { distanceKm averageHeartRate maxHeartRate } } } }";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/subgraphs/activity/tests/fixtures/import/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// A bulk export as Strava writes one: gzipped FIT, plain GPX and TCX, a
/// photo, and two files no importer can read.
fn bulk_export() -> Vec<u8> {
    let mut broken = fixture("garmin-activity.gpx");
    broken.truncate(broken.len() / 3);
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in [
        ("activities/7001.fit.gz", gzip(&fixture("hrv-activity.fit"))),
        (
            "activities/7002.tcx",
            fixture("20210119_run_garmin_fenix6.tcx"),
        ),
        ("activities/7003.gpx", fixture("garmin-activity.gpx")),
        ("activities/7004.fit", fixture("Settings.fit")),
        ("activities/7005.gpx", broken),
        (
            "media/summit.jpg",
            b"\xff\xd8\xff\xe0 not really a photo".to_vec(),
        ),
    ] {
        zip.start_file(name, options).expect("zip");
        zip.write_all(&bytes).expect("zip");
    }
    zip.finish().expect("zip").into_inner()
}

/// Declares, sends in chunks and finishes an import; its id.
async fn import(stack: &Stack, token: &str, files: &[(&str, &[u8])]) -> String {
    import_in(stack, token, files, None).await
}

/// [`import`], saying where the workouts were done.
async fn import_in(
    stack: &Stack,
    token: &str,
    files: &[(&str, &[u8])],
    time_zone: Option<&str>,
) -> String {
    let declared: Vec<Value> = files
        .iter()
        .map(|(name, bytes)| json!({"name": name, "sizeBytes": bytes.len(), "sha256": sha256(bytes)}))
        .collect();
    let started = gql(
        &stack.router,
        START,
        json!({"files": declared, "timeZone": time_zone}),
        Some(token),
    )
    .await;
    started.assert_ok();
    let import = started.data("startImport");
    assert_eq!(import["state"], "UPLOADING");
    let id = import["id"].as_str().expect("id").to_owned();
    let chunk = import["chunkBytes"].as_u64().expect("chunkBytes") as usize;
    for (index, (_, bytes)) in files.iter().enumerate() {
        for (n, piece) in bytes.chunks(chunk).enumerate() {
            let data = base64::engine::general_purpose::STANDARD.encode(piece);
            let sent = gql(
                &stack.router,
                CHUNK,
                json!({"id": id, "file": index, "offset": n * chunk, "data": data}),
                Some(token),
            )
            .await;
            sent.assert_ok();
            let receipt = sent.data("uploadImportChunk");
            assert_eq!(receipt["sizeBytes"], bytes.len());
            assert_eq!(receipt["receivedBytes"], (n * chunk + piece.len()));
        }
    }
    let finished = gql(&stack.router, FINISH, json!({"id": id}), Some(token)).await;
    finished.assert_ok();
    assert_eq!(finished.data("finishImport")["state"], "QUEUED");
    id
}

/// The import once the importer is done with it.
async fn done(stack: &Stack, token: &str, id: &str) -> Value {
    for _ in 0..300 {
        let status = gql(&stack.router, STATUS, json!({"id": id}), Some(token)).await;
        status.assert_ok();
        let import = status.data("importStatus").clone();
        if import["state"] == "DONE" {
            return import;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("import {id} not done in 30 s");
}

/// Sends one chunk of an import's first file.
async fn send(
    stack: &Stack,
    id: &str,
    token: &str,
    offset: usize,
    piece: &[u8],
) -> support::GqlResponse {
    let data = base64::engine::general_purpose::STANDARD.encode(piece);
    let vars = json!({"id": id, "file": 0, "offset": offset, "data": data});
    gql(&stack.router, CHUNK, vars, Some(token)).await
}

fn outcomes(import: &Value, file: usize) -> Vec<(String, String, String)> {
    import["files"][file]["workouts"]
        .as_array()
        .expect("workouts")
        .iter()
        .map(|w| {
            (
                w["file"].as_str().unwrap_or_default().to_owned(),
                w["outcome"].as_str().unwrap_or_default().to_owned(),
                w["type"]
                    .as_str()
                    .or(w["reason"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_export_is_imported_once_with_bad_files_and_duplicates_reported_per_file() {
    let stack = Stack::start_with(None, false).await;
    let (_, ada) = stack.register("importer").await;
    let token = ada["accessToken"].as_str().expect("token");
    let export = bulk_export();
    // Two chunks of 512 KiB through the router's 1 MB body limit.
    let ride = fixture("20210308_virtual_ride_with_power.tcx");
    assert!(ride.len() > 1024 * 1024 / 2);

    let id = import(
        &stack,
        token,
        &[("export.zip", &export), ("zwift.tcx", &ride)],
    )
    .await;
    let report = done(&stack, token, &id).await;
    assert_eq!(report["files"][0]["state"], "READ", "{report:#}");
    assert_eq!(report["files"][0]["skippedEntries"], 1);
    let expected = |rows: &[(&str, &str, &str)]| -> Vec<(String, String, String)> {
        rows.iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect()
    };
    let broken = outcomes(&report, 0)[4].2.clone();
    assert!(
        broken.starts_with("the file is damaged or cut short"),
        "{broken}"
    );
    assert_eq!(
        outcomes(&report, 0),
        expected(&[
            ("activities/7001.fit", "IMPORTED", "CYCLING"),
            ("activities/7002.tcx", "IMPORTED", "RUNNING"),
            ("activities/7003.gpx", "IMPORTED", "RUNNING"),
            (
                "activities/7004.fit",
                "REFUSED",
                "the file holds no workout"
            ),
            ("activities/7005.gpx", "REFUSED", &broken),
        ])
    );
    assert_eq!(
        outcomes(&report, 1),
        expected(&[("zwift.tcx", "IMPORTED", "CYCLING")])
    );
    assert_eq!(
        (
            &report["imported"],
            &report["duplicates"],
            &report["failed"]
        ),
        (&json!(4), &json!(0), &json!(2))
    );

    // Each workout is an activity with what its file recorded.
    let mine = gql(&stack.router, MINE, json!({}), Some(token)).await;
    mine.assert_ok();
    let nodes = mine.data("myActivities")["nodes"]
        .as_array()
        .expect("nodes")
        .clone();
    assert_eq!(nodes.len(), 4, "{nodes:#?}");
    let run = nodes
        .iter()
        .find(|a| {
            a["startTime"]
                .as_str()
                .unwrap_or("")
                .starts_with("2021-01-19T23:30:50")
        })
        .expect("the TCX run");
    assert_eq!(run["type"], "RUNNING");
    assert_eq!(run["durationMinutes"], 21);
    assert_eq!(run["caloriesBurned"], 268);
    assert_eq!(run["metrics"]["distanceKm"], 5.12484);
    assert_eq!(run["metrics"]["maxHeartRate"], 189);

    // Each keeps the file it came from, byte for byte, unpacked from the
    // zip (and from the gzip inside it).
    let mut originals = Vec::new();
    for node in &nodes {
        let original = gql(
            &stack.router,
            "query($id: ID!) { activity(id: $id) { originalFile { fileName format size contentBase64 } } }",
            json!({"id": node["id"]}),
            Some(token),
        )
        .await;
        original.assert_ok();
        let file = &original.data("activity")["originalFile"];
        let bytes = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            file["contentBase64"].as_str().expect("content"),
        )
        .expect("base64");
        assert_eq!(file["size"].as_u64(), Some(bytes.len() as u64));
        originals.push((
            file["fileName"].as_str().expect("name").to_owned(),
            file["format"].as_str().expect("format").to_owned(),
            bytes,
        ));
    }
    originals.sort();
    let kept = |name: &str, format: &str, fixture_name: &str| {
        (name.to_owned(), format.to_owned(), fixture(fixture_name))
    };
    assert!(
        originals
            == [
                kept("activities/7001.fit", "FIT", "hrv-activity.fit"),
                kept(
                    "activities/7002.tcx",
                    "TCX",
                    "20210119_run_garmin_fenix6.tcx"
                ),
                kept("activities/7003.gpx", "GPX", "garmin-activity.gpx"),
                kept("zwift.tcx", "TCX", "20210308_virtual_ride_with_power.tcx"),
            ],
        "{:?}",
        originals
            .iter()
            .map(|(name, format, bytes)| (name, format, bytes.len()))
            .collect::<Vec<_>>()
    );

    // Its page: where it came from, its route, laps, splits and charts.
    let page = gql(&stack.router, PAGE, json!({"id": run["id"]}), Some(token)).await;
    page.assert_ok();
    let activity = page.data("activity");
    assert_eq!(
        activity["source"],
        json!({"format": "TCX", "originalSport": "Running", "device": "fenix 6 Sapphire", "points": 1232, "movingSeconds": 1230.479})
    );
    let route = activity["route"].as_str().expect("a route");
    assert!(route.len() > 100, "{route}");
    assert_eq!(activity["laps"][0]["distanceMetres"], 5124.84);
    assert_eq!(activity["laps"][0]["maxHeartRate"], 189);
    let splits = activity["splits"].as_array().expect("splits");
    assert_eq!(splits.len(), 6, "5.12 km: five kilometres and the rest");
    assert_eq!(splits[0]["number"], 1);
    assert!((splits[0]["distanceMetres"].as_f64().expect("m") - 1000.0).abs() < 1e-6);
    let pace = splits[0]["paceSecondsPerKm"].as_f64().expect("pace");
    assert!((180.0..360.0).contains(&pace), "{pace}");
    assert_eq!(activity["miles"].as_array().map(Vec::len), Some(4));
    // LOW is at most 100 points; power was not recorded, so it is left out.
    let streams = activity["streams"].as_array().expect("streams");
    let types: Vec<&str> = streams.iter().filter_map(|s| s["type"].as_str()).collect();
    assert_eq!(types, ["TIME", "HEART_RATE", "DISTANCE", "LATITUDE"]);
    for stream in streams {
        assert_eq!(stream["data"].as_array().map(Vec::len), Some(100));
    }
    assert_eq!(streams[0]["data"][0], 0.0);
    assert_eq!(streams[0]["data"][99], 1231.0);
    assert!(activity["elevationGainMetres"].as_f64().is_some());
    // Time in heart-rate zones for the runner's maximum: every second of
    // the run is counted once.
    let zones = gql(
        &stack.router,
        "query($id: ID!) { activity(id: $id) { heartRateZones(maxHeartRate: 195, restingHeartRate: 50) { zone minBpm maxBpm seconds } } }",
        json!({"id": run["id"]}),
        Some(token),
    )
    .await;
    zones.assert_ok();
    let zones = zones.data("activity")["heartRateZones"]
        .as_array()
        .expect("zones")
        .clone();
    assert_eq!(zones.len(), 5);
    assert_eq!(zones[0]["minBpm"], 122.5);
    let total: f64 = zones.iter().filter_map(|z| z["seconds"].as_f64()).sum();
    assert!((total - 1231.0).abs() < 1.0, "{zones:#?}");
    let refused = gql(
        &stack.router,
        "query($id: ID!) { activity(id: $id) { heartRateZones(maxHeartRate: 400) { zone } } }",
        json!({"id": run["id"]}),
        Some(token),
    )
    .await;
    refused.assert_code("BAD_USER_INPUT");
    assert_eq!(refused.field(), Some("maxHeartRate"));
    // Without rates, the zones come from the training profile; with none
    // set, the client is told what to give.
    let from_profile =
        "query($id: ID!) { activity(id: $id) { heartRateZones { zone minBpm seconds } } }";
    let unset = gql(
        &stack.router,
        from_profile,
        json!({"id": run["id"]}),
        Some(token),
    )
    .await;
    unset.assert_code("BAD_USER_INPUT");
    assert!(unset.errors()[0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("training profile"));
    let profile = gql(
        &stack.router,
        "mutation { updateTrainingProfile(input: {maxHeartRate: 195, restingHeartRate: 50, units: IMPERIAL}) { maxHeartRate restingHeartRate units } }",
        json!({}),
        Some(token),
    )
    .await;
    profile.assert_ok();
    assert_eq!(
        profile.data("updateTrainingProfile"),
        &json!({"maxHeartRate": 195, "restingHeartRate": 50, "units": "IMPERIAL"})
    );
    let zoned = gql(
        &stack.router,
        from_profile,
        json!({"id": run["id"]}),
        Some(token),
    )
    .await;
    zoned.assert_ok();
    assert_eq!(zoned.data("activity")["heartRateZones"][0]["minBpm"], 122.5);
    // A partial change keeps the rest; a bad one changes nothing.
    gql(
        &stack.router,
        "mutation { updateTrainingProfile(input: {restingHeartRate: 190}) { units } }",
        json!({}),
        Some(token),
    )
    .await
    .assert_code("BAD_USER_INPUT");
    let kept = gql(
        &stack.router,
        "mutation { updateTrainingProfile(input: {restingHeartRate: null}) { maxHeartRate restingHeartRate units } }",
        json!({}),
        Some(token),
    )
    .await;
    kept.assert_ok();
    assert_eq!(
        kept.data("updateTrainingProfile"),
        &json!({"maxHeartRate": 195, "restingHeartRate": null, "units": "IMPERIAL"})
    );
    // Zones of one's own (a lab test's) are the zones until cleared; they
    // must rise and stay below the maximum.
    gql(
        &stack.router,
        "mutation { updateTrainingProfile(input: {heartRateZoneFloors: [110, 130, 145, 160, 200]}) { units } }",
        json!({}),
        Some(token),
    )
    .await
    .assert_code("BAD_USER_INPUT");
    let own = gql(
        &stack.router,
        "mutation { updateTrainingProfile(input: {heartRateZoneFloors: [110, 130, 145, 160, 175]}) { heartRateZoneFloors } }",
        json!({}),
        Some(token),
    )
    .await;
    own.assert_ok();
    let own_zones = gql(
        &stack.router,
        "query($id: ID!) { activity(id: $id) { heartRateZones { zone minBpm maxBpm } } }",
        json!({"id": run["id"]}),
        Some(token),
    )
    .await;
    own_zones.assert_ok();
    let bounds: Vec<(f64, f64)> = own_zones.data("activity")["heartRateZones"]
        .as_array()
        .expect("zones")
        .iter()
        .map(|z| {
            (
                z["minBpm"].as_f64().unwrap_or(0.0),
                z["maxBpm"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    assert_eq!(
        bounds,
        [
            (110.0, 130.0),
            (130.0, 145.0),
            (145.0, 160.0),
            (160.0, 175.0),
            (175.0, 195.0)
        ]
    );
    gql(
        &stack.router,
        "mutation { updateTrainingProfile(input: {maxHeartRate: null}) { units } }",
        json!({}),
        Some(token),
    )
    .await
    .assert_code("BAD_USER_INPUT");

    // Written out as GPX for another app, and that file imported back: the
    // same workout, so a duplicate, not a copy.
    let exported = gql(
        &stack.router,
        "query($id: ID!) { activity(id: $id) { export(format: GPX) { fileName contentType content } } }",
        json!({"id": run["id"]}),
        Some(token),
    )
    .await;
    exported.assert_ok();
    let file = &exported.data("activity")["export"];
    assert_eq!(file["fileName"], "running-2021-01-19-2330.gpx");
    assert_eq!(file["contentType"], "application/gpx+xml");
    let gpx = file["content"]
        .as_str()
        .expect("content")
        .as_bytes()
        .to_vec();
    let round_trip = import(&stack, token, &[("exported.gpx", &gpx)]).await;
    let round_trip = done(&stack, token, &round_trip).await;
    assert_eq!(
        outcomes(&round_trip, 0),
        [(
            "exported.gpx".to_owned(),
            "DUPLICATE".to_owned(),
            "RUNNING".to_owned()
        )]
    );
    assert_eq!(
        round_trip["files"][0]["workouts"][0]["activityId"],
        run["id"]
    );

    // Streams of a whole page would be megabytes: refused before any subgraph works.
    let greedy = gql(
        &stack.router,
        "query { myActivities(first: 100) { nodes { streams(types: [TIME, HEART_RATE], resolution: HIGH) { data } } } }",
        json!({}),
        Some(token),
    )
    .await;
    greedy.assert_code("COST_ESTIMATED_TOO_EXPENSIVE");
    // So would six exports of one big activity under aliases.
    let aliases: String = (0..6)
        .map(|i| format!("e{i}: activity(id: $id) {{ export(format: TCX) {{ content }} }} "))
        .collect();
    let greedy = gql(
        &stack.router,
        &format!("query($id: ID!) {{ {aliases} }}"),
        json!({"id": run["id"]}),
        Some(token),
    )
    .await;
    greedy.assert_code("COST_ESTIMATED_TOO_EXPENSIVE");
    // Original files cost the same: six under aliases, or one per workout
    // of a page, are refused before any is read.
    let aliases: String = (0..6)
        .map(|i| format!("o{i}: activity(id: $id) {{ originalFile {{ contentBase64 }} }} "))
        .collect();
    for (query, variables) in [
        (
            format!("query($id: ID!) {{ {aliases} }}"),
            json!({"id": run["id"]}),
        ),
        (
            "query { myActivities(first: 100) { nodes { originalFile { contentBase64 } } } }"
                .to_owned(),
            json!({}),
        ),
    ] {
        gql(&stack.router, &query, variables, Some(token))
            .await
            .assert_code("COST_ESTIMATED_TOO_EXPENSIVE");
    }

    // The records the imports set, each with the activity that set it.
    let records = my_records(&stack, token).await;
    let kinds: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["kind"].as_str().unwrap_or(""),
                r["type"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "FASTEST_400M RUNNING",
            "FASTEST_1K RUNNING",
            "FASTEST_MILE RUNNING",
            "FASTEST_5K RUNNING",
            "FASTEST_10K RUNNING",
            "BEST_POWER_5_MIN CYCLING",
            "BEST_POWER_20_MIN CYCLING",
            "LONGEST_RIDE CYCLING",
            "LONGEST_DURATION RUNNING",
            "LONGEST_DURATION CYCLING",
        ],
        "{records:#?}"
    );
    let zwift = report["files"][1]["workouts"][0]["activityId"].clone();
    let longest_ride = records
        .iter()
        .find(|r| r["kind"] == "LONGEST_RIDE")
        .expect("a ride");
    assert_eq!(longest_ride["value"], 16189.83);
    assert_eq!(longest_ride["activityId"], zwift);
    let history = gql(
        &stack.router,
        "query { myRecordHistory(kind: FASTEST_1K) { value achievedAt } }",
        json!({}),
        Some(token),
    )
    .await;
    history.assert_ok();
    let history = history
        .data("myRecordHistory")
        .as_array()
        .expect("history")
        .clone();
    assert!(!history.is_empty());
    assert!(
        history.windows(2).all(
            |w| w[0]["achievedAt"].as_str() < w[1]["achievedAt"].as_str()
                && w[1]["value"].as_f64() < w[0]["value"].as_f64()
        ),
        "{history:#?}"
    );
    // A workout's page lists the records it set when it was recorded.
    let set = gql(
        &stack.router,
        "query($id: ID!) { activity(id: $id) { recordsSet { kind type value } } }",
        json!({"id": zwift}),
        Some(token),
    )
    .await;
    set.assert_ok();
    let mut set_kinds: Vec<String> = set.data("activity")["recordsSet"]
        .as_array()
        .expect("records set")
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["kind"].as_str().unwrap_or(""),
                r["type"].as_str().unwrap_or("")
            )
        })
        .collect();
    set_kinds.sort();
    assert_eq!(
        set_kinds,
        [
            "BEST_POWER_20_MIN CYCLING",
            "BEST_POWER_5_MIN CYCLING",
            "LONGEST_DURATION CYCLING",
            "LONGEST_RIDE CYCLING"
        ],
        "{set:#?}"
    );
    // The ride that set two records deleted: the records fall back.
    gql(
        &stack.router,
        "mutation($id: ID!) { deleteActivity(id: $id) }",
        json!({"id": zwift}),
        Some(token),
    )
    .await
    .assert_ok();
    let records = my_records(&stack, token).await;
    let ride = records
        .iter()
        .find(|r| r["kind"] == "LONGEST_RIDE")
        .expect("a ride");
    assert_eq!(ride["value"], 6873.6);
    assert!(
        records.iter().all(|r| r["kind"] != "BEST_POWER_20_MIN"),
        "{records:#?}"
    );

    // The same export again, as a user re-importing does: nothing twice.
    let again = import(&stack, token, &[("export-again.zip", &export)]).await;
    let report = done(&stack, token, &again).await;
    assert_eq!(
        (
            &report["imported"],
            &report["duplicates"],
            &report["failed"]
        ),
        (&json!(0), &json!(3), &json!(2)),
        "{report:#}"
    );
    let first_ids: Vec<&Value> = nodes.iter().map(|a| &a["id"]).collect();
    for workout in report["files"][0]["workouts"].as_array().expect("workouts") {
        if workout["outcome"] == "DUPLICATE" {
            assert!(first_ids.contains(&&workout["activityId"]), "{workout}");
        }
    }
    let mine = gql(&stack.router, MINE, json!({}), Some(token)).await;
    assert_eq!(
        mine.data("myActivities")["nodes"].as_array().map(Vec::len),
        Some(3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_get_clear_errors_and_nothing_half_written() {
    let stack = Stack::start_with(None, false).await;
    let (_, ada) = stack.register("uploader").await;
    let (_, eve) = stack.register("stranger").await;
    let (ada, eve) = (
        ada["accessToken"].as_str().expect("token"),
        eve["accessToken"].as_str().expect("token"),
    );
    let file = |name: &str, size: usize, sha: &str| json!({"name": name, "sizeBytes": size, "sha256": sha});
    let good_sha = sha256(b"x");
    for (files, field) in [
        (json!([]), "files"),
        (json!([file("a.fit", 0, &good_sha)]), "files.sizeBytes"),
        (
            json!([file("a.fit", 26 * 1024 * 1024, &good_sha)]),
            "files.sizeBytes",
        ),
        (json!([file("a.fit", 10, "not-a-hash")]), "files.sha256"),
        (json!([file("  ", 10, &good_sha)]), "files.name"),
    ] {
        let refused = gql(&stack.router, START, json!({"files": files}), Some(ada)).await;
        refused.assert_code("BAD_USER_INPUT");
        assert_eq!(refused.field(), Some(field), "{:#}", refused.body);
    }
    let many: Vec<Value> = (0..21)
        .map(|i| file(&format!("{i}.fit"), 10, &good_sha))
        .collect();
    let refused = gql(&stack.router, START, json!({"files": many}), Some(ada)).await;
    refused.assert_code("BAD_USER_INPUT");
    assert_eq!(refused.field(), Some("files"));
    let anonymous = gql(
        &stack.router,
        START,
        json!({"files": [file("a.fit", 10, &good_sha)]}),
        None,
    )
    .await;
    anonymous.assert_code("UNAUTHENTICATED");

    // Declared as one thing, sent as another: the file is refused, unread.
    let bytes = fixture("garmin-activity.gpx");
    let started = gql(
        &stack.router,
        START,
        json!({"files": [file("run.gpx", bytes.len(), &sha256(b"something else"))]}),
        Some(ada),
    )
    .await;
    started.assert_ok();
    let id = started.data("startImport")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // Unfinished uploads cannot be queued.
    let early = gql(&stack.router, FINISH, json!({"id": id}), Some(ada)).await;
    early.assert_code("BAD_USER_INPUT");
    send(&stack, &id, ada, 1, &bytes[..10])
        .await
        .assert_code("BAD_USER_INPUT");
    send(&stack, &id, ada, 0, &bytes[..10])
        .await
        .assert_code("BAD_USER_INPUT");
    send(&stack, &id, eve, 0, &bytes)
        .await
        .assert_code("NOT_FOUND");
    let status = gql(&stack.router, STATUS, json!({"id": id}), Some(eve)).await;
    status.assert_code("NOT_FOUND");
    let not_base64 = gql(
        &stack.router,
        CHUNK,
        json!({"id": id, "file": 0, "offset": 0, "data": "***"}),
        Some(ada),
    )
    .await;
    not_base64.assert_code("BAD_USER_INPUT");
    send(&stack, &id, ada, 0, &bytes).await.assert_ok();
    // Sent twice (a retry after a lost answer): harmless.
    send(&stack, &id, ada, 0, &bytes).await.assert_ok();
    let finished = gql(&stack.router, FINISH, json!({"id": id}), Some(ada)).await;
    finished.assert_ok();
    let report = done(&stack, ada, &id).await;
    assert_eq!(report["files"][0]["state"], "REFUSED");
    assert_eq!(
        report["files"][0]["reason"],
        "the bytes received do not match the file's SHA-256"
    );
    let mine = gql(&stack.router, MINE, json!({}), Some(ada)).await;
    assert_eq!(
        mine.data("myActivities")["nodes"].as_array().map(Vec::len),
        Some(0)
    );
    // A finished import takes no more bytes.
    send(&stack, &id, ada, 0, &bytes)
        .await
        .assert_code("BAD_USER_INPUT");
}

const PROGRESS: &str = "subscription($id: ID!) { importProgress(id: $id) { state imported failed files { name state } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_pushed_live_until_the_import_is_done() {
    let stack = Stack::start_with(None, false).await;
    let (_, ada) = stack.register("watcher").await;
    let (_, eve) = stack.register("snoop").await;
    let token = ada["accessToken"].as_str().expect("token");
    let files: Vec<(String, Vec<u8>)> = vec![
        ("ride.fit".into(), fixture("hrv-activity.fit")),
        ("run.gpx".into(), fixture("garmin-activity.gpx")),
    ];
    let declared: Vec<Value> = files
        .iter()
        .map(|(name, bytes)| json!({"name": name, "sizeBytes": bytes.len(), "sha256": sha256(bytes)}))
        .collect();
    let started = gql(
        &stack.router,
        START,
        json!({"files": declared}),
        Some(token),
    )
    .await;
    started.assert_ok();
    let id = started.data("startImport")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let init = |t: &str| json!({"Authorization": format!("Bearer {t}")});

    // Someone else's import cannot be followed.
    let snooped = ws_operation(
        &stack.router_ws(),
        init(eve["accessToken"].as_str().expect("token")),
        PROGRESS,
        json!({"id": id}),
    )
    .await
    .map_or_else(|error| error, |payloads| json!(payloads).to_string());
    assert!(
        snooped.contains("NOT_FOUND") && snooped.contains("Import not found"),
        "{snooped}"
    );

    let mut live =
        WsSubscription::open_with(&stack.router_ws(), init(token), PROGRESS, json!({"id": id}))
            .await
            .expect("subscribes");
    let first = live
        .next(Duration::from_secs(10))
        .await
        .expect("the state now");
    assert_eq!(
        first["data"]["importProgress"]["state"], "UPLOADING",
        "{first}"
    );
    for (index, (_, bytes)) in files.iter().enumerate() {
        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
        gql(
            &stack.router,
            CHUNK,
            json!({"id": id, "file": index, "offset": 0, "data": data}),
            Some(token),
        )
        .await
        .assert_ok();
    }
    gql(&stack.router, FINISH, json!({"id": id}), Some(token))
        .await
        .assert_ok();
    let order = ["UPLOADING", "QUEUED", "RUNNING", "DONE"];
    let mut seen = vec![first["data"]["importProgress"].clone()];
    loop {
        match live.next(Duration::from_secs(15)).await {
            Ok(update) => seen.push(update["data"]["importProgress"].clone()),
            Err(end) => {
                assert_eq!(end, "completed", "the stream completes once done");
                break;
            }
        }
    }
    let states: Vec<usize> = seen
        .iter()
        .map(|s| {
            order
                .iter()
                .position(|o| s["state"] == *o)
                .expect("a state")
        })
        .collect();
    assert!(states.windows(2).all(|w| w[0] <= w[1]), "{seen:#?}");
    let last = seen.last().expect("updates");
    assert_eq!(last["state"], "DONE");
    assert_eq!(last["imported"], 2);
    assert_eq!(
        last["files"],
        json!([{"name": "ride.fit", "state": "READ"}, {"name": "run.gpx", "state": "READ"}])
    );
}

async fn my_records(stack: &Stack, token: &str) -> Vec<Value> {
    let records = gql(
        &stack.router,
        "query { myRecords { kind type value activityId achievedAt } }",
        json!({}),
        Some(token),
    )
    .await;
    records.assert_ok();
    records
        .data("myRecords")
        .as_array()
        .expect("records")
        .clone()
}

/// A GPX run that started `ago` before now: `minutes` long at a steady
/// `metres_per_second`, heading north, a point every 5 s.
fn recent_run(ago: chrono::Duration, minutes: i64, metres_per_second: f64) -> Vec<u8> {
    let start = chrono::Utc::now() - ago;
    let mut gpx = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><gpx version="1.1" creator="fittrack tests" xmlns="http://www.topografix.com/GPX/1/1"><trk><type>running</type><trkseg>"#,
    );
    for second in (0..=minutes * 60).step_by(5) {
        let lat = 51.5 + second as f64 * metres_per_second / 111_195.0;
        let time = (start + chrono::Duration::seconds(second))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        gpx.push_str(&format!(
            r#"<trkpt lat="{lat:.7}" lon="-0.1000000"><ele>20</ele><time>{time}</time></trkpt>"#
        ));
    }
    gpx.push_str("</trkseg></trk></gpx>");
    gpx.into_bytes()
}

const RECORD_SET: &str =
    "subscription { personalRecordSet { record { kind type value activityId } previousValue } }";

/// The records pushed to `live` within `wait`, sorted by kind.
async fn pushed(live: &mut WsSubscription, wait: Duration) -> Vec<Value> {
    let mut got = Vec::new();
    while let Ok(event) = live.next(wait).await {
        got.push(event["data"]["personalRecordSet"].clone());
    }
    got.sort_by_key(|r| r["record"]["kind"].as_str().unwrap_or("").to_owned());
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_record_is_pushed_live_to_its_owner_only() {
    let stack = Stack::start_with(None, false).await;
    let (_, ada) = stack.register("racer").await;
    let (_, eve) = stack.register("rival").await;
    let token = ada["accessToken"].as_str().expect("token");
    let init = |t: &str| json!({"Authorization": format!("Bearer {t}")});
    let mut live =
        WsSubscription::open_with(&stack.router_ws(), init(token), RECORD_SET, json!({}))
            .await
            .expect("subscribes");
    let eve_token = eve["accessToken"].as_str().expect("token");
    let mut other =
        WsSubscription::open_with(&stack.router_ws(), init(eve_token), RECORD_SET, json!({}))
            .await
            .expect("subscribes");

    // A first run this morning: every record it holds is new.
    let first = recent_run(chrono::Duration::hours(3), 30, 3.0);
    let id = import(&stack, token, &[("morning.gpx", &first)]).await;
    let report = done(&stack, token, &id).await;
    let first_id = report["files"][0]["workouts"][0]["activityId"].clone();
    let records = pushed(&mut live, Duration::from_secs(3)).await;
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["record"]["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        kinds,
        [
            "FASTEST_1K",
            "FASTEST_400M",
            "FASTEST_5K",
            "FASTEST_MILE",
            "LONGEST_DURATION"
        ],
        "{records:#?}"
    );
    assert!(records
        .iter()
        .all(|r| r["previousValue"].is_null() && r["record"]["activityId"] == first_id));

    // A faster, shorter run: faster times, each with the one it beat; the
    // longest run is still the first.
    let second = recent_run(chrono::Duration::hours(1), 25, 3.5);
    let id = import(&stack, token, &[("evening.gpx", &second)]).await;
    done(&stack, token, &id).await;
    let records = pushed(&mut live, Duration::from_secs(3)).await;
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["record"]["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        kinds,
        ["FASTEST_1K", "FASTEST_400M", "FASTEST_5K", "FASTEST_MILE"],
        "{records:#?}"
    );
    let five_k = &records[2];
    let (now, before) = (
        five_k["record"]["value"].as_f64().expect("value"),
        five_k["previousValue"]
            .as_f64()
            .expect("the record it beat"),
    );
    assert!(
        (now - 5_000.0 / 3.5).abs() < 10.0 && (before - 5_000.0 / 3.0).abs() < 10.0,
        "{five_k}"
    );

    // History (a run from 2017) sets no live record, whatever it holds.
    let id = import(
        &stack,
        token,
        &[("old.gpx", &fixture("garmin-activity.gpx"))],
    )
    .await;
    done(&stack, token, &id).await;
    assert_eq!(
        pushed(&mut live, Duration::from_secs(2)).await,
        Vec::<Value>::new()
    );
    // Nobody else heard any of it.
    assert_eq!(
        pushed(&mut other, Duration::from_millis(500)).await,
        Vec::<Value>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_says_where_workouts_without_an_offset_were_done() {
    let stack = Stack::start_with(None, false).await;
    let (_, ada) = stack.register("abroad").await;
    let token = ada["accessToken"].as_str().expect("token");
    // GPX gives UTC times only: the zone comes from the import; the FIT
    // ride's own offset (UTC+1) is not Los Angeles's, so it keeps its own.
    let gpx = fixture("garmin-activity.gpx");
    let fit = fixture("hrv-activity.fit");
    let id = import_in(
        &stack,
        token,
        &[("run.gpx", &gpx), ("ride.fit", &fit)],
        Some("America/Los_Angeles"),
    )
    .await;
    let report = done(&stack, token, &id).await;
    let run = where_done(&stack, token, &report, 0).await;
    assert_eq!(run["timeZone"], "America/Los_Angeles", "{run:#}");
    assert!(run["localStartTime"].is_string(), "{run:#}");
    let ride = where_done(&stack, token, &report, 1).await;
    assert_eq!(ride["timeZone"], "Etc/GMT-1", "{ride:#}");
    // A zone that is not one is refused before anything is uploaded.
    let declared = json!([{"name": "a.gpx", "sizeBytes": gpx.len(), "sha256": sha256(&gpx)}]);
    let refused = gql(
        &stack.router,
        START,
        json!({"files": declared, "timeZone": "Mars/Olympus"}),
        Some(token),
    )
    .await;
    refused.assert_code("BAD_USER_INPUT");
    assert_eq!(refused.field(), Some("timeZone"));
}

/// The zone and local start of the first workout of file `file`.
async fn where_done(stack: &Stack, token: &str, report: &Value, file: usize) -> Value {
    let page = gql(
        &stack.router,
        "query($id: ID!) { activity(id: $id) { timeZone localStartTime startTime } }",
        json!({"id": report["files"][file]["workouts"][0]["activityId"]}),
        Some(token),
    )
    .await;
    page.assert_ok();
    page.data("activity").clone()
}
