//! `cargo bench --bench worker`: the recommendation worker alone, built as
//! `fittrack worker` builds it (the AI root with the API off), Gemini at a
//! fake that answers at once, the embedded store. Issue 15's target 3:
//!
//! - throughput: `JOBS` events from `USERS` users enqueued at once, drained
//!   at several worker concurrencies;
//! - steady state: `STEADY_RATE` events a second offered for
//!   `STEADY_SECONDS`, enqueue → stored (seen on the bus) p50 / p99 / max,
//!   the first `WARM_UP_SECONDS` left out.
//!
//! Each with the in-process queue and bus, and again with both on Redis when
//! `REDIS_URL` is set. Prints Markdown for BENCHMARKS.md.

mod common;
use fittrack_testkit as support;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::Utc;
use common::percentile_ms;
use fittrack_ai::gemini::GeminiConfig;
use fittrack_kit::{config::Secret, service::CancellationToken};
use futures_util::StreamExt;
use serde_json::json;
use uuid::Uuid;
use wiremock::MockServer;

const JOBS: usize = 4_000;
const USERS: usize = 16;
const CONCURRENCIES: [usize; 4] = [4, 16, 32, 64];
const STEADY_RATE: u64 = 500;
const STEADY_SECONDS: u64 = 12;
const WARM_UP_SECONDS: u64 = 2;

