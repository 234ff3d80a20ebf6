//! Rate limits: one GCRA limiter (the generic cell rate algorithm, as in
//! `redis-cell` and `governor`) with two backends that pass one contract suite.
//!
//! A [`Quota`] of `limit` per `period` admits a burst of `limit` and then one
//! request every `period / limit`. The only state per key is its "theoretical
//! arrival time" (TAT), so a check is one atomic read-modify-write: a Lua script
//! on Redis (shared by every replica, Redis's clock) or a mutex-guarded map in
//! process. Checking and counting are the same step, so parallel requests can
//! never get more than the quota between them.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// `limit` requests per `period`, bursts of up to `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub limit: u32,
    #[serde(with = "secs")]
    pub period: Duration,
}

impl Quota {
    pub const fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            period: Duration::from_secs(60),
        }
    }

    pub const fn per_hour(limit: u32) -> Self {
        Self {
            limit,
            period: Duration::from_secs(3_600),
        }
    }

    pub const fn per_day(limit: u32) -> Self {
        Self {
            limit,
            period: Duration::from_secs(86_400),
        }
    }

    /// The `RateLimit-Policy` form: `100;w=60`.
    pub fn policy(&self) -> String {
        format!("{};w={}", self.limit, self.period.as_secs())
    }

    /// Where a key's state is kept: a TAT only means something under the quota
    /// that wrote it, so a changed quota starts afresh instead of misreading it.
    fn state_key(&self, key: &str) -> String {
        format!("{key}:{}/{}", self.limit, self.period.as_millis())
    }

    /// Time one request adds to the key's TAT, in milliseconds (≥ 1).
    fn emission_ms(&self) -> u64 {
        (self.period.as_millis() as u64 / u64::from(self.limit.max(1))).max(1)
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(value.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    /// Requests still admitted now.
    pub remaining: u32,
    /// When the key is back to a full quota.
    pub reset_after: Duration,
    /// When a refused request may be retried (zero when allowed).
    pub retry_after: Duration,
}

impl Decision {
    /// Whole seconds to wait, never zero for a refusal (clients sleep on it).
    pub fn retry_after_secs(&self) -> u64 {
        if self.allowed {
            0
        } else {
            self.retry_after.as_millis().div_ceil(1000).max(1) as u64
        }
    }

    /// Pure GCRA step. `tat_ms`: the key's stored TAT (0 when absent); returns
    /// the decision and the TAT to store when allowed.
    fn compute(quota: Quota, cost: u32, now_ms: u64, tat_ms: u64) -> (Self, Option<u64>) {
        let emission = quota.emission_ms();
        let period = emission * u64::from(quota.limit.max(1));
        let tat = tat_ms.max(now_ms);
        let new_tat = tat + emission * u64::from(cost);
        // A request is admitted while the TAT it leaves stays within one period.
        let allow_at = new_tat.saturating_sub(period);
        if now_ms < allow_at {
            let remaining = (period.saturating_sub(tat - now_ms) / emission) as u32;
            return (
                Self {
                    allowed: false,
                    limit: quota.limit,
                    remaining: remaining.min(quota.limit),
                    reset_after: Duration::from_millis(tat - now_ms),
                    retry_after: Duration::from_millis(allow_at - now_ms),
                },
                None,
            );
        }
        let remaining = (period.saturating_sub(new_tat - now_ms) / emission) as u32;
        (
            Self {
                allowed: true,
                limit: quota.limit,
                remaining: remaining.min(quota.limit),
                reset_after: Duration::from_millis(new_tat - now_ms),
                retry_after: Duration::ZERO,
            },
            Some(new_tat),
        )
    }
}

/// A rate limiter keyed by strings such as `login:ip:203.0.113.7`.
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts `cost` requests against `key` if the quota admits them all;
    /// a refused check counts nothing.
    async fn check(&self, key: &str, quota: Quota, cost: u32) -> anyhow::Result<Decision>;
    /// Forgets what `key` used of `quota` (a successful sign-in clears its
    /// failed attempts).
    async fn reset(&self, key: &str, quota: Quota) -> anyhow::Result<()>;
}

/// The limiter for a service: Redis (shared by replicas) when `redis_url` is
/// set, else one in-process limiter.
pub async fn connect(
    redis_url: Option<&str>,
    prefix: &str,
) -> anyhow::Result<Arc<dyn RateLimiter>> {
    Ok(match redis_url {
        Some(url) => Arc::new(RedisRateLimiter::connect(url, prefix).await?),
        None => Arc::new(MemoryRateLimiter::default()),
    })
}

/// In-process backend. Keys that have drifted back to a full quota are pruned
/// once the map grows, so an attacker cycling keys cannot grow it for ever.
#[derive(Default)]
pub struct MemoryRateLimiter {
    state: Mutex<MemoryState>,
}

