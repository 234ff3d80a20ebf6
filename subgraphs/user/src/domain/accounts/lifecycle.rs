//! An account's lifecycle: deactivation and reactivation by its owner,
//! deletion, moderation by admins (with its audit outbox).

use chrono::Utc;
use uuid::Uuid;

use super::{Accounts, Session};
use crate::domain::{
    devices::KnownClient,
    error::{UserError, UserResult},
    model::{AccountStatus, AuditRecord, User},
};

impl Accounts {
    /// The account if it may be used now; a suspension whose time is over ends
    /// here, on the account's next sign-in or refresh.
    pub(super) async fn usable(&self, user: User) -> UserResult<User> {
        let now = Utc::now();
        if user.account_status == AccountStatus::Suspended
            && user.suspended_until.is_some_and(|until| until <= now)
        {
            self.store
                .set_status(user.id, AccountStatus::Active, None, now)
                .await?;
            tracing::info!(user_id = %user.id, "suspension over");
            return self.user(user.id).await;
        }
        ensure_active(&user)?;
        Ok(user)
    }

    /// Soft delete by the owner: sign-in is refused (`ACCOUNT_DEACTIVATED`)
    /// until `reactivate_self`, and every session ends now.
    pub async fn deactivate_self(
        &self,
        caller: &fittrack_kit::CurrentUser,
        password: String,
        reason: Option<String>,
        client_address: &str,
    ) -> UserResult<User> {
        let id = caller.id;
        let reason = status_reason(reason)?;
        let user = self.user(id).await?;
        ensure_active(&user)?;
        // A stolen access token alone must not take the account away from
        // its owner: the password is checked as a sign-in attempt (limited,
        // as one from the caller's session).
        self.authenticate(
            &user.email,
            password,
            client_address,
            KnownClient::Session(caller.session_id),
        )
        .await?;
        self.revoke_user_tokens(id).await?;
        let now = Utc::now();
        self.store
            .set_status(id, AccountStatus::Deactivated, reason, now)
            .await?;
        let revoked = self.store.revoke_all_refresh_tokens(id, now).await?;
        self.revoke_user_tokens_again(id).await;
        tracing::info!(user_id = %id, revoked, "account deactivated by its owner");
        self.user(id).await
    }

    /// Undoes a self-deactivation with the account's credentials; banned or
    /// suspended accounts stay refused.
    pub async fn reactivate_self(
        &self,
        email: &str,
        password: String,
        client_address: &str,
        device_token: Option<&str>,
    ) -> UserResult<Session> {
        let known = device_token.map_or(KnownClient::Unknown, KnownClient::DeviceToken);
        let (mut user, device) = self
            .authenticate(email, password, client_address, known)
            .await?;
        if user.account_status == AccountStatus::Deactivated {
            self.store
                .set_status(user.id, AccountStatus::Active, None, Utc::now())
                .await?;
            tracing::info!(user_id = %user.id, "account reactivated by its owner");
            user = self.user(user.id).await?;
        }
        ensure_active(&user)?;
        let device_token = self.remember_device(&user, device, None).await?;
        let mut session = self.signed_in(user).await?;
        session.device_token = Some(device_token);
        Ok(session)
    }

    /// Hard delete by the owner, password required. `UserDeleted` is enqueued
    /// for every subgraph holding user data *before* the row goes: if the
    /// announcement fails nothing is deleted and the caller can retry; once it
    /// is queued, erasure happens even if this process dies.
    pub async fn delete_self(
        &self,
        caller: &fittrack_kit::CurrentUser,
        password: String,
        client_address: &str,
    ) -> UserResult<()> {
        let id = caller.id;
        let user = self.user(id).await?;
        self.authenticate(
            &user.email,
            password,
            client_address,
            KnownClient::Session(caller.session_id),
        )
        .await?;
        // Revoke first: no token of the account works while it is erased;
        // then mark it erased, so a request or job in flight undoes itself.
        self.revoke_user_tokens(id).await?;
        self.request_erasure(id).await?;
        self.store.delete_user(id, &user.email).await?;
        self.revoke_user_tokens_again(id).await;
        tracing::info!(user_id = %id, queues = self.erasure.len(), "account deleted; erasure requested");
        Ok(())
    }

