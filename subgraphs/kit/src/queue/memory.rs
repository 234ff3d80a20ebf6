//! In-process job queue: the embedded default. Same semantics as Redis Streams,
//! but jobs live only as long as the process (the activity sweeper re-enqueues
//! whatever a restart lost).

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use async_trait::async_trait;
use chrono::Utc;
use tokio::{sync::Notify, time::Instant};

use super::{DeadLetter, Delivery, JobQueue, QueueOptions, QueueStats};

#[derive(Debug, Clone)]
struct Job {
    id: String,
    payload: String,
    deliveries: u32,
    enqueued_at: chrono::DateTime<Utc>,
}

#[derive(Debug)]
struct InFlight {
    job: Job,
    deadline: Instant,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    ready: VecDeque<Job>,
    in_flight: HashMap<String, InFlight>,
    /// Ordered by id, i.e. by the time they died.
    dead: BTreeMap<u64, DeadLetter>,
}

impl State {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn bury(&mut self, job: Job, reason: String) {
        let id = self.next_id();
        self.dead.insert(
            id,
            DeadLetter {
                id: id.to_string(),
                job_id: job.id,
                payload: job.payload,
                deliveries: job.deliveries,
                reason,
                failed_at: Utc::now(),
            },
        );
    }
}

pub struct MemoryJobQueue {
    name: String,
    options: QueueOptions,
    state: Mutex<State>,
    /// Wakes waiting receivers when a job becomes available.
    available: Notify,
}

impl MemoryJobQueue {
    pub fn new(name: &str, options: QueueOptions) -> Self {
        Self {
            name: name.to_owned(),
            options,
            state: Mutex::new(State::default()),
            available: Notify::new(),
        }
    }

    /// The process-wide queue called `name` (created on first use).
    pub fn shared(name: &str, options: QueueOptions) -> Arc<dyn JobQueue> {
        static QUEUES: OnceLock<Mutex<HashMap<String, Arc<MemoryJobQueue>>>> = OnceLock::new();
        let mut queues = QUEUES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        queues
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(Self::new(name, options)))
            .clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated in a
        // way that matters more than losing the queue, so keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hands out what is available now; the earliest in-flight deadline otherwise.
    fn take(&self, max: usize) -> (Vec<Delivery>, Option<Instant>) {
        let now = Instant::now();
        let mut state = self.state();
        let expired: Vec<String> = state
            .in_flight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        let mut redeliver = Vec::new();
        for id in expired {
            if let Some(flight) = state.in_flight.remove(&id) {
                if flight.job.deliveries >= self.options.max_deliveries {
                    let reason = format!(
                        "not acknowledged after {} deliveries",
                        flight.job.deliveries
                    );
                    state.bury(flight.job, reason);
                } else {
                    redeliver.push(flight.job);
                }
            }
        }
        // Redelivered jobs go first, oldest first.
        redeliver.sort_by_key(|job| job.id.parse::<u64>().unwrap_or(u64::MAX));
        for job in redeliver.into_iter().rev() {
            state.ready.push_front(job);
        }

        let mut out = Vec::new();
        while out.len() < max {
            let Some(mut job) = state.ready.pop_front() else {
                break;
            };
            job.deliveries += 1;
            out.push(Delivery {
                id: job.id.clone(),
                payload: job.payload.clone(),
                deliveries: job.deliveries,
            });
            state.in_flight.insert(
                job.id.clone(),
                InFlight {
                    job,
                    deadline: now + self.options.visibility_timeout,
                },
            );
        }
        let next_deadline = state.in_flight.values().map(|f| f.deadline).min();
        (out, next_deadline)
    }
}

#[async_trait]
impl JobQueue for MemoryJobQueue {
    fn name(&self) -> &str {
        &self.name
    }

    fn options(&self) -> &QueueOptions {
        &self.options
    }

    async fn enqueue(&self, payload: &str) -> anyhow::Result<String> {
        let id = {
            let mut state = self.state();
            let id = state.next_id().to_string();
            state.ready.push_back(Job {
                id: id.clone(),
                payload: payload.to_owned(),
                deliveries: 0,
                enqueued_at: Utc::now(),
            });
            id
        };
        self.available.notify_one();
        Ok(id)
    }

    async fn receive(
        &self,
        _consumer: &str,
        max: usize,
        wait: Duration,
    ) -> anyhow::Result<Vec<Delivery>> {
        let give_up = Instant::now() + wait;
        loop {
            // Register interest before looking, so an enqueue in between is not missed.
            let notified = self.available.notified();
            let (jobs, next_deadline) = self.take(max);
            if !jobs.is_empty() || max == 0 || Instant::now() >= give_up {
                return Ok(jobs);
            }
            let wake_at = next_deadline.map_or(give_up, |d| d.min(give_up));
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    async fn ack(&self, id: &str) -> anyhow::Result<()> {
        self.state().in_flight.remove(id);
        Ok(())
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> anyhow::Result<()> {
        let mut state = self.state();
        let job = match state.in_flight.remove(&delivery.id) {
            Some(flight) => flight.job,
            None => Job {
                id: delivery.id.clone(),
                payload: delivery.payload.clone(),
                deliveries: delivery.deliveries,
                enqueued_at: Utc::now(),
            },
        };
        state.bury(job, reason.to_owned());
        Ok(())
    }

    async fn dead_letters(&self, limit: usize) -> anyhow::Result<Vec<DeadLetter>> {
        Ok(self.state().dead.values().take(limit).cloned().collect())
    }

    async fn purge(
        &self,
        matches: &(dyn for<'p> Fn(&'p str) -> bool + Send + Sync),
    ) -> anyhow::Result<usize> {
        let mut state = self.state();
        let before = state.ready.len() + state.in_flight.len() + state.dead.len();
        state.ready.retain(|job| !matches(&job.payload));
        state
            .in_flight
            .retain(|_, flight| !matches(&flight.job.payload));
        state.dead.retain(|_, dead| !matches(&dead.payload));
        Ok(before - (state.ready.len() + state.in_flight.len() + state.dead.len()))
    }

    async fn replay(&self, dead_letter_id: &str) -> anyhow::Result<Option<String>> {
        let Ok(key) = dead_letter_id.parse::<u64>() else {
            return Ok(None);
        };
        let Some(dead) = self.state().dead.remove(&key) else {
            return Ok(None);
        };
        self.enqueue(&dead.payload).await.map(Some)
    }

    async fn stats(&self) -> anyhow::Result<QueueStats> {
        let state = self.state();
        let oldest_job_at = state
            .ready
            .iter()
            .chain(state.in_flight.values().map(|flight| &flight.job))
            .map(|job| job.enqueued_at)
            .min();
        Ok(QueueStats {
            waiting: state.ready.len() as u64,
            in_flight: state.in_flight.len() as u64,
            dead_letters: state.dead.len() as u64,
            oldest_job_at,
        })
    }

    async fn ping(&self) -> anyhow::Result<()> {
        Ok(())
    }
}
