//! Fans `RecommendationCreated` out to live subscribers.
//!
//! Every AI replica keeps one local broadcast channel per user with a live
//! subscriber, which that user's WebSocket subscribers read. With Redis, the worker publishes
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

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use anyhow::Context as _;
use async_trait::async_trait;
use fred::prelude::{EventInterface, PubsubInterface};
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::domain::model::Recommendation;

/// Channels: `<namespace>:recommendations:<userId>`.
const CHANNEL_INFIX: &str = "recommendations:";
/// How far one user's subscriber may fall behind that user's own
/// recommendations before its stream ends (it is told, and finds them in
/// `myRecommendations`). They come at most as fast as the user's writes (20
/// a minute), so this is slack, not a limit; each listening user's channel
/// holds this many slots (~3 KB).
pub const PER_USER_CAPACITY: usize = 64;

pub use crate::domain::ports::RecommendationBus;

/// What a user's channel carries.
#[derive(Clone)]
enum Fanout {
    /// With the trace context of its publication.
    Recommendation(Arc<Recommendation>, Arc<HashMap<String, String>>),
    /// Something may have been lost: every stream ends.
    Interrupted,
}

/// One broadcast channel per user with a live subscriber, so an event wakes
/// only its user's subscribers. (One channel for all, filtered by each
/// subscriber, woke every subscriber of the replica for every event: at
/// 10 000 subscribers and 1 000 events/s, ten million wake-ups a second.)
#[derive(Default)]
struct Feeds {
    by_user: Mutex<HashMap<Uuid, broadcast::Sender<Fanout>>>,
}

impl Feeds {
    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, broadcast::Sender<Fanout>>> {
        // A panic while the map was held leaves it whole (each step is one
        // map operation), so a poisoned lock is still usable.
        self.by_user.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn send(&self, recommendation: Arc<Recommendation>, trace: HashMap<String, String>) {
        if let Some(sender) = self.users().get(&recommendation.user_id) {
            // No subscriber left is fine: its stream is being dropped.
            let _ = sender.send(Fanout::Recommendation(recommendation, Arc::new(trace)));
        }
    }

    fn interrupt_all(&self) {
        for sender in self.users().values() {
            let _ = sender.send(Fanout::Interrupted);
        }
    }

    fn subscribe(self: &Arc<Self>, user_id: Uuid) -> BoxStream<'static, Recommendation> {
        let receiver = self
            .users()
            .entry(user_id)
            .or_insert_with(|| broadcast::channel(PER_USER_CAPACITY).0)
            .subscribe();
        let feed = Feed {
            receiver,
            user_id,
            feeds: self.clone(),
        };
        stream::unfold(feed, |mut feed| async move {
            match feed.receiver.recv().await {
                Ok(Fanout::Recommendation(r, trace)) => {
                    // A trace of its own for each delivery, linked to the
                    // publication (one subscriber's stream outlives many).
                    let span = tracing::info_span!("subscription.deliver", otel.kind = "consumer");
                    fittrack_kit::telemetry::link_to(&span, &trace);
                    Some(((*r).clone(), feed))
                }
                Ok(Fanout::Interrupted) => None,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "a slow subscriber missed recommendations");
                    None
                }
                Err(broadcast::error::RecvError::Closed) => None,
            }
        })
        .boxed()
    }
}

/// One subscriber's end of its user's channel; the channel goes when its
/// last subscriber does.
struct Feed {
    receiver: broadcast::Receiver<Fanout>,
    user_id: Uuid,
    feeds: Arc<Feeds>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        let mut users = self.feeds.users();
        // Under the lock no one can subscribe meanwhile; this receiver is
        // still counted.
        if users
            .get(&self.user_id)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            users.remove(&self.user_id);
        }
    }
}

/// In-process fan-out (embedded default).
#[derive(Default)]
pub struct LocalBus {
    feeds: Arc<Feeds>,
}

impl LocalBus {
    /// Users with at least one live subscriber on this replica (each holds
    /// one channel).
    pub fn users_listening(&self) -> usize {
        self.feeds.users().len()
    }
}

#[async_trait]
impl RecommendationBus for LocalBus {
    async fn publish(&self, recommendation: &Recommendation) -> anyhow::Result<()> {
        let span = tracing::info_span!("bus.publish", otel.kind = "producer");
        let trace = span.in_scope(fittrack_kit::telemetry::inject);
        self.feeds.send(Arc::new(recommendation.clone()), trace);
        Ok(())
    }

    fn subscribe(&self, user_id: Uuid) -> BoxStream<'static, Recommendation> {
        self.feeds.subscribe(user_id)
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
        // Forward every message to its user's local subscribers.
        let feeds = bus.local.feeds.clone();
        let mut messages = subscriber.message_rx();
        tokio::spawn(async move {
            loop {
                match messages.recv().await {
                    Ok(message) => {
                        let parsed = message.value.as_str().map(|text| {
                            serde_json::from_str::<Recommendation>(&text)
                                .map(|r| (r, fittrack_kit::telemetry::trace_context_of(&text)))
                        });
                        match parsed {
                            Some(Ok((r, trace))) => feeds.send(Arc::new(r), trace),
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
        let interrupt = bus.local.feeds.clone();
        tokio::spawn(async move {
            while reconnects.recv().await.is_ok() {
                if let Err(error) = resubscriber.psubscribe(again.clone()).await {
                    tracing::error!(error = %error, "re-subscribing to recommendations failed");
                }
                interrupt.interrupt_all();
            }
        });
        // Tell the streams as soon as the connection is lost, not only once
        // it is back.
        let mut errors = subscriber.error_rx();
        let interrupt = bus.local.feeds.clone();
        tokio::spawn(async move {
            while let Ok(error) = errors.recv().await {
                tracing::warn!(error = %error.0, "recommendation bus connection lost");
                interrupt.interrupt_all();
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
        use tracing::Instrument as _;
        let channel = format!("{}{}", self.channel_prefix, recommendation.user_id);
        let span = tracing::info_span!("bus.publish", otel.kind = "producer");
        let message = span.in_scope(|| {
            serde_json::to_string(recommendation).map(fittrack_kit::telemetry::with_trace_context)
        })?;
        let _: i64 = self
            .publisher
            .publish(channel, message)
            .instrument(span)
            .await
            .context("publishing a recommendation")?;
        Ok(())
    }

    fn subscribe(&self, user_id: Uuid) -> BoxStream<'static, Recommendation> {
        self.local.subscribe(user_id)
    }
}
