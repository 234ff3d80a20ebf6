//! Sessions: refresh-token families (rotation by conditional update), password
//! changes and reset links.

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter,
    TransactionTrait,
};
use uuid::Uuid;

use super::{
    entities::{password_reset_tokens, refresh_tokens, users},
    revoke_refresh_tokens, set_password_hash, SqlUserStore,
};
use crate::domain::ports::{
    NewRefreshToken, PasswordResetRecord, RefreshTokenRecord, SessionRecords,
};

#[async_trait]
impl SessionRecords for SqlUserStore {
    async fn insert_refresh_token(&self, new: NewRefreshToken) -> anyhow::Result<()> {
        insert_refresh_token(&self.db, new).await
    }

    async fn find_refresh_token(
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

    async fn rotate_refresh_token(
        &self,
        used: Uuid,
        next: NewRefreshToken,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let tx = self.db.begin().await.context("starting a transaction")?;
        lock_user(&tx, next.user_id).await?;
        let claimed = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::UsedAt, Expr::value(now))
            .filter(refresh_tokens::Column::Id.eq(used))
            .filter(refresh_tokens::Column::UsedAt.is_null())
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .exec(&tx)
            .await
            .context("claiming a refresh token")?;
        if claimed.rows_affected != 1 {
            // Dropping the transaction rolls it back.
            return Ok(false);
        }
        insert_refresh_token(&tx, next).await?;
        tx.commit().await.context("committing a rotation")?;
        Ok(true)
    }

    async fn revoke_family(&self, family_id: Uuid, now: DateTime<Utc>) -> anyhow::Result<u64> {
        let owner = refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::FamilyId.eq(family_id))
            .one(&self.db)
            .await
            .context("finding a session's owner")?;
        let Some(owner) = owner else {
            return Ok(0);
        };
        let tx = self.db.begin().await.context("starting a transaction")?;
        lock_user(&tx, owner.user_id).await?;
        let result = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now))
            .filter(refresh_tokens::Column::FamilyId.eq(family_id))
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .exec(&tx)
            .await
            .context("revoking a refresh token family")?;
        tx.commit().await.context("committing a revocation")?;
        Ok(result.rows_affected)
    }

    async fn revoke_all_refresh_tokens(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let tx = self.db.begin().await.context("starting a transaction")?;
        lock_user(&tx, user_id).await?;
        let revoked = revoke_refresh_tokens(&tx, user_id, now).await?;
        tx.commit().await.context("committing a revocation")?;
        Ok(revoked)
    }

    async fn change_password(
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

    async fn insert_password_reset(
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

    async fn find_password_reset(
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

    async fn complete_password_reset(
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

    async fn count_password_resets_since(
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

async fn insert_refresh_token(
    db: &impl sea_orm::ConnectionTrait,
    new: NewRefreshToken,
) -> anyhow::Result<()> {
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
        .exec(db)
        .await
        .context("storing a refresh token")?;
    Ok(())
}

/// Holds the user's row until the transaction ends, so that rotations and
/// revocations of the user's tokens (and password and status changes, which
/// update that row) run one after another. On PostgreSQL a revocation's
/// UPDATE would otherwise not see a token a concurrent rotation inserts.
/// SQLite has one writer at a time and no row locks: there a transaction
/// holds the database from its first write, which comes next.
async fn lock_user(tx: &sea_orm::DatabaseTransaction, user_id: Uuid) -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait as _, DbBackend, QuerySelect as _};
    if tx.get_database_backend() == DbBackend::Sqlite {
        return Ok(());
    }
    users::Entity::find_by_id(user_id)
        .lock_exclusive()
        .one(tx)
        .await
        .context("locking a user's sessions")?;
    Ok(())
}
