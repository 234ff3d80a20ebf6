//! Redis clients (fred): the one place `REDIS_URL` becomes a connection, for the
//! queue, revocations, caches, the recommendation bus and breaker reports.
//!
//! Every client reconnects for ever with a capped exponential backoff
//! ([`reconnect_policy`]): one Redis restart must not be an outage until
//! FitTrack itself restarts. Commands are bounded ([`COMMAND_TIMEOUT`]), so
//! while Redis is away callers get an error at once instead of a hang; a
//! connection that stops answering (a black hole, no FIN) is dropped after
//! [`UNRESPONSIVE_AFTER`] and reconnected.

use std::time::Duration;

use anyhow::Context as _;
use fred::{
    clients::Client,
    prelude::{ClientLike, Config, ReconnectPolicy},
    types::{Builder, ClusterHash, CustomCommand},
};

/// How long one ordinary command may take (blocking reads set their own).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a new connection (TCP + handshake) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A connection with a command outstanding this long is considered dead.
pub const UNRESPONSIVE_AFTER: Duration = Duration::from_secs(5);

/// Retry for ever: 100 ms, doubling, at most 2 s apart (plus jitter).
pub fn reconnect_policy() -> ReconnectPolicy {
    ReconnectPolicy::new_exponential(0, 100, 2_000, 2)
}

/// Pub/sub messages a subscribing connection holds for a slow reader before
/// the reader lags and loses them. fred's default (32) was lost in one burst
/// of recommendations (`cargo bench --bench worker` on Redis); each slot of
/// each of the client's event channels is allocated up front, so only the
/// subscribing connection gets this many.
pub const PUBSUB_BUFFER: usize = 1024;
/// fred's default for the event channels of every other connection.
const EVENT_BUFFER: usize = 32;

/// A connected client.
pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let client = builder(url, COMMAND_TIMEOUT, EVENT_BUFFER)?
        .build()
        .context("building the Redis client")?;
    client.init().await.context("connecting to Redis")?;
    Ok(client)
}

/// Two connections with the same settings: the second for commands that hold
/// their connection (blocking reads, pub/sub subscriptions), so it has no
/// default command timeout (a blocking read waits on purpose).
pub async fn connect_pair(url: &str) -> anyhow::Result<(Client, Client)> {
    connect_pair_buffering(url, EVENT_BUFFER).await
}

/// As [`connect_pair`], the second connection subscribing to pub/sub
/// channels and holding [`PUBSUB_BUFFER`] messages for its reader.
pub async fn connect_pubsub_pair(url: &str) -> anyhow::Result<(Client, Client)> {
    connect_pair_buffering(url, PUBSUB_BUFFER).await
}

async fn connect_pair_buffering(url: &str, buffer: usize) -> anyhow::Result<(Client, Client)> {
    let client = connect(url).await?;
    let second = builder(url, Duration::ZERO, buffer)?
        .build()
        .context("building the Redis client")?;
    second.init().await.context("connecting to Redis")?;
    Ok((client, second))
}

fn builder(url: &str, command_timeout: Duration, event_buffer: usize) -> anyhow::Result<Builder> {
    let config = Config::from_url(url).context("invalid REDIS_URL")?;
    let mut builder = Builder::from_config(config);
    builder
        .set_policy(reconnect_policy())
        .with_connection_config(|connection| {
            connection.connection_timeout = CONNECT_TIMEOUT;
            connection.internal_command_timeout = CONNECT_TIMEOUT;
            // A command caught by a dropped connection is tried once more on
            // the next one, not three times (each bounded by the timeout).
            connection.max_command_attempts = 2;
            connection.unresponsive.max_timeout = Some(UNRESPONSIVE_AFTER);
            connection.unresponsive.interval = Duration::from_secs(1);
        })
        .with_performance_config(|performance| {
            performance.default_command_timeout = command_timeout;
            performance.broadcast_channel_capacity = event_buffer;
        });
    Ok(builder)
}

