//! The queue adapter of the recommendation use case: reads activity events
//! (`kit::events::ActivityEvent`) and account deletions off the queues and
//! hands them to [`Recommender`]. What happens to them is decided there
//! (`domain::recommendations`).

use std::{future::Future, sync::Arc};

use fittrack_kit::{
    events::{ActivityEvent, UserEvent},
    queue::{run_consumer, ConsumerOptions, JobQueue, Permanent},
};

use crate::domain::{
    model::ActivitySummary,
    recommendations::{GaveUp, Recommender},
};

pub use crate::domain::recommendations::HISTORY_FOR_PROMPT;

#[derive(Clone)]
pub struct Worker {
    recommender: Recommender,
}

impl Worker {
    pub fn new(recommender: Recommender) -> Self {
        Self { recommender }
    }

    /// Handles one queue payload. `Permanent` errors go straight to the
    /// dead-letter queue; others are retried by the queue.
    pub async fn handle(&self, payload: &str) -> anyhow::Result<()> {
        let event: ActivityEvent = serde_json::from_str(payload)
            .map_err(|e| Permanent(format!("unreadable activity event: {e}")))?;
        let handled = match event {
            ActivityEvent::ActivityDeleted { activity_id, .. } => {
                self.recommender.activity_deleted(activity_id).await
            }
            ActivityEvent::ActivityLogged {
                activity_id,
                user_id,
                activity_type,
                duration_minutes,
                calories_burned,
                start_time,
                metrics,
                insights,
            } => {
                self.recommender
                    .activity_logged(ActivitySummary {
                        activity_id,
                        user_id,
                        activity_type,
                        duration_minutes,
                        calories_burned,
                        start_time,
                        distance_km: metrics.distance_km,
                        average_heart_rate: metrics.average_heart_rate,
                        max_heart_rate: metrics.max_heart_rate,
                        insights: insights.map(|insights| *insights),
                    })
                    .await
            }
        };
        handled.map_err(|error| match error.downcast::<GaveUp>() {
            Ok(GaveUp(why)) => anyhow::Error::new(Permanent(why)),
            Err(other) => other,
        })
    }

    /// Erases what this subgraph holds about deleted users, from the user
    /// subgraph's `UserDeleted` events, until `shutdown`.
    pub async fn run_eraser(
        self,
        queue: Arc<dyn JobQueue>,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        let recommender = self.recommender;
        run_consumer(
            queue,
            ConsumerOptions::new("ai-eraser", 2).never_dead_letter(),
            move |job| {
                let recommender = recommender.clone();
                async move {
                    let UserEvent::UserDeleted { user_id } = serde_json::from_str(&job.payload)
                        .map_err(|e| Permanent(format!("unreadable user event: {e}")))?;
                    let purged = recommender.erase_user(user_id).await?;
                    tracing::info!(%user_id, purged, "erased a deleted user's AI data");
                    Ok(())
                }
            },
            shutdown,
        )
        .await;
    }

    /// Consumes `queue` as `options` say (`WorkerConfig::consumer_options`)
    /// until `shutdown`.
    pub async fn run(
        self,
        queue: Arc<dyn JobQueue>,
        options: ConsumerOptions,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        let worker = Arc::new(self);
        run_consumer(
            queue,
            options,
            move |job| {
                let worker = worker.clone();
                async move { worker.handle(&job.payload).await }
            },
            shutdown,
        )
        .await;
    }
}
