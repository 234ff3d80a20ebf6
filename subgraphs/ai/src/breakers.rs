//! Gemini breaker states across processes, for the admin dashboard.
//!
//! Every process that calls Gemini (the AI subgraph and each `fittrack worker`)
//! has its own circuit breaker. With Redis, each reports its state every
//! [`REPORT_EVERY`] into the hash `fittrack:ai:breakers` (field = instance);
//! the dashboard shows the worst state among reports fresher than
//! [`FRESH_FOR`]. Without Redis everything runs in one process, whose own
//! breaker is the whole story.

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use anyhow::Context as _;
use fittrack_kit::redis::command;
use fred::prelude::{ClientLike, Value};
use serde::{Deserialize, Serialize};

use crate::{coach::Coach, domain::model::BreakerStatus};

/// The hash of reports: `<namespace>:ai:breakers`.
const KEY: &str = "ai:breakers";
pub const REPORT_EVERY: Duration = Duration::from_secs(10);
pub const FRESH_FOR: Duration = Duration::from_secs(45);
/// Reports older than this are deleted when read (instances that went away).
const FORGET_AFTER: Duration = Duration::from_secs(3600);

#[derive(Serialize, Deserialize)]
struct Report {
    state: BreakerStatus,
    at_ms: i64,
}

/// Where breaker states are shared (`None`: this process only).
pub struct BreakerBoard {
    /// The client and the hash's key.
    redis: Option<(fred::clients::Client, String)>,
}

/// Open beats half-open beats closed beats disabled.
pub fn worst(states: impl IntoIterator<Item = BreakerStatus>) -> BreakerStatus {
    let rank = |s: &BreakerStatus| match s {
        BreakerStatus::Disabled => 0,
        BreakerStatus::Closed => 1,
        BreakerStatus::HalfOpen => 2,
        BreakerStatus::Open => 3,
    };
    states
        .into_iter()
        .max_by_key(rank)
        .unwrap_or(BreakerStatus::Disabled)
}

impl BreakerBoard {
    /// This process only.
    pub fn local() -> Arc<Self> {
        Arc::new(Self { redis: None })
    }

    pub async fn connect(shared: &fittrack_kit::shared::SharedState) -> anyhow::Result<Arc<Self>> {
        let Some(url) = shared.redis_url() else {
            return Ok(Self::local());
        };
        Ok(Arc::new(Self {
            redis: Some((fittrack_kit::redis::connect(url).await?, shared.key(KEY))),
        }))
    }

    pub async fn report(&self, instance: &str, state: BreakerStatus) -> anyhow::Result<()> {
        let Some((client, key)) = &self.redis else {
            return Ok(());
        };
        let report = serde_json::to_string(&Report {
            state,
            at_ms: chrono::Utc::now().timestamp_millis(),
        })?;
        let _: Value = client
            .custom(
                command("HSET"),
                vec![key.clone(), instance.to_owned(), report],
            )
            .await
            .context("reporting the breaker state")?;
        Ok(())
    }

    /// States other processes reported recently.
    pub async fn reported(&self) -> anyhow::Result<Vec<BreakerStatus>> {
        let Some((client, key)) = &self.redis else {
            return Ok(vec![]);
        };
        let all: HashMap<String, String> = client
            .custom::<Value, _>(command("HGETALL"), vec![key.clone()])
            .await
            .context("reading breaker states")?
            .convert()?;
        let now = chrono::Utc::now().timestamp_millis();
        let age = |r: &Report| Duration::from_millis(u64::try_from(now - r.at_ms).unwrap_or(0));
        let mut fresh = Vec::new();
        for (instance, text) in all {
            match serde_json::from_str::<Report>(&text) {
                Ok(r) if age(&r) <= FRESH_FOR => fresh.push(r.state),
                Ok(r) if age(&r) <= FORGET_AFTER => {}
                _ => {
                    let _: Result<Value, _> = client
                        .custom(command("HDEL"), vec![key.clone(), instance])
                        .await;
                }
            }
        }
        Ok(fresh)
    }
}

/// Reports `coach`'s breaker as `instance` until `shutdown` (no-op without Redis).
pub async fn report_until(
    board: Arc<BreakerBoard>,
    coach: Arc<Coach>,
    instance: String,
    shutdown: impl Future<Output = ()> + Send,
) {
    if board.redis.is_none() {
        return;
    }
    let mut ticks = tokio::time::interval(REPORT_EVERY);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = ticks.tick() => {
                let state = coach.gemini().breaker_status();
                if let Err(error) = board.report(&instance, state).await {
                    tracing::warn!(error = %format!("{error:#}"), "breaker report failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_state_wins() {
        use BreakerStatus::*;
        assert_eq!(worst([Closed, Open, HalfOpen]), Open);
        assert_eq!(worst([Closed, HalfOpen]), HalfOpen);
        assert_eq!(worst([Disabled, Closed]), Closed);
        assert_eq!(worst([]), Disabled);
    }

    #[tokio::test]
    async fn reports_are_shared_through_redis() {
        let Ok(url) = std::env::var("REDIS_URL") else {
            eprintln!("REDIS_URL unset: Redis breaker board test skipped");
            return;
        };
        let shared = fittrack_kit::shared::SharedState::new(
            Some(fittrack_kit::config::Secret::new(url)),
            &format!("test-{}", uuid::Uuid::new_v4().simple()),
        );
        let board = BreakerBoard::connect(&shared).await.expect("redis");
        let instance = format!("test-{}", uuid::Uuid::new_v4());
        board
            .report(&instance, BreakerStatus::HalfOpen)
            .await
            .expect("report");
        let other = BreakerBoard::connect(&shared).await.expect("redis");
        assert!(other
            .reported()
            .await
            .expect("read")
            .contains(&BreakerStatus::HalfOpen));
        let (client, key) = other.redis.as_ref().expect("redis");
        let _: Value = client
            .custom(command("HDEL"), vec![key.clone(), instance])
            .await
            .expect("cleanup");
    }
}
