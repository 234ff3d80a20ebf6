//! Fans a user's live events (new recommendations, new personal records)
//! out to that user's subscribers, on whichever replica they are connected.
//!
//! Every replica keeps one local broadcast channel per user with a live
//! subscriber, which that user's WebSocket subscribers read. With Redis, a
//! publisher sends to the per-user channel `<namespace>:<topic>:<userId>` and
//! every replica pattern-subscribes to `<namespace>:<topic>:*` and forwards
//! into its local channel, so a subscriber gets the event whichever process
//! produced it. Without Redis the publisher writes to the local channel.
//!
//! Pub/sub keeps nothing for a subscriber that is away: whatever is published
//! while a replica's Redis connection is down never reaches it. So when that
//! connection drops, and again when it is back, every stream of the replica
//! ends; the GraphQL subscription tells its client (`SERVICE_UNAVAILABLE`),
//! which subscribes again and reads what it missed from the query that lists
//! them. A subscriber is never left silently deaf.

use std::{
    collections::HashMap,
    marker::PhantomData,
    sync::{Arc, Mutex, PoisonError},
};

use anyhow::Context as _;
use async_trait::async_trait;
use fred::prelude::{EventInterface, PubsubInterface};
use futures_util::stream::{self, BoxStream, StreamExt};
use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

/// How far one user's subscriber may fall behind that user's own events
/// before its stream ends (it is told, and reads them from the list query).
/// Events come at most as fast as the user's writes, so this is slack, not
/// a limit; each listening user's channel holds this many slots.
pub const PER_USER_CAPACITY: usize = 64;

/// What a bus carries: an event for one user.
pub trait LiveEvent: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The channel family: `recommendations`, `records`.
    const TOPIC: &'static str;
    /// Whose subscribers get it.
    fn user_id(&self) -> Uuid;
}

/// Announces events to live subscribers.
#[async_trait]
pub trait LiveBus<T: LiveEvent>: Send + Sync + 'static {
    async fn publish(&self, event: &T) -> anyhow::Result<()>;
    /// Events of `user_id`, from now on. The stream ends when the bus may
    /// have lost some (its connection dropped or came back, or this
    /// subscriber fell too far behind); subscribe again.
    fn subscribe(&self, user_id: Uuid) -> BoxStream<'static, T>;
    /// Ends every stream of this replica now, as when something may have
    /// been lost: the replica is stopping, and its subscribers are told so
    /// that they subscribe again on another.
    fn end_all(&self);
}

/// What a user's channel carries.
#[derive(Clone)]
enum Fanout<T> {
    /// With the trace context of its publication.
    Event(Arc<T>, Arc<HashMap<String, String>>),
    /// Something may have been lost: every stream ends.
    Interrupted,
}

/// One broadcast channel per user with a live subscriber, so an event wakes
/// only its user's subscribers. (One channel for all, filtered by each
/// subscriber, woke every subscriber of the replica for every event: at
/// 10 000 subscribers and 1 000 events/s, ten million wake-ups a second.)
struct Feeds<T> {
    by_user: Mutex<HashMap<Uuid, broadcast::Sender<Fanout<T>>>>,
}

impl<T> Default for Feeds<T> {
    fn default() -> Self {
        Self {
            by_user: Mutex::default(),
        }
    }
}