    /// Marks `id` erased (work in flight for it undoes itself), records the
    /// erasure as owed by every eraser, and sends each its `UserDeleted`.
    async fn request_erasure(&self, id: Uuid) -> UserResult<()> {
        if let Some(marks) = &self.erasure_marks {
            let erasers: Vec<&str> = self.erasure.iter().map(|(name, _)| *name).collect();
            marks
                .mark(id)
                .await
                .map_err(UserError::RevocationUnavailable)?;
            marks
                .owe(id, &erasers, Utc::now())
                .await
                .map_err(UserError::RevocationUnavailable)?;
        }
        let event =
            serde_json::to_string(&fittrack_kit::events::UserEvent::UserDeleted { user_id: id })
                .map_err(anyhow::Error::from)?;
        for (_, queue) in &self.erasure {
            queue.enqueue(&event).await?;
        }
        Ok(())
    }

    /// An admin asks every subgraph to erase a deleted account again (after
    /// an eraser was stuck, or a backup brought data back); audited. Refused
    /// for an account that exists: that is deleted, not replayed.
    pub async fn replay_erasure(
        &self,
        actor: &fittrack_kit::CurrentUser,
        target: Uuid,
        client_ip: Option<String>,
    ) -> UserResult<usize> {
        if !actor.is_admin() {
            return Err(UserError::Forbidden);
        }
        if self.store.find_by_id(target).await?.is_some() {
            return Err(UserError::invalid(
                "userId",
                "userId: this account exists; only a deleted account's erasure can be replayed",
            ));
        }
        self.request_erasure(target).await?;
        let queues = self.erasure.len();
        let audit = audit_record(
            actor,
            target,
            "REPLAY_ERASURE",
            serde_json::json!({"erasers": self.erasure.iter().map(|(name, _)| *name).collect::<Vec<_>>()}),
            client_ip,
        );
        self.store.record_audit(audit).await?;
        tracing::info!(user_id = %target, queues, "erasure replayed by an admin");
        Ok(queues)
    }

    /// What each eraser still owes: (eraser, outstanding, the `limit` oldest).
    pub async fn outstanding_erasures(
        &self,
        limit: usize,
    ) -> UserResult<Vec<(&'static str, fittrack_kit::erasure::Outstanding)>> {
        let Some(marks) = &self.erasure_marks else {
            return Ok(vec![]);
        };
        let mut outstanding = Vec::new();
        for (name, _) in &self.erasure {
            let owed = marks.outstanding(name, limit).await?;
            outstanding.push((*name, owed));
        }
        Ok(outstanding)
    }

    /// An administrator's status change (applied for the admin subgraph over
    /// the internal API), with its audit entry written in the same
    /// transaction. Leaving ACTIVE revokes access tokens first (nothing
    /// changes if that fails) and ends every session.
    pub(crate) async fn set_status_by_admin(
        &self,
        id: Uuid,
        status: AccountStatus,
        until: Option<chrono::DateTime<Utc>>,
        reason: Option<String>,
        audit: Option<AuditRecord>,
    ) -> UserResult<User> {
        let now = Utc::now();
        match (status, until) {
            (AccountStatus::Suspended, Some(until)) if until > now => {}
            (AccountStatus::Suspended, _) => {
                return Err(UserError::invalid("until", "must be in the future"))
            }
            (_, Some(_)) => return Err(UserError::invalid("until", "only applies to suspensions")),
            _ => {}
        }
        let reason = status_reason(reason)?;
        self.user(id).await?;
        let leaving_active = status != AccountStatus::Active;
        if leaving_active {
            self.revoke_user_tokens(id).await?;
        }
        self.store
            .moderate_status(id, status, until, reason, now, audit)
            .await?;
        if leaving_active {
            self.revoke_user_tokens_again(id).await;
        }
        tracing::info!(user_id = %id, status = status.as_str(), "account status changed by an admin");
        self.user(id).await
    }

    /// An administrator's role change, audited in the same transaction.
    pub(crate) async fn set_role_by_admin(
        &self,
        id: Uuid,
        role: fittrack_kit::Role,
        audit: AuditRecord,
    ) -> UserResult<User> {
        self.user(id).await?;
        // Tokens carry roles: make the user sign in again to get the new ones.
        self.revoke_user_tokens(id).await?;
        self.store.change_role(id, role, Utc::now(), audit).await?;
        self.revoke_user_tokens_again(id).await;
        self.user(id).await
    }

