//! Which users were erased (their account deleted), so that work already in
//! flight for them leaves nothing behind.
//!
//! The user subgraph marks a user erased before it announces the deletion;
//! each subgraph's eraser marks it too (idempotent), then deletes. Writers
//! that may race an eraser (a `logActivity` verified just before the
//! deletion, a queued `ActivityLogged` the worker is handling) write first
//! and check after: if the user is erased by then, they undo what they
//! wrote. Either the eraser's delete sees the write, or the writer's check
//! sees the mark, so nothing survives. Marks are kept for
//! [`KEEP_FOR`], far longer than any request or job lives.
//!
//! Redis (`fittrack:erased:<id>`) when configured, else in process; like
//! revocations, a process serving part of the system alone needs Redis.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use async_trait::async_trait;
use fred::prelude::KeysInterface;
use uuid::Uuid;

/// How long an erasure is remembered.
pub const KEEP_FOR: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Keys: `<namespace>:erased:<user>`.
const KEY_INFIX: &str = "erased:";

#[async_trait]
pub trait ErasedUsers: Send + Sync + 'static {
    async fn mark(&self, user_id: Uuid) -> anyhow::Result<()>;
    async fn is_erased(&self, user_id: Uuid) -> anyhow::Result<bool>;
}

/// In-process marks, shared by every subgraph of the process.
#[derive(Default)]
pub struct MemoryErasedUsers {
    marks: Mutex<HashMap<Uuid, Instant>>,
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
}

pub struct RedisErasedUsers {
    client: fred::clients::Client,
    namespace: String,
}

impl RedisErasedUsers {
    fn key(&self, user_id: Uuid) -> String {
        format!("{}:{KEY_INFIX}{user_id}", self.namespace)
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
        Ok(())
    }

    async fn is_erased(&self, user_id: Uuid) -> anyhow::Result<bool> {
        let found: Option<i64> = self
            .client
            .get(self.key(user_id))
            .await
            .context("reading an erasure mark")?;
        Ok(found.is_some())
    }
}

/// Redis when a URL is configured, else the in-process set (refused in a
/// separate process, as for revocations).
pub async fn connect(shared: &crate::shared::SharedState) -> anyhow::Result<Arc<dyn ErasedUsers>> {
    match shared.redis_url() {
        Some(url) => Ok(Arc::new(RedisErasedUsers {
            client: crate::redis::connect(url).await?,
            namespace: shared.namespace().to_owned(),
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
