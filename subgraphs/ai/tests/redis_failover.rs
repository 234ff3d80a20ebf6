//! Redis with Sentinel as deploy/kubernetes/README.md asks for it: a
//! primary, two replicas and three Sentinels (Debian's `redis-server`, the
//! Sentinels in `--sentinel` mode), every Redis client of ours on one
//! `redis-sentinel://` URL, under load. The primary is killed (SIGKILL, no
//! goodbye); the Sentinels promote a replica, the other replica follows it,
//! and the clients follow the Sentinels by themselves. Nothing that was acknowledged is
//! lost: every job whose enqueue returned is delivered, and every revocation
//! written stands (`kit::redis::ReplicaAcks` makes an acknowledgement mean a
//! replica holds the write). What fails meanwhile fails as
//! `SERVICE_UNAVAILABLE`, which clients retry.
//!
//! Skipped where there is no `redis-server`, required in CI
//! (`FITTRACK_REQUIRE_REDIS_SERVER`).

mod support;

use std::{
    collections::BTreeSet,
    process::Child,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use support::{
    cli, free_port, redis_server, redis_server_available, spawn_redis, until,
    until_the_bus_delivers,
};

use fittrack_ai::bus::{RecommendationBus, RedisBus};
use fittrack_kit::{
    queue::{redis::RedisJobQueue, JobQueue, QueueOptions},
    ratelimit::{Quota, RateLimiter, RedisRateLimiter},
    revocation::{RedisRevocations, Revocations},
    ApiError, ErrorCode,
};
use futures_util::StreamExt;
use uuid::Uuid;

const MASTER: &str = "fittrack";

/// A primary, two replicas and three Sentinels watching them, in a
/// directory of their own (Sentinels rewrite their config files).
struct SentinelSetup {
    dir: tempfile::TempDir,
    primary_port: u16,
    replica_ports: [u16; 2],
    sentinel_ports: [u16; 3],
    processes: Vec<(&'static str, Child)>,
    links: Vec<ReplicationLink>,
}

/// A TCP relay between a replica and the primary that can stop forwarding
/// the replication stream (`hold`) and drop its connections with whatever
/// they carried unsent (`cut`), as a congested link and then a dead host do.
struct ReplicationLink {
    port: u16,
    held: Arc<AtomicBool>,
    cut: Arc<AtomicBool>,
}

impl ReplicationLink {
    async fn start(primary: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let port = listener.local_addr().expect("an address").port();
        let (held, cut) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (relay_held, relay_cut) = (held.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((replica, _)) = listener.accept().await {
                let Ok(upstream) = tokio::net::TcpStream::connect(("127.0.0.1", primary)).await
                else {
                    continue;
                };
                let (from_replica, to_replica) = replica.into_split();
                let (from_primary, to_primary) = upstream.into_split();
                let never_held = Arc::new(AtomicBool::new(false));
                tokio::spawn(relay(
                    from_replica,
                    to_primary,
                    never_held,
                    relay_cut.clone(),
                ));
                tokio::spawn(relay(
                    from_primary,
                    to_replica,
                    relay_held.clone(),
                    relay_cut.clone(),
                ));
            }
        });
        Self { port, held, cut }
    }
}

async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    held: Arc<AtomicBool>,
    cut: Arc<AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        if cut.load(Ordering::Relaxed) {
            return;
        }
        if held.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        let read =
            match tokio::time::timeout(Duration::from_millis(20), from.read(&mut buffer)).await {
                Err(_) => continue,
                Ok(Ok(0) | Err(_)) => return,
                Ok(Ok(read)) => read,
            };
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

impl SentinelSetup {
    async fn start() -> Self {
        let mut setup = Self {
            dir: tempfile::tempdir().expect("a directory"),
            primary_port: free_port(),
            replica_ports: [free_port(), free_port()],
            sentinel_ports: [free_port(), free_port(), free_port()],
            processes: Vec::new(),
            links: Vec::new(),
        };
        let primary = redis_server(setup.dir.path(), setup.primary_port, &[]);
        setup.processes.push(("primary", primary));
        for port in setup.replica_ports {
            // Each replica reaches the primary through a link the test can
            // hold up (`ReplicationLink`).
            let link = ReplicationLink::start(setup.primary_port).await;
            let replica = redis_server(
                setup.dir.path(),
                port,
                &["--replicaof", "127.0.0.1", &link.port.to_string()],
            );
            setup.links.push(link);
            setup.processes.push(("replica", replica));
            until("a replica syncs", Duration::from_secs(10), || {
                cli(port, &["info", "replication"]).contains("master_link_status:up")
            })
            .await;
        }
        let replica_ports = setup.replica_ports;
        for (index, port) in setup.sentinel_ports.into_iter().enumerate() {
            let file = setup.dir.path().join(format!("sentinel-{index}.conf"));
            std::fs::write(
                &file,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                     sentinel monitor {MASTER} 127.0.0.1 {primary} 2\n\
                     sentinel down-after-milliseconds {MASTER} 1000\n\
                     sentinel failover-timeout {MASTER} 5000\n",
                    dir = setup.dir.path().display(),
                    primary = setup.primary_port,
                ),
            )
            .expect("writes a Sentinel config");
            let sentinel = spawn_redis(setup.dir.path(), [file.as_os_str(), "--sentinel".as_ref()]);
            setup.processes.push(("sentinel", sentinel));
        }
        // Each Sentinel has found the replica and the two other Sentinels
        // (through the primary's hello channel): a failover can be voted.
        for port in setup.sentinel_ports {
            until(
                "the Sentinels know each other",
                Duration::from_secs(20),
                || {
                    let sentinels = cli(port, &["sentinel", "sentinels", MASTER]);
                    let replicas = cli(port, &["sentinel", "replicas", MASTER]);
                    sentinels.lines().filter(|line| *line == "name").count() >= 2
                        && replica_ports
                            .iter()
                            .all(|port| replicas.contains(&port.to_string()))
                },
            )
            .await;
        }
        setup
    }

    /// fred's Sentinel URL: the first Sentinel in the authority, the others
    /// as `node`s.
    fn url(&self) -> String {
        let [first, second, third] = self.sentinel_ports;
        format!(
            "redis-sentinel://127.0.0.1:{first}/0?sentinelServiceName={MASTER}\
             &node=127.0.0.1:{second}&node=127.0.0.1:{third}"
        )
    }

    /// The replication stream stops reaching both replicas: whatever the
    /// primary confirms from now on is on no replica.
    fn hold_replication(&self) {
        for link in &self.links {
            link.held.store(true, Ordering::Relaxed);
        }
    }

    /// The primary dies, and what its links held dies with it.
    fn kill_primary(&mut self) {
        for link in &self.links {
            link.cut.store(true, Ordering::Relaxed);
        }
        let (_, primary) = self
            .processes
            .iter_mut()
            .find(|(role, _)| *role == "primary")
            .expect("the primary runs");
        primary.kill().expect("SIGKILL");
        let _ = primary.wait();
    }

    fn current_primary_port(&self) -> Option<u16> {
        cli(
            self.sentinel_ports[0],
            &["sentinel", "get-master-addr-by-name", MASTER],
        )
        .lines()
        .nth(1)
        .and_then(|port| port.trim().parse().ok())
    }
}

