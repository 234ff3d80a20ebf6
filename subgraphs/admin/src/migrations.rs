//! The admin subgraph's own relational schema (timestamped migrations, kept in
//! their own migration table so it can share a PostgreSQL database).

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(M20261123000001CreateAuditLogs)]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("seaql_migrations_admin").into_iden()
    }
}

#[derive(DeriveIden)]
pub enum AdminAuditLogs {
    Table,
    Id,
    AdminId,
    Action,
    TargetUserId,
    Details,
    ClientIp,
    CreatedAt,
}

pub struct M20261123000001CreateAuditLogs;

impl MigrationName for M20261123000001CreateAuditLogs {
    fn name(&self) -> &str {
        "m20261123_000001_create_audit_logs"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M20261123000001CreateAuditLogs {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AdminAuditLogs::Table)
                    .if_not_exists()
                    .col(uuid(AdminAuditLogs::Id).primary_key())
                    .col(uuid(AdminAuditLogs::AdminId))
                    .col(string_len(AdminAuditLogs::Action, 40))
                    .col(uuid_null(AdminAuditLogs::TargetUserId))
                    .col(text(AdminAuditLogs::Details))
                    .col(string_len_null(AdminAuditLogs::ClientIp, 64))
                    .col(timestamp_with_time_zone(AdminAuditLogs::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_admin_audit_logs_created")
                    .table(AdminAuditLogs::Table)
                    .col(AdminAuditLogs::CreatedAt)
                    .col(AdminAuditLogs::Id)
                    .to_owned(),
            )
            .await?;
        // Append-only, enforced by the database itself.
        let db = manager.get_connection();
        let statements: &[&str] = match manager.get_database_backend() {
            DbBackend::Postgres => &[
                "CREATE OR REPLACE FUNCTION admin_audit_logs_append_only() RETURNS trigger AS $$
                 BEGIN RAISE EXCEPTION 'admin_audit_logs is append-only'; END; $$ LANGUAGE plpgsql",
                "CREATE TRIGGER admin_audit_logs_no_change BEFORE UPDATE OR DELETE ON admin_audit_logs
                 FOR EACH ROW EXECUTE FUNCTION admin_audit_logs_append_only()",
                "CREATE TRIGGER admin_audit_logs_no_truncate BEFORE TRUNCATE ON admin_audit_logs
                 FOR EACH STATEMENT EXECUTE FUNCTION admin_audit_logs_append_only()",
            ],
            _ => &[
                "CREATE TRIGGER IF NOT EXISTS admin_audit_logs_no_update BEFORE UPDATE ON admin_audit_logs
                 BEGIN SELECT RAISE(ABORT, 'admin_audit_logs is append-only'); END",
                "CREATE TRIGGER IF NOT EXISTS admin_audit_logs_no_delete BEFORE DELETE ON admin_audit_logs
                 BEGIN SELECT RAISE(ABORT, 'admin_audit_logs is append-only'); END",
            ],
        };
        for statement in statements {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AdminAuditLogs::Table).to_owned())
            .await
    }
}
