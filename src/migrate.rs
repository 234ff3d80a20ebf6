//! `fittrack migrate`: the user subgraph's relational migrations.

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
