//! Fair dispatch: one key's burst (one user's) cannot hold up another key's jobs.
//!
//! A queue hands jobs out in arrival order, so a user who logs 200 workouts at
//! once would put 200 recommendations ahead of everyone else's. Here the
//! consumer reads ahead into a window, and a free handler slot goes to the job
//! whose key has the fewest jobs running (the oldest among equals). A key that
//! already holds `per_key` places in the window has its further jobs moved to
//! the back of the queue (enqueued anew, then acked), each at most once per
//! consumer, so reading goes on past its backlog to the next user's job.
//! Another user then waits for one free slot plus the time it takes to move the
//! burst (a queue write per job), not for the burst to be processed.
//!
//! A job that has waited in the window for half the visibility timeout goes
//! first whatever its key, before the queue would hand it out again; one that
//! the queue hands out again while this consumer holds it is dropped here.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    future::Future,
    hash::{BuildHasher, RandomState},
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{
    sync::{mpsc, OwnedSemaphorePermit, Semaphore},
    task::JoinSet,
};

use super::{
    consumer::{drain, run_job, JobRules},
    ConsumerOptions, Delivery, JobQueue,
};

/// What a job's fairness key is: its owner, read from the payload. `None`
/// puts the job in no group (it is never moved and counts as nobody's).
pub type FairKey = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// [`ConsumerOptions::fair_by`]: a key per job and the read-ahead window.
#[derive(Clone)]
pub struct Fairness {
    pub key: FairKey,
    /// Jobs held at once, waiting or running (at least twice the concurrency).
    pub window: usize,
}

impl std::fmt::Debug for Fairness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fairness")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

/// Payload hashes this consumer moved to the back, at most this many (then
/// forgotten: a job moved twice costs one more queue write, nothing else).
const MAX_REMEMBERED_MOVES: usize = 65_536;

struct Held {
    job: Delivery,
    key: Option<String>,
    since: Instant,
    room: OwnedSemaphorePermit,
}

/// What the window holds and runs, per key.
#[derive(Default)]
struct Window {
    waiting: VecDeque<Held>,
    /// Job ids waiting or running here (a redelivery of one is dropped).
    ids: HashSet<String>,
    held_per_key: HashMap<String, usize>,
    running_per_key: HashMap<String, usize>,
    moved: HashSet<u64>,
}

impl Window {
    fn running(&self, key: &Option<String>) -> usize {
        key.as_ref()
            .and_then(|key| self.running_per_key.get(key))
            .copied()
            .unwrap_or(0)
    }

    /// The next job to run: one that waited too long, else the oldest of the
    /// key with the fewest running.
    fn pick(&mut self, max_wait: Duration) -> Option<Held> {
        let oldest = self.waiting.front()?;
        let index = if oldest.since.elapsed() >= max_wait {
            0
        } else {
            let mut best = (usize::MAX, 0);
            for (index, held) in self.waiting.iter().enumerate() {
                let running = self.running(&held.key);
                if running < best.0 {
                    best = (running, index);
                    if running == 0 {
                        break;
                    }
                }
            }
            best.1
        };
        let held = self.waiting.remove(index)?;
        if let Some(key) = &held.key {
            *self.running_per_key.entry(key.clone()).or_default() += 1;
        }
        Some(held)
    }

    fn finished(&mut self, id: &str, key: Option<String>) {
        self.ids.remove(id);
        if let Some(key) = key {
            for counts in [&mut self.running_per_key, &mut self.held_per_key] {
                if let Some(count) = counts.get_mut(&key) {
                    *count -= 1;
                    if *count == 0 {
                        counts.remove(&key);
                    }
                }
            }
        }
    }
}

