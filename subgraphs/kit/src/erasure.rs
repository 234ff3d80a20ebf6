//! Which users were erased (their account deleted), so that work already in
//! flight for them leaves nothing behind.
//!
//! The user subgraph marks a user erased before it announces the deletion;
//! each subgraph's eraser marks it too (idempotent), then deletes. Writers
//! that may race an eraser (a `logActivity` verified just before the
//! deletion, a queued `ActivityLogged` the worker is handling) write first
//! and check after: if the user is erased by then, they undo what they
//! wrote. Either the eraser's delete sees the write, or the writer's check
//! sees the mark, so nothing survives. A `logActivity` that cannot read the
//! marks keeps its workout unannounced, and the activity sweeper reads the
//! mark before announcing it (removing it if its owner was erased). Marks are kept for
//! [`KEEP_FOR`], far longer than any request or job lives.
//!
//! Every erasure is also owed by each eraser (one per subgraph holding user
//! data, named by its queue in [`crate::events::ERASERS`]) from the moment
//! it is requested until that eraser settles it: [`ErasedUsers::outstanding`]
//! is how far behind erasure is, for the admin dashboard and alerts, and the
//! list an admin replays from.
//!
//! Redis (`fittrack:erased:<id>`, `fittrack:erasures-owed:<eraser>` sorted by
//! request time) when configured, else in process; like revocations, a
//! process serving part of the system alone needs Redis.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, TimeZone as _, Utc};
use fred::prelude::KeysInterface;
use uuid::Uuid;

/// How long an erasure is remembered.
pub const KEEP_FOR: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Keys: `<namespace>:erased:<user>`.
const KEY_INFIX: &str = "erased:";

/// Keys: `<namespace>:erasures-owed:<eraser>`.
const OWED_INFIX: &str = "erasures-owed:";

/// Erasures one eraser has not settled yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outstanding {
    pub count: u64,
    /// The oldest first, at most the `limit` asked for: (user, requested at).
    pub oldest: Vec<(Uuid, DateTime<Utc>)>,
}

#[async_trait]
pub trait ErasedUsers: Send + Sync + 'static {
    async fn mark(&self, user_id: Uuid) -> anyhow::Result<()>;
    async fn is_erased(&self, user_id: Uuid) -> anyhow::Result<bool>;
    /// `user_id`'s erasure is owed by each of `erasers` from `at` (a request
    /// already owed keeps its first time).
    async fn owe(&self, user_id: Uuid, erasers: &[&str], at: DateTime<Utc>) -> anyhow::Result<()>;
    /// `eraser` has erased `user_id`.
    async fn settle(&self, user_id: Uuid, eraser: &str) -> anyhow::Result<()>;
    /// What `eraser` still owes, the `limit` oldest listed.
    async fn outstanding(&self, eraser: &str, limit: usize) -> anyhow::Result<Outstanding>;
}

/// In-process marks, shared by every subgraph of the process.
#[derive(Default)]
pub struct MemoryErasedUsers {
    marks: Mutex<HashMap<Uuid, Instant>>,
    owed: Mutex<HashMap<String, HashMap<Uuid, DateTime<Utc>>>>,
}

impl MemoryErasedUsers {
    pub fn shared() -> Arc<MemoryErasedUsers> {
        static SHARED: OnceLock<Arc<MemoryErasedUsers>> = OnceLock::new();
        SHARED.get_or_init(Default::default).clone()
    }
}

#[async_trait]
impl ErasedUsers for MemoryErasedUsers {
    async fn mark(&self, user_id: Uuid) -> anyhow::Result<()> {
        let mut marks = self.marks.lock().unwrap_or_else(|p| p.into_inner());
        if marks.len() > 100_000 {
            marks.retain(|_, at| at.elapsed() < KEEP_FOR);
        }
        marks.insert(user_id, Instant::now());
        Ok(())
    }

