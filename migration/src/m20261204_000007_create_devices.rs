use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_create_users::Users;

/// Devices that have signed in to an account (OWASP's device cookies): a
/// device's own guesses are limited per device, never by the account-wide
/// ceiling that a distributed attack can spend. The token itself is never
/// stored, only the row it names (and its signature proves).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Devices::Table)
                    .if_not_exists()
                    .col(uuid(Devices::Id).primary_key())
                    .col(uuid(Devices::UserId))
                    .col(string_len(Devices::Name, 100))
                    .col(timestamp_with_time_zone(Devices::CreatedAt))
                    .col(timestamp_with_time_zone(Devices::LastSignInAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_devices_user")
                            .from(Devices::Table, Devices::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_devices_user")
                    .table(Devices::Table)
                    .col(Devices::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Devices::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Devices {
    Table,
    Id,
    UserId,
    Name,
    CreatedAt,
    LastSignInAt,
}
