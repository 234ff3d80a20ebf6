//! Runs a handler over a queue with N jobs in flight at once.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::{sync::Semaphore, task::JoinSet};

use crate::metrics::{JobInstruments, JobOutcome};

use super::{
    fair::{run_fair_consumer, FairKey, Fairness},
    Delivery, JobQueue,
};

/// A handler error that retrying cannot fix (malformed payload, a request the
/// upstream rejects): the job goes to the dead-letter queue at once.
#[derive(Debug)]
pub struct Permanent(pub String);

impl std::fmt::Display for Permanent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Permanent {}

#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// Name within the consumer group (unique per process).
    pub name: String,
    /// Handlers running at once.
    pub concurrency: usize,
    /// How long one `receive` waits for work before checking for shutdown.
    pub poll_wait: Duration,
    /// How long in-flight handlers get to finish on shutdown.
    pub shutdown_grace: Duration,
    /// Work that must happen whatever it takes (erasure): a failing job is
    /// retried for as long as it fails, never dead-lettered, and every failure
    /// past `max_deliveries` is logged at ERROR for an operator to see.
    pub never_dead_letter: bool,
    /// The longest a handler slot waits, after a job failed on an unreachable
    /// dependency, before it takes more work (from 1 s, doubling).
    pub max_outage_backoff: Duration,
    /// Fair dispatch across the jobs' owners (`super::fair`); `None`: in
    /// the queue's order.
    pub fairness: Option<Fairness>,
    /// Where each delivery's outcome, duration and redelivery are counted.
    pub metrics: Option<JobInstruments>,
}

impl ConsumerOptions {
    pub fn new(name: impl Into<String>, concurrency: usize) -> Self {
        Self {
            name: name.into(),
            concurrency: concurrency.max(1),
            poll_wait: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(10),
            never_dead_letter: false,
            max_outage_backoff: MAX_OUTAGE_BACKOFF,
            fairness: None,
            metrics: None,
        }
    }

    /// Records every delivery in `metrics` ([`JobInstruments`]).
    pub fn with_metrics(mut self, metrics: &crate::metrics::Metrics) -> Self {
        self.metrics = Some(JobInstruments::new(metrics));
        self
    }

    /// Shares the handler slots fairly among the owners `key` reads from
    /// each payload, reading up to `window` jobs ahead (see `super::fair`).
    pub fn fair_by(mut self, window: usize, key: FairKey) -> Self {
        self.fairness = Some(Fairness { key, window });
        self
    }

    /// See [`ConsumerOptions::never_dead_letter`].
    pub fn never_dead_letter(mut self) -> Self {
        self.never_dead_letter = true;
        self
    }
}

/// [`ConsumerOptions::max_outage_backoff`] unless set.
pub const MAX_OUTAGE_BACKOFF: Duration = Duration::from_secs(30);

/// Consumes `queue` until `shutdown` resolves.
///
/// A handler's `Ok` acks the job. An `Err` leaves it unacked, so it comes back
/// after the visibility timeout (which doubles as the retry delay); on its last
/// allowed delivery, or at once for a [`Permanent`] error, it goes to the
/// dead-letter queue with the error as reason. A job that failed because a
/// dependency is unreachable (`kit::error::dependency_outage`: its store or
/// Redis down) is never dead-lettered, however often it failed: nothing is
/// wrong with it. Its slot then backs off (1 s doubling to 30 s) so that a
/// consumer does not spin through the backlog while the dependency is away.
pub async fn run_consumer<H, Fut>(
    queue: Arc<dyn JobQueue>,
    options: ConsumerOptions,
    handler: H,
    shutdown: impl Future<Output = ()> + Send,
) where
    H: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    if let Some(fairness) = options.fairness.clone() {
        return run_fair_consumer(queue, options, fairness, handler, shutdown).await;
    }
    let rules = Arc::new(JobRules::of(&options));
    let handler = Arc::new(handler);
    let slots = Arc::new(Semaphore::new(options.concurrency));
    let mut running = JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        // Wait for at least one free slot, then ask for as many jobs as are free.
        let first_slot = tokio::select! {
            () = &mut shutdown => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let free = 1 + slots.available_permits();
        let received = tokio::select! {
            () = &mut shutdown => break,
            received = queue.receive(&options.name, free, options.poll_wait) => received,
        };
        let jobs = match received {
            Ok(jobs) => jobs,
            Err(error) => {
                tracing::warn!(
                    queue = queue.name(),
                    error = format!("{error:#}"),
                    "receive failed; retrying"
                );
                drop(first_slot);
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let mut first_slot = Some(first_slot);
        for job in jobs {
            let permit = match first_slot.take() {
                Some(permit) => permit,
                None => match slots.clone().try_acquire_owned() {
                    Ok(permit) => permit,
                    // Cannot happen (we asked for at most `free`); leave the job to
                    // be redelivered rather than exceed the concurrency.
                    Err(_) => break,
                },
            };
            let queue = queue.clone();
            let handler = handler.clone();
            let rules = rules.clone();
            running.spawn(async move {
                run_job(queue.as_ref(), job, handler.as_ref(), &rules).await;
                drop(permit);
            });
        }
        // Reap finished tasks so the set does not grow.
        while running.try_join_next().is_some() {}
    }

    drain(running, options.shutdown_grace, queue.name()).await;
}

/// Lets running handlers finish for up to `grace`, then aborts the rest
/// (their jobs are redelivered).
pub(super) async fn drain<T: 'static>(mut running: JoinSet<T>, grace: Duration, queue: &str) {
    let drained = tokio::time::timeout(grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            queue,
            "handlers still running at shutdown; their jobs will be redelivered"
        );
        running.abort_all();
    }
}