/// [`super::run_consumer`] with [`Fairness`].
pub(super) async fn run_fair_consumer<H, Fut>(
    queue: Arc<dyn JobQueue>,
    options: ConsumerOptions,
    fairness: Fairness,
    handler: H,
    shutdown: impl Future<Output = ()> + Send,
) where
    H: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let concurrency = options.concurrency;
    let capacity = fairness.window.max(2 * concurrency);
    let per_key = capacity / 2;
    let max_wait = queue.options().visibility_timeout / 2;
    let rules = Arc::new(JobRules::of(&options));
    let hasher = RandomState::new();
    let handler = Arc::new(handler);
    let room = Arc::new(Semaphore::new(capacity));
    let (received, mut arrivals) = mpsc::unbounded_channel();
    let fetcher = tokio::spawn(fetch(
        queue.clone(),
        options.name.clone(),
        options.poll_wait,
        room,
        received,
    ));
    let mut window = Window::default();
    let mut running: JoinSet<(String, Option<String>)> = JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        while running.len() < concurrency {
            let Some(held) = window.pick(max_wait) else {
                break;
            };
            let (queue, handler, rules) = (queue.clone(), handler.clone(), rules.clone());
            running.spawn(async move {
                let Held { job, key, room, .. } = held;
                let id = job.id.clone();
                run_job(queue.as_ref(), job, handler.as_ref(), &rules).await;
                drop(room);
                (id, key)
            });
        }
        tokio::select! {
            () = &mut shutdown => break,
            Some(done) = running.join_next(), if !running.is_empty() => match done {
                Ok((id, key)) => window.finished(&id, key),
                Err(error) => tracing::error!(queue = queue.name(), %error, "a job's handler panicked"),
            },
            arrival = arrivals.recv() => {
                let Some((job, room)) = arrival else { break };
                admit(&queue, &mut window, &fairness.key, per_key, &hasher, job, room).await;
            }
        }
    }

    fetcher.abort();
    drain(running, options.shutdown_grace, queue.name()).await;
}

/// Takes a received job into the window, or moves it to the back of the queue
/// when its key holds its share and it was not moved before.
async fn admit(
    queue: &Arc<dyn JobQueue>,
    window: &mut Window,
    key_of: &FairKey,
    per_key: usize,
    hasher: &RandomState,
    job: Delivery,
    room: OwnedSemaphorePermit,
) {
    if window.ids.contains(&job.id) {
        return;
    }
    let key = key_of(&job.payload);
    if let Some(key) = &key {
        let held = window.held_per_key.get(key).copied().unwrap_or(0);
        let fingerprint = hasher.hash_one(&job.payload);
        let moved_before = window.moved.remove(&fingerprint);
        if held >= per_key && !moved_before {
            match move_to_back(queue.as_ref(), &job).await {
                Ok(()) => {
                    if window.moved.len() >= MAX_REMEMBERED_MOVES {
                        window.moved.clear();
                    }
                    window.moved.insert(fingerprint);
                    return;
                }
                Err(error) => tracing::warn!(queue = queue.name(), job = %job.id,
                    error = format!("{error:#}"), "could not move a job back; it waits here"),
            }
        }
        *window.held_per_key.entry(key.clone()).or_default() += 1;
    }
    window.ids.insert(job.id.clone());
    window.waiting.push_back(Held {
        job,
        key,
        since: Instant::now(),
        room,
    });
}

/// Enqueued again before the old copy is acked: a crash between the two runs
/// the job twice (handlers are idempotent), never not at all.
async fn move_to_back(queue: &dyn JobQueue, job: &Delivery) -> anyhow::Result<()> {
    queue.enqueue(&job.payload).await?;
    queue.ack(&job.id).await
}

/// Receives as many jobs as the window has room for, until aborted.
async fn fetch(
    queue: Arc<dyn JobQueue>,
    consumer: String,
    poll_wait: Duration,
    room: Arc<Semaphore>,
    received: mpsc::UnboundedSender<(Delivery, OwnedSemaphorePermit)>,
) {
    loop {
        let Ok(first) = room.clone().acquire_owned().await else {
            return;
        };
        let mut places = vec![first];
        while let Ok(place) = room.clone().try_acquire_owned() {
            places.push(place);
        }
        match queue.receive(&consumer, places.len(), poll_wait).await {
            Ok(jobs) => {
                for (job, place) in jobs.into_iter().zip(places) {
                    if received.send((job, place)).is_err() {
                        return;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(
                    queue = queue.name(),
                    error = format!("{error:#}"),
                    "receive failed; retrying"
                );
                drop(places);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
