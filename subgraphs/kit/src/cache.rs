//! A value computed at most once per TTL (dashboard parts are cached 60 s).
//!
//! With Redis configured the value is shared by every replica of a subgraph
//! (`SET … EX ttl`, JSON); without it, it lives in the process. Redis being
//! unreachable never fails a request: the value is computed instead.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use fred::prelude::KeysInterface;
use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::Mutex;

/// Keys are `<namespace>:cache:<name>`.
const KEY_INFIX: &str = "cache:";

/// How long each subgraph's part of the admin dashboard is cached.
pub const DASHBOARD_TTL: Duration = Duration::from_secs(60);

/// An in-process dashboard-part cache ([`DASHBOARD_TTL`]).
pub fn local_dashboard<T: Clone + Serialize + DeserializeOwned>() -> std::sync::Arc<TtlCache<T>> {
    std::sync::Arc::new(TtlCache::new(DASHBOARD_TTL))
}

/// A dashboard-part cache shared through Redis under `name` when configured.
pub async fn dashboard<T: Clone + Serialize + DeserializeOwned>(
    shared: &crate::shared::SharedState,
    name: &str,
) -> anyhow::Result<std::sync::Arc<TtlCache<T>>> {
    Ok(std::sync::Arc::new(
        TtlCache::connect(shared, name, DASHBOARD_TTL).await?,
    ))
}

pub struct TtlCache<T> {
    ttl: Duration,
    /// Replicas compute concurrently only while Redis is cold; within one
    /// process, callers queue here and the first fills the slot.
    slot: Mutex<Option<(T, Instant)>>,
    redis: Option<(fred::clients::Client, String)>,
}

impl<T: Clone + Serialize + DeserializeOwned> TtlCache<T> {
    /// An in-process cache.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slot: Mutex::new(None),
            redis: None,
        }
    }

    /// Shared through Redis under `fittrack:cache:<name>` when `redis_url` is
    /// set; in-process otherwise.
    pub async fn connect(
        shared: &crate::shared::SharedState,
        name: &str,
        ttl: Duration,
    ) -> anyhow::Result<Self> {
        let mut cache = Self::new(ttl);
        if let Some(url) = shared.redis_url() {
            let client = crate::redis::connect(url).await?;
            cache.redis = Some((client, shared.key(&format!("{KEY_INFIX}{name}"))));
        }
        Ok(cache)
    }

    /// The cached value, or `compute`'s (stored when it succeeds). Concurrent
    /// callers wait for one computation instead of all running it.
    pub async fn get_or_try<F, Fut, E>(&self, compute: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((client, key)) = &self.redis {
            if let Some(value) = self.shared(client, key).await {
                return Ok(value);
            }
            let value = compute().await?;
            self.share(client, key, &value).await;
            return Ok(value);
        }
        if let Some((value, at)) = slot.as_ref() {
            if at.elapsed() < self.ttl {
                return Ok(value.clone());
            }
        }
        let value = compute().await?;
        *slot = Some((value.clone(), Instant::now()));
        Ok(value)
    }

    async fn shared(&self, client: &fred::clients::Client, key: &str) -> Option<T> {
        let json: Option<String> = client
            .get(key)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, key, "cache read failed"))
            .ok()?;
        serde_json::from_str(&json?).ok()
    }

    async fn share(&self, client: &fred::clients::Client, key: &str, value: &T) {
        let Ok(json) = serde_json::to_string(value) else {
            return;
        };
        let ttl = i64::try_from(self.ttl.as_secs().max(1)).unwrap_or(i64::MAX);
        let stored: Result<(), _> = client
            .set(
                key,
                json,
                Some(fred::types::Expiration::EX(ttl)),
                None,
                false,
            )
            .await;
        if let Err(e) = stored {
            tracing::warn!(error = %e, key, "cache write failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn runs_once_per_ttl(cache: TtlCache<i32>) {
        let mut runs = 0;
        for _ in 0..3 {
            let value: Result<i32, ()> = cache
                .get_or_try(|| {
                    runs += 1;
                    async { Ok(7) }
                })
                .await;
            assert_eq!(value, Ok(7));
        }
        assert_eq!(runs, 1);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let value: Result<i32, ()> = cache
            .get_or_try(|| {
                runs += 1;
                async { Ok(8) }
            })
            .await;
        assert_eq!((value, runs), (Ok(8), 2));
    }

    #[tokio::test]
    async fn computes_once_per_ttl_in_process() {
        runs_once_per_ttl(TtlCache::new(Duration::from_secs(1))).await;
    }

    #[tokio::test]
    async fn computes_once_per_ttl_through_redis_and_shares_between_replicas() {
        let Ok(url) = std::env::var("REDIS_URL") else {
            eprintln!("REDIS_URL unset: Redis cache test skipped");
            return;
        };
        let name = format!("test-{}", uuid::Uuid::new_v4());
        let ttl = Duration::from_secs(1);
        let shared = crate::shared::SharedState::new(
            Some(crate::config::Secret::new(url)),
            crate::shared::DEFAULT_NAMESPACE,
        );
        let cache = |name: String| {
            let shared = shared.clone();
            async move { TtlCache::<i32>::connect(&shared, &name, ttl).await }
        };
        runs_once_per_ttl(cache(name.clone()).await.expect("redis")).await;

        let other_name = format!("{name}-b");
        let first = cache(other_name.clone()).await.expect("redis");
        let replica = cache(other_name).await.expect("redis");
        let _: Result<i32, ()> = first.get_or_try(|| async { Ok(41) }).await;
        let seen: Result<i32, ()> = replica.get_or_try(|| async { Ok(0) }).await;
        assert_eq!(seen, Ok(41), "a second replica reads the shared value");
    }
}
