//! `fittrack migrate`: the user subgraph's relational migrations; and
//! `fittrack admin migrate`: the audit log's, as its owner.

use fittrack_migration::{Migrator, MigratorTrait};

async fn database() -> anyhow::Result<sea_orm::DatabaseConnection> {
    let config = fittrack_user::UserConfig::load()?;
    fittrack_user::storage::open(&config.database_url()).await
}

pub async fn up() -> anyhow::Result<()> {
    Migrator::up(&database().await?, None).await?;
    println!("migrations applied");
    Ok(())
}

pub async fn down(steps: u32) -> anyhow::Result<()> {
    Migrator::down(&database().await?, Some(steps)).await?;
    println!("rolled back {steps} migration(s)");
    Ok(())
}

pub async fn status() -> anyhow::Result<()> {
    let db = database().await?;
    let applied = Migrator::get_applied_migrations(&db).await?;
    let pending = Migrator::get_pending_migrations(&db).await?;
    for migration in &applied {
        println!("applied  {}", migration.name());
    }
    for migration in &pending {
        println!("pending  {}", migration.name());
    }
    Ok(())
}

/// `fittrack admin migrate`: the audit log migrated by its owner role, and
/// the service's role granted reading and appending only.
pub async fn admin_audit_log() -> anyhow::Result<()> {
    let config = fittrack_admin::AdminConfig::load()?;
    let url = config.database_url();
    let owner_url = config
        .database_owner_url
        .as_ref()
        .map(|url| url.expose().to_owned());
    match owner_url {
        Some(owner_url) => {
            fittrack_admin::store::AuditStore::migrate_as_owner(&url, &owner_url).await?;
            println!("audit log migrated by its owner; the service's role may read and append");
        }
        None => {
            fittrack_admin::store::AuditStore::connect(&url, None).await?;
            println!(
                "audit log migrated (no ADMIN_DATABASE_OWNER_URL: the service's own role owns it)"
            );
        }
    }
    Ok(())
}
