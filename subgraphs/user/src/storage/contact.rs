//! Messages to the team, limited per sender.

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, Statement,
    TransactionTrait,
};
use uuid::Uuid;

use super::{entities::contact_messages, SqlUserStore};
use crate::domain::ports::{ContactRecords, NewContactMessage};

#[async_trait]
impl ContactRecords for SqlUserStore {
    /// Stored and counted in one transaction serialised per sender (an
    /// advisory lock on PostgreSQL; SQLite's one writer, held from the
    /// insert), so parallel submissions cannot all pass a count that each
    /// read before the others wrote.
    async fn insert_contact_message(
        &self,
        message: NewContactMessage,
        since: DateTime<Utc>,
        limit: u64,
    ) -> anyhow::Result<bool> {
        let tx = self.db.begin().await.context("starting a transaction")?;
        if tx.get_database_backend() == DbBackend::Postgres {
            tx.execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                [format!("contact:{}", message.sender_key).into()],
            ))
            .await
            .context("serialising a sender's contact messages")?;
        }
        let sender_key = message.sender_key.clone();
        let row = contact_messages::Model {
            id: Uuid::now_v7(),
            user_id: message.user_id,
            name: message.name,
            email: message.email,
            subject: message.subject,
            message: message.message,
            sender_key: message.sender_key,
            created_at: message.created_at,
        };
        contact_messages::Entity::insert(contact_messages::ActiveModel::from(row))
            .exec(&tx)
            .await
            .context("storing a contact message")?;
        let sent = contact_messages::Entity::find()
            .filter(contact_messages::Column::SenderKey.eq(sender_key))
            .filter(contact_messages::Column::CreatedAt.gte(since))
            .count(&tx)
            .await
            .context("counting recent contact messages")?;
        if sent > limit {
            // Dropping the transaction rolls the message back.
            return Ok(false);
        }
        tx.commit().await.context("committing a contact message")?;
        Ok(true)
    }
}