impl Drop for SentinelSetup {
    fn drop(&mut self) {
        for (_, process) in &mut self.processes {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// What the load saw: acknowledged writes, and the codes of refused ones
/// with when they happened.
#[derive(Default)]
struct Outcomes {
    acknowledged: Vec<String>,
    refused: Vec<(Instant, ErrorCode)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sentinel_failover_under_load_loses_nothing_acknowledged() {
    if !redis_server_available("Redis failover") {
        return;
    }
    let mut setup = SentinelSetup::start().await;
    let url = setup.url();
    let namespace = format!("failover-{}", Uuid::new_v4().simple());
    let options = QueueOptions {
        visibility_timeout: Duration::from_secs(1),
        max_deliveries: 20,
    };
    let queue: Arc<dyn JobQueue> = Arc::new(
        RedisJobQueue::connect_in(&namespace, &url, "jobs", "workers", options)
            .await
            .expect("the queue connects through the Sentinels"),
    );
    let revocations: Arc<dyn Revocations> = Arc::new(
        RedisRevocations::connect_in(&namespace, &url, Duration::from_secs(600))
            .await
            .expect("revocations connect"),
    );
    let limiter = RedisRateLimiter::connect(&url, &format!("{namespace}:limit:"))
        .await
        .expect("the limiter connects");
    let publisher = RedisBus::connect(&url).await.expect("bus");
    let subscriber = RedisBus::connect(&url).await.expect("bus");

    let stop = Arc::new(AtomicBool::new(false));
    let jobs = Arc::new(Mutex::new(Outcomes::default()));
    let sessions = Arc::new(Mutex::new(Outcomes::default()));
    let record = |outcomes: &Mutex<Outcomes>, result: anyhow::Result<String>| {
        let mut outcomes = outcomes.lock().expect("outcomes");
        match result {
            Ok(written) => outcomes.acknowledged.push(written),
            Err(error) => outcomes
                .refused
                .push((Instant::now(), ApiError::from(error).code())),
        }
    };
    let mut load = Vec::new();
    for producer in 0..4 {
        let (queue, stop, jobs) = (queue.clone(), stop.clone(), jobs.clone());
        load.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let payload = format!("job-{producer}-{n}");
                n += 1;
                let result = queue.enqueue(&payload).await.map(|_| payload);
                record(&jobs, result);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    {
        let (revocations, stop, sessions) = (revocations.clone(), stop.clone(), sessions.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let session = Uuid::new_v4();
                let result = revocations
                    .revoke_session(session)
                    .await
                    .map(|()| session.to_string());
                record(&sessions, result);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    // The worker: takes jobs and acknowledges them, whatever happens.
    let received = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let consumer = {
        let (queue, received) = (queue.clone(), received.clone());
        let done = Arc::new(AtomicBool::new(false));
        let finished = done.clone();
        let task = tokio::spawn(async move {
            while !finished.load(Ordering::Relaxed) {
                match queue
                    .receive("worker", 50, Duration::from_millis(200))
                    .await
                {
                    Ok(deliveries) => {
                        for delivery in deliveries {
                            received
                                .lock()
                                .expect("received")
                                .insert(delivery.payload.clone());
                            let _ = queue.ack(&delivery.id).await;
                        }
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        (done, task)
    };

    let mut feed = subscriber.subscribe(Uuid::nil());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = jobs.lock().expect("jobs").acknowledged.len();
    assert!(before > 50, "the load runs before the fault: {before} jobs");

    // The primary dies 400 ms after its replicas stopped hearing from it:
    // Redis's asynchronous replication loses what it confirmed meanwhile,
    // unless each acknowledgement waited for a replica.
    let old_primary = setup.primary_port;
    setup.hold_replication();
    tokio::time::sleep(Duration::from_millis(400)).await;
    setup.kill_primary();
    let killed = Instant::now();
    // The Sentinels notice (1 s down-after), vote and promote the replica.
    until("a replica is promoted", Duration::from_secs(30), || {
        setup
            .current_primary_port()
            .is_some_and(|port| setup.replica_ports.contains(&port))
    })
    .await;
    let promoted = killed.elapsed();
    // The clients write again through the Sentinels' new answer.
    let acknowledged_at_kill = jobs.lock().expect("jobs").acknowledged.len();
    until("enqueues succeed again", Duration::from_secs(30), || {
        jobs.lock().expect("jobs").acknowledged.len() > acknowledged_at_kill + 20
    })
    .await;
    let writes_back = killed.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("a load task");
    }

    // Every acknowledged job is delivered, including the ones a worker held
    // unacknowledged when the primary died (redelivered from the replica).
    let acknowledged: BTreeSet<String> = jobs
        .lock()
        .expect("jobs")
        .acknowledged
        .iter()
        .cloned()
        .collect();
    let drained = Instant::now();
    loop {
        let missing = acknowledged
            .difference(&received.lock().expect("received"))
            .count();
        if missing == 0 {
            break;
        }
        assert!(
            drained.elapsed() < Duration::from_secs(20),
            "{missing} of {} acknowledged jobs were lost in the failover",
            acknowledged.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    consumer.0.store(true, Ordering::Relaxed);
    consumer.1.await.expect("the worker");

    // Every acknowledged revocation stands on the new primary.
    let revoked = sessions.lock().expect("sessions").acknowledged.clone();
    assert!(revoked.len() > 50, "{} revocations", revoked.len());
    for session in &revoked {
        let session: Uuid = session.parse().expect("a session id");
        let state = revocations
            .state(Uuid::new_v4(), session)
            .await
            .expect("reads revocations after the failover");
        assert!(
            state.session_revoked,
            "the acknowledged revocation of {session} was lost"
        );
    }

    // What was refused meanwhile was refused as retryable.
    let mut refusals = Vec::new();
    for outcomes in [&jobs, &sessions] {
        refusals.extend(outcomes.lock().expect("outcomes").refused.clone());
    }
    for (at, code) in &refusals {
        assert_eq!(
            *code,
            ErrorCode::ServiceUnavailable,
            "refused {:?} after the kill as {code:?}",
            at.duration_since(killed)
        );
    }

    // The limiter counts on the new primary.
    let quota = Quota::per_minute(3);
    for _ in 0..3 {
        let decision = limiter
            .check("after-failover", quota, 1)
            .await
            .expect("the limiter answers");
        assert!(decision.allowed, "within the quota");
    }
    let fourth = limiter
        .check("after-failover", quota, 1)
        .await
        .expect("the limiter answers");
    assert!(!fourth.allowed, "the fourth call is over the quota");

    // The live feed ended with the old primary (subscribers resubscribe);
    // a new subscription hears what a publisher sends through the new one.
    let ended = tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .expect("the old feed ends within 10 s");
    assert!(ended.is_none(), "nothing was published on the old primary");
    until_the_bus_delivers(&*publisher, &*subscriber, "the failover").await;
    assert_ne!(setup.current_primary_port(), Some(old_primary));

    eprintln!(
        "failover: replica promoted {promoted:?} after the kill, writes acknowledged again after {writes_back:?}; \
         {} jobs and {} revocations acknowledged, none lost; {} refused meanwhile, all SERVICE_UNAVAILABLE",
        acknowledged.len(),
        revoked.len(),
        refusals.len()
    );
}