#[derive(Default)]
struct MemoryState {
    tats: HashMap<String, u64>,
    prune_at: usize,
}

/// Milliseconds on a monotonic clock shared by every in-process limiter.
fn monotonic_ms() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    // Offset by a day so a fresh key (TAT 0) is never "in the future".
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 86_400_000
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check(&self, key: &str, quota: Quota, cost: u32) -> anyhow::Result<Decision> {
        let now = monotonic_ms();
        let key = quota.state_key(key);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let tat = state.tats.get(&key).copied().unwrap_or(0);
        let (decision, new_tat) = Decision::compute(quota, cost, now, tat);
        if let Some(new_tat) = new_tat {
            state.tats.insert(key, new_tat);
            if state.tats.len() > state.prune_at.max(1_024) {
                state.tats.retain(|_, tat| *tat > now);
                state.prune_at = state.tats.len() * 2;
            }
        }
        Ok(decision)
    }

    async fn reset(&self, key: &str, quota: Quota) -> anyhow::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.tats.remove(&quota.state_key(key));
        Ok(())
    }
}

/// Redis backend: one Lua script per check, Redis's own clock (`TIME`), so
/// every replica shares one view; the key expires when its quota is full again.
pub struct RedisRateLimiter {
    client: fred::clients::Client,
    prefix: String,
}

/// KEYS[1] = key; ARGV = emission ms, period ms, cost. Returns
/// {allowed, tat_before, new_tat, now} in milliseconds.
const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local emission = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + emission * cost
if now < new_tat - period then
  return {0, tat, new_tat, now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return {1, tat, new_tat, now}
";

impl RedisRateLimiter {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        Ok(Self {
            client: crate::redis::connect(url).await?,
            prefix: prefix.to_owned(),
        })
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, key: &str, quota: Quota, cost: u32) -> anyhow::Result<Decision> {
        use fred::interfaces::ClientLike;
        let emission = quota.emission_ms();
        let period = emission * u64::from(quota.limit.max(1));
        let reply: Vec<i64> = self
            .client
            .custom(
                crate::redis::command("EVAL"),
                vec![
                    GCRA_SCRIPT.to_owned(),
                    "1".to_owned(),
                    format!("{}{}", self.prefix, quota.state_key(key)),
                    emission.to_string(),
                    period.to_string(),
                    cost.to_string(),
                ],
            )
            .await
            .context("rate limit check in Redis")?;
        let [_, tat_before, _, now] = reply[..] else {
            anyhow::bail!("unexpected rate limit reply {reply:?}");
        };
        // Recompute from the same inputs: one formula for both backends.
        let (decision, _) =
            Decision::compute(quota, cost, now.max(0) as u64, tat_before.max(0) as u64);
        Ok(decision)
    }

    async fn reset(&self, key: &str, quota: Quota) -> anyhow::Result<()> {
        use fred::interfaces::KeysInterface;
        let _: i64 = self
            .client
            .del(format!("{}{}", self.prefix, quota.state_key(key)))
            .await
            .context("rate limit reset in Redis")?;
        Ok(())
    }
}

/// Things held open at once per key (WebSocket connections per address,
/// subscriptions per user), counted in this process. A slot is given back when
/// its [`OpenSlot`] is dropped, however the connection or stream ends.
pub struct OpenSlots<K: std::hash::Hash + Eq + Clone + Send + 'static>(
    Arc<Mutex<HashMap<K, usize>>>,
);

impl<K: std::hash::Hash + Eq + Clone + Send + 'static> Default for OpenSlots<K> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<K: std::hash::Hash + Eq + Clone + Send + 'static> Clone for OpenSlots<K> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// One held slot.
pub struct OpenSlot<K: std::hash::Hash + Eq + Clone + Send + 'static> {
    key: K,
    slots: OpenSlots<K>,
}

impl<K: std::hash::Hash + Eq + Clone + Send + 'static> OpenSlots<K> {
    /// A slot for `key`, unless `max` are held already.
    pub fn try_open(&self, key: K, max: usize) -> Option<OpenSlot<K>> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(key.clone()).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(OpenSlot {
            key,
            slots: self.clone(),
        })
    }

    /// Slots held for `key` now.
    pub fn held(&self, key: &K) -> usize {
        let open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        open.get(key).copied().unwrap_or(0)
    }

    /// Slots held for every key together.
    pub fn total(&self) -> usize {
        let open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        open.values().sum()
    }
}

