//! Where a recommendation is created: one per logged activity, written by
//! the advisor from the user's recent history, stored (unique per activity),
//! then announced. The worker (`worker.rs`) calls this for each activity
//! event; deliveries are at least once, so every step is idempotent.

use std::sync::Arc;

use fittrack_kit::{erasure::ErasedUsers, queue::JobQueue};
use uuid::Uuid;

use super::{
    model::{ActivitySummary, Recommendation},
    ports::{AdviceError, Advisor, AiStore, Intake, RecommendationBus, Saved},
};

/// History given to the model with each activity.
pub const HISTORY_FOR_PROMPT: usize = 10;

/// Why an activity got no recommendation and should not be tried again.
#[derive(Debug)]
pub struct GaveUp(pub String);

#[derive(Clone)]
pub struct Recommender {
    store: Arc<dyn AiStore>,
    advisor: Arc<dyn Advisor>,
    bus: Arc<dyn RecommendationBus>,
    /// Deleted users, and the event queue their queued events are purged from.
    erasure: Option<(Arc<dyn ErasedUsers>, Arc<dyn JobQueue>)>,
}

impl Recommender {
    pub fn new(
        store: Arc<dyn AiStore>,
        advisor: Arc<dyn Advisor>,
        bus: Arc<dyn RecommendationBus>,
    ) -> Self {
        Self {
            store,
            advisor,
            bus,
            erasure: None,
        }
    }

    /// Checks `marks`, so work in flight for a deleted user leaves nothing
    /// behind; [`Recommender::erase_user`] purges the user's events from `events`.
    pub fn with_erasure_marks(
        mut self,
        marks: Arc<dyn ErasedUsers>,
        events: Arc<dyn JobQueue>,
    ) -> Self {
        self.erasure = Some((marks, events));
        self
    }

    pub fn store(&self) -> &Arc<dyn AiStore> {
        &self.store
    }

    async fn is_erased(&self, user_id: Uuid) -> anyhow::Result<bool> {
        match &self.erasure {
            Some((marks, _)) => marks.is_erased(user_id).await,
            None => Ok(false),
        }
    }

    /// An activity was logged: its recommendation, once. `Err(GaveUp)` inside
    /// the error means retrying cannot help.
    pub async fn activity_logged(&self, activity: ActivitySummary) -> anyhow::Result<()> {
        // Events of one activity may be handled out of order by different
        // consumers: an already deleted activity gets nothing, nor does a
        // deleted user.
        if self.is_erased(activity.user_id).await? {
            return Ok(());
        }
        let history = match self
            .store
            .take_in_activity(&activity, HISTORY_FOR_PROMPT)
            .await?
        {
            Intake::Forgotten => return Ok(()),
            Intake::Recommended(done) => {
                // A redelivery of work already finished. The worker that did
                // it may have died between storing and publishing: publish
                // again (live delivery is at least once; clients key
                // recommendations by id).
                self.publish(&done).await;
                return Ok(());
            }
            Intake::New { history } => history,
        };
        let (source, advice) = self
            .advisor
            .advise(&activity, &history)
            .await
            .map_err(|error| match error {
                AdviceError::Rejected(why) => anyhow::Error::new(GaveUp(why)),
                AdviceError::Failed(error) => error,
            })?;
        let recommendation = Recommendation {
            id: Uuid::now_v7(),
            activity_id: activity.activity_id,
            user_id: activity.user_id,
            source,
            advice,
            created_at: chrono::Utc::now(),
        };
        // `None`: the activity was deleted while we were writing; the store
        // kept nothing.
        if let Some(Saved::New(stored)) = self.store.save_recommendation(recommendation).await? {
            // The account was erased meanwhile: written first, checked after
            // (kit::erasure), so either the eraser saw this or we see it.
            if self.is_erased(stored.user_id).await? {
                self.store.forget_user(stored.user_id).await?;
                return Ok(());
            }
            self.publish(&stored).await;
        }
        Ok(())
    }

    /// An activity was deleted: its recommendation goes, and a tombstone stays
    /// so that a late `activity_logged` does nothing.
    pub async fn activity_deleted(&self, activity_id: Uuid) -> anyhow::Result<()> {
        self.store.forget_activity(activity_id).await?;
        Ok(())
    }

    /// An account was deleted: mark it first (kit::erasure), purge its queued
    /// and dead-lettered events, then delete what is kept about it; how many
    /// events were purged.
    pub async fn erase_user(&self, user_id: Uuid) -> anyhow::Result<usize> {
        let mut purged = 0;
        if let Some((marks, events)) = &self.erasure {
            marks.mark(user_id).await?;
            purged = events
                .purge(&|payload| fittrack_kit::erasure::payload_concerns(payload, user_id))
                .await?;
        }
        self.store.forget_user(user_id).await?;
        if let Some((marks, _)) = &self.erasure {
            marks
                .settle(user_id, fittrack_kit::events::USER_DELETED_AI_QUEUE)
                .await?;
        }
        Ok(purged)
    }

    async fn publish(&self, recommendation: &Recommendation) {
        if let Err(error) = self.bus.publish(recommendation).await {
            // Stored and readable; only the live push is lost (and the bus
            // tells its subscribers when it loses its own connection).
            tracing::warn!(
                error = format!("{error:#}"),
                "RecommendationCreated not published"
            );
        }
    }
}

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GaveUp {}
