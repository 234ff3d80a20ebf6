use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ContactMessages::Table)
                    .if_not_exists()
                    .col(uuid(ContactMessages::Id).primary_key())
                    // Kept when the account is deleted: a message is not user data
                    // the account owns, but the link is dropped (no foreign key).
                    .col(uuid_null(ContactMessages::UserId))
                    .col(string_len(ContactMessages::Name, 100))
                    .col(string_len(ContactMessages::Email, 255))
                    .col(string_len(ContactMessages::Subject, 200))
                    .col(text(ContactMessages::Message))
                    // Who the rate limit counts against: `user:<id>` or `ip:<addr>`.
                    .col(string_len(ContactMessages::SenderKey, 100))
                    .col(timestamp_with_time_zone(ContactMessages::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_contact_messages_sender_created")
                    .table(ContactMessages::Table)
                    .col(ContactMessages::SenderKey)
                    .col(ContactMessages::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ContactMessages::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ContactMessages {
    Table,
    Id,
    UserId,
    Name,
    Email,
    Subject,
    Message,
    SenderKey,
    CreatedAt,
}
