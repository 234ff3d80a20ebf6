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

/// The admin acting on an account, as the user subgraph checks them: their
/// own access token (verified there again) and their client address.
pub struct Acting {
    pub token: fittrack_kit::config::Secret,
    pub client_ip: Option<String>,
}

/// Accounts, owned by the user subgraph (`users::UserDirectory`, its
/// internal API). A change and the audit record it builds from the change
/// and the acting admin are written there in one transaction (its outbox).
#[async_trait]
pub trait AccountDirectory: Send + Sync {
    /// The account after the change, and the record written with it. `Err`
    /// is the user subgraph's refusal, with its code.
    async fn set_status(
        &self,
        user: Uuid,
        status: &str,
        until: Option<DateTime<Utc>>,
        reason: Option<&str>,
        acting: &Acting,
    ) -> Result<(AccountView, AuditRecord), ApiError>;

    async fn set_role(
        &self,
        user: Uuid,
        role: Role,
        acting: &Acting,
    ) -> Result<(AccountView, AuditRecord), ApiError>;
}
