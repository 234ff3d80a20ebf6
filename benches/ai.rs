//! `cargo bench --bench ai`: with a 0-latency fake Gemini, event → subscriber
//! latency through the router, what fair dispatch saves the users queued
//! behind a burst, and how many live subscribers the stack holds through the
//! router (with memory per subscriber). The worker's throughput and
//! enqueue → stored latency: `cargo bench --bench worker`. Prints Markdown
//! for BENCHMARKS.md.

mod common;
use fittrack_testkit as support;

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use chrono::Utc;
use common::{percentile_ms, rss_kib};
use fittrack_ai::gemini::GeminiConfig;
use fittrack_kit::config::Secret;
use futures_util::StreamExt;
use serde_json::json;
use support::{gql, Stack, WsSubscription};
use uuid::Uuid;
use wiremock::MockServer;

const ROUTED_EVENTS: usize = 200;
const SUBSCRIBER_STEPS: [usize; 3] = [250, 1_000, 2_000];

fn gemini_config(server: &MockServer) -> GeminiConfig {
    GeminiConfig {
        api_key: Some(Secret::new("bench")),
        base_url: server.uri(),
        calls_per_minute: 1_000_000,
        ..GeminiConfig::default()
    }
}

/// One user's burst of this many jobs, then one job from each of
/// `BYSTANDERS` other users.
const BURST: usize = 200;
const BYSTANDERS: usize = 10;
/// What a Gemini call takes in the fairness bench.
const GEMINI_LATENCY: Duration = Duration::from_millis(25);

struct Fairness {
    bystander_p50_ms: f64,
    bystander_max_ms: f64,
    burst_done_ms: f64,
}

