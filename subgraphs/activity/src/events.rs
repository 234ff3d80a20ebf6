//! Activity events on the job queue (consumed by the AI worker), and the sweeper
//! that guarantees every saved activity gets its `ActivityLogged` event.
//!
//! Order of operations in `logActivity`: save (with `event_enqueued = false`),
//! enqueue, then mark the activity as enqueued. A crash or a queue outage between
//! the steps leaves the flag false; the sweeper finds such activities and
//! enqueues again. Consumers may therefore see an event twice and must be
//! idempotent (the AI worker keys its work by activity id).
//!
//! The marks are group-committed ([`Confirmations`]): a request hands its
//! activity id to one task that marks every id waiting in one write, so a
//! logged activity costs its insert and a share of one update instead of two
//! commits (issue 15). The request does not wait for the mark: a mark lost to
//! a crash only means the sweeper sends the event again.

use std::{future::Future, sync::Arc};
use tracing::Instrument as _;

use tokio::sync::mpsc;
use uuid::Uuid;

use chrono::Utc;
use fittrack_kit::{
    events::{ActivityEvent, EventMetrics, WorkoutInsights},
    queue::JobQueue,
};

use async_trait::async_trait;

use crate::{
    config::EventsConfig,
    domain::{
        model::Activity,
        ports::{ActivityEvents, ActivityStore},
    },
};

/// The events of one activity, in the shared contract (`kit::events`).
fn logged(activity: &Activity, insights: Option<WorkoutInsights>) -> ActivityEvent {
    let metrics = &activity.metrics;
    ActivityEvent::ActivityLogged {
        activity_id: activity.id,
        user_id: activity.user_id,
        activity_type: activity.activity_type.as_str().to_owned(),
        duration_minutes: activity.duration_minutes,
        calories_burned: activity.calories_burned,
        start_time: activity.start_time,
        metrics: EventMetrics {
            distance_km: metrics.distance_km,
            average_heart_rate: metrics.average_heart_rate,
            max_heart_rate: metrics.max_heart_rate,
            steps: metrics.steps,
            custom: metrics.custom.clone(),
        },
        insights: insights.map(Box::new),
    }
}

fn deleted(activity: &Activity) -> ActivityEvent {
    ActivityEvent::ActivityDeleted {
        activity_id: activity.id,
        user_id: activity.user_id,
    }
}

/// How many marks [`Confirmations`] holds before a request marks its own.
const CONFIRMATIONS_WAITING: usize = 4096;
/// The most ids one mark writes.
const CONFIRMATIONS_PER_WRITE: usize = 1000;

/// Publishes activity events; never fails the caller (the sweeper catches up).
#[derive(Clone)]
pub struct EventPublisher {
    queue: Arc<dyn JobQueue>,
    store: Arc<dyn ActivityStore>,
    /// Where enqueued activities wait to be marked; `None`: each is marked
    /// by its own write.
    confirmations: Option<mpsc::Sender<Uuid>>,
    metrics: Option<EventInstruments>,
}

/// The task that marks enqueued activities in batches ([`EventPublisher::batched`]).
pub struct Confirmations {
    store: Arc<dyn ActivityStore>,
    waiting: mpsc::Receiver<Uuid>,
    metrics: Option<EventInstruments>,
}

/// What the event path records: events enqueued by kind and outcome
/// (`fittrack_events_published_total`), activities marked as enqueued
/// (`fittrack_events_confirmed_total`), and what the sweeper sent again
/// (`fittrack_events_resent_total`).
#[derive(Clone)]
pub struct EventInstruments {
    published: opentelemetry::metrics::Counter<u64>,
    confirmed: opentelemetry::metrics::Counter<u64>,
    resent: opentelemetry::metrics::Counter<u64>,
}

impl EventInstruments {
    pub fn new(metrics: &fittrack_kit::metrics::Metrics) -> Self {
        let meter = metrics.meter();
        let instruments = Self {
            published: meter
                .u64_counter("fittrack.events.published")
                .with_description("Activity events enqueued, by event and outcome")
                .build(),
            confirmed: meter
                .u64_counter("fittrack.events.confirmed")
                .with_description(
                    "Activities marked as having their event on the queue, by outcome",
                )
                .build(),
            resent: meter
                .u64_counter("fittrack.events.resent")
                .with_description("Events the sweeper enqueued again (never confirmed in time)")
                .build(),
        };
        // Zero from the start, so a rate over them is defined at once.
        instruments.resent.add(0, &[]);
        instruments
    }

