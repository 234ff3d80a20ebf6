//! One contract, every job-queue backend: in-memory always, Redis Streams when
//! `REDIS_URL` is set (CI sets it to the local Redis).

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use chrono::Utc;
use fittrack_kit::queue::{
    memory::MemoryJobQueue, redis::RedisJobQueue, run_consumer, ConsumerOptions, JobQueue,
    QueueOptions, QueueStats,
};

const VISIBILITY: Duration = Duration::from_millis(300);
const NO_WAIT: Duration = Duration::ZERO;

fn options(max_deliveries: u32) -> QueueOptions {
    QueueOptions {
        visibility_timeout: VISIBILITY,
        max_deliveries,
    }
}

/// A fresh, uniquely named queue on the backend under test.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Redis,
}

/// `redis` only where `REDIS_URL` is set (CI's real-services pass).
async fn queue_under_test(backend: &str) -> Option<Backend> {
    match backend {
        "memory" => Some(Backend::Memory),
        _ => std::env::var("REDIS_URL").is_ok().then_some(Backend::Redis),
    }
}

impl Backend {
    async fn queue(self, max_deliveries: u32) -> Arc<dyn JobQueue> {
        self.queue_with(options(max_deliveries)).await
    }

    async fn queue_with(self, options: QueueOptions) -> Arc<dyn JobQueue> {
        let name = format!("contract-{}", uuid::Uuid::new_v4());
        match self {
            Backend::Memory => Arc::new(MemoryJobQueue::new(&name, options)),
            Backend::Redis => {
                let url = std::env::var("REDIS_URL").expect("checked in queue_under_test()");
                Arc::new(
                    RedisJobQueue::connect(&url, &name, "contract", options)
                        .await
                        .expect("redis queue"),
                )
            }
        }
    }
}

async fn a_job_is_delivered_once_and_acked(backend: Backend) {
    let queue = backend.queue(3).await;
    let id = queue.enqueue(r#"{"n":1}"#).await.expect("enqueue");
    let got = queue.receive("a", 10, NO_WAIT).await.expect("receive");
    assert_eq!(got.len(), 1, "{backend:?}");
    assert_eq!(got[0].id, id, "{backend:?}");
    assert_eq!(got[0].payload, r#"{"n":1}"#, "{backend:?}");
    assert_eq!(got[0].deliveries, 1, "{backend:?}");
    queue.ack(&id).await.expect("ack");

    tokio::time::sleep(VISIBILITY * 2).await;
    let again = queue.receive("a", 10, NO_WAIT).await.expect("receive");
    assert!(
        again.is_empty(),
        "{backend:?}: acked job came back: {again:?}"
    );
}

async fn an_unacked_job_comes_back_after_the_visibility_timeout_only(backend: Backend) {
    let queue = backend.queue(5).await;
    queue.enqueue("crash-me").await.expect("enqueue");
    // Consumer "a" takes it and crashes (never acks).
    let first = queue.receive("a", 1, NO_WAIT).await.expect("receive");
    assert_eq!(first.len(), 1, "{backend:?}");

    let early = queue.receive("b", 1, NO_WAIT).await.expect("receive");
    assert!(
        early.is_empty(),
        "{backend:?}: redelivered before the timeout"
    );

    tokio::time::sleep(VISIBILITY + Duration::from_millis(100)).await;
    let redelivered = queue.receive("b", 1, NO_WAIT).await.expect("receive");
    assert_eq!(redelivered.len(), 1, "{backend:?}");
    assert_eq!(redelivered[0].id, first[0].id, "{backend:?}");
    assert_eq!(redelivered[0].deliveries, 2, "{backend:?}");
    queue.ack(&redelivered[0].id).await.expect("ack");
}

async fn receive_waits_for_a_job_enqueued_meanwhile(backend: Backend) {
    let queue = backend.queue(3).await;
    let producer = queue.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        producer.enqueue("late").await.expect("enqueue");
    });
    let got = queue
        .receive("a", 1, Duration::from_secs(2))
        .await
        .expect("receive");
    assert_eq!(got.len(), 1, "{backend:?}");
    assert_eq!(got[0].payload, "late");
}

async fn every_job_goes_to_exactly_one_consumer_of_the_group(backend: Backend) {
    let queue = backend.queue(3).await;
    let mut sent = HashSet::new();
    for n in 0..20 {
        sent.insert(queue.enqueue(&n.to_string()).await.expect("enqueue"));
    }
    let mut seen = Vec::new();
    for consumer in ["a", "b", "c", "a", "b", "c", "a", "b"] {
        for job in queue.receive(consumer, 3, NO_WAIT).await.expect("receive") {
            queue.ack(&job.id).await.expect("ack");
            seen.push(job.id);
        }
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "{backend:?}: a job went out twice"
    );
    assert_eq!(unique, sent, "{backend:?}");
}

