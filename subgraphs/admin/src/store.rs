//! The append-only audit log.

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait as _, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait as _,
};
use sea_orm_migration::MigratorTrait as _;
use uuid::Uuid;

use crate::{
    domain::{
        model::{AuditEntry, AuditFilter},
        ports::AuditLog,
    },
    migrations::Migrator,
};

pub mod audit_logs {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "admin_audit_logs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub admin_id: Uuid,
        pub action: String,
        pub target_user_id: Option<Uuid>,
        #[sea_orm(column_type = "Text")]
        pub details: String,
        pub client_ip: Option<String>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The stored `admin_id` of an action taken at the console (`fittrack admin
/// create`), which has no acting account.
pub const CONSOLE: Uuid = Uuid::nil();

async fn current_role(db: &DatabaseConnection) -> anyhow::Result<String> {
    use sea_orm::{ConnectionTrait as _, Statement};
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT current_user AS role",
        ))
        .await
        .context("reading the database role")?
        .context("no database role")?;
    row.try_get("", "role").context("reading the database role")
}

/// Whether every migration is applied, read without writing anything (the
/// service's role may not create the migration table, which sea-orm's own
/// check does first).
async fn up_to_date(db: &DatabaseConnection) -> bool {
    use sea_orm::{ConnectionTrait as _, Statement};
    let Ok(rows) = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM seaql_migrations_admin",
        ))
        .await
    else {
        return false;
    };
    let applied: std::collections::HashSet<String> = rows
        .iter()
        .filter_map(|row| row.try_get::<String>("", "version").ok())
        .collect();
    Migrator::migrations()
        .iter()
        .all(|migration| applied.contains(migration.name()))
}

/// The role that owns the audit log table (PostgreSQL).
async fn audit_log_owner(db: &DatabaseConnection) -> anyhow::Result<String> {
    use sea_orm::{ConnectionTrait as _, Statement};
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT tableowner::text AS role FROM pg_tables WHERE tablename = 'admin_audit_logs'",
        ))
        .await
        .context("reading the audit log's owner")?
        .context("no audit log table")?;
    row.try_get("", "role")
        .context("reading the audit log's owner")
}

fn entry_from_row(row: audit_logs::Model) -> AuditEntry {
    AuditEntry {
        id: row.id,
        admin_id: (row.admin_id != CONSOLE).then_some(row.admin_id),
        action: row.action,
        target_user_id: row.target_user_id,
        details: serde_json::from_str(&row.details).unwrap_or(serde_json::Value::Null),
        client_ip: row.client_ip,
        created_at: row.created_at,
    }
}

#[derive(Clone)]
pub struct AuditStore {
    db: DatabaseConnection,
}

impl AuditStore {
    /// Connects (SQLite files are created) and brings the schema up to date.
    ///
    /// With `owner_url` (PostgreSQL), the schema belongs to that role: it
    /// migrates and grants first ([`Self::migrate_as_owner`]). Without it, a
    /// schema that is up to date is used as it is (the production set-up: a
    /// one-shot `fittrack admin migrate` ran as the owner, and the service
    /// never holds the owner's credentials); one with pending migrations is
    /// migrated with the service's own role, which works on SQLite or when
    /// that role owns the schema (warned about on PostgreSQL).
    pub async fn connect(url: &str, owner_url: Option<&str>) -> anyhow::Result<Self> {
        if let Some(owner_url) = owner_url {
            Self::migrate_as_owner(url, owner_url).await?;
        }
        let db = fittrack_kit::sqlite::connect_relational(url, "admin database").await?;
        if !up_to_date(&db).await {
            Migrator::up(&db, None).await.context(
                "migrating the admin database (if another role owns it, run `fittrack admin \
                 migrate` with ADMIN_DATABASE_OWNER_URL first)",
            )?;
        }
        if db.get_database_backend() == sea_orm::DbBackend::Postgres
            && audit_log_owner(&db).await? == current_role(&db).await?
        {
            tracing::warn!(
                "the audit log belongs to the service's own database role, which could \
                 rewrite it: migrate it as a separate owner role (`fittrack admin migrate` \
                 with ADMIN_DATABASE_OWNER_URL)"
            );
        }
        Ok(Self { db })
    }

