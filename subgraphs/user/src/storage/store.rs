use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::{
    sea_query::Expr,
    ActiveValue::{NotSet, Set},
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr, TransactionTrait,
};
use uuid::Uuid;

use super::entities::{
    audit_outbox, contact_messages, password_reset_tokens, refresh_tokens, users,
};
use crate::domain::model::{AccountStatus, AuditRecord, FitnessGoal, Gender, User};
use fittrack_kit::Role;

/// What registration stores.
pub struct NewUser {
    pub email: String,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub password_hash: String,
}

/// Profile fields to change; `None` leaves a field as it is.
#[derive(Default)]
pub struct ProfileChanges {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub gender: Option<Gender>,
    pub fitness_goal: Option<FitnessGoal>,
}

pub struct NewRefreshToken {
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct RefreshTokenRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A stored password-reset link (its token only as a hash).
#[derive(Debug, Clone)]
pub struct PasswordResetRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// A unique constraint refused a write.
#[derive(Debug, thiserror::Error)]
#[error("unique constraint violated: {0}")]
pub struct UniqueViolation(pub String);

/// Account and token persistence.
#[derive(Clone)]
pub struct UserStore {
    db: DatabaseConnection,
}

impl UserStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub async fn find_by_email(&self, email: &str) -> anyhow::Result<Option<(User, String)>> {
        let row = users::Entity::find()
            .filter(users::Column::Email.eq(email))
            .one(&self.db)
            .await
            .context("looking up a user by email")?;
        row.map(|row| {
            let hash = row.password_hash.clone();
            to_user(row).map(|user| (user, hash))
        })
        .transpose()
    }

    pub async fn find_by_id(&self, id: Uuid) -> anyhow::Result<Option<User>> {
        users::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .context("looking up a user by id")?
            .map(to_user)
            .transpose()
    }

