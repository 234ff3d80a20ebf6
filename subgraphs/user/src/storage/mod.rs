//! Persistence for accounts and refresh tokens (sea-orm; SQLite or PostgreSQL).
//! Rows stay here: the rest of the crate sees [`crate::domain::model`] types.

pub mod entities;
mod store;

use anyhow::Context as _;
use fittrack_migration::{Migrator, MigratorTrait};
use sea_orm::DatabaseConnection;

pub use store::{
    NewRefreshToken, NewUser, PasswordResetRecord, ProfileChanges, RefreshTokenRecord,
    UniqueViolation, UserStore,
};

/// Opens the database (creating the SQLite file's folder if needed) and migrates it.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let db = open(url).await?;
    Migrator::up(&db, None)
        .await
        .context("migrating the user database")?;
    Ok(db)
}

/// Opens the database without migrating (for `fittrack migrate`).
pub async fn open(url: &str) -> anyhow::Result<DatabaseConnection> {
    fittrack_kit::sqlite::connect_relational(url, "user database").await
}
