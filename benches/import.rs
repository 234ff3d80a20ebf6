//! `cargo bench --bench import`: how fast workout files import (issue 17).
//!
//! 1. Reading alone, in process: each real fixture format read and checked
//!    (`files::read`) over and over: files/s and points/s.
//! 2. End to end through the router: a bulk export (a zip of `FILES`
//!    generated one-hour GPX runs at one point a second, every start
//!    distinct) declared, uploaded in chunks, queued and read by the
//!    importer: files/s and points/s from `startImport` to `DONE`, with the
//!    upload's share.
//!
//! `IMPORT_BENCH_FILES` changes the export's size (the documented run: 200;
//! CI's short run: 20). Prints Markdown for BENCHMARKS.md.

mod common;
use fittrack_testkit as support;

use std::{
    io::{Cursor, Write},
    time::{Duration, Instant},
};

use base64::Engine as _;
use chrono::{TimeZone, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use support::{gql, Stack};

const POINTS_PER_FILE: usize = 3_600;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/subgraphs/activity/tests/fixtures/import/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A one-hour run at one point a second with heart rate and cadence, as
/// Garmin Connect writes GPX, starting `day` days after 2020-01-01.
fn gpx_run(day: usize) -> Vec<u8> {
    let start = Utc
        .with_ymd_and_hms(2020, 1, 1, 7, 0, 0)
        .single()
        .expect("valid")
        + chrono::Duration::days(day as i64);
    let mut gpx = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><gpx creator="bench" version="1.1" xmlns="http://www.topografix.com/GPX/1/1" xmlns:ns3="http://www.garmin.com/xmlschemas/TrackPointExtension/v1"><trk><type>running</type><trkseg>"#,
    );
    for i in 0..POINTS_PER_FILE {
        let at = start + chrono::Duration::seconds(i as i64);
        let lat = 46.5 + i as f64 * 2.5e-5;
        let lon = 7.0 + (i as f64 / 300.0).sin() * 1e-3;
        gpx.push_str(&format!(
            r#"<trkpt lat="{lat:.7}" lon="{lon:.7}"><ele>{:.1}</ele><time>{}</time><extensions><ns3:TrackPointExtension><ns3:hr>{}</ns3:hr><ns3:cad>{}</ns3:cad></ns3:TrackPointExtension></extensions></trkpt>"#,
            500.0 + (i as f64 / 120.0).sin() * 20.0,
            at.to_rfc3339(),
            140 + i % 20,
            85 + i % 3,
        ));
    }
    gpx.push_str("</trkseg></trk></gpx>");
    gpx.into_bytes()
}

fn read_alone() {
    println!("| format | file | points | files/s | points/s |");
    println!("|---|---|---|---|---|");
    let now = Utc::now();
    for (format, name, bytes) in [
        ("FIT", "hrv-activity.fit", fixture("hrv-activity.fit")),
        (
            "TCX",
            "20210119_run_garmin_fenix6.tcx",
            fixture("20210119_run_garmin_fenix6.tcx"),
        ),
        ("GPX", "garmin-activity.gpx", fixture("garmin-activity.gpx")),
        ("GPX", "generated 1 h at 1 Hz", gpx_run(0)),
    ] {
        let points: usize = fittrack_activity::files::read(&bytes, now)
            .expect("readable")
            .iter()
            .map(|r| r.as_ref().map_or(0, |r| r.samples.len()))
            .sum();
        let started = Instant::now();
        let mut files = 0u32;
        while started.elapsed() < Duration::from_secs(2) {
            std::hint::black_box(fittrack_activity::files::read(&bytes, now).expect("readable"));
            files += 1;
        }
        let per_second = f64::from(files) / started.elapsed().as_secs_f64();
        println!(
            "| {format} | {name} ({} KB) | {points} | {per_second:.0} | {:.0} |",
            bytes.len() / 1024,
            per_second * points as f64
        );
    }
}

fn zip_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        zip.start_file(name.as_str(), options).expect("zip");
        zip.write_all(bytes).expect("zip");
    }
    zip.finish().expect("zip").into_inner()
}

const START: &str =
    "mutation($files: [ImportFileInput!]!) { startImport(files: $files) { id chunkBytes } }";
const CHUNK: &str = "mutation($id: ID!, $file: Int!, $offset: Int!, $data: String!) { uploadImportChunk(importId: $id, file: $file, offset: $offset, data: $data) { receivedBytes } }";
const FINISH: &str = "mutation($id: ID!) { finishImport(importId: $id) { state } }";
const STATUS: &str = "query($id: ID!) { importStatus(id: $id) { state imported failed } }";

async fn through_the_router(files: usize) {
    // Zips are at most 25 MB: the export is as many zips as that takes.
    let runs: Vec<(String, Vec<u8>)> = (0..files)
        .map(|day| (format!("activities/{day}.gpx"), gpx_run(day)))
        .collect();
    let raw: usize = runs.iter().map(|(_, b)| b.len()).sum();
    let zips: Vec<Vec<u8>> = runs.chunks(100).map(zip_of).collect();
    let stack = Stack::start_with(None, false).await;
    let (_, ada) = stack.register("bench-import").await;
    let token = ada["accessToken"].as_str().expect("token");
    let started = Instant::now();
    let declared: Vec<_> = zips
        .iter()
        .enumerate()
        .map(|(i, zip)| {
            let sha: String = Sha256::digest(zip)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            json!({"name": format!("export-{i}.zip"), "sizeBytes": zip.len(), "sha256": sha})
        })
        .collect();
    let answer = gql(
        &stack.router,
        START,
        json!({"files": declared}),
        Some(token),
    )
    .await;
    answer.assert_ok();
    let id = answer.data("startImport")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let chunk = answer.data("startImport")["chunkBytes"]
        .as_u64()
        .expect("chunk") as usize;
    for (index, zip) in zips.iter().enumerate() {
        for (n, piece) in zip.chunks(chunk).enumerate() {
            let data = base64::engine::general_purpose::STANDARD.encode(piece);
            gql(
                &stack.router,
                CHUNK,
                json!({"id": id, "file": index, "offset": n * chunk, "data": data}),
                Some(token),
            )
            .await
            .assert_ok();
        }
    }
    gql(&stack.router, FINISH, json!({"id": id}), Some(token))
        .await
        .assert_ok();
    let uploaded = started.elapsed();
    loop {
        let status = gql(&stack.router, STATUS, json!({"id": id}), Some(token)).await;
        status.assert_ok();
        let report = status.data("importStatus");
        if report["state"] == "DONE" {
            assert_eq!(report["imported"], files, "{report}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = started.elapsed();
    let points = files * POINTS_PER_FILE;
    let zipped: usize = zips.iter().map(Vec::len).sum();
    println!();
    println!("| export | upload | upload + read + store | files/s | points/s |");
    println!("|---|---|---|---|---|");
    println!(
        "| {files} GPX runs of {POINTS_PER_FILE} points ({} MB, {} KB zipped) | {:.2} s | {:.2} s | {:.1} | {:.0} |",
        raw / 1_000_000,
        zipped / 1_000,
        uploaded.as_secs_f64(),
        total.as_secs_f64(),
        files as f64 / total.as_secs_f64(),
        points as f64 / total.as_secs_f64(),
    );
}

#[tokio::main]
async fn main() {
    common::note_embedded_backends_only();
    let files = std::env::var("IMPORT_BENCH_FILES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    read_alone();
    through_the_router(files).await;
}
