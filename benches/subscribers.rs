//! `cargo bench --bench subscribers` (issue 15, target 4): many authenticated
//! live subscribers through the router, what each costs the router and the
//! AI subgraph (measured apart: the AI subgraph runs as its own
//! `fittrack serve ai` process), whether every one receives its events, and
//! event → client latency while events flow at a steady rate.
//!
//! Events are published on the Redis bus, as the workers do, so the AI
//! subgraph's relay and fan-out are what is measured, not the worker.
//! Needs Redis (`REDIS_URL`, default `redis://127.0.0.1:6379`).
//!
//! Size it with `FITTRACK_BENCH_USERS` (default 1 000), `FITTRACK_BENCH_PER_USER`
//! (subscriptions each, default and at most 10, the AI subgraph's cap; the
//! router opens one upstream WebSocket per user, so 1 shows what that costs),
//! `FITTRACK_BENCH_EVENT_RATE` (events/s, default
//! 1 000) and `FITTRACK_BENCH_EVENT_SECONDS` (default 10). Prints Markdown
//! for BENCHMARKS.md.

mod common;
use fittrack_testkit as support;

use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::Utc;
use common::{percentile_ms, rss_kib};
use fittrack_ai::{
    bus::{RecommendationBus, RedisBus},
    domain::model::{Advice, Recommendation, Source},
};
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};
use support::{Stack, WsSubscription};
use uuid::Uuid;

/// Subscriptions per user by default: the AI subgraph's default cap.
const PER_USER: u64 = 10;
/// Subscriptions being opened at once.
const OPENING: usize = 64;
const QUERY: &str = "subscription { recommendationAdded { activityId } }";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The bench holds tens of thousands of sockets (clients here, the router's
/// both sides, the AI subgraph's): raise the soft limit to the hard one for
/// this process and the processes it starts (the product's defaults stay).
fn raise_fd_limit() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            if soft < hard {
                if let Err(error) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                    eprintln!("cannot raise the fd limit: {error}");
                    return soft;
                }
            }
            hard
        }
        Err(_) => 0,
    }
}

/// A token for a user nobody registered, signed with the stack's key: the
/// subgraphs check signature, expiry and revocation, not that the account
/// exists, and thousands of registrations would only measure argon2.
fn mint_tokens(stack: &Stack, template: &str, users: usize) -> Vec<(Uuid, String)> {
    let (header, claims) = support::decode_unverified(template);
    let key = jsonwebtoken::EncodingKey::from_ed_pem(stack.signing_key_pem().as_bytes())
        .expect("the stack's signing key");
    let mut jwt_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    jwt_header.kid = header["kid"].as_str().map(str::to_owned);
    (0..users)
        .map(|_| {
            let user = Uuid::new_v4();
            let mut claims = claims.clone();
            claims["sub"] = json!(user);
            claims["sid"] = json!(Uuid::new_v4());
            let token = jsonwebtoken::encode(&jwt_header, &claims, &key).expect("sign");
            (user, token)
        })
        .collect()
}

/// `fittrack serve ai` on `port`, its bus on Redis in `namespace`, its
/// tokens checked against the stack's user subgraph.
fn start_ai_process(port: u16, namespace: &str, redis_url: &str, jwks_url: &str) -> Child {
    let data_dir = std::env::temp_dir().join(format!("fittrack-bench-ai-{port}"));
    std::fs::create_dir_all(&data_dir).expect("a data dir");
    Command::new(support::fittrack_binary())
        .args(["serve", "ai"])
        .current_dir(support::repo_root())
        .env_remove("DATABASE_URL")
        .env_remove("MONGODB_URI")
        .env_remove("GEMINI_API_KEY")
        .env("REDIS_URL", redis_url)
        .env("FITTRACK_NAMESPACE", namespace)
        .env("FITTRACK_DATA_DIR", &data_dir)
        .env("FITTRACK_JWKS_URL", jwks_url)
        .env("FITTRACK_AI__HTTP__PORT", port.to_string())
        .env("FITTRACK_AI__TASKS__WORKER", "false")
        .env("RUST_LOG", "warn")
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .spawn()
        .expect("fittrack serve ai starts")
}