    fn published(&self, event: &'static str, ok: bool) {
        self.published.add(
            1,
            &[
                opentelemetry::KeyValue::new("event", event),
                opentelemetry::KeyValue::new("outcome", if ok { "ok" } else { "failed" }),
            ],
        );
    }

    fn confirmed(&self, count: usize, ok: bool) {
        self.confirmed.add(
            count as u64,
            &[opentelemetry::KeyValue::new(
                "outcome",
                if ok { "ok" } else { "failed" },
            )],
        );
    }
}

impl EventPublisher {
    /// Marks each enqueued activity with its own write.
    pub fn new(queue: Arc<dyn JobQueue>, store: Arc<dyn ActivityStore>) -> Self {
        Self {
            queue,
            store,
            confirmations: None,
            metrics: None,
        }
    }

    /// Records what it publishes in `metrics` ([`EventInstruments`]).
    pub fn with_metrics(mut self, metrics: EventInstruments) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Marks enqueued activities in batches through the returned task, which
    /// the caller runs ([`Confirmations::run`]); while it is not running,
    /// or is behind by [`CONFIRMATIONS_WAITING`], a request marks its own.
    pub fn batched(
        queue: Arc<dyn JobQueue>,
        store: Arc<dyn ActivityStore>,
    ) -> (Self, Confirmations) {
        let (sender, waiting) = mpsc::channel(CONFIRMATIONS_WAITING);
        let publisher = Self {
            queue,
            store: store.clone(),
            confirmations: Some(sender),
            metrics: None,
        };
        (
            publisher,
            Confirmations {
                store,
                waiting,
                metrics: None,
            },
        )
    }

    pub fn queue(&self) -> &Arc<dyn JobQueue> {
        &self.queue
    }

