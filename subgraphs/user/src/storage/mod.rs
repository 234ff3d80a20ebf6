//! Persistence for accounts and refresh tokens (sea-orm; SQLite or PostgreSQL).
//! Rows stay here: the rest of the crate sees [`crate::domain::model`] types.

pub mod entities;
mod store;

use anyhow::Context as _;
use fittrack_migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

pub use store::{
    NewRefreshToken, NewUser, ProfileChanges, RefreshTokenRecord, UniqueViolation, UserStore,
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
    if let Some(path) = url.strip_prefix("sqlite://") {
        let file = path.split('?').next().unwrap_or(path);
        if let Some(dir) = std::path::Path::new(file).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating data directory {}", dir.display()))?;
            }
        }
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options.sqlx_logging(false);
    Database::connect(options)
        .await
        .context("connecting to the user database")
}