impl<T: LiveEvent> Feeds<T> {
    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, broadcast::Sender<Fanout<T>>>> {
        // A panic while the map was held leaves it whole (each step is one
        // map operation), so a poisoned lock is still usable.
        self.by_user.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn send(&self, event: Arc<T>, trace: HashMap<String, String>) {
        if let Some(sender) = self.users().get(&event.user_id()) {
            // No subscriber left is fine: its stream is being dropped.
            let _ = sender.send(Fanout::Event(event, Arc::new(trace)));
        }
    }

    fn interrupt_all(&self) {
        for sender in self.users().values() {
            let _ = sender.send(Fanout::Interrupted);
        }
    }

    fn subscribe(self: &Arc<Self>, user_id: Uuid) -> BoxStream<'static, T> {
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
                Ok(Fanout::Event(event, trace)) => {
                    // A trace of its own for each delivery, linked to the
                    // publication (one subscriber's stream outlives many).
                    let span = tracing::info_span!(
                        "subscription.deliver",
                        otel.kind = "consumer",
                        topic = T::TOPIC
                    );
                    crate::telemetry::link_to(&span, &trace);
                    Some(((*event).clone(), feed))
                }
                Ok(Fanout::Interrupted) => None,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, topic = T::TOPIC, "a slow subscriber missed events");
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
struct Feed<T: LiveEvent> {
    receiver: broadcast::Receiver<Fanout<T>>,
    user_id: Uuid,
    feeds: Arc<Feeds<T>>,
}

impl<T: LiveEvent> Drop for Feed<T> {
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
pub struct LocalBus<T> {
    feeds: Arc<Feeds<T>>,
}

impl<T> Default for LocalBus<T> {
    fn default() -> Self {
        Self {
            feeds: Arc::default(),
        }
    }
}

impl<T: LiveEvent> LocalBus<T> {
    /// Users with at least one live subscriber on this replica (each holds
    /// one channel).
    pub fn users_listening(&self) -> usize {
        self.feeds.users().len()
    }
}

#[async_trait]
impl<T: LiveEvent> LiveBus<T> for LocalBus<T> {
    async fn publish(&self, event: &T) -> anyhow::Result<()> {
        let span = tracing::info_span!("bus.publish", otel.kind = "producer", topic = T::TOPIC);
        let trace = span.in_scope(crate::telemetry::inject);
        self.feeds.send(Arc::new(event.clone()), trace);
        Ok(())
    }

    fn subscribe(&self, user_id: Uuid) -> BoxStream<'static, T> {
        self.feeds.subscribe(user_id)
    }

    fn end_all(&self) {
        self.feeds.interrupt_all();
    }
}

/// Redis pub/sub (when `REDIS_URL` is set).
pub struct RedisBus<T> {
    publisher: fred::clients::Client,
    local: LocalBus<T>,
    channel_prefix: String,
    events: PhantomData<fn() -> T>,
}

impl<T: LiveEvent> RedisBus<T> {
    /// In the default namespace.
    pub async fn connect(url: &str) -> anyhow::Result<Arc<Self>> {
        Self::connect_in(crate::shared::DEFAULT_NAMESPACE, url).await
    }

    pub async fn connect_in(namespace: &str, url: &str) -> anyhow::Result<Arc<Self>> {
        let (publisher, subscriber) = crate::redis::connect_pubsub_pair(url).await?;
        let bus = Arc::new(Self {
            publisher,
            local: LocalBus::default(),
            channel_prefix: format!("{namespace}:{}:", T::TOPIC),
            events: PhantomData,
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
                            serde_json::from_str::<T>(&text)
                                .map(|e| (e, crate::telemetry::trace_context_of(&text)))
                        });
                        match parsed {
                            Some(Ok((event, trace))) => feeds.send(Arc::new(event), trace),
                            _ => {
                                tracing::warn!(channel = %message.channel, "unreadable live event")
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, topic = T::TOPIC, "live event bus lagged");
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
                    tracing::error!(error = %error, topic = T::TOPIC, "re-subscribing to live events failed");
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
                tracing::warn!(error = %error.0, topic = T::TOPIC, "live event bus connection lost");
                interrupt.interrupt_all();
            }
        });
        subscriber
            .psubscribe(pattern)
            .await
            .with_context(|| format!("subscribing to {}", T::TOPIC))?;
        Ok(bus)
    }
}

#[async_trait]
impl<T: LiveEvent> LiveBus<T> for RedisBus<T> {
    async fn publish(&self, event: &T) -> anyhow::Result<()> {
        use tracing::Instrument as _;
        let channel = format!("{}{}", self.channel_prefix, event.user_id());
        let span = tracing::info_span!("bus.publish", otel.kind = "producer", topic = T::TOPIC);
        let message = span
            .in_scope(|| serde_json::to_string(event).map(crate::telemetry::with_trace_context))?;
        let _: i64 = self
            .publisher
            .publish(channel, message)
            .instrument(span)
            .await
            .with_context(|| format!("publishing to {}", T::TOPIC))?;
        Ok(())
    }

    fn subscribe(&self, user_id: Uuid) -> BoxStream<'static, T> {
        self.local.subscribe(user_id)
    }

    fn end_all(&self) {
        self.local.end_all();
    }
}
