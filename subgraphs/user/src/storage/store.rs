use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::{
    sea_query::Expr,
    ActiveValue::{NotSet, Set},
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, SqlErr,
};
use uuid::Uuid;

use super::entities::{contact_messages, refresh_tokens, users};
use crate::domain::model::{AccountStatus, FitnessGoal, Gender, User};
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
            .exec(&self.db)
            .await
            .context("changing an account's status")?;
        Ok(())
    }

    pub async fn set_role(&self, id: Uuid, role: Role) -> anyhow::Result<()> {
        let model = users::ActiveModel {
            id: Set(id),
            role: Set(match role {
                Role::Admin => "ADMIN".into(),
                Role::User => "USER".into(),
            }),
            updated_at: Set(Utc::now()),
            ..Default::default()
        };
        users::Entity::update(model)
            .exec(&self.db)
            .await
            .context("changing a role")?;
        Ok(())
    }

    /// Ends every session of a user.
    pub async fn revoke_all_refresh_tokens(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let revoked = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now))
            .filter(refresh_tokens::Column::UserId.eq(user_id))
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .context("revoking a user's sessions")?;
        Ok(revoked.rows_affected)
    }

    /// Removes the account and its sessions for good.
    pub async fn delete_user(&self, id: Uuid) -> anyhow::Result<()> {
        // Messages carry the sender's name and email: they go too.
        contact_messages::Entity::delete_many()
            .filter(contact_messages::Column::UserId.eq(id))
            .exec(&self.db)
            .await
            .context("deleting a user's contact messages")?;
        refresh_tokens::Entity::delete_many()
            .filter(refresh_tokens::Column::UserId.eq(id))
            .exec(&self.db)
            .await
            .context("deleting a user's sessions")?;
        users::Entity::delete_by_id(id)
            .exec(&self.db)
            .await
            .context("deleting a user")?;
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
