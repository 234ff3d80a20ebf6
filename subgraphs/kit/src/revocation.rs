//! Revoking access tokens before they expire.
//!
//! Two kinds of revocation, both checked by every subgraph's `JwtVerifier`:
//! - a **user cut-off**: the user's tokens issued before it stop working
//!   (ban, suspension, deactivation, deletion, role change, password change or
//!   reset);
//! - a **revoked session**: every token carrying that session id (`sid`, one
//!   per sign-in, kept across refreshes) stops working (logout, refresh-token
//!   reuse, another session's password change).
//!
//! Entries live as long as a token issued before them could (`keep_for`: the
//! configured access-token lifetime plus the clock leeway), in Redis when
//! configured, else in process. A process serving part of the system alone
//! must share them through Redis ([`connect`] refuses otherwise).
//! Lookups are cached for at most [`CACHE_TTL`], so a revocation reaches every
//! subgraph within that time.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fred::prelude::{ClientLike as _, KeysInterface};
use uuid::Uuid;

/// How stale a subgraph's view of revocations may be.
pub const CACHE_TTL: Duration = Duration::from_millis(crate::config::DEFAULT_REVOCATION_CACHE_MS);
/// Keys: `<namespace>:revoked:<user>` and `<namespace>:revoked-session:<sid>`.
const USER_INFIX: &str = "revoked:";
const SESSION_INFIX: &str = "revoked-session:";

/// What is revoked for one token's user and session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RevocationState {
    /// Tokens of the user issued before this (epoch milliseconds) are refused.
    pub user_cutoff_ms: Option<i64>,
    /// The session itself was ended.
    pub session_revoked: bool,
}

impl RevocationState {
    /// Whether a token of this user and session issued at `issued_at_ms` is refused.
    pub fn refuses(&self, issued_at_ms: i64) -> bool {
        self.session_revoked
            || self
                .user_cutoff_ms
                .is_some_and(|cutoff| issued_at_ms < cutoff)
    }
}

#[async_trait]
pub trait Revocations: Send + Sync + 'static {
    /// Tokens of `user_id` issued before `at` stop working.
    async fn revoke_user(&self, user_id: Uuid, at: DateTime<Utc>) -> anyhow::Result<()>;
    /// Tokens of the session `session_id` stop working.
    async fn revoke_session(&self, session_id: Uuid) -> anyhow::Result<()>;
    /// What is revoked for this user and session (one round trip).
    async fn state(&self, user_id: Uuid, session_id: Uuid) -> anyhow::Result<RevocationState>;
}

/// In-process entries, shared by every subgraph of the process.
pub struct MemoryRevocations {
    keep_for_secs: std::sync::atomic::AtomicU64,
    entries: Mutex<HashMap<String, (i64, Instant)>>,
}

impl Default for MemoryRevocations {
    fn default() -> Self {
        Self::new(DEFAULT_KEEP_FOR)
    }
}

/// The default access-token lifetime (15 min) plus the clock leeway.
pub const DEFAULT_KEEP_FOR: Duration = Duration::from_secs(15 * 60 + crate::config::LEEWAY_SECS);

