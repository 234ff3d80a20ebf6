//! Lifecycle: status, moderation and role changes (each with its audit entry in
//! the same transaction), the audit outbox, deletion.

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fittrack_kit::Role;
use sea_orm::{
    sea_query::Expr, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use uuid::Uuid;

use super::{
    entities::{
        audit_outbox, contact_messages, devices, password_reset_tokens, refresh_tokens, users,
    },
    insert_audit, revoke_refresh_tokens, role_str, write_status, SqlUserStore,
};
use crate::domain::{
    model::{AccountStatus, AuditRecord},
    ports::LifecycleRecords,
};

#[async_trait]
impl LifecycleRecords for SqlUserStore {
    async fn set_status(
        &self,
        id: Uuid,
        status: AccountStatus,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.set_status_until(id, status, None, reason, now).await
    }

    async fn set_status_until(
        &self,
        id: Uuid,
        status: AccountStatus,
        until: Option<DateTime<Utc>>,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        write_status(&self.db, id, status, until, reason, now).await
    }

    async fn moderate_status(
        &self,
        id: Uuid,
        status: AccountStatus,
        until: Option<DateTime<Utc>>,
        reason: Option<String>,
        now: DateTime<Utc>,
        audit: Option<AuditRecord>,
    ) -> anyhow::Result<()> {
        let tx = self.db.begin().await.context("starting a transaction")?;
        write_status(&tx, id, status, until, reason, now).await?;
        if status != AccountStatus::Active {
            revoke_refresh_tokens(&tx, id, now).await?;
        }
        if let Some(audit) = audit {
            insert_audit(&tx, audit).await?;
        }
        tx.commit().await.context("committing a status change")?;
        Ok(())
    }

    async fn change_role(
        &self,
        id: Uuid,
        role: Role,
        now: DateTime<Utc>,
        audit: AuditRecord,
    ) -> anyhow::Result<()> {
        let tx = self.db.begin().await.context("starting a transaction")?;
        let updated = users::Entity::update_many()
            .col_expr(users::Column::Role, Expr::value(role_str(role)))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id))
            .exec(&tx)
            .await
            .context("changing a role")?;
        anyhow::ensure!(updated.rows_affected == 1, "user {id} not found");
        revoke_refresh_tokens(&tx, id, now).await?;
        insert_audit(&tx, audit).await?;
        tx.commit().await.context("committing a role change")?;
        Ok(())
    }

    async fn record_audit(&self, audit: AuditRecord) -> anyhow::Result<()> {
        insert_audit(&self.db, audit).await
    }

    async fn pending_audit(&self, limit: u64) -> anyhow::Result<Vec<AuditRecord>> {
        let rows = audit_outbox::Entity::find()
            .filter(audit_outbox::Column::DeliveredAt.is_null())
            .order_by_asc(audit_outbox::Column::CreatedAt)
            .limit(limit)
            .all(&self.db)
            .await
            .context("reading the audit outbox")?;
        Ok(rows
            .into_iter()
            .map(|row| AuditRecord {
                id: row.id,
                actor_id: row.actor_id,
                action: row.action,
                target_user_id: row.target_user_id,
                details: serde_json::from_str(&row.details).unwrap_or(serde_json::Value::Null),
                client_ip: row.client_ip,
                created_at: row.created_at,
            })
            .collect())
    }

    async fn mark_audit_delivered(&self, ids: &[Uuid], now: DateTime<Utc>) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        audit_outbox::Entity::update_many()
            .col_expr(audit_outbox::Column::DeliveredAt, Expr::value(now))
            .filter(audit_outbox::Column::Id.is_in(ids.to_vec()))
            .exec(&self.db)
            .await
            .context("marking audit entries delivered")?;
        Ok(())
    }

    async fn delete_user(&self, id: Uuid, email: &str) -> anyhow::Result<()> {
        let tx = self.db.begin().await.context("starting a transaction")?;
        // Messages carry the sender's name and email: theirs go, and so do
        // those sent anonymously from the same address.
        contact_messages::Entity::delete_many()
            .filter(
                contact_messages::Column::UserId
                    .eq(id)
                    .or(contact_messages::Column::Email.eq(email)),
            )
            .exec(&tx)
            .await
            .context("deleting a user's contact messages")?;
        refresh_tokens::Entity::delete_many()
            .filter(refresh_tokens::Column::UserId.eq(id))
            .exec(&tx)
            .await
            .context("deleting a user's sessions")?;
        password_reset_tokens::Entity::delete_many()
            .filter(password_reset_tokens::Column::UserId.eq(id))
            .exec(&tx)
            .await
            .context("deleting a user's password resets")?;
        devices::Entity::delete_many()
            .filter(devices::Column::UserId.eq(id))
            .exec(&tx)
            .await
            .context("deleting a user's devices")?;
        users::Entity::delete_by_id(id)
            .exec(&tx)
            .await
            .context("deleting a user")?;
        tx.commit()
            .await
            .context("committing an account deletion")?;
        Ok(())
    }
}
