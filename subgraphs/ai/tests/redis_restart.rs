//! Redis is killed and started again: every Redis client of ours (queue,
//! rate limiter, revocations, the recommendation bus) fails fast while it is
//! away, with an error the API reports as `SERVICE_UNAVAILABLE`, and works
//! again once it is back, without being rebuilt: no FitTrack restart.
//!
//! Runs its own `redis-server` on a free port (the shared one must not be
//! killed); skipped where there is no `redis-server`, required in CI
//! (`FITTRACK_REQUIRE_REDIS_SERVER`).

mod support;

use std::{
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};
use support::{recommendation, redis_server_available, until_the_bus_delivers};

use fittrack_ai::bus::{RecommendationBus, RedisBus};
use fittrack_kit::{
    queue::{redis::RedisJobQueue, JobQueue, QueueOptions},
    ratelimit::{Quota, RateLimiter, RedisRateLimiter},
    revocation::{RedisRevocations, Revocations},
    ApiError, ErrorCode,
};
use futures_util::StreamExt;
use uuid::Uuid;

struct RedisServer {
    port: u16,
    process: Option<Child>,
}

impl RedisServer {
    fn start(port: u16) -> Child {
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stdin(Stdio::null())
            .spawn()
            .expect("redis-server starts")
    }

    async fn up(port: u16) -> Self {
        let server = Self {
            port,
            process: Some(Self::start(port)),
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not come up on {}", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    async fn restart(&mut self) {
        self.kill();
        self.process = Some(Self::start(self.port));
        self.wait_ready().await;
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Retries `attempt` until it succeeds; how long that took.
async fn recovers<F, Fut, T>(what: &str, attempt: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let started = Instant::now();
    loop {
        match attempt().await {
            Ok(_) => return started.elapsed(),
            Err(error) => assert!(
                started.elapsed() < Duration::from_secs(15),
                "{what} did not recover 15 s after Redis came back: {error:#}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_redis_client_fails_fast_while_redis_is_down_and_recovers_by_itself() {
    if !redis_server_available("Redis restart") {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut redis = RedisServer::up(port).await;
    let url = redis.url();

    let options = QueueOptions {
        visibility_timeout: Duration::from_secs(5),
        max_deliveries: 3,
    };
    let queue: Arc<dyn JobQueue> = Arc::new(
        RedisJobQueue::connect(&url, "restart-test", "workers", options)
            .await
            .expect("queue"),
    );
    let limiter = RedisRateLimiter::connect(&url, "restart:")
        .await
        .expect("limiter");
    let revocations = RedisRevocations::connect(&url, Duration::from_secs(60))
        .await
        .expect("revocations");
    let publisher = RedisBus::connect(&url).await.expect("bus");
    let subscriber = RedisBus::connect(&url).await.expect("bus");
    let ada = Uuid::new_v4();
    let mut feed = subscriber.subscribe(ada);
    tokio::time::sleep(Duration::from_millis(200)).await;
    publisher
        .publish(&recommendation(ada))
        .await
        .expect("publish");
    tokio::time::timeout(Duration::from_secs(5), feed.next())
        .await
        .expect("delivered before the outage");

    redis.kill();
    // The live feed is told at once that it may have missed something: it
    // ends (the GraphQL subscription turns that into SERVICE_UNAVAILABLE).
    let told = Instant::now();
    assert!(
        tokio::time::timeout(Duration::from_secs(5), feed.next())
            .await
            .expect("the feed ends within 5 s of the connection loss")
            .is_none(),
        "nothing was published: the feed can only end"
    );
    let told = told.elapsed();

    // While it is down: every call fails within a few seconds, as
    // SERVICE_UNAVAILABLE, never a hang.
    let quota = Quota::per_minute(100);
    let outage = Instant::now();
    let failures: Vec<anyhow::Error> = vec![
        queue
            .enqueue("during")
            .await
            .expect_err("enqueue while down"),
        queue
            .receive("w", 1, Duration::from_millis(200))
            .await
            .expect_err("receive while down"),
        limiter
            .check("k", quota, 1)
            .await
            .expect_err("limiter while down"),
        revocations
            .state(ada, Uuid::new_v4())
            .await
            .expect_err("revocations while down"),
        publisher
            .publish(&recommendation(ada))
            .await
            .expect_err("publish while down"),
    ];
    let took = outage.elapsed();
    // The revocation read, on every authenticated request, did not wait for
    // a reconnection: it was refused at once (fred's fail-fast), and the
    // verifier answered from its local copy or refused the token.
    let refused_at_once = revocations
        .state(ada, Uuid::new_v4())
        .await
        .expect_err("revocations while down");
    assert!(
        refused_at_once
            .chain()
            .filter_map(|cause| cause.downcast_ref::<fred::error::Error>())
            .any(|error| *error.kind() == fred::error::ErrorKind::Canceled),
        "the revocation read waited for Redis instead of failing at once: {refused_at_once:#}"
    );
    assert!(
        took < Duration::from_secs(15),
        "five calls against a dead Redis took {took:?}"
    );
    for failure in failures {
        assert_eq!(
            ApiError::from(failure).code(),
            ErrorCode::ServiceUnavailable,
            "an outage is SERVICE_UNAVAILABLE, not an internal error"
        );
    }

    redis.restart().await;

    // The same clients work again.
    let queue_back = recovers("the queue", || queue.enqueue("after")).await;
    recovers("the limiter", || limiter.check("k", quota, 1)).await;
    recovers("revocations", || revocations.state(ada, Uuid::new_v4())).await;
    let received = queue
        .receive("w", 10, Duration::from_millis(500))
        .await
        .expect("receive after");
    assert_eq!(
        received
            .iter()
            .map(|d| d.payload.as_str())
            .collect::<Vec<_>>(),
        ["after"]
    );
    // The bus re-subscribed by itself: a new feed hears what is published.
    let bus_back = until_the_bus_delivers(&*publisher, &*subscriber, "Redis came back").await;
    eprintln!(
        "feed told in {told:?}; outage calls failed in {took:?}; queue back {queue_back:?} after the restart; bus back {bus_back:?}"
    );
}
