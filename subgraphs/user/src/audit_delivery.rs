//! Delivers the audit outbox to the admin subgraph's log, from here: every
//! `interval`, the waiting entries go, signed with the token key, to the
//! admin subgraph's `/internal/audit-log` (`Accounts::deliver_audit`); an
//! entry is marked delivered when the log says it holds it. The admin
//! subgraph records only entries whose signature checks against our JWKS,
//! so the internal token can neither write the log nor hide an entry.

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use async_trait::async_trait;
use fittrack_kit::config::Secret;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{accounts::Accounts, ports::AuditLogSink};

/// How often the outbox is delivered by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// Entries per delivery request (the admin subgraph takes at most 500).
const BATCH: u64 = 200;

/// What `/internal/audit-log` takes: signed entries.
#[derive(Debug, Serialize, Deserialize)]
pub struct SignedEntries {
    pub entries: Vec<String>,
}

/// What it answers: the ids the log holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Recorded {
    pub recorded: Vec<Uuid>,
}

/// The admin subgraph's internal audit-log endpoint.
pub struct AdminAuditLog {
    url: String,
    token: Secret,
    http: reqwest::Client,
}

impl AdminAuditLog {
    /// `base_url`: the admin subgraph without a path (`http://host:4004`).
    pub fn new(base_url: &str, token: Secret) -> anyhow::Result<Self> {
        Ok(Self {
            url: format!("{}/internal/audit-log", base_url.trim_end_matches('/')),
            token,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
        })
    }
}

#[async_trait]
impl AuditLogSink for AdminAuditLog {
    async fn record(&self, signed: &[String]) -> anyhow::Result<Vec<Uuid>> {
        let answer: Recorded = self
            .http
            .post(&self.url)
            .header("x-internal-token", self.token.expose())
            .json(&SignedEntries {
                entries: signed.to_vec(),
            })
            .send()
            .await
            .context("delivering audit entries")?
            .error_for_status()
            .context("delivering audit entries")?
            .json()
            .await
            .context("reading the audit log's answer")?;
        Ok(answer.recorded)
    }
}

/// Delivers every `interval` until `shutdown` completes.
pub async fn run(
    accounts: Accounts,
    log: Arc<dyn AuditLogSink>,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        match accounts.deliver_audit(log.as_ref(), BATCH).await {
            Ok(0) => {}
            Ok(delivered) => tracing::info!(delivered, "audit entries delivered"),
            Err(error) => tracing::warn!(
                error = format!("{error:#}"),
                "audit outbox not delivered; retrying"
            ),
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
