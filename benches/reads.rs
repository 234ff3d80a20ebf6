//! `cargo bench --bench reads`: reads through the router against the same
//! reads straight at the subgraph (issue 15, targets 1 and 6), the
//! `User.activities` join against the same rows by the activity subgraph's
//! own query, and what the
//! dataloader window costs the three-subgraph read
//! (`me { activities { recommendation } }`: user → activity → AI), with a
//! 5 ms and a 1 ms window side by side in one run. Embedded backends, the real
//! router binary, 16 clients each signed in as its own user (the router cannot
//! merge their requests). Prints Markdown for BENCHMARKS.md.

mod common;
use fittrack_testkit as support;

use std::time::{Duration, Instant};

use chrono::Utc;
use common::{drive, drive_at_rate, Sample};
use serde_json::{json, Value};
use support::{gql, Stack};

const CLIENTS: usize = 16;
/// The open-loop rows: every path at the same offered load, well below the
/// router's saturation on this machine.
const OFFERED_RATE: u32 = 500;
const OFFERED_FOR: Duration = Duration::from_secs(8);
const REQUESTS: usize = 4_000;
const ACTIVITIES_PER_USER: usize = 5;

const ME: &str = "{ me { id email } }";
const ME_ACTIVITIES_RECOMMENDATIONS: &str =
    "{ me { activities(first: 5) { edges { node { id type recommendation { id summary } } } } } }";

/// The join (`User.activities`: the user subgraph, then the activity
/// subgraph's `_entities` through its loader) and the same rows asked of
/// the activity subgraph by its own query (one batched store read).
const ME_ACTIVITIES: &str = "{ me { activities(first: 5) { edges { node { id type } } } } }";
const MY_ACTIVITIES: &str = "{ myActivities(first: 5) { edges { node { id type } } } }";

fn me_activities() -> Value {
    json!({ "query": ME_ACTIVITIES })
}

fn my_activities() -> Value {
    json!({ "query": MY_ACTIVITIES })
}

fn has_five(edges: &Value) -> bool {
    edges
        .as_array()
        .is_some_and(|e| e.len() == ACTIVITIES_PER_USER)
}

fn has_joined_activities(body: &Value) -> bool {
    has_five(&body["data"]["me"]["activities"]["edges"])
}

fn has_my_activities(body: &Value) -> bool {
    has_five(&body["data"]["myActivities"]["edges"])
}

/// The AI subgraph's leg of the three-subgraph read, asked of it alone.
const MY_RECOMMENDATIONS: &str =
    "{ myRecommendations(first: 5) { edges { node { id summary } } } }";

fn my_recommendations() -> Value {
    json!({ "query": MY_RECOMMENDATIONS })
}

fn has_my_recommendations(body: &Value) -> bool {
    has_five(&body["data"]["myRecommendations"]["edges"])
}

fn me() -> Value {
    json!({ "query": ME })
}

fn me_activities_recommendations() -> Value {
    json!({ "query": ME_ACTIVITIES_RECOMMENDATIONS })
}

fn has_me(body: &Value) -> bool {
    body["data"]["me"]["email"].is_string()
}