async fn a_job_never_acked_is_dead_lettered_after_max_deliveries_and_can_be_replayed(
    backend: Backend,
) {
    let queue = backend.queue(2).await;
    let id = queue.enqueue("poison").await.expect("enqueue");
    for attempt in 1..=2 {
        let got = queue.receive("a", 1, NO_WAIT).await.expect("receive");
        assert_eq!(got.len(), 1, "{backend:?} attempt {attempt}");
        assert_eq!(got[0].deliveries, attempt, "{backend:?}");
        tokio::time::sleep(VISIBILITY + Duration::from_millis(100)).await;
    }
    let third = queue.receive("a", 1, NO_WAIT).await.expect("receive");
    assert!(third.is_empty(), "{backend:?}: delivered beyond the limit");

    let dead = queue.dead_letters(10).await.expect("dead letters");
    assert_eq!(dead.len(), 1, "{backend:?}");
    assert_eq!(dead[0].job_id, id);
    assert_eq!(dead[0].payload, "poison");
    assert_eq!(dead[0].deliveries, 2);
    assert!(
        dead[0].reason.contains("2 deliveries"),
        "{}",
        dead[0].reason
    );

    let replayed = queue.replay(&dead[0].id).await.expect("replay");
    assert!(replayed.is_some(), "{backend:?}");
    assert!(queue.dead_letters(10).await.expect("dlq").is_empty());
    let back = queue.receive("a", 1, NO_WAIT).await.expect("receive");
    assert_eq!(back.len(), 1, "{backend:?}");
    assert_eq!(back[0].payload, "poison");
    assert_eq!(back[0].deliveries, 1, "{backend:?}: replay starts afresh");

    assert_eq!(queue.replay("0-1").await.expect("replay"), None);
    assert_eq!(queue.replay("nonsense").await.expect("replay"), None);
}

async fn stats_count_waiting_in_flight_and_dead_jobs(backend: Backend) {
    let queue = backend.queue(3).await;
    let empty = QueueStats::default();
    assert_eq!(queue.stats().await.expect("stats"), empty, "{backend:?}");
    for n in 0..3 {
        queue.enqueue(&n.to_string()).await.expect("enqueue");
    }
    let taken = queue.receive("a", 2, NO_WAIT).await.expect("receive");
    assert_eq!(taken.len(), 2, "{backend:?}");
    let counts = |stats: QueueStats| (stats.waiting, stats.in_flight, stats.dead_letters);
    let stats = queue.stats().await.expect("stats");
    assert_eq!(counts(stats), (1, 2, 0), "{backend:?}");
    // The oldest unfinished job is one of the three just enqueued.
    let age = Utc::now() - stats.oldest_job_at.expect("an oldest job");
    assert!(
        age >= chrono::Duration::zero() && age < chrono::Duration::seconds(10),
        "{age} {backend:?}"
    );
    queue.ack(&taken[0].id).await.expect("ack");
    queue
        .dead_letter(&taken[1], "bad payload")
        .await
        .expect("dead letter");
    assert_eq!(
        counts(queue.stats().await.expect("stats")),
        (1, 0, 1),
        "{backend:?}"
    );
    // Done or dead, nothing is behind: no oldest job.
    let last = queue.receive("a", 1, NO_WAIT).await.expect("receive");
    queue.ack(&last[0].id).await.expect("ack");
    assert_eq!(
        queue.stats().await.expect("stats").oldest_job_at,
        None,
        "{backend:?}"
    );
}

