//! The recommendation worker: consumes activity events, keeps the AI
//! subgraph's projection of recent activities, writes one recommendation per
//! activity (Gemini or rules), and announces it on the bus.
//!
//! Idempotent: a redelivered `ActivityLogged` finds the stored recommendation
//! (unique per activity, written before the ack) and does nothing more.

use std::{future::Future, sync::Arc};

use chrono::{DateTime, Utc};
use fittrack_kit::queue::{run_consumer, ConsumerOptions, JobQueue, Permanent};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    bus::RecommendationBus,
    coach::Coach,
    domain::model::{ActivitySummary, Recommendation},
    gemini::GeminiError,
    storage::{AiStore, Saved},
};

/// History given to the model with each activity.
pub const HISTORY_FOR_PROMPT: usize = 10;

/// The activity events this worker understands (the activity subgraph's
/// published JSON; unknown fields are ignored).
#[derive(Debug, Deserialize)]
#[serde(tag = "event")]
enum IncomingEvent {
    #[serde(rename_all = "camelCase")]
    ActivityLogged {
        activity_id: Uuid,
        user_id: Uuid,
        #[serde(rename = "type")]
        activity_type: String,
        duration_minutes: i32,
        calories_burned: i32,
        start_time: DateTime<Utc>,
        #[serde(default)]
        metrics: IncomingMetrics,
    },
    #[serde(rename_all = "camelCase")]
    ActivityDeleted { activity_id: Uuid },
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IncomingMetrics {
    distance_km: Option<f64>,
    average_heart_rate: Option<i32>,
    max_heart_rate: Option<i32>,
}

#[derive(Clone)]
pub struct Worker {
    store: Arc<dyn AiStore>,
    coach: Arc<Coach>,
    bus: Arc<dyn RecommendationBus>,
    /// Deleted users, and the event queue their queued events are purged
    /// from (kit::erasure).
    erasure: Option<(
        Arc<dyn fittrack_kit::erasure::ErasedUsers>,
        Arc<dyn JobQueue>,
    )>,
}

impl Worker {
    pub fn new(
        store: Arc<dyn AiStore>,
        coach: Arc<Coach>,
        bus: Arc<dyn RecommendationBus>,
    ) -> Self {
        Self {
            store,
            coach,
            bus,
            erasure: None,
        }
    }

    /// Checks `marks` so work in flight for a deleted user leaves nothing
    /// behind; the eraser purges the user's events from `events`.
    pub fn with_erasure_marks(
        mut self,
        marks: Arc<dyn fittrack_kit::erasure::ErasedUsers>,
        events: Arc<dyn JobQueue>,
    ) -> Self {
        self.erasure = Some((marks, events));
        self
    }

    async fn is_erased(&self, user_id: Uuid) -> anyhow::Result<bool> {
        match &self.erasure {
            Some((marks, _)) => marks.is_erased(user_id).await,
            None => Ok(false),
        }
    }

    /// Handles one queue payload. `Permanent` errors go straight to the
    /// dead-letter queue; others are retried by the queue.
    pub async fn handle(&self, payload: &str) -> anyhow::Result<()> {
        let event: IncomingEvent = serde_json::from_str(payload)
            .map_err(|e| Permanent(format!("unreadable activity event: {e}")))?;
        match event {
            IncomingEvent::ActivityDeleted { activity_id } => {
                self.store.forget_activity(activity_id).await?;
                Ok(())
            }
            IncomingEvent::ActivityLogged {
                activity_id,
                user_id,
                activity_type,
                duration_minutes,
                calories_burned,
                start_time,
                metrics,
            } => {
                let activity = ActivitySummary {
                    activity_id,
                    user_id,
                    activity_type,
                    duration_minutes,
                    calories_burned,
                    start_time,
                    distance_km: metrics.distance_km,
                    average_heart_rate: metrics.average_heart_rate,
                    max_heart_rate: metrics.max_heart_rate,
                };
                self.recommend(activity).await
            }
        }
    }

