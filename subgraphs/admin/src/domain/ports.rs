//! What the admin domain needs from outside, as traits it owns.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fittrack_kit::{ApiError, Role};
use uuid::Uuid;

use super::model::{AccountView, AuditEntry, AuditFilter, AuditRecord};

/// The append-only audit log (`store::AuditStore`).
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Writes `entry` unless an entry with its id is there already.
    async fn record(&self, entry: &AuditEntry) -> anyhow::Result<()>;

    /// Newest first, strictly after `after`.
    async fn page(
        &self,
        filter: &AuditFilter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: u64,
    ) -> anyhow::Result<Vec<AuditEntry>>;
}

/// Accounts, owned by the user subgraph (`users::UserDirectory`, its
/// internal API). A change and its audit record are written there in one
/// transaction (its outbox).
#[async_trait]
pub trait AccountDirectory: Send + Sync {
    /// `Err` is the user subgraph's refusal, with its code.
    async fn set_status(
        &self,
        user: Uuid,
        status: &str,
        until: Option<DateTime<Utc>>,
        reason: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<AccountView, ApiError>;

    async fn set_role(
        &self,
        user: Uuid,
        role: Role,
        audit: &AuditRecord,
    ) -> Result<AccountView, ApiError>;

    /// Audit records not yet confirmed as delivered, oldest first.
    async fn pending_audit(&self, limit: u64) -> anyhow::Result<Vec<AuditRecord>>;

    /// These records are in the audit log now.
    async fn audit_delivered(&self, ids: &[Uuid]) -> anyhow::Result<()>;
}
