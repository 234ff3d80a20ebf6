//! Passwords: changing one, and resetting a forgotten one with a mailed link.

use std::sync::Arc;

use chrono::Utc;

use super::{Accounts, Session};
use crate::domain::{
    devices::KnownClient,
    error::{UserError, UserResult},
    password,
    password_policy::check_new_password,
    password_reset::{reset_link, reset_mail, Mailer, ResetToken, RESET_LINK_TTL},
    ports::UserStore,
    tokens::hash_token,
    validation::normalize_email,
};

/// How reset links go out.
#[derive(Clone)]
pub(super) struct ResetMail {
    pub(super) mailer: Arc<dyn Mailer>,
    pub(super) web_app_url: String,
}

impl Accounts {
    /// Changes the caller's password (the current one must match, counted as
    /// a sign-in attempt). Every other session ends; this one goes on with the
    /// new tokens returned (its older tokens are refused from now on).
    pub async fn change_password(
        &self,
        caller: &fittrack_kit::CurrentUser,
        current_password: String,
        new_password: String,
        client_address: &str,
    ) -> UserResult<Session> {
        let user = self.user(caller.id).await?;
        check_new_password(&new_password, &user.email, "newPassword")?;
        let user = self
            .authenticate(
                &user.email,
                current_password,
                client_address,
                KnownClient::Session(caller.session_id),
            )
            .await
            .map(|(user, _)| user)
            .map_err(|error| match error {
                UserError::InvalidCredentials => {
                    UserError::invalid("currentPassword", "is not your current password")
                }
                other => other,
            })?;
        let user = self.usable(user).await?;
        let password_hash = password::hash(new_password).await?;
        self.revoke_user_tokens(user.id).await?;
        self.store
            .change_password(user.id, password_hash, Utc::now())
            .await?;
        tracing::info!(user_id = %user.id, "password changed; other sessions ended");
        self.start_session(user, caller.session_id).await
    }

    /// Mails a single-use reset link to `email` if it has an account. The
    /// answer is the same either way, and so is its timing: the lookup and
    /// the mail happen after the answer.
    pub async fn request_password_reset(
        &self,
        email: &str,
        client_address: &str,
    ) -> UserResult<()> {
        let email = normalize_email(email)?;
        self.sign_in_limits
            .admit_reset_request(&email, client_address)
            .await?;
        let Some(mail) = self.mail.clone() else {
            return Err(UserError::Internal(anyhow::anyhow!(
                "password reset requested but no mailer is configured"
            )));
        };
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(error) = send_reset_link(store.as_ref(), &mail, &email).await {
                tracing::error!(error = format!("{error:#}"), "password-reset mail not sent");
            }
        });
        Ok(())
    }

    /// Sets a new password with a reset link's token: the link is used up
    /// (of two concurrent uses one wins) and every session ends.
    pub async fn reset_password(&self, token: &str, new_password: String) -> UserResult<()> {
        let record = self
            .store
            .find_password_reset(&hash_token(token.trim()))
            .await?
            .filter(|record| record.used_at.is_none() && record.expires_at > Utc::now())
            .ok_or(UserError::InvalidResetToken)?;
        let user = self.user(record.user_id).await?;
        check_new_password(&new_password, &user.email, "newPassword")?;
        let password_hash = password::hash(new_password).await?;
        self.revoke_user_tokens(user.id).await?;
        if !self
            .store
            .complete_password_reset(record.id, user.id, password_hash, Utc::now())
            .await?
        {
            return Err(UserError::InvalidResetToken);
        }
        tracing::info!(user_id = %user.id, "password reset; every session ended");
        Ok(())
    }
}

/// Stores a reset link for the account of `email`, if any, and mails it.
async fn send_reset_link(
    store: &dyn UserStore,
    mail: &ResetMail,
    email: &str,
) -> anyhow::Result<()> {
    let Some((user, _)) = store.find_by_email(email).await? else {
        tracing::info!("password reset requested for an unknown email");
        return Ok(());
    };
    let token = ResetToken::generate();
    let now = Utc::now();
    store
        .insert_password_reset(user.id, token.hash, now + RESET_LINK_TTL, now)
        .await?;
    let link = reset_link(&mail.web_app_url, &token.token);
    mail.mailer.send(reset_mail(&user.email, &link)).await?;
    tracing::info!(user_id = %user.id, "password-reset link sent");
    Ok(())
}