    async fn recommend(&self, activity: ActivitySummary) -> anyhow::Result<()> {
        // Events of one activity may be handled out of order by different
        // consumers: an already deleted activity gets nothing, nor does a
        // deleted user.
        if self.store.is_forgotten(activity.activity_id).await?
            || self.is_erased(activity.user_id).await?
        {
            return Ok(());
        }
        self.store.remember_activity(&activity).await?;
        let done = self
            .store
            .recommendations_for_activities(&[activity.activity_id])
            .await?;
        if !done.is_empty() {
            // A redelivery of work already finished.
            return Ok(());
        }
        let history: Vec<ActivitySummary> = self
            .store
            .recent_activities(activity.user_id, HISTORY_FOR_PROMPT + 1)
            .await?
            .into_iter()
            .filter(|a| a.activity_id != activity.activity_id)
            .take(HISTORY_FOR_PROMPT)
            .collect();
        let (source, advice) = self
            .coach
            .advise(&activity, &history)
            .await
            .map_err(|error| match error {
                GeminiError::Rejected { .. } => anyhow::Error::new(Permanent(error.to_string())),
                other => anyhow::Error::new(other),
            })?;
        let recommendation = Recommendation {
            id: Uuid::now_v7(),
            activity_id: activity.activity_id,
            user_id: activity.user_id,
            source,
            advice,
            created_at: Utc::now(),
        };
        if let Saved::New(stored) = self.store.save_recommendation(recommendation).await? {
            // Deleted while we were writing: undo rather than leave an orphan.
            if self.store.is_forgotten(stored.activity_id).await? {
                self.store.forget_activity(stored.activity_id).await?;
                return Ok(());
            }
            // The account was erased meanwhile: written first, checked after
            // (kit::erasure), so either the eraser saw this or we see it.
            if self.is_erased(stored.user_id).await? {
                self.store.forget_user(stored.user_id).await?;
                return Ok(());
            }
            if let Err(error) = self.bus.publish(&stored).await {
                // Stored and readable; only the live push is lost.
                tracing::warn!(
                    error = format!("{error:#}"),
                    "RecommendationCreated not published"
                );
            }
        }
        Ok(())
    }

    /// Erases what this subgraph holds about deleted users, from the user
    /// subgraph's `UserDeleted` events, until `shutdown`.
    pub async fn run_eraser(
        self,
        queue: Arc<dyn JobQueue>,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        let store = self.store.clone();
        let erasure = self.erasure.clone();
        run_consumer(
            queue,
            ConsumerOptions::new("ai-eraser", 2),
            move |job| {
                let (store, erasure) = (store.clone(), erasure.clone());
                async move {
                    let fittrack_kit::events::UserEvent::UserDeleted { user_id } =
                        serde_json::from_str(&job.payload)
                            .map_err(|e| Permanent(format!("unreadable user event: {e}")))?;
                    let mut purged = 0;
                    if let Some((marks, events)) = &erasure {
                        // Mark first (kit::erasure), then purge the user's
                        // queued and dead-lettered events, then delete.
                        marks.mark(user_id).await?;
                        purged = events
                            .purge(&|payload| {
                                fittrack_kit::erasure::payload_concerns(payload, user_id)
                            })
                            .await?;
                    }
                    store.forget_user(user_id).await?;
                    tracing::info!(%user_id, purged, "erased a deleted user's AI data");
                    Ok(())
                }
            },
            shutdown,
        )
        .await;
    }

    /// Consumes `queue` with `concurrency` handlers until `shutdown`.
    pub async fn run(
        self,
        queue: Arc<dyn JobQueue>,
        consumer_name: String,
        concurrency: usize,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        let worker = Arc::new(self);
        run_consumer(
            queue,
            ConsumerOptions::new(consumer_name, concurrency),
            move |job| {
                let worker = worker.clone();
                async move { worker.handle(&job.payload).await }
            },
            shutdown,
        )
        .await;
    }
}