    /// One query for any number of ids (the federation entity loader).
    pub async fn find_by_ids(&self, ids: &[Uuid]) -> anyhow::Result<Vec<User>> {
        users::Entity::find()
            .filter(users::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await
            .context("loading users by id")?
            .into_iter()
            .map(to_user)
            .collect()
    }

    pub async fn email_taken(&self, email: &str) -> anyhow::Result<bool> {
        Ok(users::Entity::find()
            .filter(users::Column::Email.eq(email))
            .one(&self.db)
            .await?
            .is_some())
    }

    pub async fn username_taken(
        &self,
        username: &str,
        except: Option<Uuid>,
    ) -> anyhow::Result<bool> {
        let mut query = users::Entity::find().filter(users::Column::Username.eq(username));
        if let Some(id) = except {
            query = query.filter(users::Column::Id.ne(id));
        }
        Ok(query.one(&self.db).await?.is_some())
    }

    /// Inserts an account; a concurrent duplicate surfaces as [`UniqueViolation`].
    pub async fn insert(&self, new: NewUser) -> anyhow::Result<User> {
        let now = Utc::now();
        let model = users::ActiveModel {
            id: Set(Uuid::now_v7()),
            first_name: Set(new.first_name),
            last_name: Set(new.last_name),
            username: Set(new.username),
            email: Set(new.email),
            password_hash: Set(new.password_hash),
            role: Set(role_str(Role::User).into()),
            account_status: Set(AccountStatus::Active.as_str().into()),
            email_verified: Set(false),
            onboarding_completed: Set(false),
            last_login_at: Set(None),
            deactivated_at: Set(None),
            deactivation_reason: Set(None),
            gender: Set(None),
            fitness_goal: Set(None),
            failed_login_attempts: Set(0),
            failed_login_window_start: Set(None),
            locked_until: Set(None),
            suspended_until: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let row = users::Entity::insert(model)
            .exec_with_returning(&self.db)
            .await
            .map_err(unique_or_other)?;
        to_user(row)
    }

    pub async fn update_profile(&self, id: Uuid, changes: ProfileChanges) -> anyhow::Result<()> {
        let model = users::ActiveModel {
            id: Set(id),
            first_name: changes.first_name.map_or(NotSet, |v| Set(Some(v))),
            last_name: changes.last_name.map_or(NotSet, |v| Set(Some(v))),
            username: changes.username.map_or(NotSet, |v| Set(Some(v))),
            gender: changes
                .gender
                .map_or(NotSet, |v| Set(Some(v.as_str().into()))),
            fitness_goal: changes
                .fitness_goal
                .map_or(NotSet, |v| Set(Some(v.as_str().into()))),
            updated_at: Set(Utc::now()),
            ..Default::default()
        };
        users::Entity::update(model)
            .exec(&self.db)
            .await
            .map_err(unique_or_other)?;
        Ok(())
    }

    /// Records the onboarding answers and marks onboarding complete.
    pub async fn complete_onboarding(
        &self,
        id: Uuid,
        fitness_goal: FitnessGoal,
        gender: Option<Gender>,
    ) -> anyhow::Result<()> {
        let model = users::ActiveModel {
            id: Set(id),
            fitness_goal: Set(Some(fitness_goal.as_str().into())),
            gender: gender.map_or(NotSet, |g| Set(Some(g.as_str().into()))),
            onboarding_completed: Set(true),
            updated_at: Set(Utc::now()),
            ..Default::default()
        };
        users::Entity::update(model)
            .exec(&self.db)
            .await
            .context("completing onboarding")?;
        Ok(())
    }

    /// Moves an account to `status`, keeping why (cleared when it becomes ACTIVE).
    pub async fn set_status(
        &self,
        id: Uuid,
        status: AccountStatus,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.set_status_until(id, status, None, reason, now).await
    }

    /// As [`Self::set_status`]; `until` ends a suspension on its own.
    pub async fn set_status_until(
        &self,
        id: Uuid,
        status: AccountStatus,
        until: Option<DateTime<Utc>>,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        write_status(&self.db, id, status, until, reason, now).await
    }

    /// A moderation change in one transaction: the status, the end of every
    /// refresh token when the account leaves ACTIVE, and the audit entry.
    pub async fn moderate_status(
        &self,
        id: Uuid,
        status: AccountStatus,
        until: Option<DateTime<Utc>>,
        reason: Option<String>,
        now: DateTime<Utc>,
        audit: Option<AuditRecord>,
    ) -> anyhow::Result<()> {
        let tx = self.db.begin().await.context("starting a transaction")?;
        write_status(&tx, id, status, until, reason, now).await?;
        if status != AccountStatus::Active {
            revoke_refresh_tokens(&tx, id, now).await?;
        }
        if let Some(audit) = audit {
            insert_audit(&tx, audit).await?;
        }
        tx.commit().await.context("committing a status change")?;
        Ok(())
    }

    /// A role change in one transaction: the role, the end of every refresh
    /// token (tokens carry roles), and the audit entry.
    pub async fn change_role(
        &self,
        id: Uuid,
        role: Role,
        now: DateTime<Utc>,
        audit: AuditRecord,
    ) -> anyhow::Result<()> {
        let tx = self.db.begin().await.context("starting a transaction")?;
        let updated = users::Entity::update_many()
            .col_expr(users::Column::Role, Expr::value(role_str(role)))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id))
            .exec(&tx)
            .await
            .context("changing a role")?;
        anyhow::ensure!(updated.rows_affected == 1, "user {id} not found");
        revoke_refresh_tokens(&tx, id, now).await?;
        insert_audit(&tx, audit).await?;
        tx.commit().await.context("committing a role change")?;
        Ok(())
    }

    /// Audit entries not yet delivered to the admin subgraph, oldest first.
    pub async fn pending_audit(&self, limit: u64) -> anyhow::Result<Vec<AuditRecord>> {
        let rows = audit_outbox::Entity::find()
            .filter(audit_outbox::Column::DeliveredAt.is_null())
            .order_by_asc(audit_outbox::Column::CreatedAt)
            .limit(limit)
            .all(&self.db)
            .await
            .context("reading the audit outbox")?;
        Ok(rows
            .into_iter()
            .map(|row| AuditRecord {
                id: row.id,
                actor_id: row.actor_id,
                action: row.action,
                target_user_id: row.target_user_id,
                details: serde_json::from_str(&row.details).unwrap_or(serde_json::Value::Null),
                client_ip: row.client_ip,
                created_at: row.created_at,
            })
            .collect())
    }

    /// The admin subgraph has these entries in its log.
    pub async fn mark_audit_delivered(
        &self,
        ids: &[Uuid],
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        audit_outbox::Entity::update_many()
            .col_expr(audit_outbox::Column::DeliveredAt, Expr::value(now))
            .filter(audit_outbox::Column::Id.is_in(ids.to_vec()))
            .exec(&self.db)
            .await
            .context("marking audit entries delivered")?;
        Ok(())
    }

