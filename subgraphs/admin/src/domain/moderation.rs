//! Moderation: an admin changes another account's status or role. The change
//! and its audit record are written by the user subgraph in one transaction
//! (its outbox), so they cannot diverge; the record is then copied into the
//! audit log here (by id, once). If that copy fails, the user subgraph's
//! delivery (`user::audit_delivery`) makes it later, and the admin still gets
//! the change they made.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use fittrack_kit::{error::InvalidInput, Role};
use uuid::Uuid;

use super::{
    error::AdminError,
    model::{AccountView, AuditEntry, AuditRecord},
    ports::{AccountDirectory, Acting, AuditLog},
};

/// Who acts, with their own access token (the user subgraph verifies it and
/// names them in the audit record it writes), and from where.
pub struct Moderator {
    pub id: Uuid,
    pub acting: Acting,
}

/// A change of account status.
#[derive(Debug, Clone, Copy)]
pub enum StatusChange {
    /// Sign-in refused (`ACCOUNT_BANNED`); sessions and tokens revoked.
    Ban,
    /// Refused until then; usable again on its own afterwards.
    Suspend { until: DateTime<Utc> },
    /// Deactivated on its owner's behalf.
    Deactivate,
    /// Usable again.
    Reactivate,
}

impl StatusChange {
    /// The audit action.
    pub fn action(self) -> &'static str {
        match self {
            Self::Ban => "BAN_USER",
            Self::Suspend { .. } => "SUSPEND_USER",
            Self::Deactivate => "DEACTIVATE_USER",
            Self::Reactivate => "REACTIVATE_USER",
        }
    }

    /// The status the user subgraph is asked for.
    fn status(self) -> &'static str {
        match self {
            Self::Ban => "BANNED",
            Self::Suspend { .. } => "SUSPENDED",
            Self::Deactivate => "DEACTIVATED",
            Self::Reactivate => "ACTIVE",
        }
    }

    fn until(self) -> Option<DateTime<Utc>> {
        match self {
            Self::Suspend { until } => Some(until),
            _ => None,
        }
    }
}

/// The account after the change, and the entry recording it.
pub struct Moderated {
    pub account: AccountView,
    pub entry: AuditEntry,
}

#[derive(Clone)]
pub struct Moderation {
    log: Arc<dyn AuditLog>,
    accounts: Arc<dyn AccountDirectory>,
}

impl Moderation {
    pub fn new(log: Arc<dyn AuditLog>, accounts: Arc<dyn AccountDirectory>) -> Self {
        Self { log, accounts }
    }

    pub fn log(&self) -> &Arc<dyn AuditLog> {
        &self.log
    }

    pub async fn change_status(
        &self,
        by: &Moderator,
        target: Uuid,
        change: StatusChange,
        reason: Option<String>,
    ) -> Result<Moderated, AdminError> {
        let reason = status_reason(reason)?;
        self.apply(by, target, change.action(), async {
            self.accounts
                .set_status(
                    target,
                    change.status(),
                    change.until(),
                    reason.as_deref(),
                    &by.acting,
                )
                .await
        })
        .await
    }

    /// Grants or withdraws the ADMIN role (used at the next sign-in).
    pub async fn change_role(
        &self,
        by: &Moderator,
        target: Uuid,
        role: Role,
    ) -> Result<Moderated, AdminError> {
        self.apply(by, target, "CHANGE_USER_ROLE", async {
            self.accounts.set_role(target, role, &by.acting).await
        })
        .await
    }

    /// Makes `change` (at the user subgraph, which builds and writes the
    /// audit record with it), then copies the record into the log here.
    async fn apply(
        &self,
        by: &Moderator,
        target: Uuid,
        action: &'static str,
        change: impl std::future::Future<
            Output = Result<(AccountView, AuditRecord), fittrack_kit::ApiError>,
        >,
    ) -> Result<Moderated, AdminError> {
        if target == by.id {
            return Err(InvalidInput::new("userId", "admins cannot moderate themselves").into());
        }
        let (account, record) = change.await.map_err(AdminError::Accounts)?;
        let entry = AuditEntry::from(record);
        // Recorded at once for the admin to see; the user subgraph's
        // delivery brings it again (stored once, by id) and only then marks
        // it delivered, so a failure here loses nothing.
        if let Err(error) = self.log.record(&entry).await {
            tracing::warn!(
                action,
                %target,
                error = format!("{error:#}"),
                "change applied; its audit entry waits in the user subgraph's outbox"
            );
        }
        tracing::info!(action, %target, admin = %by.id, "admin action");
        Ok(Moderated { account, entry })
    }
}

/// A status change's reason: trimmed, blank means none, at most 500 characters.
fn status_reason(reason: Option<String>) -> Result<Option<String>, InvalidInput> {
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(InvalidInput::new(
            "reason",
            "must be at most 500 characters",
        ));
    }
    Ok(reason)
}
