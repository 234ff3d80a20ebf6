use sea_orm_migration::{prelude::*, schema::*};

/// Audit entries for the admin subgraph, written in the same transaction as
/// the change they record (moderation, role grants), so a change and its
/// entry cannot diverge. The admin subgraph copies them into its audit log
/// (idempotently, by id) and marks them delivered.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditOutbox::Table)
                    .if_not_exists()
                    .col(uuid(AuditOutbox::Id).primary_key())
                    // None: the operator at the console (`fittrack admin create`).
                    .col(uuid_null(AuditOutbox::ActorId))
                    .col(string_len(AuditOutbox::Action, 64))
                    .col(uuid_null(AuditOutbox::TargetUserId))
                    .col(text(AuditOutbox::Details))
                    .col(string_len_null(AuditOutbox::ClientIp, 64))
                    .col(timestamp_with_time_zone(AuditOutbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(AuditOutbox::DeliveredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_audit_outbox_pending")
                    .table(AuditOutbox::Table)
                    .col(AuditOutbox::DeliveredAt)
                    .col(AuditOutbox::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditOutbox::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuditOutbox {
    Table,
    Id,
    ActorId,
    Action,
    TargetUserId,
    Details,
    ClientIp,
    CreatedAt,
    DeliveredAt,
}
