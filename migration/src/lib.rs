//! Relational schema of the user subgraph, as timestamped sea-orm migrations.
//! Runs on SQLite (embedded default) and PostgreSQL alike.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_users;
mod m20261123_000002_create_refresh_tokens;
mod m20261123_000003_create_contact_messages;
mod m20261123_000004_add_suspended_until;
mod m20261123_000005_create_password_reset_tokens;
mod m20261123_000006_create_audit_outbox;
mod m20261204_000007_create_devices;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_users::Migration),
            Box::new(m20261123_000002_create_refresh_tokens::Migration),
            Box::new(m20261123_000003_create_contact_messages::Migration),
            Box::new(m20261123_000004_add_suspended_until::Migration),
            Box::new(m20261123_000005_create_password_reset_tokens::Migration),
            Box::new(m20261123_000006_create_audit_outbox::Migration),
            Box::new(m20261204_000007_create_devices::Migration),
        ]
    }
}