    /// Ends every session of a user.
    pub async fn revoke_all_refresh_tokens(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        revoke_refresh_tokens(&self.db, user_id, now).await
    }

    /// Removes the account and its sessions for good.
    pub async fn delete_user(&self, id: Uuid, email: &str) -> anyhow::Result<()> {
        let tx = self.db.begin().await.context("starting a transaction")?;
        // Messages carry the sender's name and email: theirs go, and so do
        // those sent anonymously from the same address.
        contact_messages::Entity::delete_many()
            .filter(
                contact_messages::Column::UserId
                    .eq(id)
                    .or(contact_messages::Column::Email.eq(email)),
            )
            .exec(&tx)
            .await
            .context("deleting a user's contact messages")?;
        refresh_tokens::Entity::delete_many()
            .filter(refresh_tokens::Column::UserId.eq(id))
            .exec(&tx)
            .await
            .context("deleting a user's sessions")?;
        password_reset_tokens::Entity::delete_many()
            .filter(password_reset_tokens::Column::UserId.eq(id))
            .exec(&tx)
            .await
            .context("deleting a user's password resets")?;
        users::Entity::delete_by_id(id)
            .exec(&tx)
            .await
            .context("deleting a user")?;
        tx.commit()
            .await
            .context("committing an account deletion")?;
        Ok(())
    }

    /// Stores a contact message unless `sender_key` already sent `limit` since
    /// `since`; whether it was stored.
    pub async fn insert_contact_message(
        &self,
        message: contact_messages::Model,
        since: DateTime<Utc>,
        limit: u64,
    ) -> anyhow::Result<bool> {
        let sent = contact_messages::Entity::find()
            .filter(contact_messages::Column::SenderKey.eq(message.sender_key.clone()))
            .filter(contact_messages::Column::CreatedAt.gte(since))
            .count(&self.db)
            .await
            .context("counting recent contact messages")?;
        if sent >= limit {
            return Ok(false);
        }
        contact_messages::Entity::insert(contact_messages::ActiveModel::from(message))
            .exec(&self.db)
            .await
            .context("storing a contact message")?;
        Ok(true)
    }

    /// Accounts per (status, role).
    pub async fn count_by_status_and_role(&self) -> anyhow::Result<Vec<(String, String, i64)>> {
        users::Entity::find()
            .select_only()
            .column(users::Column::AccountStatus)
            .column(users::Column::Role)
            .column_as(users::Column::Id.count(), "count")
            .group_by(users::Column::AccountStatus)
            .group_by(users::Column::Role)
            .into_tuple()
            .all(&self.db)
            .await
            .context("counting accounts")
    }

    /// How many accounts were created since `since`.
    pub async fn count_created_since(&self, since: DateTime<Utc>) -> anyhow::Result<i64> {
        let count = users::Entity::find()
            .filter(users::Column::CreatedAt.gte(since))
            .count(&self.db)
            .await
            .context("counting sign-ups")?;
        Ok(i64::try_from(count).unwrap_or(i64::MAX))
    }

    /// When each account created since `since` was created.
    pub async fn created_since(&self, since: DateTime<Utc>) -> anyhow::Result<Vec<DateTime<Utc>>> {
        users::Entity::find()
            .select_only()
            .column(users::Column::CreatedAt)
            .filter(users::Column::CreatedAt.gte(since))
            .into_tuple()
            .all(&self.db)
            .await
            .context("reading sign-up times")
    }

    pub async fn record_successful_login(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        users::Entity::update_many()
            .col_expr(users::Column::LastLoginAt, Expr::value(now))
            .col_expr(users::Column::FailedLoginAttempts, Expr::value(0))
            .col_expr(
                users::Column::FailedLoginWindowStart,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                users::Column::LockedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(users::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .context("recording a sign-in")?;
        Ok(())
    }

    pub async fn insert_refresh_token(&self, new: NewRefreshToken) -> anyhow::Result<()> {
        let model = refresh_tokens::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(new.user_id),
            family_id: Set(new.family_id),
            token_hash: Set(new.token_hash),
            expires_at: Set(new.expires_at),
            created_at: Set(Utc::now()),
            used_at: Set(None),
            revoked_at: Set(None),
        };
        refresh_tokens::Entity::insert(model)
            .exec(&self.db)
            .await
            .context("storing a refresh token")?;
        Ok(())
    }

    pub async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> anyhow::Result<Option<RefreshTokenRecord>> {
        Ok(refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TokenHash.eq(token_hash))
            .one(&self.db)
            .await
            .context("looking up a refresh token")?
            .map(|row| RefreshTokenRecord {
                id: row.id,
                user_id: row.user_id,
                family_id: row.family_id,
                expires_at: row.expires_at,
                used_at: row.used_at,
                revoked_at: row.revoked_at,
            }))
    }

