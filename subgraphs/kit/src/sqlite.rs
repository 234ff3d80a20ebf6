//! Embedded SQLite stores: open (creating the file and its directory), tune for
//! concurrent readers, and apply an idempotent schema. [`connect_relational`]
//! is the one way services open a database that may be SQLite or PostgreSQL.

use anyhow::Context as _;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

/// SQLite through [`open`] (no schema: the caller migrates), any other URL
/// (PostgreSQL) as it is.
pub async fn connect_relational(url: &str, what: &str) -> anyhow::Result<DatabaseConnection> {
    if url.starts_with("sqlite:") {
        return open(url, &[], what).await;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options.sqlx_logging(false);
    Database::connect(options)
        .await
        .with_context(|| format!("connecting to the {what}"))
}

/// Opens `url` (`sqlite://path?mode=rwc`), enables WAL and a busy timeout, and
/// runs `schema` (each statement must be idempotent: `IF NOT EXISTS`).
pub async fn open(url: &str, schema: &[&str], what: &str) -> anyhow::Result<DatabaseConnection> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let file = path.split('?').next().unwrap_or(path);
        // Created owner-only before SQLite opens it (its -wal and -shm files
        // take the database file's mode).
        if !file.is_empty() && file != ":memory:" {
            crate::files::ensure_private_file(std::path::Path::new(file))?;
        }
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options.sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .with_context(|| format!("opening the {what}"))?;
    for statement in ["PRAGMA journal_mode = WAL", "PRAGMA busy_timeout = 5000"]
        .into_iter()
        .chain(schema.iter().copied())
    {
        db.execute_unprepared(statement)
            .await
            .with_context(|| format!("preparing the {what}: {statement}"))?;
    }
    Ok(db)
}
