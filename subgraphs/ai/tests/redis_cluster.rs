//! Redis Cluster: three primaries (Debian's `redis-server` in cluster mode,
//! joined by `redis-cli --cluster create`), every Redis client of ours on one
//! `redis-cluster://` URL, each doing what it does in production: the queue
//! (enqueue, take, acknowledge, dead-letter, replay, stats), revocations,
//! erasure marks, the rate limiter and the recommendation bus. Keys that one
//! step touches together share a hash slot (`kit::redis::slot_tagged`), so no
//! step is refused with `CROSSSLOT`.
//!
//! Skipped where there is no `redis-server`, required in CI
//! (`FITTRACK_REQUIRE_REDIS_SERVER`).

mod support;

use std::{
    process::{Child, Command},
    sync::Arc,
    time::{Duration, Instant},
};
use support::{cli, free_port, recommendation, redis_server, redis_server_available};

use chrono::Utc;
use fittrack_ai::bus::{RecommendationBus, RedisBus};
use fittrack_kit::{
    config::Secret,
    queue::{redis::RedisJobQueue, JobQueue, QueueOptions},
    ratelimit::{Quota, RateLimiter, RedisRateLimiter},
    revocation::{RedisRevocations, Revocations},
    shared::SharedState,
};
use futures_util::StreamExt;
use uuid::Uuid;

struct Cluster {
    _dir: tempfile::TempDir,
    ports: [u16; 3],
    nodes: Vec<Child>,
}

impl Cluster {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("a directory");
        let ports = [free_port(), free_port(), free_port()];
        let mut nodes = Vec::new();
        for port in ports {
            let config = format!("nodes-{port}.conf");
            nodes.push(redis_server(
                dir.path(),
                port,
                &["--cluster-enabled", "yes", "--cluster-config-file", &config],
            ));
        }
        let cluster = Self {
            _dir: dir,
            ports,
            nodes,
        };
        for port in ports {
            cluster
                .until("a node listens", || cli(port, &["ping"]) == "PONG")
                .await;
        }
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .arg("--cluster-yes")
            .output()
            .expect("redis-cli runs");
        assert!(
            created.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        for port in ports {
            cluster
                .until("the cluster is up", || {
                    cli(port, &["cluster", "info"]).contains("cluster_state:ok")
                })
                .await;
        }
        cluster
    }

    async fn until(&self, what: &str, mut done: impl FnMut() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(20), "{what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn url(&self) -> String {
        let [first, second, third] = self.ports;
        format!("redis-cluster://127.0.0.1:{first}?node=127.0.0.1:{second}&node=127.0.0.1:{third}")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_redis_client_works_on_a_cluster() {
    if !redis_server_available("Redis cluster") {
        return;
    }
    let cluster = Cluster::start().await;
    let url = cluster.url();
    let namespace = format!("cluster-{}", Uuid::new_v4().simple());

    // The queue, every step.
    let options = QueueOptions {
        visibility_timeout: Duration::from_secs(5),
        max_deliveries: 3,
    };
    let queue: Arc<dyn JobQueue> = Arc::new(
        RedisJobQueue::connect_in(&namespace, &url, "jobs", "workers", options)
            .await
            .expect("the queue connects to the cluster"),
    );
    for n in 0..3 {
        queue.enqueue(&format!("job-{n}")).await.expect("enqueues");
    }
    let taken = queue
        .receive("w", 10, Duration::from_millis(500))
        .await
        .expect("takes jobs");
    assert_eq!(taken.len(), 3);
    queue.ack(&taken[0].id).await.expect("acknowledges");
    queue
        .dead_letter(&taken[1], "refused")
        .await
        .expect("dead-letters a job with its acknowledgement, in one step");
    let dead = queue.dead_letters(10).await.expect("lists dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload, "job-1");
    queue
        .replay(&dead[0].id)
        .await
        .expect("replays")
        .expect("the dead letter existed");
    let stats = queue.stats().await.expect("stats");
    assert_eq!(stats.dead_letters, 0, "{stats:?}");

    // Revocations: a user's cut-off and a session, read together.
    let revocations = RedisRevocations::connect_in(&namespace, &url, Duration::from_secs(60))
        .await
        .expect("revocations connect");
    let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
    revocations.revoke_session(session).await.expect("revokes");
    revocations
        .revoke_user(user, Utc::now())
        .await
        .expect("revokes a user");
    let state = revocations.state(user, session).await.expect("reads both");
    assert!(state.session_revoked && state.user_cutoff_ms.is_some());

    // Erasure marks and the ledger of erasures owed.
    let erased = fittrack_kit::erasure::connect(&SharedState::new(
        Some(Secret::new(url.clone())),
        &namespace,
    ))
    .await
    .expect("erasure marks connect");
    erased.mark(user).await.expect("marks");
    assert!(erased.is_erased(user).await.expect("reads a mark"));
    erased.owe(user, &["ai"], Utc::now()).await.expect("owes");
    assert_eq!(erased.outstanding("ai", 5).await.expect("lists").count, 1);
    erased.settle(user, "ai").await.expect("settles");

    // The limiter.
    let limiter = RedisRateLimiter::connect(&url, &format!("{namespace}:limit:"))
        .await
        .expect("the limiter connects");
    let quota = Quota::per_minute(2);
    for allowed in [true, true, false] {
        let decision = limiter.check("k", quota, 1).await.expect("checks");
        assert_eq!(decision.allowed, allowed);
    }

    // The bus: a publication reaches a subscriber on another connection.
    let publisher = RedisBus::connect_in(&namespace, &url).await.expect("bus");
    let subscriber = RedisBus::connect_in(&namespace, &url).await.expect("bus");
    let ada = Uuid::new_v4();
    let mut feed = subscriber.subscribe(ada);
    let started = Instant::now();
    loop {
        publisher
            .publish(&recommendation(ada))
            .await
            .expect("publishes");
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), feed.next()).await {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the bus stayed deaf"
        );
    }
}