    /// As the owner role (`owner_url`, PostgreSQL): migrates the audit log,
    /// then grants the application's role (the one of `url`) `SELECT` and
    /// `INSERT` on it, and `SELECT` on its migration table, nothing more. The
    /// service can then neither change nor delete an entry, nor drop or
    /// disable the append-only triggers, even if it is compromised.
    pub async fn migrate_as_owner(url: &str, owner_url: &str) -> anyhow::Result<()> {
        let owner =
            fittrack_kit::sqlite::connect_relational(owner_url, "admin database (owner)").await?;
        Migrator::up(&owner, None)
            .await
            .context("migrating the admin database")?;
        if owner.get_database_backend() == sea_orm::DbBackend::Postgres {
            let db = fittrack_kit::sqlite::connect_relational(url, "admin database").await?;
            let app_role = current_role(&db).await?.replace('"', "\"\"");
            let _ = db.close().await;
            // One transaction under an advisory lock: PostgreSQL refuses
            // concurrent GRANTs on one table ("tuple concurrently updated"),
            // as when two replicas or two test stacks migrate at once.
            let grants = owner.begin().await.context("granting the audit log")?;
            for statement in [
                "SELECT pg_advisory_xact_lock(hashtext('fittrack:admin-audit-grants'))".to_owned(),
                "REVOKE ALL ON admin_audit_logs FROM PUBLIC".to_owned(),
                format!("GRANT SELECT, INSERT ON admin_audit_logs TO \"{app_role}\""),
                format!("GRANT SELECT ON seaql_migrations_admin TO \"{app_role}\""),
            ] {
                grants
                    .execute_unprepared(&statement)
                    .await
                    .with_context(|| format!("granting the audit log: {statement}"))?;
            }
            grants.commit().await.context("granting the audit log")?;
        }
        let _ = owner.close().await;
        Ok(())
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Times every statement in `metrics` (`kit::metrics::time_statements`);
    /// before the store is cloned.
    pub fn timed(mut self, metrics: &fittrack_kit::metrics::Metrics) -> Self {
        fittrack_kit::metrics::time_statements(metrics, &mut self.db, "admin");
        self
    }
}

#[async_trait]
impl AuditLog for AuditStore {
    /// Writes `entry` unless an entry with its id is there already (the
    /// mutation and the user subgraph's delivery both bring it): an insert only,
    /// never an update.
    async fn record(&self, entry: &AuditEntry) -> anyhow::Result<()> {
        use sea_orm::sea_query::OnConflict;
        let inserted = audit_logs::Entity::insert(audit_logs::ActiveModel {
            id: Set(entry.id),
            admin_id: Set(entry.admin_id.unwrap_or(CONSOLE)),
            action: Set(entry.action.clone()),
            target_user_id: Set(entry.target_user_id),
            details: Set(entry.details.to_string()),
            client_ip: Set(entry.client_ip.clone()),
            created_at: Set(entry.created_at),
        })
        .on_conflict(
            OnConflict::column(audit_logs::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec(&self.db)
        .await;
        match inserted {
            Ok(_) | Err(sea_orm::DbErr::RecordNotInserted) => Ok(()),
            Err(error) => Err(anyhow::Error::new(error).context("writing an audit entry")),
        }
    }

    /// Newest first, strictly after `after`.
    async fn page(
        &self,
        filter: &AuditFilter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: u64,
    ) -> anyhow::Result<Vec<AuditEntry>> {
        let mut condition = Condition::all();
        if let Some(admin) = filter.admin_id {
            condition = condition.add(audit_logs::Column::AdminId.eq(admin));
        }
        if let Some(target) = filter.target_user_id {
            condition = condition.add(audit_logs::Column::TargetUserId.eq(target));
        }
        if let Some(action) = &filter.action {
            condition = condition.add(audit_logs::Column::Action.eq(action.clone()));
        }
        if let Some(from) = filter.from {
            condition = condition.add(audit_logs::Column::CreatedAt.gte(from));
        }
        if let Some(to) = filter.to {
            condition = condition.add(audit_logs::Column::CreatedAt.lt(to));
        }
        if let Some((at, id)) = after {
            condition = condition.add(
                Condition::any()
                    .add(audit_logs::Column::CreatedAt.lt(at))
                    .add(
                        Condition::all()
                            .add(audit_logs::Column::CreatedAt.eq(at))
                            .add(audit_logs::Column::Id.lt(id)),
                    ),
            );
        }
        let rows = audit_logs::Entity::find()
            .filter(condition)
            .order_by_desc(audit_logs::Column::CreatedAt)
            .order_by_desc(audit_logs::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .context("reading the audit log")?;
        Ok(rows.into_iter().map(entry_from_row).collect())
    }
}