    /// Enqueues `ActivityLogged` and records that it is on the queue (or
    /// hands the record to [`Confirmations`]). Returns whether both steps
    /// succeeded (or the record was handed on).
    pub async fn activity_logged(
        &self,
        activity: &Activity,
        insights: Option<WorkoutInsights>,
    ) -> bool {
        let result = async {
            let enqueued = self.enqueue(&logged(activity, insights)).await;
            self.record_published("ActivityLogged", enqueued.is_ok());
            enqueued?;
            self.confirm(activity.id).await
        }
        .await;
        match result {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(
                    activity = %activity.id,
                    error = format!("{error:#}"),
                    "ActivityLogged not confirmed; the sweeper will retry"
                );
                false
            }
        }
    }

    async fn confirm(&self, id: Uuid) -> anyhow::Result<()> {
        if let Some(confirmations) = &self.confirmations {
            if confirmations.try_send(id).is_ok() {
                return Ok(());
            }
        }
        let marked = self.store.mark_events_enqueued(&[id]).await;
        if let Some(metrics) = &self.metrics {
            metrics.confirmed(1, marked.is_ok());
        }
        marked
    }

    fn record_published(&self, event: &'static str, ok: bool) {
        if let Some(metrics) = &self.metrics {
            metrics.published(event, ok);
        }
    }

    /// Enqueues `ActivityDeleted`. The activity is gone, so there is nothing to
    /// sweep later: a failure is logged loudly.
    pub async fn activity_deleted(&self, activity: &Activity) {
        let enqueued = self.enqueue(&deleted(activity)).await;
        self.record_published("ActivityDeleted", enqueued.is_ok());
        if let Err(error) = enqueued {
            tracing::error!(
                activity = %activity.id,
                error = format!("{error:#}"),
                "ActivityDeleted could not be enqueued"
            );
        }
    }

    async fn enqueue(&self, event: &ActivityEvent) -> anyhow::Result<()> {
        let span = tracing::info_span!(
            "queue.enqueue",
            queue = self.queue.name(),
            otel.kind = "producer",
        );
        async {
            // The job carries the trace on to the worker.
            let payload =
                fittrack_kit::telemetry::with_trace_context(serde_json::to_string(event)?);
            self.queue.enqueue(&payload).await?;
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// One sweep: re-publishes activities older than the grace period whose event
    /// was never confirmed. Returns how many were published.
    ///
    /// Each owner's erasure mark is read first: a workout logged while the
    /// marks could not be read (`Activities::log`) was never checked against
    /// an erasure that raced it. An erased owner's workouts are deleted, not
    /// announced; an owner whose mark cannot be read waits for the next sweep.
    pub async fn sweep_once(
        &self,
        config: &EventsConfig,
        erased: &dyn fittrack_kit::erasure::ErasedUsers,
    ) -> anyhow::Result<usize> {
        let grace = chrono::Duration::from_std(config.sweep_grace())?;
        let missed = self
            .store
            .pending_events(Utc::now() - grace, config.sweep_batch)
            .await?;
        let mut owners = std::collections::HashMap::new();
        for activity in &missed {
            if owners.contains_key(&activity.user_id) {
                continue;
            }
            let announce = match erased.is_erased(activity.user_id).await {
                Ok(false) => true,
                Ok(true) => {
                    self.store.delete_user(activity.user_id).await?;
                    tracing::info!(
                        user = %activity.user_id,
                        "sweeper removed workouts logged while their owner was being erased"
                    );
                    false
                }
                Err(error) => {
                    tracing::warn!(
                        user = %activity.user_id,
                        error = format!("{error:#}"),
                        "erasure marks unreadable; the next sweep retries"
                    );
                    false
                }
            };
            owners.insert(activity.user_id, announce);
        }
        let mut enqueued = Vec::with_capacity(missed.len());
        for activity in missed
            .iter()
            .filter(|a| owners.get(&a.user_id) == Some(&true))
        {
            // What was worked out when it was stored is not kept: the
            // coach hears of it again without.
            let result = self.enqueue(&logged(activity, None)).await;
            self.record_published("ActivityLogged", result.is_ok());
            match result {
                Ok(()) => {
                    enqueued.push(activity.id);
                    if let Some(metrics) = &self.metrics {
                        metrics.resent.add(1, &[]);
                    }
                }
                Err(error) => tracing::warn!(
                    activity = %activity.id,
                    error = format!("{error:#}"),
                    "ActivityLogged not enqueued; the next sweep retries"
                ),
            }
        }
        let published = enqueued.len();
        let marked = self.store.mark_events_enqueued(&enqueued).await;
        if let Some(metrics) = &self.metrics {
            metrics.confirmed(published, marked.is_ok());
        }
        marked?;
        if !missed.is_empty() {
            tracing::info!(
                found = missed.len(),
                published,
                "sweeper re-published missed activity events"
            );
        }
        Ok(published)
    }

    /// Sweeps every `sweep_interval` until `shutdown`.
    pub async fn run_sweeper(
        self,
        config: EventsConfig,
        erased: Arc<dyn fittrack_kit::erasure::ErasedUsers>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut ticks = tokio::time::interval(config.sweep_interval());
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = ticks.tick() => {
                    if let Err(error) = self.sweep_once(&config, &*erased).await {
                        tracing::warn!(error = format!("{error:#}"), "activity event sweep failed");
                    }
                }
            }
        }
    }
}

impl Confirmations {
    /// Marks every waiting activity in one write, then waits for the next,
    /// until `shutdown`; then marks what is still waiting. A failed write is
    /// logged and left to the sweeper (the events are on the queue: it only
    /// sends them again).
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut batch = Vec::with_capacity(CONFIRMATIONS_PER_WRITE);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                received = self.waiting.recv_many(&mut batch, CONFIRMATIONS_PER_WRITE) => {
                    if received == 0 {
                        return;
                    }
                    self.mark(&mut batch).await;
                }
            }
        }
        self.waiting.close();
        while self
            .waiting
            .recv_many(&mut batch, CONFIRMATIONS_PER_WRITE)
            .await
            > 0
        {
            self.mark(&mut batch).await;
        }
    }

    /// Records in `metrics` what it marks.
    pub fn with_metrics(mut self, metrics: EventInstruments) -> Self {
        self.metrics = Some(metrics);
        self
    }

    async fn mark(&self, batch: &mut Vec<Uuid>) {
        let marked = self.store.mark_events_enqueued(batch).await;
        if let Some(metrics) = &self.metrics {
            metrics.confirmed(batch.len(), marked.is_ok());
        }
        if let Err(error) = marked {
            tracing::warn!(
                activities = batch.len(),
                error = format!("{error:#}"),
                "ActivityLogged enqueued but not marked; the sweeper will send them again"
            );
        }
        batch.clear();
    }
}