/// Every activity of the page came back with its recommendation.
fn has_recommendations(body: &Value) -> bool {
    let edges = body["data"]["me"]["activities"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    edges.len() == ACTIVITIES_PER_USER
        && edges
            .iter()
            .all(|edge| edge["node"]["recommendation"]["summary"].is_string())
}

/// A row of the open-loop table: name, endpoint, body, check.
type Leg<'a> = (&'a str, &'a str, fn() -> Value, fn(&Value) -> bool);

/// A stack whose dataloaders wait `window`, with `CLIENTS` users who each
/// logged `ACTIVITIES_PER_USER` workouts and got every recommendation.
async fn stack_with_history(window: Duration) -> (Stack, Vec<String>) {
    let stack = Stack::builder().loader_delay(window).start().await;
    let mut tokens = Vec::new();
    for client in 0..CLIENTS {
        let (_, auth) = stack.register(&format!("reader{client}")).await;
        let token = auth["accessToken"].as_str().expect("token").to_owned();
        for _ in 0..ACTIVITIES_PER_USER {
            let input = json!({"type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300,
                               "startTime": Utc::now().to_rfc3339()});
            let logged = gql(
                &stack.router,
                "mutation($input: LogActivityInput!) { logActivity(input: $input) { id } }",
                json!({ "input": input }),
                Some(&token),
            )
            .await;
            assert!(logged.body["errors"].is_null(), "{:?}", logged.body);
        }
        tokens.push(token);
    }
    // Wait until the worker has written every recommendation.
    let deadline = Instant::now() + Duration::from_secs(60);
    for token in &tokens {
        loop {
            let read = gql(
                &stack.router,
                ME_ACTIVITIES_RECOMMENDATIONS,
                json!({}),
                Some(token),
            )
            .await;
            if has_recommendations(&read.body) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "recommendations missing: {:?}",
                read.body
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    (stack, tokens)
}

#[tokio::main]
async fn main() {
    common::note_embedded_backends_only();
    let mut rows: Vec<Sample> = Vec::new();
    let mut offered: Vec<Sample> = Vec::new();
    for window_ms in [5, 1] {
        let window = Duration::from_millis(window_ms);
        let (stack, tokens) = stack_with_history(window).await;
        // Warm up connections, JWKS caches and SQLite pages.
        drive(
            "",
            &stack.router,
            &tokens,
            REQUESTS,
            me_activities_recommendations,
            has_recommendations,
        )
        .await;
        if window_ms == 5 {
            for (path, url) in [
                ("straight at the user subgraph", &stack.user),
                ("through the router", &stack.router),
            ] {
                let name = format!("`me {{ id email }}` {path}");
                rows.push(drive(name, url, &tokens, REQUESTS, me, has_me).await);
            }
        }
        if window_ms == 1 {
            // Each path at the same offered load: the router's added latency
            // (target 1), and the three-subgraph read against its legs asked
            // of each subgraph alone.
            let legs: [Leg; 5] = [
                (
                    "`me { id email }` straight at the user subgraph",
                    &stack.user,
                    me,
                    has_me,
                ),
                (
                    "`me { id email }` through the router",
                    &stack.router,
                    me,
                    has_me,
                ),
                (
                    "`myActivities(first: 5)` straight at the activity subgraph",
                    &stack.activity,
                    my_activities,
                    has_my_activities,
                ),
                (
                    "`myRecommendations(first: 5)` straight at the AI subgraph",
                    &stack.ai,
                    my_recommendations,
                    has_my_recommendations,
                ),
                (
                    "`me { activities(first: 5) { … recommendation } }` through the router",
                    &stack.router,
                    me_activities_recommendations,
                    has_recommendations,
                ),
            ];
            for (name, url, body, check) in legs {
                offered.push(
                    drive_at_rate(name, url, &tokens, OFFERED_RATE, OFFERED_FOR, body, check).await,
                );
            }
            rows.push(
                drive("`myActivities(first: 5) { id type }` through the router (one subgraph, one query)",
                      &stack.router, &tokens, REQUESTS, my_activities, has_my_activities).await,
            );
            rows.push(
                drive("`me { activities(first: 5) { id type } }` through the router (the `User.activities` join)",
                      &stack.router, &tokens, REQUESTS, me_activities, has_joined_activities).await,
            );
        }
        rows.push(
            drive(
                format!("`me {{ activities(first: 5) {{ … recommendation }} }}` through the router, {window_ms} ms loader window"),
                &stack.router,
                &tokens,
                REQUESTS,
                me_activities_recommendations,
                has_recommendations,
            )
            .await,
        );
    }
    let profile = if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    };
    println!("{REQUESTS} requests per row, {CLIENTS} clients (one user each), embedded backends, {profile} profile\n");
    println!("| read | requests | req/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    for row in &mut rows {
        println!("{}", row.row());
    }
    println!(
        "\nOpen loop, {OFFERED_RATE} req/s offered for {} s per row (latency from when each request was due), 1 ms loader window\n",
        OFFERED_FOR.as_secs()
    );
    println!("| read | requests | req/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    for row in &mut offered {
        println!("{}", row.row());
    }
}
