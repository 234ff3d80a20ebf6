//! The append-only audit log.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use sea_orm_migration::MigratorTrait as _;
use uuid::Uuid;

use crate::migrations::Migrator;

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

/// One recorded admin action.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: Uuid,
    pub admin_id: Uuid,
    pub action: String,
    pub target_user_id: Option<Uuid>,
    pub details: serde_json::Value,
    pub client_ip: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl AuditEntry {
    fn from_row(row: audit_logs::Model) -> Self {
        Self {
            id: row.id,
            admin_id: row.admin_id,
            action: row.action,
            target_user_id: row.target_user_id,
            details: serde_json::from_str(&row.details).unwrap_or(serde_json::Value::Null),
            client_ip: row.client_ip,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub admin_id: Option<Uuid>,
    pub target_user_id: Option<Uuid>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

#[derive(Clone)]
pub struct AuditStore {
    db: DatabaseConnection,
}

impl AuditStore {
    /// Connects (SQLite files are created) and migrates.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let db = fittrack_kit::sqlite::connect_relational(url, "admin database").await?;
        Migrator::up(&db, None)
            .await
            .context("migrating the admin database")?;
        Ok(Self { db })
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub async fn begin(&self) -> anyhow::Result<DatabaseTransaction> {
        self.db.begin().await.context("starting a transaction")
    }

    /// Writes `entry` inside `txn` (committed by the caller once the action it
    /// records has happened).
    pub async fn append(
        &self,
        txn: &DatabaseTransaction,
        entry: &AuditEntry,
    ) -> anyhow::Result<()> {
        audit_logs::Entity::insert(audit_logs::ActiveModel {
            id: Set(entry.id),
            admin_id: Set(entry.admin_id),
            action: Set(entry.action.clone()),
            target_user_id: Set(entry.target_user_id),
            details: Set(entry.details.to_string()),
            client_ip: Set(entry.client_ip.clone()),
            created_at: Set(entry.created_at),
        })
        .exec(txn)
        .await
        .context("writing an audit entry")?;
        Ok(())
    }

    /// Newest first, strictly after `after`.
    pub async fn page(
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
        Ok(rows.into_iter().map(AuditEntry::from_row).collect())
    }
}
