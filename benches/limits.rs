//! `cargo bench --bench limits`: what the abuse limits cost, and what an attack
//! costs everyone else (issue 11). One run, one machine, Markdown out:
//!
//! 1. one limiter check, in process and (with `REDIS_URL`) on Redis;
//! 2. `{ me { id } }` through the router with the rate limits counting, and with
//!    counting off (`FITTRACK_RATE_LIMITS=off`), same stack set-up;
//! 3. `me` for a normal user alone, during a password spray from many addresses
//!    (aliased logins: argon2 work, bounded by the hashing slots), and during a
//!    flood from one address (refused at the router);
//! 4. how long each attack of the issue takes to be answered now.

mod common;
use fittrack_testkit as support;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use common::percentile_ms;
use fittrack_kit::ratelimit::{MemoryRateLimiter, Quota, RateLimiter, RedisRateLimiter};
use serde_json::json;
use support::Stack;

const CHECKS: usize = 20_000;
const REQUESTS_PER_CLIENT: usize = 500;
const CLIENTS: usize = 4;
const ATTACK: Duration = Duration::from_secs(8);
const ME: &str = "{ me { id } }";

fn row(name: &str, samples: &mut [Duration], total: Option<Duration>) -> String {
    let rate = total.map_or("–".to_owned(), |t| {
        format!("{:.0}", samples.len() as f64 / t.as_secs_f64())
    });
    format!(
        "| {name} | {} | {rate} | {:.3} | {:.3} |",
        samples.len(),
        percentile_ms(samples, 0.5),
        percentile_ms(samples, 0.99)
    )
}

async fn limiter_checks(limiter: Arc<dyn RateLimiter>) -> Vec<Duration> {
    let quota = Quota::per_minute(1_000_000_000);
    let mut samples = Vec::with_capacity(CHECKS);
    for i in 0..CHECKS {
        let key = format!("bench:{}", i % 1_000);
        let started = Instant::now();
        limiter.check(&key, quota, 1).await.expect("check");
        samples.push(started.elapsed());
    }
    samples
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    address: &str,
) -> u16 {
    let mut request = client
        .post(url)
        .header("x-forwarded-for", address)
        .json(&json!({"query": query}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let _ = response.bytes().await;
    status
}

/// `CLIENTS` concurrent users each sending `me`; (latencies, wall time).
async fn me_load(stack: &Stack) -> (Vec<Duration>, Duration) {
    let mut tokens = Vec::new();
    for i in 0..CLIENTS {
        let (_, auth) = stack.register(&format!("load{i}")).await;
        tokens.push(auth["accessToken"].as_str().expect("token").to_owned());
    }
    // Every client warms up, then all start measuring together.
    let start_line = Arc::new(tokio::sync::Barrier::new(CLIENTS));
    let tasks: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            let url = stack.router.clone();
            let start_line = start_line.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let address = format!("10.6.6.{}", i + 1);
                // Warm-up (connections, JWKS, caches), not measured.
                for _ in 0..100 {
                    post(&client, &url, Some(&token), ME, &address).await;
                }
                start_line.wait().await;
                let started = Instant::now();
                let mut samples = Vec::with_capacity(REQUESTS_PER_CLIENT);
                for _ in 0..REQUESTS_PER_CLIENT {
                    let sent = Instant::now();
                    assert_eq!(post(&client, &url, Some(&token), ME, &address).await, 200);
                    samples.push(sent.elapsed());
                }
                (samples, started.elapsed())
            })
        })
        .collect();
    let mut samples = Vec::new();
    let mut wall = Duration::ZERO;
    for task in tasks {
        let (client_samples, client_wall) = task.await.expect("client");
        samples.extend(client_samples);
        wall = wall.max(client_wall);
    }
    (samples, wall)
}

