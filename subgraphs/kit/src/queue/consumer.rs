//! Runs a handler over a queue with N jobs in flight at once.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::{sync::Semaphore, task::JoinSet};

use super::{Delivery, JobQueue};

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
}

impl ConsumerOptions {
    pub fn new(name: impl Into<String>, concurrency: usize) -> Self {
        Self {
            name: name.into(),
            concurrency: concurrency.max(1),
            poll_wait: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Consumes `queue` until `shutdown` resolves.
///
/// A handler's `Ok` acks the job. An `Err` leaves it unacked, so it comes back
/// after the visibility timeout (which doubles as the retry delay); on its last
/// allowed delivery, or at once for a [`Permanent`] error, it goes to the
/// dead-letter queue with the error as reason.
pub async fn run_consumer<H, Fut>(
    queue: Arc<dyn JobQueue>,
    options: ConsumerOptions,
    handler: H,
    shutdown: impl Future<Output = ()> + Send,
) where
    H: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
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
            running.spawn(async move {
                handle(queue.as_ref(), job, handler.as_ref()).await;
                drop(permit);
            });
        }
        // Reap finished tasks so the set does not grow.
        while running.try_join_next().is_some() {}
    }

    let drained = tokio::time::timeout(options.shutdown_grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            queue = queue.name(),
            "handlers still running at shutdown; their jobs will be redelivered"
        );
        running.abort_all();
    }
}

async fn handle<H, Fut>(queue: &dyn JobQueue, job: Delivery, handler: &H)
where
    H: Fn(Delivery) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let id = job.id.clone();
    let deliveries = job.deliveries;
    let outcome = handler(job.clone()).await;
    let result = match outcome {
        Ok(()) => queue.ack(&id).await,
        Err(error)
            if deliveries >= queue.options().max_deliveries
                || error.downcast_ref::<Permanent>().is_some() =>
        {
            tracing::error!(
                queue = queue.name(),
                job = %id,
                deliveries,
                error = format!("{error:#}"),
                "job failed for the last time; dead-lettered"
            );
            queue.dead_letter(&job, &format!("{error:#}")).await
        }
        Err(error) => {
            tracing::warn!(
                queue = queue.name(),
                job = %id,
                deliveries,
                error = format!("{error:#}"),
                "job failed; it will be retried"
            );
            Ok(())
        }
    };
    if let Err(error) = result {
        tracing::error!(queue = queue.name(), job = %id, error = format!("{error:#}"), "queue bookkeeping failed");
    }
}
