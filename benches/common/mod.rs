//! What the bench binaries share; each uses the part it needs.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use fittrack_router::RouterGlobalAllocator;
use serde_json::Value;

// The services a bench runs in its own process allocate as they do in the
// `fittrack` binary (mimalloc, src/main.rs), not through glibc's malloc, which
// took 12 % of the worker bench's samples.
fittrack_router::configure_global_allocator!();

/// The `q` quantile (0.0–1.0) of `samples` in milliseconds (nearest rank);
/// sorts `samples`.
pub fn percentile_ms(samples: &mut [Duration], q: f64) -> f64 {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[index].as_secs_f64() * 1000.0
}

/// Resident memory of process `pid` in KiB (0 if it cannot be read).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// One GraphQL POST as `token`; the answer's JSON.
async fn post_json(client: &reqwest::Client, url: &str, token: &str, body: &Value) -> Value {
    client
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

/// Says so when the environment names real services: these benches measure
/// the embedded backends only.
pub fn note_embedded_backends_only() {
    for var in ["DATABASE_URL", "MONGODB_URI", "REDIS_URL"] {
        if std::env::var_os(var).is_some() {
            eprintln!("note: {var} is set; the bench measures the embedded backends only");
        }
    }
}

/// The latencies of one path, and how long they took together.
pub struct Sample {
    pub name: String,
    pub total: Duration,
    pub latencies: Vec<Duration>,
}

impl Sample {
    /// Requests per second over the whole run.
    pub fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.total.as_secs_f64()
    }

    /// `| name | requests | req/s | p50 ms | p99 ms |`
    pub fn row(&mut self) -> String {
        let rate = self.rate();
        let (p50, p99) = (
            percentile_ms(&mut self.latencies, 0.5),
            percentile_ms(&mut self.latencies, 0.99),
        );
        format!(
            "| {} | {} | {rate:.0} | {p50:.2} | {p99:.2} |",
            self.name,
            self.latencies.len()
        )
    }
}

/// `requests` GraphQL POSTs to `url`, shared by one client per token, all
/// at once; each body comes from `body()`, and each answer must be free of
/// errors and pass `check`.
pub async fn drive(
    name: impl Into<String>,
    url: &str,
    tokens: &[String],
    requests: usize,
    body: fn() -> Value,
    check: fn(&Value) -> bool,
) -> Sample {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut clients = Vec::new();
    for token in tokens {
        let (client, url, token) = (client.clone(), url.to_owned(), token.clone());
        let each = requests / tokens.len();
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(each);
            for _ in 0..each {
                let sent = Instant::now();
                let answer = post_json(&client, &url, &token, &body()).await;
                latencies.push(sent.elapsed());
                assert!(answer["errors"].is_null() && check(&answer), "{answer}");
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.expect("client"));
    }
    Sample {
        name: name.into(),
        total: started.elapsed(),
        latencies,
    }
}

/// Open loop: `rate` requests a second for `duration`, whatever the answers
/// take (round robin over `tokens`), each latency counted from when the
/// request was due, so a stall shows in the tail instead of slowing the
/// load (no coordinated omission). Compares paths at the same offered load,
/// below saturation, where a closed loop would compare their saturations.
pub async fn drive_at_rate(
    name: impl Into<String>,
    url: &str,
    tokens: &[String],
    rate: u32,
    duration: Duration,
    body: fn() -> Value,
    check: fn(&Value) -> bool,
) -> Sample {
    let client = reqwest::Client::new();
    let interval = Duration::from_secs(1) / rate;
    let requests = (duration.as_secs_f64() * f64::from(rate)) as usize;
    let started = tokio::time::Instant::now();
    let mut in_flight = Vec::with_capacity(requests);
    for i in 0..requests {
        let due = started + interval * i as u32;
        tokio::time::sleep_until(due).await;
        let (client, url, token) = (
            client.clone(),
            url.to_owned(),
            tokens[i % tokens.len()].clone(),
        );
        in_flight.push(tokio::spawn(async move {
            let answer = post_json(&client, &url, &token, &body()).await;
            let latency = due.elapsed();
            assert!(answer["errors"].is_null() && check(&answer), "{answer}");
            latency
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    for request in in_flight {
        latencies.push(request.await.expect("request task"));
    }
    Sample {
        name: name.into(),
        total: started.elapsed(),
        latencies,
    }
}

const LOG_ACTIVITY: &str =
    "mutation($input: LogActivityInput!) { logActivity(input: $input) { id } }";

/// A `logActivity` request body: a 30-minute run, now.
pub fn log_body() -> Value {
    let input = serde_json::json!({"type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300,
                                   "startTime": chrono::Utc::now().to_rfc3339()});
    serde_json::json!({"query": LOG_ACTIVITY, "variables": {"input": input}})
}

/// Whether a `logActivity` answer holds the new activity.
pub fn logged(answer: &Value) -> bool {
    answer["data"]["logActivity"]["id"].is_string()
}
