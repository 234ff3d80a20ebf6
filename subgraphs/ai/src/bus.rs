//! Fans `RecommendationCreated` out to live subscribers.
//!
//! Every AI replica keeps one local broadcast channel that its WebSocket
//! subscribers read (filtered to their user). With Redis, the worker publishes
//! to the per-user channel `fittrack:recommendations:<userId>` and every replica
//! pattern-subscribes to `fittrack:recommendations:*` and forwards into its local
//! channel, so a subscriber gets the event whichever process produced it.
//! Without Redis the worker writes to the local channel directly.

use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use fred::prelude::{EventInterface, PubsubInterface};
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::domain::model::Recommendation;

pub const CHANNEL_PREFIX: &str = "fittrack:recommendations:";
const LOCAL_CAPACITY: usize = 1024;

#[async_trait]
pub trait RecommendationBus: Send + Sync + 'static {
    async fn publish(&self, recommendation: &Recommendation) -> anyhow::Result<()>;
    /// New recommendations of `user_id`, from now on.
    fn subscribe(&self, user_id: Uuid) -> BoxStream<'static, Recommendation>;
}

fn filtered(
    receiver: broadcast::Receiver<Arc<Recommendation>>,
    user_id: Uuid,
) -> BoxStream<'static, Recommendation> {
    stream::unfold(receiver, move |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(r) if r.user_id == user_id => return Some(((*r).clone(), receiver)),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "a slow subscriber missed recommendations");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .boxed()
}

/// In-process fan-out (embedded default).
pub struct LocalBus {
    sender: broadcast::Sender<Arc<Recommendation>>,
}

impl Default for LocalBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(LOCAL_CAPACITY).0,
        }
    }
}

#[async_trait]
impl RecommendationBus for LocalBus {
    async fn publish(&self, recommendation: &Recommendation) -> anyhow::Result<()> {
        // No subscribers is fine.
        let _ = self.sender.send(Arc::new(recommendation.clone()));
        Ok(())
    }

    fn subscribe(&self, user_id: Uuid) -> BoxStream<'static, Recommendation> {
        filtered(self.sender.subscribe(), user_id)
    }
}

/// Redis pub/sub (when `REDIS_URL` is set).
pub struct RedisBus {
    publisher: fred::clients::Client,
    local: LocalBus,
}

impl RedisBus {
    pub async fn connect(url: &str) -> anyhow::Result<Arc<Self>> {
        let (publisher, subscriber) = fittrack_kit::redis::connect_pair(url).await?;
        let bus = Arc::new(Self {
            publisher,
            local: LocalBus::default(),
        });

        let pattern = format!("{CHANNEL_PREFIX}*");
        // Forward every message into the local channel.
        let sender = bus.local.sender.clone();
        let mut messages = subscriber.message_rx();
        tokio::spawn(async move {
            loop {
                match messages.recv().await {
                    Ok(message) => {
                        let parsed = message
                            .value
                            .as_str()
                            .map(|text| serde_json::from_str::<Recommendation>(&text));
                        match parsed {
                            Some(Ok(r)) => {
                                let _ = sender.send(Arc::new(r));
                            }
                            _ => {
                                tracing::warn!(channel = %message.channel, "unreadable recommendation message")
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "recommendation bus lagged");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        // Subscriptions do not survive a reconnect: renew them.
        let mut reconnects = subscriber.reconnect_rx();
        let resubscriber = subscriber.clone();
        let again = pattern.clone();
        tokio::spawn(async move {
            while reconnects.recv().await.is_ok() {
                if let Err(error) = resubscriber.psubscribe(again.clone()).await {
                    tracing::error!(error = %error, "re-subscribing to recommendations failed");
                }
            }
        });
        subscriber
            .psubscribe(pattern)
            .await
            .context("subscribing to recommendations")?;
        Ok(bus)
    }
}

#[async_trait]
impl RecommendationBus for RedisBus {
    async fn publish(&self, recommendation: &Recommendation) -> anyhow::Result<()> {
        let channel = format!("{CHANNEL_PREFIX}{}", recommendation.user_id);
        let _: i64 = self
            .publisher
            .publish(channel, serde_json::to_string(recommendation)?)
            .await
            .context("publishing a recommendation")?;
        Ok(())
    }

    fn subscribe(&self, user_id: Uuid) -> BoxStream<'static, Recommendation> {
        self.local.subscribe(user_id)
    }
}