    /// An admin changes another account's status. The audit record is built
    /// here, from the change made and the admin's verified token (`actor`),
    /// and written with the change in one transaction: whoever calls cannot
    /// choose what the log says, or leave the change unlogged.
    pub async fn moderate_status(
        &self,
        actor: &fittrack_kit::CurrentUser,
        target: Uuid,
        status: AccountStatus,
        until: Option<chrono::DateTime<Utc>>,
        reason: Option<String>,
        client_ip: Option<String>,
    ) -> UserResult<(User, AuditRecord)> {
        ensure_may_moderate(actor, target)?;
        let reason = status_reason(reason)?;
        let action = match status {
            AccountStatus::Banned => "BAN_USER",
            AccountStatus::Suspended => "SUSPEND_USER",
            AccountStatus::Deactivated => "DEACTIVATE_USER",
            AccountStatus::Active => "REACTIVATE_USER",
        };
        let mut details = serde_json::json!({"reason": reason});
        if let Some(until) = until {
            details["until"] = serde_json::json!(until);
        }
        let audit = audit_record(actor, target, action, details, client_ip);
        let user = self
            .set_status_by_admin(target, status, until, reason, Some(audit.clone()))
            .await?;
        Ok((user, audit))
    }

    /// An admin grants or withdraws the ADMIN role; audited as
    /// [`Self::moderate_status`] is.
    pub async fn moderate_role(
        &self,
        actor: &fittrack_kit::CurrentUser,
        target: Uuid,
        role: fittrack_kit::Role,
        client_ip: Option<String>,
    ) -> UserResult<(User, AuditRecord)> {
        ensure_may_moderate(actor, target)?;
        let details = serde_json::json!({"role": role});
        let audit = audit_record(actor, target, "CHANGE_USER_ROLE", details, client_ip);
        let user = self.set_role_by_admin(target, role, audit.clone()).await?;
        Ok((user, audit))
    }

    /// Delivers the outbox to the audit log: every waiting entry, signed
    /// with the token key, oldest first, in batches of `batch`; an entry is
    /// marked delivered only once the log answered that it holds it. The
    /// delivery is this subgraph's own: nobody else can mark an entry
    /// delivered, or put one in the log. How many were delivered.
    pub async fn deliver_audit(
        &self,
        log: &dyn super::super::ports::AuditLogSink,
        batch: u64,
    ) -> anyhow::Result<usize> {
        let mut delivered = 0;
        loop {
            let pending = self.store.pending_audit(batch).await?;
            if pending.is_empty() {
                return Ok(delivered);
            }
            let signed = pending
                .iter()
                .map(|record| {
                    self.issuer
                        .sign_record(record, fittrack_kit::audit::SIGNED_AUDIT_RECORD)
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let held = log.record(&signed).await?;
            let confirmed: Vec<Uuid> = pending
                .iter()
                .map(|record| record.id)
                .filter(|id| held.contains(id))
                .collect();
            self.store
                .mark_audit_delivered(&confirmed, Utc::now())
                .await?;
            delivered += confirmed.len();
            if confirmed.len() < pending.len() {
                anyhow::bail!(
                    "the audit log refused {} of {} entries",
                    pending.len() - confirmed.len(),
                    pending.len()
                );
            }
            if (pending.len() as u64) < batch {
                return Ok(delivered);
            }
        }
    }
}

fn ensure_may_moderate(actor: &fittrack_kit::CurrentUser, target: Uuid) -> UserResult<()> {
    if !actor.is_admin() {
        return Err(UserError::Forbidden);
    }
    if actor.id == target {
        return Err(UserError::invalid(
            "userId",
            "admins cannot moderate themselves",
        ));
    }
    Ok(())
}

fn audit_record(
    actor: &fittrack_kit::CurrentUser,
    target: Uuid,
    action: &str,
    details: serde_json::Value,
    client_ip: Option<String>,
) -> AuditRecord {
    AuditRecord {
        id: Uuid::now_v7(),
        actor_id: Some(actor.id),
        action: action.to_owned(),
        target_user_id: Some(target),
        details,
        client_ip,
        created_at: Utc::now(),
    }
}

/// A status change's reason: trimmed, blank means none, at most 500 characters.
fn status_reason(reason: Option<String>) -> UserResult<Option<String>> {
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(UserError::invalid(
            "reason",
            "must be at most 500 characters",
        ));
    }
    Ok(reason)
}

fn ensure_active(user: &User) -> UserResult<()> {
    match user.account_status {
        AccountStatus::Active => Ok(()),
        other => Err(UserError::AccountUnavailable(other)),
    }
}
