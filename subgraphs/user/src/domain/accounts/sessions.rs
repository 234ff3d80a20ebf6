//! Sessions: issuing token pairs, refresh-token rotation with reuse detection,
//! logout, and revoking access tokens before an account or session changes.

use chrono::Utc;
use uuid::Uuid;

use super::{Accounts, Session};
use crate::domain::{
    error::{UserError, UserResult},
    model::User,
    ports::NewRefreshToken,
    tokens::hash_token,
};

impl Accounts {
    pub(super) async fn start_session(&self, user: User, family_id: Uuid) -> UserResult<Session> {
        let (session, refresh) = self.session_tokens(user, family_id)?;
        self.store.insert_refresh_token(refresh).await?;
        Ok(session)
    }

    /// A session's tokens, and the refresh token's record to store.
    fn session_tokens(
        &self,
        user: User,
        family_id: Uuid,
    ) -> UserResult<(Session, NewRefreshToken)> {
        let now = Utc::now();
        let access = self.issuer.issue_access(&user, family_id, now)?;
        let refresh = self.issuer.new_refresh(now);
        let record = NewRefreshToken {
            user_id: user.id,
            family_id,
            token_hash: refresh.hash,
            expires_at: refresh.expires_at,
        };
        let session = Session {
            access_token: access.token,
            access_token_expires_at: access.expires_at,
            refresh_token: refresh.token,
            device_token: None,
            user,
        };
        Ok((session, record))
    }

    /// Rotates a refresh token. Presenting one that was already used (or revoked)
    /// revokes its whole family: a stolen token dies with the legitimate one.
    /// Claiming the old token and storing the next are one transaction that
    /// loses to a logout, password change, reset or ban of the same user
    /// (`SessionRecords::rotate_refresh_token`), so no rotation outlives one.
    pub async fn refresh(&self, token: &str) -> UserResult<Session> {
        let now = Utc::now();
        let record = self
            .store
            .find_refresh_token(&hash_token(token))
            .await?
            .ok_or(UserError::InvalidRefreshToken)?;
        if record.used_at.is_some() || record.revoked_at.is_some() {
            return self.reject_reuse(record.family_id, record.user_id).await;
        }
        if record.expires_at <= now {
            return Err(UserError::InvalidRefreshToken);
        }
        let user = self
            .store
            .find_by_id(record.user_id)
            .await?
            .ok_or(UserError::InvalidRefreshToken)?;
        let user = match self.usable(user).await {
            Ok(user) => user,
            Err(error) => {
                self.store.revoke_family(record.family_id, now).await?;
                return Err(error);
            }
        };
        let (session, next) = self.session_tokens(user, record.family_id)?;
        if !self
            .store
            .rotate_refresh_token(record.id, next, now)
            .await?
        {
            // Rotated by someone else, or revoked, since our read.
            return self.reject_reuse(record.family_id, record.user_id).await;
        }
        Ok(session)
    }

    pub(super) async fn reject_reuse(&self, family_id: Uuid, user_id: Uuid) -> UserResult<Session> {
        // The session's access tokens too: the thief's as well as the owner's.
        self.revoke_session_tokens(family_id).await?;
        let revoked = self.store.revoke_family(family_id, Utc::now()).await?;
        tracing::warn!(%user_id, %family_id, revoked, "refresh token reuse detected; family revoked");
        Err(UserError::InvalidRefreshToken)
    }

    /// Ends the session the refresh token belongs to, and the caller's own
    /// session when signed in: its refresh tokens and, within seconds at every
    /// subgraph, its access tokens. Unknown tokens are not an error: logging
    /// out twice is fine.
    pub async fn logout(&self, token: &str, caller_session: Option<Uuid>) -> UserResult<()> {
        let record = self.store.find_refresh_token(&hash_token(token)).await?;
        let sessions = record
            .as_ref()
            .map(|record| record.family_id)
            .into_iter()
            .chain(caller_session);
        for session in sessions {
            self.revoke_session_tokens(session).await?;
            self.store.revoke_family(session, Utc::now()).await?;
        }
        Ok(())
    }

    /// Every access token of the user handed out until now stops working at
    /// every subgraph. Called *before* a security change, so that when
    /// revocations cannot be written the change is not made (fail closed).
    pub(super) async fn revoke_user_tokens(&self, id: Uuid) -> UserResult<()> {
        if let Some(revocations) = &self.revocations {
            revocations
                .revoke_user(id, Utc::now())
                .await
                .map_err(UserError::RevocationUnavailable)?;
        }
        Ok(())
    }

    /// After the change, once more: a token issued between the first
    /// revocation and the change (a sign-in racing a ban) dies too. The change
    /// is made by then, so a failure is only logged.
    pub(super) async fn revoke_user_tokens_again(&self, id: Uuid) {
        if let Err(error) = self.revoke_user_tokens(id).await {
            tracing::error!(user_id = %id, error = ?fittrack_kit::ApiError::from(error), "second revocation failed");
        }
    }

    /// Every access token of the session stops working at every subgraph.
    pub(super) async fn revoke_session_tokens(&self, session_id: Uuid) -> UserResult<()> {
        if let Some(revocations) = &self.revocations {
            revocations
                .revoke_session(session_id)
                .await
                .map_err(UserError::RevocationUnavailable)?;
        }
        Ok(())
    }
}
