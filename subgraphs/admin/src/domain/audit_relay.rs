//! Copies audit entries from the user subgraph's outbox into the audit log.
//!
//! The user subgraph writes each moderation change and its audit entry in one
//! transaction; the admin subgraph records the entry right after the change
//! (`moderation::Moderation`), but if it fails or dies in between, or the change
//! came from the console (`fittrack admin create`), the entry waits in the
//! outbox. This relay collects whatever is waiting, records it (by id, so an
//! entry recorded twice is stored once) and confirms it, every `interval`.

use std::{sync::Arc, time::Duration};

use super::{
    model::AuditEntry,
    ports::{AccountDirectory, AuditLog},
};

/// How often the outbox is collected by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
const BATCH: u64 = 200;

/// Collects once: records every waiting entry, then confirms them; how many.
pub async fn relay_once(
    store: &dyn AuditLog,
    directory: &dyn AccountDirectory,
) -> anyhow::Result<usize> {
    let mut relayed = 0;
    loop {
        let pending = directory.pending_audit(BATCH).await?;
        if pending.is_empty() {
            return Ok(relayed);
        }
        let ids: Vec<_> = pending.iter().map(|record| record.id).collect();
        for record in pending {
            store.record(&AuditEntry::from(record)).await?;
        }
        // Confirmed only once stored: a crash in between records them again
        // (harmlessly) on the next round.
        directory.audit_delivered(&ids).await?;
        relayed += ids.len();
        if (ids.len() as u64) < BATCH {
            return Ok(relayed);
        }
    }
}

/// Runs [`relay_once`] every `interval` until `shutdown` completes.
pub async fn run(
    store: Arc<dyn AuditLog>,
    directory: Arc<dyn AccountDirectory>,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        match relay_once(store.as_ref(), directory.as_ref()).await {
            Ok(0) => {}
            Ok(relayed) => tracing::info!(relayed, "audit entries relayed from the outbox"),
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "audit outbox not collected; retrying"
                )
            }
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
