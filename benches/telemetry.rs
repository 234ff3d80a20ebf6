//! `cargo bench --bench telemetry`: what metrics and tracing cost
//! `logActivity` through the router, on and off (issue 16).
//!
//! *Off*: no service records metrics (`FITTRACK_METRICS=off`,
//! `FITTRACK_ROUTER_METRICS=false`) and nothing is traced. *Metrics*: every
//! service records its metrics, nothing is traced. *On*: metrics, and every
//! process exports every span over OTLP/HTTP to a receiver in this process
//! (which decodes and keeps them, as a collector on the same machine would
//! cost). Tracing is process-wide, so each side runs in a process of its
//! own: this binary runs itself off, metrics, on, twice over, and prints
//! every run.
//!
//! `FITTRACK_BENCH_RATE` (default 500/s) is the offered load of the open
//! loop, `FITTRACK_BENCH_SECONDS` (default 10) its length.

mod common;
use fittrack_testkit as support;

use std::{process::Command, time::Duration};

use common::{drive, drive_at_rate, log_body, logged};

const CLIENTS: usize = 16;
const SATURATION_REQUESTS: usize = 4_000;
const MODE: &str = "FITTRACK_BENCH_TELEMETRY";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    match std::env::var(MODE).as_deref() {
        Ok("off") => {
            // Before any thread starts.
            std::env::set_var("FITTRACK_METRICS", "off");
            one_side(false);
        }
        Ok("metrics") => one_side(false),
        Ok("on") => one_side(true),
        _ => alternate(),
    }
}

/// Runs this binary off, on, off, on and prints what each reported.
fn alternate() {
    let exe = std::env::current_exe().expect("this bench");
    println!("| run | telemetry | open loop: req/s offered, p50 / p99 ms | saturation: req/s, p50 / p99 ms | spans exported |");
    println!("|---|---|---|---|---|");
    let modes = ["off", "metrics", "on", "off", "metrics", "on"];
    for (run, mode) in modes.into_iter().enumerate() {
        let output = Command::new(&exe)
            .args(std::env::args().skip(1))
            .env(MODE, mode)
            .output()
            .expect("the bench runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{mode}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let row = stdout
            .lines()
            .find_map(|line| line.strip_prefix("ROW "))
            .expect("a result row");
        println!("| {} | {mode} | {row} |", run + 1);
    }
}

fn one_side(on: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        common::note_embedded_backends_only();
        let receiver = if on {
            let receiver = support::otlp::OtlpReceiver::start().await;
            fittrack_kit::telemetry::init_with(Some(&receiver.traces_url));
            Some(receiver)
        } else {
            None
        };
        let metrics_off = std::env::var("FITTRACK_METRICS").is_ok_and(|v| v == "off");
        let mut router_env: Vec<(&str, &str)> = Vec::new();
        if let Some(receiver) = &receiver {
            router_env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()));
        }
        if metrics_off {
            router_env.push(("FITTRACK_ROUTER_METRICS", "false"));
        }
        let stack = support::Stack::builder()
            .limits(support::Limits::Relaxed)
            .router_env(&router_env)
            .start()
            .await;
        let mut tokens = Vec::new();
        for client in 0..CLIENTS {
            let (_, auth) = stack.register(&format!("bench{client}")).await;
            tokens.push(auth["accessToken"].as_str().expect("token").to_owned());
        }
        let rate = env_or("FITTRACK_BENCH_RATE", 500) as u32;
        let seconds = env_or("FITTRACK_BENCH_SECONDS", 10);
        drive("warm-up", &stack.router, &tokens, 1_000, log_body, logged).await;
        let mut open = drive_at_rate(
            "open loop",
            &stack.router,
            &tokens,
            rate,
            Duration::from_secs(seconds),
            log_body,
            logged,
        )
        .await;
        let mut closed = drive(
            "saturation",
            &stack.router,
            &tokens,
            SATURATION_REQUESTS,
            log_body,
            logged,
        )
        .await;
        // Spans still in the batches go out before counting.
        fittrack_kit::telemetry::shutdown();
        tokio::time::sleep(Duration::from_secs(6)).await;
        let spans = receiver.as_ref().map_or(0, |r| r.spans().len());
        let (open_p50, open_p99) = (
            common::percentile_ms(&mut open.latencies, 0.5),
            common::percentile_ms(&mut open.latencies, 0.99),
        );
        let (closed_p50, closed_p99) = (
            common::percentile_ms(&mut closed.latencies, 0.5),
            common::percentile_ms(&mut closed.latencies, 0.99),
        );
        println!(
            "ROW {rate}, {open_p50:.2} / {open_p99:.2} | {:.0}, {closed_p50:.2} / {closed_p99:.2} | {spans}",
            closed.rate()
        );
    });
}
