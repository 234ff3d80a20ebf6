//! Embedded SQLite stores: open (creating the file and its directory), tune for
//! concurrent readers, and apply an idempotent schema. [`connect_relational`]
//! is the one way services open a database that may be SQLite or PostgreSQL.

use anyhow::Context as _;
use sea_orm::{
    sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
};

/// How long opening a connection, or waiting for one from the pool, may take.
pub const DATABASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// SQLite through [`open`] (no schema: the caller migrates), any other URL
/// (PostgreSQL) as it is.
pub async fn connect_relational(url: &str, what: &str) -> anyhow::Result<DatabaseConnection> {
    if url.starts_with("sqlite:") {
        return open(url, &[], what).await;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    // Bounded, so that while the server is away a request fails within
    // seconds (SERVICE_UNAVAILABLE, kit::error) instead of hanging; the
    // pool opens new connections by itself once it is back.
    options
        .sqlx_logging(false)
        .connect_timeout(DATABASE_TIMEOUT)
        .acquire_timeout(DATABASE_TIMEOUT);
    Database::connect(options)
        .await
        .with_context(|| format!("connecting to the {what}"))
}

/// Every connection of an embedded database: write-ahead log, and a commit
/// that waits for the log to reach the disk only at checkpoints
/// (`synchronous = NORMAL`, what SQLite recommends with WAL). A commit then
/// costs no fsync: the ~1 900 fsyncs/s of the disk bounded `logActivity`
/// before (BENCHMARKS.md, issue 15). The database stays consistent through
/// any crash and loses nothing when the process dies; a power cut may undo
/// the last commits since the checkpoint. Set on every connection of the
/// pool (a pragma run as a statement reaches only one).
fn tuned(options: SqliteConnectOptions) -> SqliteConnectOptions {
    options
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(std::time::Duration::from_secs(5))
}

/// Opens `url` (`sqlite://path?mode=rwc`) with [`tuned`] connections and runs
/// `schema` (each statement must be idempotent: `IF NOT EXISTS`).
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
    // No ping before each statement: a connection to a file cannot go stale
    // the way a network one does, and the ping was a second round trip to
    // the connection's thread for every query (the worker bench's profile).
    options
        .sqlx_logging(false)
        .test_before_acquire(false)
        .map_sqlx_sqlite_opts(tuned);
    let db = Database::connect(options)
        .await
        .with_context(|| format!("opening the {what}"))?;
    for statement in schema {
        db.execute_unprepared(statement)
            .await
            .with_context(|| format!("preparing the {what}: {statement}"))?;
    }
    Ok(db)
}
