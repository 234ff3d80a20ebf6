//! `cargo bench --bench limits`: what the abuse limits cost, and what an attack
//! costs everyone else (issue 11). One run, one machine, Markdown out:
//!
//! 1. one limiter check, in process and (with `REDIS_URL`) on Redis;
//! 2. `{ me { id } }` through the router with the rate limits counting, and with
//!    counting off (`FITTRACK_RATE_LIMITS=off`), same stack set-up;
//! 3. `me` for a normal user alone, during a password spray from many addresses
//!    (aliased logins: argon2 work, bounded by the hashing slots), and during a
//!    flood from one address (refused at the router);
//! 4. how long each attack of the issue takes to be answered now;
//! 5. what each attack of issue 24 achieves (guesses checked, writes stored,
//!    the owner's sign-in afterwards): the section compiles against the
//!    testkit of the commit before that issue, so both sides come from one
//!    machine (`FITTRACK_BIN` names each side's `fittrack`);
//! 6. a storm of real sign-ins against the cores' argon2id limit, and another
//!    user's `me` meanwhile (issue 15, target 5).

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

/// `query` as a POST to `url` from `address`, with `token` if any.
fn request(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    address: &str,
) -> reqwest::RequestBuilder {
    let request = client
        .post(url)
        .header("x-forwarded-for", address)
        .json(&json!({"query": query}));
    match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    address: &str,
) -> u16 {
    let response = request(client, url, token, query, address)
        .send()
        .await
        .expect("sent");
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

/// One user's `me` from `address` every 20 ms until `until`: the latencies.
async fn me_every_20ms(stack: &Stack, token: &str, address: &str, until: Instant) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let mut samples = Vec::new();
    while Instant::now() < until {
        let sent = Instant::now();
        assert_eq!(
            post(&client, &stack.router, Some(token), ME, address).await,
            200
        );
        samples.push(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    samples
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
    let samples = me_every_20ms(stack, &token, "10.7.7.7", Instant::now() + ATTACK).await;
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        let _ = attacker.await;
    }
    (samples, attacks.load(Ordering::Relaxed))
}

/// How long the sign-in storm and the hashing baseline run.
const STORM: Duration = Duration::from_secs(8);
const STORM_CLIENTS: usize = 32;

/// Password checks a second this process does with nothing else running:
/// the hashing slots (one per core) kept full, the cores' limit for argon2id
/// at the parameters we ship. Run before any stack starts (the stacks'
/// user subgraph shares these slots).
async fn hashes_alone() -> f64 {
    use fittrack_user::domain::password::HashingSlots;
    let slots = HashingSlots::shared();
    let stored = slots
        .hash(support::PASSWORD.to_owned())
        .await
        .expect("a hash");
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..STORM_CLIENTS)
        .map(|_| {
            let (stored, done) = (stored.clone(), done.clone());
            tokio::spawn(async move {
                while started.elapsed() < STORM {
                    if let Ok(true) = slots
                        .verify(support::PASSWORD.to_owned(), stored.clone())
                        .await
                    {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// What a storm of real sign-ins (registered users, right passwords, each
/// from its own address, limits that never refuse) gets through, and what
/// another user's `me` costs meanwhile.
struct Storm {
    sign_ins: usize,
    busy: usize,
    elapsed: Duration,
    me: Vec<Duration>,
}

async fn sign_in_storm(stack: &Stack) -> Storm {
    let mut emails = Vec::new();
    for i in 0..STORM_CLIENTS {
        emails.push(stack.register(&format!("storm{i}")).await.0);
    }
    let (_, auth) = stack.register("bystander").await;
    let token = auth["accessToken"].as_str().expect("token").to_owned();
    let (sign_ins, busy) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Instant::now();
    let storm: Vec<_> = emails
        .into_iter()
        .enumerate()
        .map(|(i, email)| {
            let (url, sign_ins, busy) = (stack.router.clone(), sign_ins.clone(), busy.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let login = format!(
                    "mutation {{ login(email: \"{email}\", password: \"{}\") {{ accessToken }} }}",
                    support::PASSWORD
                );
                let address = format!("10.5.{}.{}", i / 250, i % 250 + 1);
                while started.elapsed() < STORM {
                    let body: serde_json::Value = request(&client, &url, None, &login, &address)
                        .send()
                        .await
                        .expect("sent")
                        .json()
                        .await
                        .expect("a GraphQL answer");
                    if body["data"]["login"]["accessToken"].is_string() {
                        sign_ins.fetch_add(1, Ordering::Relaxed);
                    } else if body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE" {
                        busy.fetch_add(1, Ordering::Relaxed);
                    } else {
                        panic!("a sign-in failed: {body}");
                    }
                }
            })
        })
        .collect();
    let me = me_every_20ms(stack, &token, "10.7.7.8", started + STORM).await;
    for task in storm {
        let _ = task.await;
    }
    Storm {
        sign_ins: sign_ins.load(Ordering::Relaxed),
        busy: busy.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        me,
    }
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

/// A random private address (counters on Redis outlive a run).
fn random_address() -> String {
    let bytes: [u8; 3] = rand::random();
    format!("10.{}.{}.{}", bytes[0], bytes[1], bytes[2].max(1))
}

/// `query` over HTTP as `address`; the response body.
async fn body_of(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    address: &str,
) -> serde_json::Value {
    request(client, url, token, query, address)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json")
}

fn error_codes(body: &serde_json::Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            e["extensions"]["code"]
                .as_str()
                .unwrap_or("(none)")
                .to_owned()
        })
        .collect()
}

/// "UNAUTHENTICATED 10, RATE_LIMITED 290": codes and how often.
fn tally(codes: &[String]) -> String {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for code in codes {
        *counts.entry(code.as_str()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(code, n)| format!("{code} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn aliased_logins(emails: &[String], password: &str) -> String {
    let fields: String = emails
        .iter()
        .enumerate()
        .map(|(i, email)| {
            format!("l{i}: login(email: {email:?}, password: {password:?}) {{ accessToken }} ")
        })
        .collect();
    format!("mutation {{ {fields} }}")
}

/// One graphql-transport-ws operation on a connection opened as `address`,
/// whose `connection_init` claims `claimed`; its error codes.
async fn ws_codes(url: &str, query: &str, address: &str, claimed: &str) -> Vec<String> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
    let mut request = url.into_client_request().expect("request");
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("h"),
    );
    headers.insert("x-forwarded-for", address.parse().expect("h"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connected");
    let send = |value: serde_json::Value| Message::Text(value.to_string().into());
    let init = json!({"type": "connection_init", "payload": {
        "x-forwarded-for": claimed, "x-real-ip": claimed, "forwarded": format!("for={claimed}")}});
    socket.send(send(init)).await.expect("init");
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": query}});
    socket.send(send(subscribe)).await.expect("subscribe");
    let mut codes = Vec::new();
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_secs(30), socket.next()).await
    {
        let Message::Text(text) = message else {
            continue;
        };
        let message: serde_json::Value = serde_json::from_str(&text).expect("json");
        match message["type"].as_str() {
            Some("next") => codes.extend(error_codes(&message["payload"])),
            Some("complete") => break,
            Some("error") => {
                codes.push("(operation refused)".into());
                break;
            }
            _ => {}
        }
    }
    codes
}

/// The owner's correct sign-in from a new address, presenting the device
/// token from their registration where the API has them; "signed in" or the
/// error codes.
async fn owner_signs_in(
    client: &reqwest::Client,
    stack: &Stack,
    email: &str,
    device: Option<&str>,
) -> String {
    let password = support::PASSWORD;
    let query = match device {
        Some(device) => format!(
            "mutation {{ login(email: {email:?}, password: {password:?}, deviceToken: {device:?}) {{ accessToken }} }}"
        ),
        None => format!(
            "mutation {{ login(email: {email:?}, password: {password:?}) {{ accessToken }} }}"
        ),
    };
    let body = body_of(client, &stack.router, None, &query, &random_address()).await;
    if body["data"]["login"]["accessToken"].is_string() {
        "signed in".into()
    } else {
        tally(&error_codes(&body))
    }
}

/// Issue 24's attacks against `stack` (shipped limits); (attack, outcome,
/// time the attack took).
async fn issue_24_attacks(stack: &Stack) -> Vec<(&'static str, String, Duration)> {
    let client = reqwest::Client::new();
    let mut rows = Vec::new();

    // 1. One address, 30 WebSocket connections each claiming another address
    //    in connection_init, 10 aliased wrong passwords for one account each.
    let (victim, _) = stack.register("ws-victim").await;
    let guesses: Vec<String> = (0..10).map(|_| victim.clone()).collect();
    let attacker = random_address();
    let started = Instant::now();
    let mut codes = Vec::new();
    for _ in 0..30 {
        codes.extend(
            ws_codes(
                &stack.router_ws(),
                &aliased_logins(&guesses, "wrong"),
                &attacker,
                &random_address(),
            )
            .await,
        );
    }
    let took = started.elapsed();
    let owner = owner_signs_in(&client, stack, &victim, None).await;
    rows.push((
        "WebSocket, one address, a forged address per connection: 300 wrong passwords for one account",
        format!("{}; the owner then: {owner}", tally(&codes)),
        took,
    ));

    // 2. 5 × 25 aliased wrong passwords, each request from a new address of one /64.
    let network: [u16; 2] = rand::random();
    let emails: Vec<String> = (0..25).map(|_| support::unique_email("v6")).collect();
    let started = Instant::now();
    let mut codes = Vec::new();
    for _ in 0..5 {
        let host: [u16; 4] = rand::random();
        let address = format!(
            "2001:db8:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
            network[0], network[1], host[0], host[1], host[2], host[3]
        );
        let body = body_of(
            &client,
            &stack.router,
            None,
            &aliased_logins(&emails, "Winter2026!"),
            &address,
        )
        .await;
        codes.extend(error_codes(&body));
    }
    rows.push((
        "IPv6: 125 guesses, a new address of one /64 per request of 25",
        tally(&codes),
        started.elapsed(),
    ));

    // 3. 1 000 wrong passwords for one account from 100 addresses, then the
    //    owner from the device they registered on, and from a new one.
    let (owner_email, auth) = stack.register("distributed").await;
    let owner_device = auth["deviceToken"].as_str().map(str::to_owned);
    let guesses: Vec<String> = (0..10).map(|_| owner_email.clone()).collect();
    let started = Instant::now();
    let mut codes = Vec::new();
    for _ in 0..100 {
        let body = body_of(
            &client,
            &stack.router,
            None,
            &aliased_logins(&guesses, "wrong"),
            &random_address(),
        )
        .await;
        codes.extend(error_codes(&body));
    }
    let took = started.elapsed();
    let known = match owner_device.as_deref() {
        Some(device) => owner_signs_in(&client, stack, &owner_email, Some(device)).await,
        None => "(no device tokens)".into(),
    };
    let unknown = owner_signs_in(&client, stack, &owner_email, None).await;
    rows.push((
        "Distributed: 1 000 wrong passwords for one account from 100 addresses",
        format!(
            "{}; the owner then, known device: {known}; new device: {unknown}",
            tally(&codes)
        ),
        took,
    ));

    // 4. Aliased writes: 3 requests of 30 aliased logActivity.
    let (_, auth) = stack.register("writer").await;
    let token = auth["accessToken"].as_str().expect("token").to_owned();
    let logs: String = (0..30)
        .map(|i| {
            format!(
                "w{i}: logActivity(input: {{type: RUNNING, durationMinutes: 30, caloriesBurned: 300, startTime: \"{}\"}}) {{ id }} ",
                chrono::Utc::now().to_rfc3339()
            )
        })
        .collect();
    let address = random_address();
    let started = Instant::now();
    for _ in 0..3 {
        body_of(
            &client,
            &stack.router,
            Some(&token),
            &format!("mutation {{ {logs} }}"),
            &address,
        )
        .await;
    }
    let took = started.elapsed();
    let stored = body_of(
        &client,
        &stack.router,
        Some(&token),
        "{ myActivities(first: 100) { nodes { id } } }",
        &address,
    )
    .await;
    let stored = stored["data"]["myActivities"]["nodes"]
        .as_array()
        .map_or(0, Vec::len);
    rows.push((
        "Aliased writes: 3 × 30 logActivity",
        format!("{stored} of 90 stored"),
        took,
    ));

    // 5. 30 aliased whole-history stats in one request.
    let stats: String = (0..30)
        .map(|i| format!("s{i}: myActivityStats {{ count }} "))
        .collect();
    let started = Instant::now();
    let body = body_of(
        &client,
        &stack.router,
        Some(&token),
        &format!("{{ {stats} }}"),
        &address,
    )
    .await;
    let answered = body["data"]
        .as_object()
        .map_or(0, |data| data.values().filter(|v| !v.is_null()).count());
    rows.push((
        "30 aliased myActivityStats",
        format!(
            "{answered} answered; errors: {}",
            tally(&error_codes(&body))
        ),
        started.elapsed(),
    ));

    // 6. A malformed date.
    let started = Instant::now();
    let body = body_of(
        &client,
        &stack.router,
        Some(&token),
        "mutation { logActivity(input: {type: RUNNING, durationMinutes: 30, caloriesBurned: 300, startTime: \"2026-11-31T07:00:00Z\"}) { id } }",
        &address,
    )
    .await;
    rows.push((
        "logActivity(startTime: \"2026-11-31T07:00:00Z\")",
        tally(&error_codes(&body)),
        started.elapsed(),
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
    // First, while nothing else runs: the cores' limit for password checks.
    let alone = hashes_alone().await;
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

    let shipped = Stack::start_with_production_limits(None, &[]).await;
    println!("\n## Issue 24's attacks, shipped limits\n");
    println!("| attack | outcome | took ms |\n|---|---|---|");
    for (name, outcome, took) in issue_24_attacks(&shipped).await {
        println!(
            "| {name} | {outcome} | {:.0} |",
            took.as_secs_f64() * 1000.0
        );
    }
    drop(shipped);

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
    drop(stack);

    // Issue 15, target 5: a storm of real sign-ins (relaxed limits, so
    // every one is hashed) against the cores' limit measured first.
    let stack = Stack::start().await;
    let mut storm = sign_in_storm(&stack).await;
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let rate = storm.sign_ins as f64 / storm.elapsed.as_secs_f64();
    println!(
        "\n## A sign-in storm: {STORM_CLIENTS} clients signing in as {STORM_CLIENTS} users for {} s, {cores} cores\n",
        STORM.as_secs()
    );
    println!("| measure | value |\n|---|---|");
    println!("| password checks/s, this process alone (the cores' limit) | {alone:.1} ({:.1} per core) |", alone / cores as f64);
    println!("| sign-ins/s through the router during the storm | {rate:.1} ({:.1} per core, {:.0} % of the limit) |", rate / cores as f64, 100.0 * rate / alone);
    println!(
        "| sign-ins refused busy (`SERVICE_UNAVAILABLE`) | {} |",
        storm.busy
    );
    println!(
        "| another user's `me` meanwhile ({} requests, one every 20 ms): p50 / p99 / max | {:.2} / {:.2} / {:.2} ms |",
        storm.me.len(),
        percentile_ms(&mut storm.me, 0.5),
        percentile_ms(&mut storm.me, 0.99),
        percentile_ms(&mut storm.me, 1.0)
    );
}