    async fn is_erased(&self, user_id: Uuid) -> anyhow::Result<bool> {
        let marks = self.marks.lock().unwrap_or_else(|p| p.into_inner());
        Ok(marks
            .get(&user_id)
            .is_some_and(|at| at.elapsed() < KEEP_FOR))
    }

    async fn owe(&self, user_id: Uuid, erasers: &[&str], at: DateTime<Utc>) -> anyhow::Result<()> {
        let mut owed = self.owed.lock().unwrap_or_else(|p| p.into_inner());
        for eraser in erasers {
            owed.entry((*eraser).to_owned())
                .or_default()
                .entry(user_id)
                .or_insert(at);
        }
        Ok(())
    }

    async fn settle(&self, user_id: Uuid, eraser: &str) -> anyhow::Result<()> {
        let mut owed = self.owed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(users) = owed.get_mut(eraser) {
            users.remove(&user_id);
        }
        Ok(())
    }

    async fn outstanding(&self, eraser: &str, limit: usize) -> anyhow::Result<Outstanding> {
        let owed = self.owed.lock().unwrap_or_else(|p| p.into_inner());
        let Some(users) = owed.get(eraser) else {
            return Ok(Outstanding::default());
        };
        let mut oldest: Vec<(Uuid, DateTime<Utc>)> =
            users.iter().map(|(user, at)| (*user, *at)).collect();
        oldest.sort_by_key(|(user, at)| (*at, *user));
        oldest.truncate(limit);
        Ok(Outstanding {
            count: users.len() as u64,
            oldest,
        })
    }
}

pub struct RedisErasedUsers {
    client: fred::clients::Client,
    namespace: String,
    /// Under Sentinel, a mark returns once a replica holds it.
    replica_acks: crate::redis::ReplicaAcks,
}

impl RedisErasedUsers {
    fn key(&self, user_id: Uuid) -> String {
        format!("{}:{KEY_INFIX}{user_id}", self.namespace)
    }

    fn owed_key(&self, eraser: &str) -> String {
        format!("{}:{OWED_INFIX}{eraser}", self.namespace)
    }

    async fn call(
        &self,
        name: &'static str,
        args: Vec<String>,
    ) -> anyhow::Result<fred::prelude::Value> {
        use fred::prelude::ClientLike;
        self.client
            .custom(crate::redis::command(name), args)
            .await
            .with_context(|| format!("redis {name} on the erasure ledger"))
    }
}

#[async_trait]
impl ErasedUsers for RedisErasedUsers {
    async fn mark(&self, user_id: Uuid) -> anyhow::Result<()> {
        let _: () = self
            .client
            .set(
                self.key(user_id),
                1,
                Some(fred::types::Expiration::EX(KEEP_FOR.as_secs() as i64)),
                None,
                false,
            )
            .await
            .context("marking a user erased")?;
        self.replica_acks.confirm(&self.client).await
    }

    async fn is_erased(&self, user_id: Uuid) -> anyhow::Result<bool> {
        // Its readers have an answer while Redis is away (a workout is kept
        // for the sweeper to check, a job is retried): none waits for a
        // reconnection.
        use fred::prelude::ClientLike as _;
        let found: Option<i64> = self
            .client
            .with_options(&crate::redis::fail_fast())
            .get(self.key(user_id))
            .await
            .context("reading an erasure mark")?;
        Ok(found.is_some())
    }

    async fn owe(&self, user_id: Uuid, erasers: &[&str], at: DateTime<Utc>) -> anyhow::Result<()> {
        for eraser in erasers {
            self.call(
                "ZADD",
                vec![
                    self.owed_key(eraser),
                    "NX".into(),
                    at.timestamp_millis().to_string(),
                    user_id.to_string(),
                ],
            )
            .await?;
        }
        self.replica_acks.confirm(&self.client).await
    }

    async fn settle(&self, user_id: Uuid, eraser: &str) -> anyhow::Result<()> {
        self.call("ZREM", vec![self.owed_key(eraser), user_id.to_string()])
            .await?;
        Ok(())
    }

