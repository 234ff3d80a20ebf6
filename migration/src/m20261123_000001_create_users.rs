use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(uuid(Users::Id).primary_key())
                    .col(string_len_null(Users::FirstName, 100))
                    .col(string_len_null(Users::LastName, 100))
                    .col(string_len_null(Users::Username, 50).unique_key())
                    .col(string_len(Users::Email, 255).unique_key())
                    .col(string_len(Users::PasswordHash, 255))
                    .col(string_len(Users::Role, 20).default("USER"))
                    .col(string_len(Users::AccountStatus, 20).default("ACTIVE"))
                    .col(boolean(Users::EmailVerified).default(false))
                    .col(boolean(Users::OnboardingCompleted).default(false))
                    .col(timestamp_with_time_zone_null(Users::LastLoginAt))
                    .col(timestamp_with_time_zone_null(Users::DeactivatedAt))
                    .col(string_len_null(Users::DeactivationReason, 500))
                    .col(string_len_null(Users::Gender, 20))
                    .col(string_len_null(Users::FitnessGoal, 50))
                    // Lockout bookkeeping: failures inside the current window.
                    .col(integer(Users::FailedLoginAttempts).default(0))
                    .col(timestamp_with_time_zone_null(Users::FailedLoginWindowStart))
                    .col(timestamp_with_time_zone_null(Users::LockedUntil))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub(crate) enum Users {
    Table,
    Id,
    FirstName,
    LastName,
    Username,
    Email,
    PasswordHash,
    Role,
    AccountStatus,
    EmailVerified,
    OnboardingCompleted,
    LastLoginAt,
    DeactivatedAt,
    DeactivationReason,
    Gender,
    FitnessGoal,
    FailedLoginAttempts,
    FailedLoginWindowStart,
    LockedUntil,
    CreatedAt,
    UpdatedAt,
}
