//! The admin subgraph's records: audit entries and the account view the user
//! subgraph answers with.

use chrono::{DateTime, Utc};
use fittrack_kit::Role;
use serde::Deserialize;
use uuid::Uuid;

pub use fittrack_kit::audit::AuditRecord;

/// One recorded admin action.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: Uuid,
    /// `None`: the operator at the console.
    pub admin_id: Option<Uuid>,
    pub action: String,
    pub target_user_id: Option<Uuid>,
    pub details: serde_json::Value,
    pub client_ip: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<AuditRecord> for AuditEntry {
    fn from(record: AuditRecord) -> Self {
        Self {
            id: record.id,
            admin_id: record.actor_id,
            action: record.action,
            target_user_id: record.target_user_id,
            details: record.details,
            client_ip: record.client_ip,
            created_at: record.created_at,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub admin_id: Option<Uuid>,
    pub target_user_id: Option<Uuid>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// An account as the user subgraph reports it after a change.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountView {
    pub id: Uuid,
    pub email: String,
    pub status: String,
    pub role: Role,
    pub suspended_until: Option<DateTime<Utc>>,
}