/// One user's `me` latencies while `attack` runs in the background for ATTACK.
async fn me_during(stack: &Stack, attack: Option<Attack>) -> (Vec<Duration>, usize) {
    let (_, auth) = stack.register("victim").await;
    let token = auth["accessToken"].as_str().expect("token").to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let attacks = Arc::new(AtomicUsize::new(0));
    let mut attackers = Vec::new();
    if let Some(attack) = attack {
        for worker in 0..8 {
            let (url, stop, attacks) = (stack.router.clone(), stop.clone(), attacks.clone());
            attackers.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut round = 0_usize;
                while !stop.load(Ordering::Relaxed) {
                    round += 1;
                    let (query, address) = match attack {
                        Attack::Spray => {
                            let logins: String = (0..10)
                                .map(|i| {
                                    format!(
                                        "l{i}: login(email: \"sprayed{worker}-{round}-{i}@example.com\", password: \"Winter2026!\") {{ accessToken }} "
                                    )
                                })
                                .collect();
                            (format!("mutation {{ {logins} }}"), format!("10.9.{worker}.{}", round % 250 + 1))
                        }
                        Attack::Flood => ("{ __typename }".to_owned(), "10.8.8.8".to_owned()),
                    };
                    post(&client, &url, None, &query, &address).await;
                    attacks.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
    }
    let client = reqwest::Client::new();
    let mut samples = Vec::new();
    let started = Instant::now();
    while started.elapsed() < ATTACK {
        let sent = Instant::now();
        assert_eq!(
            post(&client, &stack.router, Some(&token), ME, "10.7.7.7").await,
            200
        );
        samples.push(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        let _ = attacker.await;
    }
    (samples, attacks.load(Ordering::Relaxed))
}

/// Each attack from the issue, sent once; (what, time to the answer, answer).
async fn attacks(stack: &Stack) -> Vec<(&'static str, Duration, String)> {
    let (_, auth) = stack.register("attacked").await;
    let token = auth["accessToken"].as_str().expect("token").to_owned();
    let client = reqwest::Client::new();
    let nested = "{ myActivities(first: 100) { nodes { user { activities(first: 100) { nodes { user { activities(first: 100) { nodes { id notes } } } } } } } } }".to_owned();
    let logins: String = (0..200)
        .map(|i| {
            format!(
                "l{i}: login(email: \"v{i}@example.com\", password: \"guess\") {{ accessToken }} "
            )
        })
        .collect();
    let sprayed_25: String = (0..25)
        .map(|i| {
            format!(
                "l{i}: login(email: \"w{i}@example.com\", password: \"guess\") {{ accessToken }} "
            )
        })
        .collect();
    let aliases: String = (0..1000).map(|i| format!("a{i}: me {{ id }} ")).collect();
    let cases = [
        (
            "nested myActivities(first: 100) × 3",
            nested,
            Some(token.as_str()),
        ),
        (
            "200 aliased logins",
            format!("mutation {{ {logins} }}"),
            None,
        ),
        (
            "25 aliased logins (under the alias limit)",
            format!("mutation {{ {sprayed_25} }}"),
            None,
        ),
        (
            "1 000 aliases",
            format!("{{ {aliases} }}"),
            Some(token.as_str()),
        ),
    ];
    let mut rows = Vec::new();
    for (name, query, token) in cases {
        let started = Instant::now();
        let mut request = client
            .post(&stack.router)
            .header("x-forwarded-for", "10.5.5.5")
            .json(&json!({"query": query}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let body: serde_json::Value = request
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        let elapsed = started.elapsed();
        let mut codes: Vec<String> = body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let total = codes.len();
        codes.sort();
        codes.dedup_by(|a, b| a == b);
        rows.push((
            name,
            elapsed,
            format!("{total} errors: {}", codes.join(", ")),
        ));
    }
    let big = "x".repeat(300 * 1024);
    let started = Instant::now();
    let status = client
        .post(&stack.router)
        .json(&json!({"query": "{ __typename }", "variables": {"big": big}}))
        .send()
        .await
        .expect("sent")
        .status();
    rows.push((
        "300 KB body",
        started.elapsed(),
        format!("HTTP {}", status.as_u16()),
    ));
    rows
}

#[derive(Clone, Copy)]
enum Attack {
    Spray,
    Flood,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("## Limiter check ({CHECKS} checks over 1 000 keys, one task)\n");
    println!("| backend | checks | checks/s | p50 ms | p99 ms |\n|---|---|---|---|---|");
    let started = Instant::now();
    let mut memory = limiter_checks(Arc::new(MemoryRateLimiter::default())).await;
    println!(
        "{}",
        row("in process", &mut memory, Some(started.elapsed()))
    );
    if let Ok(url) = std::env::var("REDIS_URL") {
        let redis = RedisRateLimiter::connect(
            &url,
            &format!("fittrack:bench:{}:", uuid::Uuid::new_v4().simple()),
        )
        .await
        .expect("redis");
        let started = Instant::now();
        let mut samples = limiter_checks(Arc::new(redis)).await;
        println!(
            "{}",
            row("Redis (Lua GCRA)", &mut samples, Some(started.elapsed()))
        );
    }

    // Counting on (never refusing: the bench's users stay under the limit) vs off.
    let plenty = [("FITTRACK_LIMIT_PER_USER", "100000000/60")];
    let off_env = [plenty[0], ("FITTRACK_RATE_LIMITS", "off")];
    let not_counting = Stack::start_with_production_limits(None, &off_env).await;
    let (mut off, off_total) = me_load(&not_counting).await;
    drop(not_counting);
    let counting = Stack::start_with_production_limits(None, &plenty).await;
    let (mut on, on_total) = me_load(&counting).await;
    drop(counting);
    println!("\n## `{ME}` through the router, {CLIENTS} clients × {REQUESTS_PER_CLIENT}\n");
    println!("| rate limits | requests | req/s | p50 ms | p99 ms |\n|---|---|---|---|---|");
    println!("{}", row("counting", &mut on, Some(on_total)));
    println!("{}", row("off", &mut off, Some(off_total)));

    let stack = Stack::start_with_production_limits(None, &plenty).await;
    println!("\n## The issue's attacks, answered\n");
    println!("| attack | answered in ms | answer |\n|---|---|---|");
    for (name, elapsed, answer) in attacks(&stack).await {
        println!(
            "| {name} | {:.1} | {answer} |",
            elapsed.as_secs_f64() * 1000.0
        );
    }
    println!(
        "\n## A normal user's `me` (one request every 20 ms for {} s)\n",
        ATTACK.as_secs()
    );
    println!("| while | attack requests | me requests | p50 ms | p99 ms |\n|---|---|---|---|---|");
    for (name, attack) in [
        ("nothing else", None),
        (
            "a spray: 8 clients, 10 aliased logins per request, rotating addresses",
            Some(Attack::Spray),
        ),
        (
            "a flood: 8 clients, anonymous, one address",
            Some(Attack::Flood),
        ),
    ] {
        let (mut samples, attacks) = me_during(&stack, attack).await;
        println!(
            "| {name} | {attacks} | {} | {:.2} | {:.2} |",
            samples.len(),
            percentile_ms(&mut samples, 0.5),
            percentile_ms(&mut samples, 0.99)
        );
    }
}