/// A worker as `fittrack worker` runs it, and the users whose stored
/// recommendations the bench watches.
struct Bench {
    ai: Option<fittrack_ai::AiService>,
    queue: Arc<dyn fittrack_kit::queue::JobQueue>,
    users: Vec<Uuid>,
    /// Activity id → when its event was enqueued.
    enqueued_at: Arc<Mutex<HashMap<Uuid, Instant>>>,
    stored: futures_util::stream::SelectAll<
        futures_util::stream::BoxStream<
            'static,
            Option<fittrack_ai::domain::model::Recommendation>,
        >,
    >,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn new(gemini: &MockServer, redis_url: Option<&str>, concurrency: usize) -> Bench {
        let dir = tempfile::tempdir().expect("dir");
        let mut config = fittrack_ai::AiConfig {
            data_dir: dir.path().to_owned(),
            namespace: format!("bench-{}", Uuid::new_v4().simple()),
            redis_url: redis_url.map(Secret::new),
            gemini: GeminiConfig {
                api_key: Some(Secret::new("bench")),
                base_url: gemini.uri(),
                calls_per_minute: 1_000_000,
                ..GeminiConfig::default()
            },
            limits: support::Limits::Relaxed.ai(),
            api: false,
            ..Default::default()
        };
        config.worker.concurrency = concurrency;
        config.worker.consumer_name = Some("bench".into());
        config.worker.metrics_port = 0;
        let ai = fittrack_ai::build(&config)
            .await
            .expect("AI subgraph builds");
        let (queue, bus) = (ai.context.queue.clone(), ai.context.bus.clone());
        let users: Vec<Uuid> = (0..USERS).map(|_| Uuid::new_v4()).collect();
        // A feed ends only if it lagged (or the bus closed): say so rather
        // than wait for recommendations it dropped.
        let stored = futures_util::stream::select_all(users.iter().map(|user| {
            bus.subscribe(*user)
                .map(Some)
                .chain(futures_util::stream::once(async { None }))
                .boxed()
        }));
        // Redis pub/sub subscriptions are asynchronous: let them settle.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Bench {
            ai: Some(ai),
            queue,
            users,
            enqueued_at: Default::default(),
            stored,
            stop: CancellationToken::new(),
            _dir: dir,
        }
    }

    async fn start_worker(&mut self) {
        let ai = self.ai.take().expect("started once");
        ai.service
            .bind()
            .await
            .expect("binds")
            .spawn(self.stop.clone());
    }

    /// Enqueues one `ActivityLogged` event for the `n`th user (round robin).
    async fn enqueue(
        queue: &dyn fittrack_kit::queue::JobQueue,
        users: &[Uuid],
        enqueued_at: &Mutex<HashMap<Uuid, Instant>>,
        n: usize,
    ) {
        let id = Uuid::now_v7();
        let event =
            json!({"event": "ActivityLogged", "activityId": id, "userId": users[n % users.len()],
                           "type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300,
                           "startTime": Utc::now(), "metrics": {}})
            .to_string();
        enqueued_at.lock().expect("map").insert(id, Instant::now());
        queue.enqueue(&event).await.expect("enqueue");
    }

    /// Waits for `jobs` recommendations; for each, when its event was
    /// enqueued and how long until it was stored.
    async fn collect(&mut self, jobs: usize) -> Vec<(Instant, Duration)> {
        let mut seen = Vec::with_capacity(jobs);
        while seen.len() < jobs {
            let recommendation = tokio::time::timeout(Duration::from_secs(60), self.stored.next())
                .await
                .expect("the worker keeps up")
                .flatten()
                .expect("no feed lagged behind the bus");
            let at = self
                .enqueued_at
                .lock()
                .expect("map")
                .remove(&recommendation.activity_id);
            if let Some(at) = at {
                seen.push((at, at.elapsed()));
            }
        }
        seen
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Jobs a second draining `JOBS` events enqueued before the worker starts.
async fn throughput(gemini: &MockServer, redis_url: Option<&str>, concurrency: usize) -> f64 {
    let mut bench = Bench::new(gemini, redis_url, concurrency).await;
    for n in 0..JOBS {
        Bench::enqueue(bench.queue.as_ref(), &bench.users, &bench.enqueued_at, n).await;
    }
    let started = Instant::now();
    bench.start_worker().await;
    bench.collect(JOBS).await;
    JOBS as f64 / started.elapsed().as_secs_f64()
}

/// Enqueue → stored at `STEADY_RATE` events a second, after the warm-up:
/// (p50, p99, max) in ms, and how many jobs were measured.
async fn steady(
    gemini: &MockServer,
    redis_url: Option<&str>,
    concurrency: usize,
) -> (f64, f64, f64, usize) {
    let mut bench = Bench::new(gemini, redis_url, concurrency).await;
    bench.start_worker().await;
    let total = (STEADY_RATE * STEADY_SECONDS) as usize;
    let (queue, users, enqueued_at) = (
        bench.queue.clone(),
        bench.users.clone(),
        bench.enqueued_at.clone(),
    );
    let started = Instant::now();
    let offered = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(1) / STEADY_RATE as u32);
        for n in 0..total {
            ticks.tick().await;
            Bench::enqueue(queue.as_ref(), &users, &enqueued_at, n).await;
        }
        started.elapsed()
    });
    let seen = bench.collect(total).await;
    let offered_for = offered.await.expect("enqueuer");
    assert!(
        offered_for < Duration::from_secs(STEADY_SECONDS) + Duration::from_millis(500),
        "the enqueuer fell behind the offered rate ({offered_for:?})"
    );
    let warm = started + Duration::from_secs(WARM_UP_SECONDS);
    let mut latencies: Vec<Duration> = seen
        .into_iter()
        .filter(|(at, _)| *at >= warm)
        .map(|(_, took)| took)
        .collect();
    let max = latencies.iter().max().copied().unwrap_or_default();
    (
        percentile_ms(&mut latencies, 0.5),
        percentile_ms(&mut latencies, 0.99),
        max.as_secs_f64() * 1000.0,
        latencies.len(),
    )
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // RUST_LOG=warn shows what the worker logs (a lagging bus, say).
    if std::env::var_os("RUST_LOG").is_some() {
        fittrack_kit::telemetry::init();
    }
    runtime.block_on(async {
        let gemini = support::fake_gemini().await;
        let redis = std::env::var("REDIS_URL").ok();
        if redis.is_none() {
            eprintln!("note: REDIS_URL is not set; only the in-process queue and bus are measured");
        }
        let default_concurrency = fittrack_ai::config::WorkerConfig::default().concurrency;
        let mut rows = Vec::new();
        for (name, url) in [("in process", None), ("Redis", redis.as_deref())] {
            if name == "Redis" && url.is_none() {
                continue;
            }
            let mut rates = Vec::new();
            for concurrency in CONCURRENCIES {
                rates.push(format!(
                    "{:.0}",
                    throughput(&gemini, url, concurrency).await
                ));
            }
            let (p50, p99, max, measured) = steady(&gemini, url, default_concurrency).await;
            rows.push(format!(
                "| {name} | {} | {p50:.2} / {p99:.2} / {max:.2} ({measured} jobs) |",
                rates.join(" | ")
            ));
        }
        println!(
            "Worker alone, fake Gemini answering at once, embedded store, {USERS} users; \
             throughput drains {JOBS} queued events; steady state offers {STEADY_RATE} events/s \
             for {STEADY_SECONDS} s at the default concurrency ({default_concurrency}), the first \
             {WARM_UP_SECONDS} s left out.\n"
        );
        let heads: Vec<String> = CONCURRENCIES
            .iter()
            .map(|c| format!("jobs/s at concurrency {c}"))
            .collect();
        println!(
            "| queue and bus | {} | steady {STEADY_RATE}/s: enqueue → stored p50 / p99 / max ms |",
            heads.join(" | ")
        );
        println!("|---|{}---|", "---|".repeat(CONCURRENCIES.len()));
        for row in rows {
            println!("{row}");
        }
    });
}
