//! The audit entry both sides of the audit outbox agree on: the user
//! subgraph writes it with the change it records (its outbox, its internal
//! API), the admin subgraph copies it into the append-only log.

use chrono::{DateTime, Utc};

/// The JWS `typ` of an audit record signed by the user subgraph (its token
/// key): the admin subgraph records only entries that carry a valid one, so
/// nobody else, whatever token they hold, can write the audit log.
pub const SIGNED_AUDIT_RECORD: &str = "fittrack-audit+jwt";
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One audited change, as it travels between the two subgraphs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Also the audit log entry's id: recording it twice stores it once.
    pub id: Uuid,
    /// The admin who acted; `None` for the operator at the console
    /// (`fittrack admin create`).
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub target_user_id: Option<Uuid>,
    pub details: serde_json::Value,
    pub client_ip: Option<String>,
    pub created_at: DateTime<Utc>,
}
