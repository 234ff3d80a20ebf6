//! Persistence for accounts and sessions (sea-orm; SQLite or PostgreSQL):
//! [`SqlUserStore`] implements the domain's ports (`domain::ports`), one file
//! per concern. Rows stay here: the rest of the crate sees domain types.

mod accounts;
mod contact;
mod devices;
pub mod entities;
mod lifecycle;
mod sessions;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use fittrack_kit::Role;
use fittrack_migration::{Migrator, MigratorTrait};
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    SqlErr,
};
use uuid::Uuid;

use crate::domain::{
    model::{AccountStatus, AuditRecord, FitnessGoal, Gender, User},
    ports::UniqueViolation,
};
use entities::{audit_outbox, refresh_tokens, users};

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

/// The user subgraph's relational store.
#[derive(Clone)]
pub struct SqlUserStore {
    db: DatabaseConnection,
}

impl SqlUserStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

async fn write_status(
    db: &impl sea_orm::ConnectionTrait,
    id: Uuid,
    status: AccountStatus,
    until: Option<DateTime<Utc>>,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let active = status == AccountStatus::Active;
    let model = users::ActiveModel {
        id: Set(id),
        account_status: Set(status.as_str().into()),
        suspended_until: Set(until),
        deactivated_at: Set((!active).then_some(now)),
        deactivation_reason: Set(if active { None } else { reason }),
        updated_at: Set(now),
        ..Default::default()
    };
    users::Entity::update(model)
        .exec(db)
        .await
        .context("changing an account's status")?;
    Ok(())
}

async fn insert_audit(
    db: &impl sea_orm::ConnectionTrait,
    audit: AuditRecord,
) -> anyhow::Result<()> {
    audit_outbox::Entity::insert(audit_outbox::ActiveModel {
        id: Set(audit.id),
        actor_id: Set(audit.actor_id),
        action: Set(audit.action),
        target_user_id: Set(audit.target_user_id),
        details: Set(audit.details.to_string()),
        client_ip: Set(audit.client_ip),
        created_at: Set(audit.created_at),
        delivered_at: Set(None),
    })
    .exec(db)
    .await
    .context("writing an audit entry to the outbox")?;
    Ok(())
}

async fn set_password_hash(
    db: &impl sea_orm::ConnectionTrait,
    user_id: Uuid,
    password_hash: String,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let updated = users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(users::Column::UpdatedAt, Expr::value(now))
        .filter(users::Column::Id.eq(user_id))
        .exec(db)
        .await
        .context("setting a password")?;
    anyhow::ensure!(updated.rows_affected == 1, "user {user_id} not found");
    Ok(())
}

async fn revoke_refresh_tokens(
    db: &impl sea_orm::ConnectionTrait,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let revoked = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now))
        .filter(refresh_tokens::Column::UserId.eq(user_id))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .context("revoking a user's sessions")?;
    Ok(revoked.rows_affected)
}

fn unique_or_other(error: sea_orm::DbErr) -> anyhow::Error {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(detail)) => UniqueViolation(detail).into(),
        _ => anyhow::Error::new(error).context("writing a user"),
    }
}

fn role_str(role: Role) -> &'static str {
    match role {
        Role::User => "USER",
        Role::Admin => "ADMIN",
    }
}

fn to_user(row: users::Model) -> anyhow::Result<User> {
    let role = match row.role.as_str() {
        "ADMIN" => Role::Admin,
        "USER" => Role::User,
        other => anyhow::bail!("user {} has unknown role {other:?}", row.id),
    };
    Ok(User {
        id: row.id,
        email: row.email,
        username: row.username,
        first_name: row.first_name,
        last_name: row.last_name,
        role,
        account_status: AccountStatus::parse(&row.account_status)
            .with_context(|| format!("user {} status", row.id))?,
        email_verified: row.email_verified,
        onboarding_completed: row.onboarding_completed,
        gender: row.gender.as_deref().map(Gender::parse).transpose()?,
        fitness_goal: row
            .fitness_goal
            .as_deref()
            .map(FitnessGoal::parse)
            .transpose()?,
        last_login_at: row.last_login_at,
        locked_until: row.locked_until,
        suspended_until: row.suspended_until,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