impl<K: std::hash::Hash + Eq + Clone + Send + 'static> Drop for OpenSlot<K> {
    fn drop(&mut self) {
        let mut open = self.slots.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// The longest a [`UserQuota`] waits for its limiter before admitting. A
/// check takes a millisecond; an unreachable Redis would hold the request for
/// its whole command timeout (2 s), on the path of every logged workout.
pub const USER_QUOTA_WAIT: Duration = Duration::from_millis(250);

/// A per-user quota on one kind of field (the writes of a subgraph, say),
/// checked in the field's resolver so that each aliased field counts one: the
/// router counts operations, and 30 aliases in one operation are 30 writes.
/// Each window (per minute, per day, …) must admit the call.
#[derive(Clone)]
pub struct UserQuota {
    limiter: Arc<dyn RateLimiter>,
    name: &'static str,
    windows: Vec<Quota>,
}

impl UserQuota {
    pub fn new(
        limiter: Arc<dyn RateLimiter>,
        name: &'static str,
        windows: impl IntoIterator<Item = Quota>,
    ) -> Self {
        Self {
            limiter,
            name,
            windows: windows.into_iter().collect(),
        }
    }

    /// Counts one call of `user`'s; `RATE_LIMITED` with the wait past any
    /// window. A limiter that cannot be reached, or does not answer within
    /// [`USER_QUOTA_WAIT`], admits (logged): losing Redis may cost a limit for
    /// a while, never a user's write, nor seconds of waiting on a command
    /// that will time out.
    pub async fn admit(&self, user: uuid::Uuid) -> Result<(), crate::ApiError> {
        for quota in &self.windows {
            let key = format!("quota:{}:{}:{user}", self.name, quota.period.as_secs());
            let checked =
                tokio::time::timeout(USER_QUOTA_WAIT, self.limiter.check(&key, *quota, 1))
                    .await
                    .unwrap_or_else(|_| {
                        Err(anyhow::anyhow!("no answer within {USER_QUOTA_WAIT:?}"))
                    });
            match checked {
                Ok(decision) if decision.allowed => {}
                Ok(decision) => {
                    let secs = decision.retry_after_secs();
                    return Err(crate::ApiError::rate_limited(
                        format!(
                            "Too many {} ({} per {} s); try again in {secs} s",
                            self.name.replace('-', " "),
                            quota.limit,
                            quota.period.as_secs()
                        ),
                        secs,
                    ));
                }
                Err(error) => {
                    tracing::warn!(
                        quota = self.name,
                        error = format!("{error:#}"),
                        "rate limiter unavailable; call admitted"
                    );
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Never answers, as a Redis that is away until the command times out.
    struct Hanging;

    #[async_trait]
    impl RateLimiter for Hanging {
        async fn check(&self, _: &str, _: Quota, _: u32) -> anyhow::Result<Decision> {
            std::future::pending().await
        }
        async fn reset(&self, _: &str, _: Quota) -> anyhow::Result<()> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn a_user_quota_admits_when_its_limiter_does_not_answer_in_time() {
        let quota = UserQuota::new(Arc::new(Hanging), "writes", [Quota::per_minute(1)]);
        let started = Instant::now();
        assert!(quota.admit(uuid::Uuid::new_v4()).await.is_ok());
        assert!(
            started.elapsed() < USER_QUOTA_WAIT * 4,
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn open_slots_are_bounded_per_key_and_given_back_on_drop() {
        let slots = OpenSlots::<&str>::default();
        let a1 = slots.try_open("a", 2).expect("first");
        let _a2 = slots.try_open("a", 2).expect("second");
        assert!(slots.try_open("a", 2).is_none());
        let _b = slots.try_open("b", 2).expect("other key");
        drop(a1);
        assert_eq!(slots.held(&"a"), 1);
        assert!(slots.try_open("a", 2).is_some());
    }

    #[test]
    fn gcra_admits_a_burst_then_one_per_emission_interval() {
        let quota = Quota::per_minute(3); // one per 20 s
        let mut tat = 0;
        let now = 1_000_000;
        for expected_remaining in [2, 1, 0] {
            let (decision, new_tat) = Decision::compute(quota, 1, now, tat);
            assert!(decision.allowed);
            assert_eq!(decision.remaining, expected_remaining);
            tat = new_tat.expect("stored");
        }
        let (refused, none) = Decision::compute(quota, 1, now, tat);
        assert!(!refused.allowed && none.is_none());
        assert_eq!(refused.retry_after, Duration::from_secs(20));
        assert_eq!(refused.retry_after_secs(), 20);
        // 20 s later exactly one more fits.
        let (later, new_tat) = Decision::compute(quota, 1, now + 20_000, tat);
        assert!(later.allowed && later.remaining == 0);
        let (again, _) = Decision::compute(quota, 1, now + 20_000, new_tat.expect("tat"));
        assert!(!again.allowed);
    }

    #[test]
    fn a_cost_larger_than_what_is_left_counts_nothing() {
        let quota = Quota::per_minute(10);
        let (first, tat) = Decision::compute(quota, 8, 5_000_000, 0);
        assert!(first.allowed && first.remaining == 2);
        let (refused, none) = Decision::compute(quota, 3, 5_000_000, tat.expect("tat"));
        assert!(!refused.allowed && none.is_none() && refused.remaining == 2);
    }
}
