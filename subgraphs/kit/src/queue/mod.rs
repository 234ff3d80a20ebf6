//! A durable job queue with consumer groups, redelivery and a dead-letter queue.
//!
//! Semantics (both backends, checked by `tests/queue_contract.rs`):
//! - `enqueue` appends a job; every job goes to exactly one consumer of the group.
//! - A received job is *in flight* until acked. If it is not acked within the
//!   visibility timeout (its consumer crashed, or its handler failed) it is
//!   delivered again, with its delivery count raised by one.
//! - A job delivered `max_deliveries` times without an ack moves to the
//!   dead-letter queue, where it can be listed and replayed.
//!
//! Delivery is at least once: handlers must be idempotent.
//!
//! Backends: [`redis::RedisJobQueue`] (Redis Streams, when `REDIS_URL` is set)
//! and [`memory::MemoryJobQueue`] (in-process, the embedded default).

pub mod consumer;
pub mod fair;
pub mod memory;
pub mod redis;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use consumer::{run_consumer, ConsumerOptions, Permanent};
pub use fair::{FairKey, Fairness};

/// Tuning shared by producers and consumers of one queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueueOptions {
    /// How long a received job may stay unacked before it is delivered again.
    #[serde(with = "millis")]
    pub visibility_timeout: Duration,
    /// Deliveries before a job is dead-lettered.
    pub max_deliveries: u32,
}

impl Default for QueueOptions {
    fn default() -> Self {
        Self {
            visibility_timeout: Duration::from_secs(30),
            max_deliveries: 5,
        }
    }
}

/// A job handed to a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub payload: String,
    /// 1 on first delivery.
    pub deliveries: u32,
}

/// A job that exhausted its deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Id within the dead-letter queue (what `replay` takes).
    pub id: String,
    /// Id the job had on the main queue.
    pub job_id: String,
    pub payload: String,
    pub deliveries: u32,
    pub reason: String,
    pub failed_at: DateTime<Utc>,
}

/// How much work a queue holds right now (for dashboards and alerts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Jobs not handed to any consumer yet (including ones due for redelivery).
    pub waiting: u64,
    /// Jobs a consumer holds and has not acked.
    pub in_flight: u64,
    pub dead_letters: u64,
    /// When the oldest job not yet done (waiting or in flight) was enqueued:
    /// how far behind the consumers are. A job put back to run later (kept
    /// alive, moved behind a burst) counts from when it was put back.
    #[serde(default)]
    pub oldest_job_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// The queue's name (a Redis key suffix, a registry key in memory).
    fn name(&self) -> &str;
    fn options(&self) -> &QueueOptions;
    /// Appends a job; its id.
    async fn enqueue(&self, payload: &str) -> anyhow::Result<String>;
    /// Up to `max` jobs for `consumer`: expired in-flight jobs first, then new
    /// ones. Waits up to `wait` when there is nothing to hand out.
    async fn receive(
        &self,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> anyhow::Result<Vec<Delivery>>;
    /// Done with a job: it is never delivered again.
    async fn ack(&self, id: &str) -> anyhow::Result<()>;
    /// Gives up on a job now (its handler failed for the last time).
    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> anyhow::Result<()>;
    /// Oldest first.
    async fn dead_letters(&self, limit: usize) -> anyhow::Result<Vec<DeadLetter>>;
    /// Puts a dead letter back on the queue as a fresh job; the new job id, or
    /// `None` when no such dead letter exists.
    async fn replay(&self, dead_letter_id: &str) -> anyhow::Result<Option<String>>;
    /// Removes every job (waiting or in flight) and dead letter whose payload
    /// `matches`; how many. For erasure: queued payloads of a deleted user go.
    /// A consumer still working on a removed job finishes it (its ack then
    /// does nothing), so handlers must also check for erasure themselves.
    async fn purge(
        &self,
        matches: &(dyn for<'p> Fn(&'p str) -> bool + Send + Sync),
    ) -> anyhow::Result<usize>;
    /// Counts of waiting, in-flight and dead-lettered jobs.
    async fn stats(&self) -> anyhow::Result<QueueStats>;
    /// Cheap reachability probe, for `/ready`.
    async fn ping(&self) -> anyhow::Result<()>;
}

/// The queue a service should use: Redis Streams when a URL is configured,
/// else the process-wide in-memory queue of that name (shared by every
/// subgraph and worker running in the same process, as `fittrack dev` does);
/// in the namespace of `shared` either way.
pub async fn connect(
    shared: &crate::shared::SharedState,
    name: &str,
    group: &str,
    options: QueueOptions,
) -> anyhow::Result<Arc<dyn JobQueue>> {
    Ok(match shared.redis_url() {
        Some(url) => Arc::new(
            redis::RedisJobQueue::connect_in(shared.namespace(), url, name, group, options).await?,
        ),
        None => memory::MemoryJobQueue::shared(&shared.key(name), options),
    })
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(value.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Reports `queue`'s depth, in-flight jobs, dead letters and the age of
/// its oldest unfinished job at every scrape.
pub fn observe(metrics: &crate::metrics::Metrics, queue: Arc<dyn JobQueue>) {
    let jobs = metrics
        .meter()
        .u64_gauge("fittrack.queue.jobs")
        .with_description("Jobs in a queue, by state: waiting, in_flight, dead_letter")
        .build();
    let oldest = metrics
        .meter()
        .f64_gauge("fittrack.queue.oldest_job.age")
        .with_unit("s")
        .with_description("Age of the oldest job not yet done (the queue's lag); 0 when empty")
        .build();
    let reachable = metrics
        .meter()
        .u64_gauge("fittrack.queue.reachable")
        .with_description("1 when the queue answered the last scrape")
        .build();
    metrics.on_scrape(move || {
        let (queue, jobs, oldest, reachable) = (
            queue.clone(),
            jobs.clone(),
            oldest.clone(),
            reachable.clone(),
        );
        Box::pin(async move {
            let name = opentelemetry::KeyValue::new("queue", queue.name().to_owned());
            match queue.stats().await {
                Ok(stats) => {
                    for (state, count) in [
                        ("waiting", stats.waiting),
                        ("in_flight", stats.in_flight),
                        ("dead_letter", stats.dead_letters),
                    ] {
                        jobs.record(
                            count,
                            &[name.clone(), opentelemetry::KeyValue::new("state", state)],
                        );
                    }
                    let age = stats.oldest_job_at.map_or(0.0, |at| {
                        (chrono::Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0
                    });
                    oldest.record(age, std::slice::from_ref(&name));
                    reachable.record(1, &[name]);
                }
                Err(error) => {
                    tracing::debug!(error = format!("{error:#}"), "queue stats unavailable");
                    reachable.record(0, &[name]);
                }
            }
        })
    });
}