/// Enqueue → stored for the bystanders' jobs queued right behind a burst,
/// worker concurrency 4, `fair_window` 0 (queue order) or the default.
async fn burst_fairness(fair_window: usize) -> Fairness {
    use wiremock::{matchers::method, Mock, ResponseTemplate};
    let gemini = MockServer::start().await;
    let advice = json!({"summary": "Good session.", "highlights": ["Consistent"],
        "improvements": ["Stretch"], "nextWorkout": "Easy 30 min", "safetyNotes": ["Hydrate"]});
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(GEMINI_LATENCY)
                .set_body_json(
                    json!({"candidates": [{"content": {"parts": [{"text": advice.to_string()}]},
                                                      "finishReason": "STOP"}]}),
                ),
        )
        .mount(&gemini)
        .await;
    let dir = tempfile::tempdir().expect("dir");
    let mut config = fittrack_ai::AiConfig {
        data_dir: dir.path().to_owned(),
        namespace: format!("bench-{}", Uuid::new_v4().simple()),
        redis_url: std::env::var("REDIS_URL").ok().map(Secret::new),
        gemini: gemini_config(&gemini),
        limits: support::Limits::Relaxed.ai(),
        api: false,
        ..Default::default()
    };
    config.worker.concurrency = 4;
    config.worker.fair_window = fair_window;
    config.worker.consumer_name = Some("bench".into());
    config.worker.metrics_port = 0;
    let ai = fittrack_ai::build(&config)
        .await
        .expect("AI subgraph builds");
    let (queue, bus) = (ai.context.queue.clone(), ai.context.bus.clone());
    let event = |user: Uuid, id: Uuid| {
        json!({"event": "ActivityLogged", "activityId": id, "userId": user,
               "type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300,
               "startTime": Utc::now(), "metrics": {}})
        .to_string()
    };
    let burster = Uuid::new_v4();
    let bystanders: Vec<Uuid> = (0..BYSTANDERS).map(|_| Uuid::new_v4()).collect();
    let mut feeds: Vec<_> = std::iter::once(burster)
        .chain(bystanders.iter().copied())
        .map(|user| bus.subscribe(user))
        .collect();
    let mut enqueued_at = HashMap::new();
    let started = Instant::now();
    for _ in 0..BURST {
        queue
            .enqueue(&event(burster, Uuid::now_v7()))
            .await
            .expect("enqueue");
    }
    for user in &bystanders {
        let id = Uuid::now_v7();
        enqueued_at.insert(id, Instant::now());
        queue.enqueue(&event(*user, id)).await.expect("enqueue");
    }
    let stop = fittrack_kit::service::CancellationToken::new();
    ai.service.bind().await.expect("binds").spawn(stop.clone());

    let mut waits = Vec::with_capacity(BYSTANDERS);
    let mut burst_left = BURST;
    let mut burst_done = Duration::ZERO;
    let mut merged = futures_util::stream::select_all(feeds.drain(..));
    while waits.len() < BYSTANDERS || burst_left > 0 {
        let recommendation = tokio::time::timeout(Duration::from_secs(60), merged.next())
            .await
            .expect("worker keeps up")
            .expect("bus open");
        match enqueued_at.get(&recommendation.activity_id) {
            Some(at) => waits.push(at.elapsed()),
            None => {
                burst_left -= 1;
                burst_done = started.elapsed();
            }
        }
    }
    stop.cancel();
    let bystander_max_ms = waits.iter().max().expect("waits").as_secs_f64() * 1000.0;
    Fairness {
        bystander_p50_ms: percentile_ms(&mut waits, 0.5),
        bystander_max_ms,
        burst_done_ms: burst_done.as_secs_f64() * 1000.0,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let gemini = support::fake_gemini().await;
        let in_queue_order = burst_fairness(0).await;
        let fair = burst_fairness(fittrack_ai::config::DEFAULT_FAIR_WINDOW).await;

        let stack = Stack::start_with(Some(gemini_config(&gemini)), true).await;
        let (_, auth) = stack.register("bench").await;
        let token = auth["accessToken"].as_str().expect("token").to_owned();
        let init = json!({"Authorization": format!("Bearer {token}")});
        let added = "subscription { recommendationAdded { activityId } }";
        let log = "mutation($input: LogActivityInput!) { logActivity(input: $input) { id } }";
        let input = || json!({"input": {"type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300,
                                         "startTime": Utc::now().to_rfc3339()}});

        // Event → subscriber through the router, one event at a time.
        let mut live = WsSubscription::open(&stack.router_ws(), init.clone(), added)
            .await
            .expect("subscribe");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut routed = Vec::with_capacity(ROUTED_EVENTS);
        for _ in 0..ROUTED_EVENTS {
            gql(&stack.router, log, input(), Some(&token)).await.assert_ok();
            let logged = Instant::now();
            live.next(Duration::from_secs(10)).await.expect("delivered");
            routed.push(logged.elapsed());
        }
        drop(live);

        // Subscribers held through the router, and what each costs.
        let me = std::process::id();
        let mut rows = Vec::new();
        let mut subscribers: Vec<WsSubscription> = Vec::new();
        for target in SUBSCRIBER_STEPS {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (router_before, stack_before) = (rss_kib(stack.router_pid()), rss_kib(me));
            let before = subscribers.len();
            while subscribers.len() < target {
                subscribers.push(
                    WsSubscription::open(&stack.router_ws(), init.clone(), added)
                        .await
                        .expect("subscriber accepted"),
                );
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            let added_count = (subscribers.len() - before) as f64;
            let router_per = (rss_kib(stack.router_pid()).saturating_sub(router_before)) as f64 / added_count;
            let stack_per = (rss_kib(me).saturating_sub(stack_before)) as f64 / added_count;
            // Every subscriber receives the next recommendation.
            gql(&stack.router, log, input(), Some(&token)).await.assert_ok();
            let fanned = Instant::now();
            let mut delivered = 0;
            let mut missed: std::collections::BTreeMap<String, usize> = Default::default();
            for subscriber in &mut subscribers {
                match subscriber.next(Duration::from_secs(30)).await {
                    Ok(payload) if payload.get("errors").is_none() => delivered += 1,
                    Ok(payload) => *missed.entry(format!("next with errors: {}", payload["errors"][0]["message"])).or_default() += 1,
                    Err(why) => *missed.entry(why.chars().take(160).collect()).or_default() += 1,
                }
            }
            // Why the others did not get it, so a shortfall is explained.
            for (why, count) in &missed {
                eprintln!("{target} subscribers: {count} missed the event: {why}");
            }
            rows.push(format!(
                "| {target} | {delivered} | {:.0} | {router_per:.1} | {stack_per:.1} |",
                fanned.elapsed().as_secs_f64() * 1000.0
            ));
        }

        println!("Fake Gemini answers at once; embedded store; in-process queue and bus.\n");
        println!("| measure | value |");
        println!("|---|---|");
        println!(
            "| logActivity response → subscriber through the router, p50 / p99 ({ROUTED_EVENTS} events) | {:.1} ms / {:.1} ms |",
            percentile_ms(&mut routed, 0.5),
            percentile_ms(&mut routed, 0.99)
        );
        println!(
            "\n{BYSTANDERS} users' jobs queued right behind one user's burst of {BURST} ({} queue, Gemini {} ms, concurrency 4):\n",
            if std::env::var("REDIS_URL").is_ok() { "Redis" } else { "in-process" },
            GEMINI_LATENCY.as_millis()
        );
        println!("| dispatch | bystanders' enqueue → stored p50 / max | whole burst done |");
        println!("|---|---|---|");
        for (name, run) in [("queue order (`fair_window = 0`)", &in_queue_order), ("fair (`fair_window = 64`)", &fair)] {
            println!(
                "| {name} | {:.0} ms / {:.0} ms | {:.0} ms |",
                run.bystander_p50_ms, run.bystander_max_ms, run.burst_done_ms
            );
        }
        println!("\n| subscribers through the router | received the next event | fan-out to all (ms) | router KiB/subscriber | test process (client + subgraphs) KiB/subscriber |");
        println!("|---|---|---|---|---|");
        for row in rows {
            println!("{row}");
        }
    });
}