#[async_trait]
impl ActivityEvents for EventPublisher {
    async fn logged(&self, activity: &Activity, insights: Option<WorkoutInsights>) -> bool {
        self.activity_logged(activity, insights).await
    }

    async fn deleted(&self, activity: &Activity) {
        self.activity_deleted(activity).await
    }
}

/// How the eraser consumes `UserDeleted`: erasure is never dead-lettered,
/// whatever fails and for however long (it is retried, and logged at ERROR
/// past the queue's delivery budget).
pub fn eraser_options() -> fittrack_kit::queue::ConsumerOptions {
    fittrack_kit::queue::ConsumerOptions::new("activity-eraser", 2).never_dead_letter()
}

/// Erases a deleted user's activities, from the user subgraph's `UserDeleted`
/// events, until `shutdown` ([`eraser_options`] in production).
pub async fn run_eraser(
    store: Arc<dyn ActivityStore>,
    imports: Arc<dyn crate::domain::imports::ImportStore>,
    queue: Arc<dyn JobQueue>,
    events: Arc<dyn JobQueue>,
    marks: Arc<dyn fittrack_kit::erasure::ErasedUsers>,
    options: fittrack_kit::queue::ConsumerOptions,
    shutdown: impl Future<Output = ()> + Send,
) {
    fittrack_kit::queue::run_consumer(
        queue,
        options,
        move |job| {
            let (store, imports, events, marks) =
                (store.clone(), imports.clone(), events.clone(), marks.clone());
            async move {
                let fittrack_kit::events::UserEvent::UserDeleted { user_id } =
                    serde_json::from_str(&job.payload).map_err(|e| {
                        fittrack_kit::queue::Permanent(format!("unreadable user event: {e}"))
                    })?;
                // Mark first: a request or job in flight for the user undoes
                // its own write after this (kit::erasure).
                marks.mark(user_id).await?;
                // The user's activity events, waiting or dead-lettered,
                // carry their workouts: they go too.
                let purged = events
                    .purge(&|payload| fittrack_kit::erasure::payload_concerns(payload, user_id))
                    .await?;
                imports.delete_user_imports(user_id).await?;
                let erased = store.delete_user(user_id).await?;
                marks
                    .settle(user_id, fittrack_kit::events::USER_DELETED_ACTIVITY_QUEUE)
                    .await?;
                tracing::info!(%user_id, erased, purged, "erased a deleted user's activities and queued events");
                Ok(())
            }
        },
        shutdown,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{ActivityType, Metrics};

    #[test]
    fn a_logged_activity_carries_its_type_and_metrics_in_the_shared_contract() {
        let now = Utc::now();
        let activity = Activity {
            id: uuid::Uuid::now_v7(),
            user_id: uuid::Uuid::new_v4(),
            activity_type: ActivityType::Cycling,
            duration_minutes: 60,
            calories_burned: 500,
            start_time: now,
            notes: None,
            metrics: Metrics {
                distance_km: Some(20.5),
                steps: Some(10),
                ..Default::default()
            },
            idempotency_key: None,
            created_at: now,
            updated_at: now,
            event_enqueued: false,
            time_zone: None,
        };
        let json = serde_json::to_value(logged(&activity, None)).expect("json");
        assert_eq!(json["event"], "ActivityLogged");
        assert_eq!(json["type"], "CYCLING");
        assert_eq!(json["metrics"]["distanceKm"], 20.5);
        assert_eq!(json["metrics"]["steps"], 10);
    }
}