    async fn outstanding(&self, eraser: &str, limit: usize) -> anyhow::Result<Outstanding> {
        let key = self.owed_key(eraser);
        let count = self
            .call("ZCARD", vec![key.clone()])
            .await?
            .as_u64()
            .unwrap_or(0);
        if limit == 0 || count == 0 {
            return Ok(Outstanding {
                count,
                oldest: vec![],
            });
        }
        let listed = self
            .call(
                "ZRANGE",
                vec![
                    key,
                    "0".into(),
                    (limit - 1).to_string(),
                    "WITHSCORES".into(),
                ],
            )
            .await?
            .into_array();
        let mut oldest = Vec::new();
        for pair in listed.chunks(2) {
            let [member, score] = pair else { continue };
            let user = member.as_string().and_then(|m| Uuid::parse_str(&m).ok());
            let at = score
                .as_f64()
                .and_then(|ms| Utc.timestamp_millis_opt(ms as i64).single());
            if let (Some(user), Some(at)) = (user, at) {
                oldest.push((user, at));
            }
        }
        Ok(Outstanding { count, oldest })
    }
}

/// Redis when a URL is configured, else the in-process set (refused in a
/// separate process, as for revocations).
pub async fn connect(shared: &crate::shared::SharedState) -> anyhow::Result<Arc<dyn ErasedUsers>> {
    match shared.redis_url() {
        Some(url) => Ok(Arc::new(RedisErasedUsers {
            client: crate::redis::connect(url).await?,
            namespace: shared.namespace().to_owned(),
            replica_acks: Default::default(),
        })),
        None if crate::revocation::is_separate_process() => {
            anyhow::bail!("erasure marks must be shared between processes: set REDIS_URL")
        }
        None => Ok(MemoryErasedUsers::shared()),
    }
}

/// Whether a queued payload (JSON) concerns `user_id`: its `userId` field.
pub fn payload_concerns(payload: &str, user_id: Uuid) -> bool {
    serde_json::from_str::<serde_json::Value>(payload).is_ok_and(|value| {
        value
            .get("userId")
            .and_then(|id| id.as_str())
            .is_some_and(|id| id == user_id.to_string())
    })
}

/// Reports, at every scrape, each eraser's unsettled erasures
/// (`fittrack_erasures_pending{eraser}`) and how long the oldest has waited
/// (`fittrack_erasures_oldest_pending_age_seconds`, 0 when none): an erasure
/// owed for more than a few minutes is what the `FittrackErasureOverdue`
/// alert watches.
pub fn observe(metrics: &crate::metrics::Metrics, marks: std::sync::Arc<dyn ErasedUsers>) {
    let pending = metrics
        .meter()
        .u64_gauge("fittrack.erasures.pending")
        .with_description("Erasures an eraser has not settled yet")
        .build();
    let oldest = metrics
        .meter()
        .f64_gauge("fittrack.erasures.oldest_pending.age")
        .with_unit("s")
        .with_description("How long the oldest unsettled erasure has waited; 0 when none")
        .build();
    metrics.on_scrape(move || {
        let (marks, pending, oldest) = (marks.clone(), pending.clone(), oldest.clone());
        Box::pin(async move {
            for eraser in crate::events::ERASERS {
                let label = [opentelemetry::KeyValue::new("eraser", eraser)];
                match marks.outstanding(eraser, 1).await {
                    Ok(outstanding) => {
                        pending.record(outstanding.count, &label);
                        let age = outstanding.oldest.first().map_or(0.0, |(_, at)| {
                            (Utc::now() - *at).num_milliseconds().max(0) as f64 / 1000.0
                        });
                        oldest.record(age, &label);
                    }
                    Err(error) => {
                        tracing::debug!(error = format!("{error:#}"), "erasures unreadable")
                    }
                }
            }
        })
    });
}