    /// Marks a token used if nobody else did first: exactly one of two concurrent
    /// rotations wins, the other is treated as reuse.
    pub async fn claim_refresh_token(&self, id: Uuid, now: DateTime<Utc>) -> anyhow::Result<bool> {
        let result = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::UsedAt, Expr::value(now))
            .filter(refresh_tokens::Column::Id.eq(id))
            .filter(refresh_tokens::Column::UsedAt.is_null())
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .context("claiming a refresh token")?;
        Ok(result.rows_affected == 1)
    }

    pub async fn revoke_family(&self, family_id: Uuid, now: DateTime<Utc>) -> anyhow::Result<u64> {
        let result = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now))
            .filter(refresh_tokens::Column::FamilyId.eq(family_id))
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .context("revoking a refresh token family")?;
        Ok(result.rows_affected)
    }
}

impl UserStore {
    /// Replaces the password and ends every refresh token of the user, in one
    /// transaction (the caller then starts a new session if it keeps one).
    pub async fn change_password(
        &self,
        user_id: Uuid,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let tx = self.db.begin().await.context("starting a transaction")?;
        set_password_hash(&tx, user_id, password_hash, now).await?;
        revoke_refresh_tokens(&tx, user_id, now).await?;
        tx.commit().await.context("committing a password change")?;
        Ok(())
    }

    pub async fn insert_password_reset(
        &self,
        user_id: Uuid,
        token_hash: String,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        password_reset_tokens::Entity::insert(password_reset_tokens::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user_id),
            token_hash: Set(token_hash),
            expires_at: Set(expires_at),
            created_at: Set(now),
            used_at: Set(None),
        })
        .exec(&self.db)
        .await
        .context("storing a password reset")?;
        Ok(())
    }

    pub async fn find_password_reset(
        &self,
        token_hash: &str,
    ) -> anyhow::Result<Option<PasswordResetRecord>> {
        Ok(password_reset_tokens::Entity::find()
            .filter(password_reset_tokens::Column::TokenHash.eq(token_hash))
            .one(&self.db)
            .await
            .context("looking up a password reset")?
            .map(|row| PasswordResetRecord {
                id: row.id,
                user_id: row.user_id,
                expires_at: row.expires_at,
                used_at: row.used_at,
            }))
    }

    /// Uses the reset `reset_id` if it is still unused and unexpired: sets the
    /// password, uses up every other reset link of the user and ends every
    /// refresh token, all in one transaction. Whether it was used here (of two
    /// concurrent uses exactly one wins).
    pub async fn complete_password_reset(
        &self,
        reset_id: Uuid,
        user_id: Uuid,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let tx = self.db.begin().await.context("starting a transaction")?;
        let claimed = password_reset_tokens::Entity::update_many()
            .col_expr(password_reset_tokens::Column::UsedAt, Expr::value(now))
            .filter(password_reset_tokens::Column::Id.eq(reset_id))
            .filter(password_reset_tokens::Column::UsedAt.is_null())
            .filter(password_reset_tokens::Column::ExpiresAt.gt(now))
            .exec(&tx)
            .await
            .context("claiming a password reset")?;
        if claimed.rows_affected != 1 {
            return Ok(false);
        }
        password_reset_tokens::Entity::update_many()
            .col_expr(password_reset_tokens::Column::UsedAt, Expr::value(now))
            .filter(password_reset_tokens::Column::UserId.eq(user_id))
            .filter(password_reset_tokens::Column::UsedAt.is_null())
            .exec(&tx)
            .await
            .context("using up other password resets")?;
        set_password_hash(&tx, user_id, password_hash, now).await?;
        revoke_refresh_tokens(&tx, user_id, now).await?;
        tx.commit().await.context("committing a password reset")?;
        Ok(true)
    }

    /// Reset links requested for the user since `since` (a mailbox is not
    /// flooded by repeated requests).
    pub async fn count_password_resets_since(
        &self,
        user_id: Uuid,
        since: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        password_reset_tokens::Entity::find()
            .filter(password_reset_tokens::Column::UserId.eq(user_id))
            .filter(password_reset_tokens::Column::CreatedAt.gte(since))
            .count(&self.db)
            .await
            .context("counting password resets")
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
