//! `cargo bench --bench dashboard`: the admin dashboard through the router on a
//! seeded platform (embedded backends): the first request, which computes all
//! three parts in parallel, then cached requests from concurrent clients, and
//! what one cache miss costs each store.
//!
//! Results go to BENCHMARKS.md by hand; this prints Markdown tables.

mod common;
use fittrack_testkit as support;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use common::percentile_ms;
use fittrack_activity::{
    domain::model::{Activity, ActivityType, Metrics},
    storage::ActivityStore,
};
use fittrack_ai::{
    domain::model::{Advice, Recommendation, Source},
    storage::AiStore,
};
use serde_json::{json, Value};
use uuid::Uuid;

const ACTIVITIES: usize = 20_000;
const USERS: usize = 200;
const CACHED_REQUESTS: usize = 1_000;
const CLIENTS: usize = 8;
const MISS_SAMPLES: usize = 20;

const TYPES: [ActivityType; 9] = [
    ActivityType::Running,
    ActivityType::Cycling,
    ActivityType::Swimming,
    ActivityType::Weightlifting,
    ActivityType::Yoga,
    ActivityType::Cardio,
    ActivityType::Walking,
    ActivityType::Hiking,
    ActivityType::Other,
];

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// p50 and p99 of `samples`, in milliseconds.
fn quantiles(samples: &mut [Duration]) -> (f64, f64) {
    (percentile_ms(samples, 0.5), percentile_ms(samples, 0.99))
}

/// `ACTIVITIES` workouts spread over 90 days and `USERS` users, each with a
/// recommendation (a third of them from Gemini), written straight to the stores.
async fn seed(activities: Arc<dyn ActivityStore>, ai: Arc<dyn AiStore>) {
    let users: Arc<Vec<Uuid>> = Arc::new((0..USERS).map(|_| Uuid::new_v4()).collect());
    let mut writers = Vec::new();
    for writer in 0..CLIENTS {
        let (activities, ai, users) = (activities.clone(), ai.clone(), users.clone());
        writers.push(tokio::spawn(async move {
            for n in (writer..ACTIVITIES).step_by(CLIENTS) {
                let now = Utc::now();
                let activity = Activity {
                    id: Uuid::now_v7(),
                    user_id: users[n % USERS],
                    activity_type: TYPES[n % TYPES.len()],
                    duration_minutes: 20 + (n % 60) as i32,
                    calories_burned: 150 + (n % 400) as i32,
                    start_time: now - chrono::Duration::minutes((n * 6) as i64),
                    notes: None,
                    metrics: Metrics::default(),
                    idempotency_key: None,
                    created_at: now,
                    updated_at: now,
                    event_enqueued: true,
                    time_zone: None,
                };
                let recommendation = Recommendation {
                    id: Uuid::now_v7(),
                    activity_id: activity.id,
                    user_id: activity.user_id,
                    source: if n % 3 == 0 {
                        Source::Gemini
                    } else {
                        Source::Rules
                    },
                    advice: Advice {
                        summary: "Steady effort.".into(),
                        highlights: vec!["Consistent pace".into()],
                        improvements: vec![],
                        next_workout: "Easy 30 minutes".into(),
                        safety_notes: vec![],
                    },
                    created_at: now,
                };
                activities.insert(activity).await.expect("activity");
                ai.save_recommendation(recommendation)
                    .await
                    .expect("recommendation");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
}

async fn dashboard(client: &reqwest::Client, router: &str, token: &str, document: &str) -> Value {
    let body: Value = client
        .post(router)
        .bearer_auth(token)
        .json(&json!({"query": document, "operationName": "AdminDashboard"}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert!(body["errors"].is_null(), "{body}");
    body
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        common::note_embedded_backends_only();
        // No worker: the seeded recommendations are all the AI data there is.
        let stack = support::Stack::start_with(None, false).await;
        for n in 0..20 {
            stack.register(&format!("bench{n}")).await;
        }
        let (_, admin) = stack.register_admin("bench-admin").await;
        let document = std::fs::read_to_string(
            support::repo_root().join("clients/operations/Admin.graphql"),
        )
        .expect("clients/operations/Admin.graphql");

        let seeding = Instant::now();
        seed(stack.activity_store.clone(), stack.ai_context.store.clone()).await;
        eprintln!("seeded {ACTIVITIES} activities + recommendations in {:?}", seeding.elapsed());

        let client = reqwest::Client::new();
        let started = Instant::now();
        let first = dashboard(&client, &stack.router, &admin, &document).await;
        let cold = started.elapsed();
        let parts = &first["data"]["adminDashboard"];
        assert_eq!(parts["activities"]["totalActivities"], json!(ACTIVITIES));
        assert_eq!(parts["ai"]["recommendationsTotal"], json!(ACTIVITIES));

        let started = Instant::now();
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            let (client, router, admin, document) = (
                client.clone(),
                stack.router.clone(),
                admin.clone(),
                document.clone(),
            );
            clients.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                for _ in 0..CACHED_REQUESTS / CLIENTS {
                    let sent = Instant::now();
                    dashboard(&client, &router, &admin, &document).await;
                    latencies.push(sent.elapsed());
                }
                latencies
            }));
        }
        let mut cached = Vec::new();
        for client in clients {
            cached.extend(client.await.expect("client"));
        }
        let cached_total = started.elapsed();

        // What a cache miss costs each store (the user part is two small
        // GROUP BY/COUNT queries over 21 accounts here, left out).
        let mut activity_misses = Vec::new();
        let mut ai_misses = Vec::new();
        for _ in 0..MISS_SAMPLES {
            let sent = Instant::now();
            fittrack_activity::graphql::admin::platform_stats(stack.activity_store.as_ref())
                .await
                .expect("activity stats");
            activity_misses.push(sent.elapsed());
            let sent = Instant::now();
            let (counts, queue) = tokio::join!(
                stack.ai_context.store.recommendation_counts(),
                stack.ai_context.queue.stats()
            );
            counts.expect("counts");
            queue.expect("queue stats");
            ai_misses.push(sent.elapsed());
        }

        println!("{ACTIVITIES} activities and recommendations, {USERS} activity owners, embedded stores\n");
        println!("| request | count | req/s | p50 ms | p99 ms |");
        println!("|---|---|---|---|---|");
        println!("| first `AdminDashboard` (every part computed) | 1 | - | {:.2} | - |", millis(cold));
        let (p50, p99) = quantiles(&mut cached);
        println!(
            "| cached `AdminDashboard`, {CLIENTS} clients | {} | {:.0} | {p50:.2} | {p99:.2} |",
            cached.len(),
            cached.len() as f64 / cached_total.as_secs_f64()
        );
        println!("\n| cache miss, computed in the store | samples | p50 ms | p99 ms |");
        println!("|---|---|---|---|");
        let (p50, p99) = quantiles(&mut activity_misses);
        println!("| activity part (two aggregations) | {MISS_SAMPLES} | {p50:.2} | {p99:.2} |");
        let (p50, p99) = quantiles(&mut ai_misses);
        println!("| AI part (counts by source + queue stats) | {MISS_SAMPLES} | {p50:.2} | {p99:.2} |");
    });
}
