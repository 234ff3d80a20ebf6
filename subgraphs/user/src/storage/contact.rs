//! Messages to the team, limited per sender.

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use uuid::Uuid;

use super::{entities::contact_messages, SqlUserStore};
use crate::domain::ports::{ContactRecords, NewContactMessage};

#[async_trait]
impl ContactRecords for SqlUserStore {
    async fn insert_contact_message(
        &self,
        message: NewContactMessage,
        since: DateTime<Utc>,
        limit: u64,
    ) -> anyhow::Result<bool> {
        let sent = contact_messages::Entity::find()
            .filter(contact_messages::Column::SenderKey.eq(message.sender_key.clone()))
            .filter(contact_messages::Column::CreatedAt.gte(since))
            .count(&self.db)
            .await
            .context("counting recent contact messages")?;
        if sent >= limit {
            return Ok(false);
        }
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
            .exec(&self.db)
            .await
            .context("storing a contact message")?;
        Ok(true)
    }
}