impl MemoryRevocations {
    pub fn new(keep_for: Duration) -> Self {
        Self {
            keep_for_secs: keep_for.as_secs().into(),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn keep_for(&self) -> Duration {
        Duration::from_secs(
            self.keep_for_secs
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// The shared list keeps entries as long as the longest-lived tokens of
    /// any subgraph in the process need.
    pub fn keep_at_least(&self, keep_for: Duration) {
        self.keep_for_secs
            .fetch_max(keep_for.as_secs(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The one list of this process (what `fittrack dev` and the tests share).
    pub fn shared() -> Arc<MemoryRevocations> {
        static SHARED: OnceLock<Arc<MemoryRevocations>> = OnceLock::new();
        SHARED.get_or_init(Default::default).clone()
    }

    fn put(&self, key: String, value: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() > 100_000 {
            let keep_for = self.keep_for();
            entries.retain(|_, (_, at)| at.elapsed() < keep_for);
        }
        let entry = entries.entry(key).or_insert((i64::MIN, Instant::now()));
        *entry = (entry.0.max(value), Instant::now());
    }

    fn get(&self, key: &str) -> Option<i64> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.keep_for())
            .map(|(value, _)| *value)
    }
}

#[async_trait]
impl Revocations for MemoryRevocations {
    async fn revoke_user(&self, user_id: Uuid, at: DateTime<Utc>) -> anyhow::Result<()> {
        self.put(format!("{USER_INFIX}{user_id}"), at.timestamp_millis());
        Ok(())
    }

    async fn revoke_session(&self, session_id: Uuid) -> anyhow::Result<()> {
        self.put(format!("{SESSION_INFIX}{session_id}"), 1);
        Ok(())
    }

    async fn state(&self, user_id: Uuid, session_id: Uuid) -> anyhow::Result<RevocationState> {
        Ok(RevocationState {
            user_cutoff_ms: self.get(&format!("{USER_INFIX}{user_id}")),
            session_revoked: self.get(&format!("{SESSION_INFIX}{session_id}")).is_some(),
        })
    }
}

/// Entries in Redis (`<namespace>:revoked:<user>`,
/// `<namespace>:revoked-session:<sid>`), expiring with the tokens they refuse.
pub struct RedisRevocations {
    client: fred::clients::Client,
    keep_for: Duration,
    namespace: String,
    /// Under Sentinel, a revocation returns once a replica holds it.
    replica_acks: crate::redis::ReplicaAcks,
}

impl RedisRevocations {
    /// In the default namespace.
    pub async fn connect(url: &str, keep_for: Duration) -> anyhow::Result<Self> {
        Self::connect_in(crate::shared::DEFAULT_NAMESPACE, url, keep_for).await
    }

    pub async fn connect_in(
        namespace: &str,
        url: &str,
        keep_for: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            client: crate::redis::connect(url).await?,
            keep_for,
            namespace: namespace.to_owned(),
            replica_acks: Default::default(),
        })
    }

    fn user_key(&self, user_id: Uuid) -> String {
        format!("{}:{USER_INFIX}{user_id}", self.namespace)
    }

    fn session_key(&self, session_id: Uuid) -> String {
        format!("{}:{SESSION_INFIX}{session_id}", self.namespace)
    }

    fn expiry(&self) -> Option<fred::types::Expiration> {
        Some(fred::types::Expiration::EX(
            self.keep_for.as_secs().max(1) as i64
        ))
    }
}

#[async_trait]
impl Revocations for RedisRevocations {
    async fn revoke_user(&self, user_id: Uuid, at: DateTime<Utc>) -> anyhow::Result<()> {
        // A later cut-off only ever moves forward (GREATEST in a script would be
        // exact; two revocations within the same millisecond need no order).
        let _: () = self
            .client
            .set(
                self.user_key(user_id),
                at.timestamp_millis(),
                self.expiry(),
                None,
                false,
            )
            .await
            .context("recording a token revocation")?;
        self.replica_acks.confirm(&self.client).await
    }

    async fn revoke_session(&self, session_id: Uuid) -> anyhow::Result<()> {
        let _: () = self
            .client
            .set(self.session_key(session_id), 1, self.expiry(), None, false)
            .await
            .context("recording a session revocation")?;
        self.replica_acks.confirm(&self.client).await
    }

    async fn state(&self, user_id: Uuid, session_id: Uuid) -> anyhow::Result<RevocationState> {
        // Two reads at once, not one MGET: on a cluster the two keys are in
        // different slots (fred sends both on its connection together). On
        // every authenticated request, with an answer of its own while Redis
        // is away (`CachedRevocations`): it does not wait for a reconnection.
        let client = self.client.with_options(&crate::redis::fail_fast());
        let (cutoff, session) = tokio::try_join!(
            client.get::<Option<i64>, _>(self.user_key(user_id)),
            client.get::<Option<i64>, _>(self.session_key(session_id)),
        )
        .context("reading token revocations")?;
        Ok(RevocationState {
            user_cutoff_ms: cutoff,
            session_revoked: session.is_some(),
        })
    }
}

/// Remembers lookups for `ttl`; its own revocations are seen at once.
///
/// When the shared store cannot be read (Redis down), it answers from its
/// local copy of what it last read for that user and session, if that is no
/// older than `local_copy_for` (the access-token lifetime: an older token has
/// expired anyway), and logs that it does. Nothing can be revoked while the
/// store is down (revocations are written first and fail closed), so that
/// copy is what the store held when it went away. Without a copy the lookup
/// fails, and the verifier refuses the token (fail closed).
pub struct CachedRevocations {
    inner: Arc<dyn Revocations>,
    ttl: Duration,
    local_copy_for: Duration,
    cache: Mutex<HashMap<(Uuid, Uuid), (RevocationState, Instant)>>,
}

/// How long a local copy may answer for the store, unless configured.
pub const DEFAULT_LOCAL_COPY_FOR: Duration =
    Duration::from_secs(crate::config::DEFAULT_MAX_LIFETIME_SECS as u64);

/// Entries kept at most; past it the oldest half goes.
const MAX_ENTRIES: usize = 100_000;

impl CachedRevocations {
    pub fn new(inner: Arc<dyn Revocations>, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            local_copy_for: DEFAULT_LOCAL_COPY_FOR.max(ttl),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// See the type's documentation.
    pub fn with_local_copy_for(mut self, local_copy_for: Duration) -> Self {
        self.local_copy_for = local_copy_for.max(self.ttl);
        self
    }

    fn forget(&self, matches: impl Fn(&(Uuid, Uuid)) -> bool) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|key, _| !matches(key));
    }
}

#[async_trait]
impl Revocations for CachedRevocations {
    async fn revoke_user(&self, user_id: Uuid, at: DateTime<Utc>) -> anyhow::Result<()> {
        self.inner.revoke_user(user_id, at).await?;
        self.forget(|(user, _)| *user == user_id);
        Ok(())
    }

    async fn revoke_session(&self, session_id: Uuid) -> anyhow::Result<()> {
        self.inner.revoke_session(session_id).await?;
        self.forget(|(_, session)| *session == session_id);
        Ok(())
    }

    async fn state(&self, user_id: Uuid, session_id: Uuid) -> anyhow::Result<RevocationState> {
        let key = (user_id, session_id);
        if let Some((state, at)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            if at.elapsed() < self.ttl {
                return Ok(*state);
            }
        }
        let state = match self.inner.state(user_id, session_id).await {
            Ok(state) => state,
            Err(error) => {
                let copy = self
                    .cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&key)
                    .filter(|(_, at)| at.elapsed() < self.local_copy_for)
                    .map(|(state, at)| (*state, at.elapsed()));
                let Some((state, age)) = copy else {
                    return Err(error);
                };
                tracing::warn!(
                    error = format!("{error:#}"),
                    age_secs = age.as_secs(),
                    "revocations unreadable; answering from the local copy"
                );
                return Ok(state);
            }
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > MAX_ENTRIES {
            cache.retain(|_, (_, at)| at.elapsed() < self.local_copy_for);
        }
        if cache.len() > MAX_ENTRIES {
            let mut ages: Vec<Instant> = cache.values().map(|(_, at)| *at).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() / 2];
            cache.retain(|_, (_, at)| *at >= cutoff);
        }
        cache.insert(key, (state, Instant::now()));
        Ok(state)
    }
}

static SEPARATE_PROCESS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Declares that this process serves part of the system alone (`fittrack
/// serve`, `fittrack worker`): revocations must then be shared through Redis,
/// since one kept here would never reach the other processes.
pub fn declare_separate_process() {
    SEPARATE_PROCESS.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether [`declare_separate_process`] was called.
pub fn is_separate_process() -> bool {
    SEPARATE_PROCESS.load(std::sync::atomic::Ordering::SeqCst)
}

/// Redis when a URL is configured, else the in-process list (refused in a
/// separate process, see [`declare_separate_process`]); cached for
/// `cache_for` ([`CACHE_TTL`] by default). `keep_for` is how long an entry must
/// outlive its revocation: the access-token lifetime plus the leeway.
pub async fn connect(
    shared: &crate::shared::SharedState,
    keep_for: Duration,
    cache_for: Duration,
) -> anyhow::Result<Arc<dyn Revocations>> {
    let inner: Arc<dyn Revocations> = match shared.redis_url() {
        Some(url) => {
            Arc::new(RedisRevocations::connect_in(shared.namespace(), url, keep_for).await?)
        }
        None if is_separate_process() => anyhow::bail!(
            "token revocation must be shared between processes: set REDIS_URL \
             (`fittrack serve` runs one subgraph per process; `fittrack dev` runs them all in one)"
        ),
        None => {
            let shared = MemoryRevocations::shared();
            shared.keep_at_least(keep_for);
            shared
        }
    };
    Ok(Arc::new(
        CachedRevocations::new(inner, cache_for).with_local_copy_for(keep_for),
    ))
}