fn recommendation(user_id: Uuid, activity_id: Uuid) -> Recommendation {
    Recommendation {
        id: Uuid::now_v7(),
        activity_id,
        user_id,
        source: Source::Rules,
        advice: Advice {
            summary: "Good session.".into(),
            highlights: vec!["Consistent".into()],
            improvements: vec!["Stretch".into()],
            next_workout: "Easy 30 min".into(),
            safety_notes: vec!["Hydrate".into()],
        },
        created_at: Utc::now(),
    }
}

/// What the subscribers received: when each activity's event reached each
/// of them.
#[derive(Default)]
struct Received {
    at: HashMap<Uuid, Vec<Instant>>,
    errors: HashMap<String, usize>,
}

fn main() {
    let fd_limit = raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(fd_limit));
}

async fn run(fd_limit: u64) {
    let users = env_or("FITTRACK_BENCH_USERS", 1_000) as usize;
    let rate = env_or("FITTRACK_BENCH_EVENT_RATE", 1_000);
    let seconds = env_or("FITTRACK_BENCH_EVENT_SECONDS", 10);
    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let per_user = env_or("FITTRACK_BENCH_PER_USER", PER_USER).clamp(1, PER_USER) as usize;
    let subscribers = users * per_user;

    let ai_port = support::free_port();
    let namespace = format!("bench-{}", Uuid::new_v4().simple());
    let stack = Stack::builder()
        .worker(false)
        .router_env(&[(
            "FITTRACK_AI_URL",
            &format!("http://127.0.0.1:{ai_port}/graphql"),
        )])
        .start()
        .await;
    let jwks_url = stack.user.replace("/graphql", "/.well-known/jwks.json");
    let mut ai = start_ai_process(ai_port, &namespace, &redis_url, &jwks_url);
    support::wait_until_up(&format!("http://127.0.0.1:{ai_port}/health")).await;
    let bus = RedisBus::connect_in(&namespace, &redis_url)
        .await
        .expect("the bus on Redis");

    let (_, auth) = stack.register("subscribers").await;
    let template = auth["accessToken"].as_str().expect("token").to_owned();
    let tokens = mint_tokens(&stack, &template, users);

    // One subscriber per user first, so the processes' fixed costs (pools,
    // caches, the first upstream connection) are not counted per subscriber.
    let received = Arc::new(Mutex::new(Received::default()));
    let router_ws = stack.router_ws();
    let open = |user: usize| {
        let init = json!({"Authorization": format!("Bearer {}", tokens[user % users].1)});
        let url = router_ws.clone();
        async move { WsSubscription::open(&url, init, QUERY).await }
    };
    let warm: Vec<WsSubscription> = stream::iter(0..OPENING.min(users))
        .map(open)
        .buffer_unordered(OPENING)
        .map(|opened| opened.expect("a subscription opens"))
        .collect()
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (router_before, ai_before) = (rss_kib(stack.router_pid()), rss_kib(ai.id()));

    let started = Instant::now();
    let opened: Vec<WsSubscription> = stream::iter(OPENING.min(users)..subscribers)
        .map(open)
        .buffer_unordered(OPENING)
        .map(|opened| opened.expect("a subscription opens"))
        .collect()
        .await;
    let open_time = started.elapsed();
    let held = warm.len() + opened.len();
    // Each subscriber's events, as they arrive.
    for mut subscription in warm.into_iter().chain(opened) {
        let received = received.clone();
        tokio::spawn(async move {
            loop {
                match subscription.next(Duration::from_secs(3_600)).await {
                    Ok(payload) => {
                        let at = Instant::now();
                        let mut received = received.lock().expect("not poisoned");
                        match activity_of(&payload) {
                            Some(activity) => received.at.entry(activity).or_default().push(at),
                            None => *received.errors.entry(error_of(&payload)).or_default() += 1,
                        }
                    }
                    Err(why) => {
                        let why: String = why.chars().take(160).collect();
                        *received
                            .lock()
                            .expect("not poisoned")
                            .errors
                            .entry(why)
                            .or_default() += 1;
                        return;
                    }
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (router_after, ai_after) = (rss_kib(stack.router_pid()), rss_kib(ai.id()));
    let added = (subscribers - OPENING.min(users)) as f64;
    let router_per = router_after.saturating_sub(router_before) as f64 / added;
    let ai_per = ai_after.saturating_sub(ai_before) as f64 / added;

    // Every subscription is live: one event per user reaches all of theirs.
    let mut probes = Vec::with_capacity(users);
    for (user, _) in &tokens {
        let activity = Uuid::new_v4();
        bus.publish(&recommendation(*user, activity))
            .await
            .expect("publish");
        probes.push(activity);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let probed = loop {
        let reached: usize = {
            let received = received.lock().expect("not poisoned");
            probes
                .iter()
                .map(|a| received.at.get(a).map_or(0, Vec::len))
                .sum()
        };
        if reached == subscribers || Instant::now() > deadline {
            break reached;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // A steady stream: `rate` events a second, each for one user (round
    // robin), so each reaches `per_user` subscribers.
    let events = (rate * seconds) as usize;
    let mut published: Vec<(Uuid, Instant)> = Vec::with_capacity(events);
    let tick = Duration::from_millis(10);
    let per_tick = (rate as usize / 100).max(1);
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut user = 0;
    let flow_started = Instant::now();
    while published.len() < events {
        ticker.tick().await;
        for _ in 0..per_tick.min(events - published.len()) {
            let activity = Uuid::new_v4();
            let at = Instant::now();
            bus.publish(&recommendation(tokens[user % users].0, activity))
                .await
                .expect("publish");
            published.push((activity, at));
            user += 1;
        }
    }
    let offered = published.len() as f64 / flow_started.elapsed().as_secs_f64();
    // Then wait for the stragglers.
    let expected = published.len() * per_user;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let delivered: usize = {
            let received = received.lock().expect("not poisoned");
            published
                .iter()
                .map(|(a, _)| received.at.get(a).map_or(0, Vec::len))
                .sum()
        };
        if delivered >= expected || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (mut latencies, delivered, errors) = {
        let received = received.lock().expect("not poisoned");
        let mut latencies = Vec::with_capacity(expected);
        for (activity, at) in &published {
            for arrived in received.at.get(activity).into_iter().flatten() {
                latencies.push(arrived.duration_since(*at));
            }
        }
        let delivered = latencies.len();
        (latencies, delivered, received.errors.clone())
    };
    for (why, count) in &errors {
        eprintln!("{count} × {why}");
    }
    // The router first, so it does not log the AI subgraph going away.
    drop(stack);
    let _ = ai.kill();
    let _ = ai.wait();

    println!("Redis bus, AI subgraph as its own process (`fittrack serve ai`), router in front; fd limit {fd_limit}.\n");
    println!("| measure | value |");
    println!("|---|---|");
    println!("| subscribers held ({users} users × {per_user}) | {held} |");
    println!(
        "| opened in | {:.1} s ({:.0}/s, {OPENING} at a time) |",
        open_time.as_secs_f64(),
        (subscribers - OPENING.min(users)) as f64 / open_time.as_secs_f64()
    );
    println!(
        "| router RSS before → after | {} → {} MiB |",
        router_before / 1024,
        router_after / 1024
    );
    println!("| router per subscriber | {router_per:.1} KiB |");
    println!(
        "| AI subgraph RSS before → after | {} → {} MiB |",
        ai_before / 1024,
        ai_after / 1024
    );
    println!("| AI subgraph per subscriber | {ai_per:.1} KiB |");
    println!("| one event per user reached | {probed} of {subscribers} |");
    println!(
        "| events published (offered rate) | {} ({offered:.0}/s) |",
        published.len()
    );
    println!(
        "| deliveries (each event × {per_user}) | {delivered} of {expected} ({} lost) |",
        expected - delivered.min(expected)
    );
    if !latencies.is_empty() {
        println!(
            "| event → client p50 / p99 / max | {:.1} / {:.1} / {:.1} ms |",
            percentile_ms(&mut latencies, 0.5),
            percentile_ms(&mut latencies, 0.99),
            percentile_ms(&mut latencies, 1.0)
        );
    }
    println!(
        "| subscribers ended with an error | {} |",
        errors.values().sum::<usize>()
    );
}

fn activity_of(payload: &Value) -> Option<Uuid> {
    payload["data"]["recommendationAdded"]["activityId"]
        .as_str()
        .and_then(|id| id.parse().ok())
}

fn error_of(payload: &Value) -> String {
    payload["errors"][0]["message"]
        .as_str()
        .unwrap_or("a payload without data")
        .to_owned()
}
