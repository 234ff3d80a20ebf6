//! What the AI crate's Redis tests share: their own `redis-server`s on free
//! ports, `redis-cli` for their set-up, and a recommendation to publish.

#![allow(dead_code)] // each test binary uses a part

use std::{
    ffi::OsStr,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use chrono::Utc;
use fittrack_ai::{
    bus::RecommendationBus,
    domain::model::{Advice, Recommendation, Source},
};
use futures_util::StreamExt;
use uuid::Uuid;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `redis-server <args>` in `dir`, its output dropped.
pub fn spawn_redis(dir: &Path, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Child {
    Command::new("redis-server")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .expect("redis-server starts")
}

/// A `redis-server` in `dir` on `port` that keeps nothing on disk, with
/// `extra` arguments (a replica's primary, cluster mode).
pub fn redis_server(dir: &Path, port: u16, extra: &[&str]) -> Child {
    let port = port.to_string();
    let base = [
        "--port",
        &port,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ];
    spawn_redis(dir, base.iter().chain(extra))
}

/// Whether `redis-server` is installed; without it `test` is skipped, unless
/// CI requires it (`FITTRACK_REQUIRE_REDIS_SERVER`).
pub fn redis_server_available(test: &str) -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        assert!(
            std::env::var_os("FITTRACK_REQUIRE_REDIS_SERVER").is_none(),
            "redis-server is required for the {test} test"
        );
        eprintln!("redis-server not installed: the {test} test is skipped");
    }
    found
}

/// `redis-cli -p <port> <args>`, its output trimmed.
pub fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// Polls `done` every 100 ms; fails the test past `within`.
pub async fn until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn recommendation(user: Uuid) -> Recommendation {
    Recommendation {
        id: Uuid::now_v7(),
        activity_id: Uuid::new_v4(),
        user_id: user,
        source: Source::Rules,
        advice: Advice {
            summary: "s".into(),
            highlights: vec![],
            improvements: vec![],
            next_workout: "n".into(),
            safety_notes: vec![],
        },
        created_at: Utc::now(),
    }
}

/// Publishes for a new user until a fresh subscription of `subscriber` hears
/// it (subscribing again when a feed opened before the bus was back in touch
/// ends); how long that took. Fails the test past 15 s, naming `after`.
pub async fn until_the_bus_delivers(
    publisher: &dyn RecommendationBus,
    subscriber: &dyn RecommendationBus,
    after: &str,
) -> Duration {
    let user = Uuid::new_v4();
    let mut feed = subscriber.subscribe(user);
    let started = Instant::now();
    loop {
        publisher.publish(&recommendation(user)).await.ok();
        match tokio::time::timeout(Duration::from_millis(300), feed.next()).await {
            Ok(Some(_)) => return started.elapsed(),
            Ok(None) => feed = subscriber.subscribe(user),
            Err(_) => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the bus stayed deaf after {after}"
        );
    }
}
