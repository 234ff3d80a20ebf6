//! Accounts: registration, look-ups, profile, onboarding, sign-in bookkeeping, counts.

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fittrack_kit::Role;
use sea_orm::{
    sea_query::Expr,
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::{entities::users, role_str, to_user, unique_or_other, SqlUserStore};
use crate::domain::{
    model::{AccountStatus, FitnessGoal, Gender, User},
    ports::{AccountRecords, NewUser, ProfileChanges},
};

#[async_trait]
impl AccountRecords for SqlUserStore {
    async fn find_by_email(&self, email: &str) -> anyhow::Result<Option<(User, String)>> {
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

    async fn find_by_id(&self, id: Uuid) -> anyhow::Result<Option<User>> {
        users::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .context("looking up a user by id")?
            .map(to_user)
            .transpose()
    }

    async fn find_by_ids(&self, ids: &[Uuid]) -> anyhow::Result<Vec<User>> {
        users::Entity::find()
            .filter(users::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await
            .context("loading users by id")?
            .into_iter()
            .map(to_user)
            .collect()
    }

    async fn email_taken(&self, email: &str) -> anyhow::Result<bool> {
        Ok(users::Entity::find()
            .filter(users::Column::Email.eq(email))
            .one(&self.db)
            .await?
            .is_some())
    }

    async fn username_taken(&self, username: &str, except: Option<Uuid>) -> anyhow::Result<bool> {
        let mut query = users::Entity::find().filter(users::Column::Username.eq(username));
        if let Some(id) = except {
            query = query.filter(users::Column::Id.ne(id));
        }
        Ok(query.one(&self.db).await?.is_some())
    }

    async fn insert(&self, new: NewUser) -> anyhow::Result<User> {
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

    async fn update_profile(&self, id: Uuid, changes: ProfileChanges) -> anyhow::Result<()> {
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

    async fn complete_onboarding(
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

    async fn record_successful_login(&self, id: Uuid, now: DateTime<Utc>) -> anyhow::Result<()> {
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

    async fn count_by_status_and_role(&self) -> anyhow::Result<Vec<(String, String, i64)>> {
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

    async fn count_created_since(&self, since: DateTime<Utc>) -> anyhow::Result<i64> {
        let count = users::Entity::find()
            .filter(users::Column::CreatedAt.gte(since))
            .count(&self.db)
            .await
            .context("counting sign-ups")?;
        Ok(i64::try_from(count).unwrap_or(i64::MAX))
    }

    async fn created_since(&self, since: DateTime<Utc>) -> anyhow::Result<Vec<DateTime<Utc>>> {
        users::Entity::find()
            .select_only()
            .column(users::Column::CreatedAt)
            .filter(users::Column::CreatedAt.gte(since))
            .into_tuple()
            .all(&self.db)
            .await
            .context("reading sign-up times")
    }
}