/// What [`run_job`] needs of the consumer's options.
pub(super) struct JobRules {
    never_dead_letter: bool,
    max_backoff: Duration,
    metrics: Option<JobInstruments>,
}

impl JobRules {
    pub(super) fn of(options: &ConsumerOptions) -> Self {
        Self {
            never_dead_letter: options.never_dead_letter,
            max_backoff: options.max_outage_backoff,
            metrics: options.metrics.clone(),
        }
    }
}

/// [`handle`] (recorded in the consumer's metrics), then the slot's
/// back-off (at most `max_backoff`) after a failure on an unreachable
/// dependency.
pub(super) async fn run_job<H, Fut>(
    queue: &dyn JobQueue,
    job: Delivery,
    handler: &H,
    rules: &JobRules,
) where
    H: Fn(Delivery) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    use tracing::Instrument as _;
    let recording = rules
        .metrics
        .as_ref()
        .map(|metrics| metrics.started(queue.name(), job.deliveries));
    // The job continues the trace of whoever enqueued it.
    let span = tracing::info_span!(
        "queue.job",
        queue = queue.name(),
        job = %job.id,
        deliveries = job.deliveries,
        trace_id = tracing::field::Empty,
        otel.kind = "consumer",
    );
    let context = crate::telemetry::trace_context_of(&job.payload);
    crate::telemetry::continue_trace(
        &span,
        context
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str())),
    );
    let (outcome, backoff) = handle(queue, job, handler, rules.never_dead_letter)
        .instrument(span)
        .await;
    if let Some(recording) = recording {
        recording.finished(outcome);
    }
    if let Some(backoff) = backoff {
        tokio::time::sleep(backoff.min(rules.max_backoff)).await;
    }
}

/// Runs one job: how it ended, and the time its slot should wait before
/// more work, after a failure on an unreachable dependency.
async fn handle<H, Fut>(
    queue: &dyn JobQueue,
    job: Delivery,
    handler: &H,
    never_dead_letter: bool,
) -> (JobOutcome, Option<Duration>)
where
    H: Fn(Delivery) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let id = job.id.clone();
    let deliveries = job.deliveries;
    let mut backoff = None;
    let mut outcome = JobOutcome::Retry;
    let result = match handler(job.clone()).await {
        Ok(()) => {
            outcome = JobOutcome::Done;
            queue.ack(&id).await
        }
        Err(error) => {
            let last = deliveries >= queue.options().max_deliveries;
            let reason = format!("{error:#}");
            if let Some(dependency) = crate::error::dependency_outage(&error) {
                tracing::warn!(queue = queue.name(), job = %id, deliveries, dependency, error = reason,
                    "job failed on an unreachable dependency; it will be retried until it is back");
                backoff = Some(outage_backoff(deliveries));
                outcome = JobOutcome::Outage;
                keep_alive(queue, &job).await
            } else if never_dead_letter {
                if last {
                    tracing::error!(queue = queue.name(), job = %id, deliveries, error = reason,
                        "job keeps failing; it is retried until it succeeds");
                } else {
                    tracing::warn!(queue = queue.name(), job = %id, deliveries, error = reason,
                        "job failed; it will be retried");
                }
                keep_alive(queue, &job).await
            } else if last || error.downcast_ref::<Permanent>().is_some() {
                tracing::error!(queue = queue.name(), job = %id, deliveries, error = reason,
                    "job failed for the last time; dead-lettered");
                outcome = JobOutcome::DeadLettered;
                queue.dead_letter(&job, &reason).await
            } else {
                tracing::warn!(queue = queue.name(), job = %id, deliveries, error = reason,
                    "job failed; it will be retried");
                Ok(())
            }
        }
    };
    if let Err(error) = result {
        tracing::error!(queue = queue.name(), job = %id, error = format!("{error:#}"), "queue bookkeeping failed");
    }
    (outcome, backoff)
}

/// A job that must not be dead-lettered, before the queue would (its next
/// delivery the last allowed): put back as a new job, its delivery count
/// starting again. Enqueued before the old one is acked, so a crash between
/// the two delivers it twice (handlers are idempotent), never not at all.
async fn keep_alive(queue: &dyn JobQueue, job: &Delivery) -> anyhow::Result<()> {
    if job.deliveries + 1 < queue.options().max_deliveries {
        return Ok(());
    }
    queue.enqueue(&job.payload).await?;
    queue.ack(&job.id).await
}

/// 1 s after the first failed delivery, doubling, at most [`MAX_OUTAGE_BACKOFF`].
fn outage_backoff(deliveries: u32) -> Duration {
    let doublings = deliveries.saturating_sub(1).min(5);
    (Duration::from_secs(1) * 2u32.pow(doublings)).min(MAX_OUTAGE_BACKOFF)
}

#[cfg(test)]
mod tests {
    #[test]
    fn outage_backoff_doubles_to_thirty_seconds() {
        let secs: Vec<u64> = (1..=8)
            .map(|n| super::outage_backoff(n).as_secs())
            .collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
