//! Revoking access tokens before they expire.
//!
//! When an account stops being usable (deactivated, banned, deleted …) the user
//! subgraph records a cut-off time for it; every subgraph's `JwtVerifier`
//! refuses that user's tokens issued before the cut-off. Lookups are cached for
//! at most [`CACHE_TTL`], so a revocation reaches every subgraph within that
//! time (Redis when configured; in-process when everything runs in one process).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fred::prelude::KeysInterface;
use uuid::Uuid;

/// How stale a subgraph's view of revocations may be.
pub const CACHE_TTL: Duration = Duration::from_secs(30);
/// Cut-offs are kept as long as a token issued before them could live.
pub const KEEP_FOR: Duration = Duration::from_secs(15 * 60 + 60);
const KEY_PREFIX: &str = "fittrack:revoked:";

#[async_trait]
pub trait Revocations: Send + Sync + 'static {
    /// Tokens of `user_id` issued before `at` stop working.
    async fn revoke(&self, user_id: Uuid, at: DateTime<Utc>) -> anyhow::Result<()>;
    /// The user's cut-off (epoch milliseconds), if any.
    async fn cutoff(&self, user_id: Uuid) -> anyhow::Result<Option<i64>>;
}

/// In-process cut-offs, shared by every subgraph of the process.
#[derive(Default)]
pub struct MemoryRevocations {
    cutoffs: Mutex<HashMap<Uuid, i64>>,
}

impl MemoryRevocations {
    pub fn shared() -> Arc<MemoryRevocations> {
        static SHARED: OnceLock<Arc<MemoryRevocations>> = OnceLock::new();
        SHARED.get_or_init(Default::default).clone()
    }
}

#[async_trait]
impl Revocations for MemoryRevocations {
    async fn revoke(&self, user_id: Uuid, at: DateTime<Utc>) -> anyhow::Result<()> {
        let mut cutoffs = self.cutoffs.lock().unwrap_or_else(|p| p.into_inner());
        let entry = cutoffs.entry(user_id).or_insert(i64::MIN);
        *entry = (*entry).max(at.timestamp_millis());
        Ok(())
    }

    async fn cutoff(&self, user_id: Uuid) -> anyhow::Result<Option<i64>> {
        let cutoffs = self.cutoffs.lock().unwrap_or_else(|p| p.into_inner());
        Ok(cutoffs.get(&user_id).copied())
    }
}

/// Cut-offs in Redis (`fittrack:revoked:<user>`), expiring with the tokens.
pub struct RedisRevocations {
    client: fred::clients::Client,
}

impl RedisRevocations {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            client: crate::redis::connect(url).await?,
        })
    }
}

#[async_trait]
impl Revocations for RedisRevocations {
    async fn revoke(&self, user_id: Uuid, at: DateTime<Utc>) -> anyhow::Result<()> {
        let _: () = self
            .client
            .set(
                format!("{KEY_PREFIX}{user_id}"),
                at.timestamp_millis(),
                Some(fred::types::Expiration::EX(KEEP_FOR.as_secs() as i64)),
                None,
                false,
            )
            .await
            .context("recording a token revocation")?;
        Ok(())
    }

    async fn cutoff(&self, user_id: Uuid) -> anyhow::Result<Option<i64>> {
        self.client
            .get(format!("{KEY_PREFIX}{user_id}"))
            .await
            .context("reading a token revocation")
    }
}

/// Remembers lookups for `ttl`; its own revocations are seen at once.
pub struct CachedRevocations {
    inner: Arc<dyn Revocations>,
    ttl: Duration,
    cache: Mutex<HashMap<Uuid, (Option<i64>, Instant)>>,
}

impl CachedRevocations {
    pub fn new(inner: Arc<dyn Revocations>, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl Revocations for CachedRevocations {
    async fn revoke(&self, user_id: Uuid, at: DateTime<Utc>) -> anyhow::Result<()> {
        self.inner.revoke(user_id, at).await?;
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&user_id);
        Ok(())
    }

    async fn cutoff(&self, user_id: Uuid) -> anyhow::Result<Option<i64>> {
        if let Some((cutoff, at)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&user_id)
        {
            if at.elapsed() < self.ttl {
                return Ok(*cutoff);
            }
        }
        let cutoff = self.inner.cutoff(user_id).await?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 100_000 {
            cache.retain(|_, (_, at)| at.elapsed() < self.ttl);
        }
        cache.insert(user_id, (cutoff, Instant::now()));
        Ok(cutoff)
    }
}

/// Redis when a URL is configured, else the in-process list; cached.
pub async fn connect(redis_url: Option<&str>) -> anyhow::Result<Arc<dyn Revocations>> {
    let inner: Arc<dyn Revocations> = match redis_url {
        Some(url) => Arc::new(RedisRevocations::connect(url).await?),
        None => MemoryRevocations::shared(),
    };
    Ok(Arc::new(CachedRevocations::new(inner, CACHE_TTL)))
}