async fn the_consumer_runs_n_handlers_at_once_and_dead_letters_failures(backend: Backend) {
    let queue = backend.queue(2).await;
    for n in 0..12 {
        queue.enqueue(&n.to_string()).await.expect("enqueue");
    }
    queue.enqueue("fail").await.expect("enqueue");

    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let consumer = {
        let (running, peak, done) = (running.clone(), peak.clone(), done.clone());
        tokio::spawn(run_consumer(
            queue.clone(),
            ConsumerOptions {
                poll_wait: Duration::from_millis(100),
                ..ConsumerOptions::new("worker-1", 4)
            },
            move |job| {
                let (running, peak, done) = (running.clone(), peak.clone(), done.clone());
                async move {
                    if job.payload == "fail" {
                        anyhow::bail!("handler refused {}", job.payload);
                    }
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    done.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            },
            async {
                let _ = stop_rx.await;
            },
        ))
    };

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let dead = queue.dead_letters(10).await.expect("dlq");
        if done.load(Ordering::SeqCst) == 12 && dead.len() == 1 {
            assert!(dead[0].reason.contains("handler refused fail"), "{dead:?}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{backend:?}: consumer stalled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(());
    consumer.await.expect("consumer stops cleanly");
    assert_eq!(peak.load(Ordering::SeqCst), 4, "{backend:?}: concurrency");
}

async fn purge_removes_matching_waiting_in_flight_and_dead_jobs_only(backend: Backend) {
    let queue = backend.queue(1).await;
    // A dead letter of Ada's, one of hers in flight, one waiting; Bob's stay.
    queue.enqueue("ada:dead").await.expect("enqueue");
    let delivered = queue.receive("a", 1, NO_WAIT).await.expect("receive");
    queue
        .dead_letter(&delivered[0], "failed")
        .await
        .expect("dead letter");
    queue.enqueue("ada:in-flight").await.expect("enqueue");
    let in_flight = queue.receive("a", 1, NO_WAIT).await.expect("receive");
    assert_eq!(in_flight[0].payload, "ada:in-flight");
    for payload in ["bob:1", "ada:waiting", "bob:2"] {
        queue.enqueue(payload).await.expect("enqueue");
    }

    let purged = queue
        .purge(&|payload: &str| payload.starts_with("ada:"))
        .await
        .expect("purge");
    assert_eq!(purged, 3, "{backend:?}");
    assert!(
        queue.dead_letters(10).await.expect("dlq").is_empty(),
        "{backend:?}"
    );
    assert_eq!(
        queue.stats().await.expect("stats"),
        QueueStats {
            waiting: 2,
            in_flight: 0,
            dead_letters: 0,
            ..queue.stats().await.expect("stats")
        },
        "{backend:?}"
    );
    // The consumer that held Ada's job acks it harmlessly.
    queue.ack(&in_flight[0].id).await.expect("ack");
    let left = queue.receive("a", 10, NO_WAIT).await.expect("receive");
    let payloads: Vec<_> = left.iter().map(|d| d.payload.as_str()).collect();
    assert_eq!(payloads, ["bob:1", "bob:2"], "{backend:?}");
    // An expired in-flight job of Ada's would have come back: it does not.
    tokio::time::sleep(VISIBILITY + Duration::from_millis(100)).await;
    for delivery in queue.receive("a", 10, NO_WAIT).await.expect("receive") {
        assert!(!delivery.payload.starts_with("ada:"), "{backend:?}");
    }
}

/// Runs a consumer whose handler fails `failures` times with `error`, then
/// succeeds; returns once the job was acked (or panics after 15 s).
async fn fail_then_succeed(
    queue: Arc<dyn JobQueue>,
    options: ConsumerOptions,
    failures: usize,
    error: fn() -> anyhow::Error,
) {
    queue.enqueue("job").await.expect("enqueue");
    let calls = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let consumer = {
        let calls = calls.clone();
        tokio::spawn(run_consumer(
            queue.clone(),
            options,
            move |_| {
                let calls = calls.clone();
                async move {
                    if calls.fetch_add(1, Ordering::SeqCst) < failures {
                        return Err(error());
                    }
                    Ok(())
                }
            },
            async {
                let _ = stop_rx.await;
            },
        ))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let stats = queue.stats().await.expect("stats");
        if calls.load(Ordering::SeqCst) > failures && stats.in_flight == 0 && stats.waiting == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job never acked: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(());
    consumer.await.expect("consumer stops cleanly");
}

fn quick(name: &str) -> ConsumerOptions {
    ConsumerOptions {
        poll_wait: Duration::from_millis(100),
        max_outage_backoff: Duration::from_millis(50),
        ..ConsumerOptions::new(name, 1)
    }
}

async fn a_job_failing_on_an_unreachable_dependency_is_retried_until_it_is_back(backend: Backend) {
    // Two deliveries allowed, four failures while "the database" is away.
    let queue = backend.queue(2).await;
    fail_then_succeed(queue.clone(), quick("worker-1"), 4, || {
        anyhow::Error::new(sea_orm::sqlx::Error::PoolTimedOut).context("saving a recommendation")
    })
    .await;
    assert!(
        queue.dead_letters(10).await.expect("dlq").is_empty(),
        "{backend:?}: a good job was dead-lettered during an outage"
    );
}

async fn a_never_dead_letter_consumer_retries_past_max_deliveries(backend: Backend) {
    let queue = backend.queue(2).await;
    fail_then_succeed(
        queue.clone(),
        quick("eraser").never_dead_letter(),
        4,
        || anyhow::anyhow!("the store refused the delete"),
    )
    .await;
    assert!(
        queue.dead_letters(10).await.expect("dlq").is_empty(),
        "{backend:?}"
    );
}

/// Runs `jobs` (owner, n) through a fair consumer, 2 slots and a window of
/// 16, whose handler takes `work` per job; the payloads in the order handled.
async fn handled_fairly(backend: Backend, jobs: &[(&str, usize)], work: Duration) -> Vec<String> {
    let queue = backend.queue_with(QueueOptions::default()).await;
    for (owner, n) in jobs {
        queue
            .enqueue(&format!("{owner}/{n}"))
            .await
            .expect("enqueue");
    }
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let owner_of: fittrack_kit::queue::FairKey = Arc::new(|payload: &str| {
        let owner = payload.split('/').next().unwrap_or_default();
        (!owner.is_empty()).then(|| owner.to_owned())
    });
    let consumer = {
        let order = order.clone();
        tokio::spawn(run_consumer(
            queue.clone(),
            ConsumerOptions {
                poll_wait: Duration::from_millis(100),
                ..ConsumerOptions::new("fair", 2).fair_by(16, owner_of)
            },
            move |job| {
                let order = order.clone();
                async move {
                    tokio::time::sleep(work).await;
                    order.lock().expect("order").push(job.payload);
                    Ok(())
                }
            },
            async {
                let _ = stop_rx.await;
            },
        ))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while order.lock().expect("order").len() < jobs.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{backend:?}: stalled at {:?}",
            order.lock().expect("order")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Nothing comes twice: wait out a moment more, then compare.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = stop_tx.send(());
    consumer.await.expect("consumer stops cleanly");
    let stats = queue.stats().await.expect("stats");
    assert_eq!(stats, QueueStats::default(), "{backend:?}: all acked");
    let order = order.lock().expect("order").clone();
    order
}

async fn a_fair_consumer_runs_another_owners_job_before_a_burst_and_each_job_once(
    backend: Backend,
) {
    let mut jobs: Vec<(&str, usize)> = (0..100).map(|n| ("alice", n)).collect();
    jobs.push(("bob", 0));
    jobs.extend((100..110).map(|n| ("alice", n)));
    let order = handled_fairly(backend, &jobs, Duration::from_millis(50)).await;

    // In the queue's order bob's job would be the 101st.
    let bob = order.iter().position(|p| p == "bob/0").expect("bob's job");
    assert!(
        bob < 10,
        "{backend:?}: bob waited behind {bob} of alice's jobs"
    );
    let handled: HashSet<&String> = order.iter().collect();
    assert_eq!(handled.len(), jobs.len(), "{backend:?}: every job handled");
    assert_eq!(order.len(), jobs.len(), "{backend:?}: none twice");
}

async fn a_fair_consumer_keeps_the_order_of_jobs_without_an_owner(backend: Backend) {
    let jobs: Vec<(&str, usize)> = (0..20).map(|n| ("", n)).collect();
    let order = handled_fairly(backend, &jobs, Duration::from_millis(5)).await;
    // Two slots: neighbours may swap, nothing moves further.
    for (index, payload) in order.iter().enumerate() {
        let queued: usize = payload[1..].parse().expect("n");
        assert!(index.abs_diff(queued) <= 1, "{backend:?}: {order:?}");
    }
}

fittrack_kit::backend_contracts! {
    setup: queue_under_test,
    backends: [memory, redis],
    contracts: [
        a_job_is_delivered_once_and_acked,
        an_unacked_job_comes_back_after_the_visibility_timeout_only,
        receive_waits_for_a_job_enqueued_meanwhile,
        every_job_goes_to_exactly_one_consumer_of_the_group,
        a_job_never_acked_is_dead_lettered_after_max_deliveries_and_can_be_replayed,
        stats_count_waiting_in_flight_and_dead_jobs,
        the_consumer_runs_n_handlers_at_once_and_dead_letters_failures,
        purge_removes_matching_waiting_in_flight_and_dead_jobs_only,
        a_job_failing_on_an_unreachable_dependency_is_retried_until_it_is_back,
        a_never_dead_letter_consumer_retries_past_max_deliveries,
        a_fair_consumer_runs_another_owners_job_before_a_burst_and_each_job_once,
        a_fair_consumer_keeps_the_order_of_jobs_without_an_owner,
    ],
}