/// Options for a read whose caller has its own answer while Redis is away
/// (a local copy, failing closed): it fails at once while the client is
/// reconnecting, where it would otherwise wait for the connection up to
/// [`COMMAND_TIMEOUT`], on every request that reads it. A connection that
/// is up but silent (a black hole) still costs that timeout.
pub fn fail_fast() -> fred::types::config::Options {
    fred::types::config::Options {
        fail_fast: true,
        ..Default::default()
    }
}

/// How long a write under Sentinel waits for a replica to confirm it.
pub const REPLICA_ACK_TIMEOUT: Duration = Duration::from_millis(500);
/// After a write no replica confirmed, how long later writes fail at once
/// instead of each waiting [`REPLICA_ACK_TIMEOUT`] for a replica that is gone.
pub const NO_REPLICA_BACKOFF: Duration = Duration::from_secs(2);

/// Makes a write's acknowledgement mean that a replica holds it, where Redis
/// runs with Sentinel (`redis-sentinel://`): Redis replicates asynchronously,
/// so a write the primary confirmed a moment before it died is not on the
/// replica a failover promotes. After each write that must survive that (a
/// job enqueued, a revocation, an erasure mark), [`ReplicaAcks::confirm`]
/// sends `WAIT 1`; when no replica confirms within [`REPLICA_ACK_TIMEOUT`]
/// the write is reported as failed (`SERVICE_UNAVAILABLE`), and its caller's
/// own recovery applies: the sweeper enqueues an unconfirmed event again, a
/// refused revocation refuses the change it guards. Without Sentinel it does
/// nothing: a single Redis keeps what it confirmed as long as its AOF does.
#[derive(Debug, Default)]
pub struct ReplicaAcks {
    /// Milliseconds since the Unix epoch until which writes are not waited
    /// on but refused: the last wait found no replica.
    missing_until_ms: std::sync::atomic::AtomicU64,
}

impl ReplicaAcks {
    pub async fn confirm(&self, client: &Client) -> anyhow::Result<()> {
        use std::sync::atomic::Ordering;
        if !client.uses_sentinels() {
            return Ok(());
        }
        let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
        if now_ms < self.missing_until_ms.load(Ordering::Relaxed) {
            return Err(no_replica());
        }
        let confirmed: i64 = client
            .custom(
                CustomCommand::new_static("WAIT", ClusterHash::Random, false),
                vec![1, REPLICA_ACK_TIMEOUT.as_millis() as i64],
            )
            .await
            .context("waiting for a replica to confirm the write")?;
        if confirmed >= 1 {
            return Ok(());
        }
        self.missing_until_ms.store(
            now_ms + NO_REPLICA_BACKOFF.as_millis() as u64,
            Ordering::Relaxed,
        );
        tracing::warn!("no Redis replica confirmed a write within {REPLICA_ACK_TIMEOUT:?}");
        Err(no_replica())
    }
}

/// A timeout in fred's terms, so that it maps to `SERVICE_UNAVAILABLE`.
fn no_replica() -> anyhow::Error {
    anyhow::Error::new(fred::error::Error::new(
        fred::error::ErrorKind::Timeout,
        "no Redis replica confirmed the write",
    ))
}

/// A command fred has no typed method for, routed on a cluster by its key:
/// the first argument, or where the command puts its key (`EVAL script
/// numkeys key …`, `XGROUP CREATE key …`).
pub fn command(name: &'static str) -> CustomCommand {
    let hash = match name {
        "EVAL" => ClusterHash::Offset(2),
        "XGROUP" => ClusterHash::Offset(1),
        _ => ClusterHash::FirstKey,
    };
    CustomCommand::new_static(name, hash, false)
}

/// `prefix` followed by `name`; on a Redis Cluster with `name` as the key's
/// hash tag (`prefix{name}`), so that every key built from it (a queue's
/// stream and its dead letters, which one script touches together) is in
/// one slot. Elsewhere the name stays as it always was, so a single Redis
/// keeps its keys across upgrades.
pub fn slot_tagged(client: &Client, prefix: &str, name: &str) -> String {
    if client.is_clustered() {
        format!("{prefix}{{{name}}}")
    } else {
        format!("{prefix}{name}")
    }
}
