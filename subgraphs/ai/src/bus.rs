//! Fans `RecommendationCreated` out to live subscribers.
//!
//! Every AI replica keeps one local broadcast channel that its WebSocket
//! subscribers read (filtered to their user). With Redis, the worker publishes
//! to the per-user channel `<namespace>:recommendations:<userId>` and every replica
//! pattern-subscribes to `<namespace>:recommendations:*` and forwards into its local
//! channel, so a subscriber gets the event whichever process produced it.
//! Without Redis the worker writes to the local channel directly.
//!
//! Pub/sub keeps nothing for a subscriber that is away: whatever is published
//! while a replica's Redis connection is down never reaches it. So when that
//! connection drops, and again when it is back, every stream of the replica
//! ends (`Fanout::Interrupted`); the GraphQL subscription tells its client
//! (`SERVICE_UNAVAILABLE`), which subscribes again and finds what it missed in
//! `myRecommendations`. A subscriber is never left silently deaf.

use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use fred::prelude::{EventInterface, PubsubInterface};
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::domain::model::Recommendation;

/// Channels: `<namespace>:recommendations:<userId>`.
const CHANNEL_INFIX: &str = "recommendations:";
const LOCAL_CAPACITY: usize = 1024;

pub use crate::domain::ports::RecommendationBus;

/// What the local channel carries.
#[derive(Clone)]
enum Fanout {
    Recommendation(Arc<Recommendation>),
    /// Something may have been lost: every stream ends.
    Interrupted,
}

fn filtered(
    receiver: broadcast::Receiver<Fanout>,
    user_id: Uuid,
) -> BoxStream<'static, Recommendation> {
    stream::unfold(receiver, move |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(Fanout::Recommendation(r)) if r.user_id == user_id => {
                    return Some(((*r).clone(), receiver))
                }
                Ok(Fanout::Recommendation(_)) => continue,
                Ok(Fanout::Interrupted) => return None,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "a slow subscriber missed recommendations");
                    return None;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .boxed()
}

/// In-process fan-out (embedded default).
pub struct LocalBus {
    sender: broadcast::Sender<Fanout>,
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
        let _ = self
            .sender
            .send(Fanout::Recommendation(Arc::new(recommendation.clone())));
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
    channel_prefix: String,
}

impl RedisBus {
    /// In the default namespace.
    pub async fn connect(url: &str) -> anyhow::Result<Arc<Self>> {
        Self::connect_in(fittrack_kit::shared::DEFAULT_NAMESPACE, url).await
    }

    pub async fn connect_in(namespace: &str, url: &str) -> anyhow::Result<Arc<Self>> {
        let (publisher, subscriber) = fittrack_kit::redis::connect_pubsub_pair(url).await?;
        let bus = Arc::new(Self {
            publisher,
            local: LocalBus::default(),
            channel_prefix: format!("{namespace}:{CHANNEL_INFIX}"),
        });

        let pattern = format!("{}*", bus.channel_prefix);
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
                                let _ = sender.send(Fanout::Recommendation(Arc::new(r)));
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
        // Subscriptions do not survive a reconnect: renew them, and end every
        // stream, since what was published meanwhile is gone.
        let mut reconnects = subscriber.reconnect_rx();
        let resubscriber = subscriber.clone();
        let again = pattern.clone();
        let interrupt = bus.local.sender.clone();
        tokio::spawn(async move {
            while reconnects.recv().await.is_ok() {
                if let Err(error) = resubscriber.psubscribe(again.clone()).await {
                    tracing::error!(error = %error, "re-subscribing to recommendations failed");
                }
                let _ = interrupt.send(Fanout::Interrupted);
            }
        });
        // Tell the streams as soon as the connection is lost, not only once
        // it is back.
        let mut errors = subscriber.error_rx();
        let interrupt = bus.local.sender.clone();
        tokio::spawn(async move {
            while let Ok(error) = errors.recv().await {
                tracing::warn!(error = %error.0, "recommendation bus connection lost");
                let _ = interrupt.send(Fanout::Interrupted);
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
        let channel = format!("{}{}", self.channel_prefix, recommendation.user_id);
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
