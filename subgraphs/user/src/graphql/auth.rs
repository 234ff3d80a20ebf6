use async_graphql::{Context, Object};
use fittrack_kit::{
    auth::{Authenticated, ContextAuthExt},
    ApiError,
};

use super::types::{AuthPayload, RegisterInput};
use crate::domain::accounts::{Accounts, Registration};

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Creates an account and signs it in.
    #[graphql(
        directive = fittrack_kit::schema::cost::apply(50)
    )]
    async fn register(
        &self,
        ctx: &Context<'_>,
        input: RegisterInput,
    ) -> async_graphql::Result<AuthPayload> {
        let accounts = ctx.data::<Accounts>()?;
        let session = accounts
            .register(
                Registration {
                    email: input.email,
                    password: input.password,
                    username: input.username,
                    first_name: input.first_name,
                    last_name: input.last_name,
                },
                client_address(ctx),
            )
            .await?;
        Ok(session.into())
    }

    /// Signs in. Attempts are limited per client address, per account and
    /// address, and per account (`RATE_LIMITED` / `ACCOUNT_LOCKED` with
    /// `extensions.retryAfterSeconds`); every aliased `login` is one attempt.
    /// Pass the `deviceToken` this client got from its last sign-in to the
    /// account: its attempts are then limited per device, and never refused
    /// because others guessed the account's password (`myDevices`).
    /// `deviceName` names a new device (at most 100 characters).
    #[graphql(
        directive = fittrack_kit::schema::cost::apply(50)
    )]
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        device_token: Option<String>,
        device_name: Option<String>,
    ) -> async_graphql::Result<AuthPayload> {
        let accounts = ctx.data::<Accounts>()?;
        Ok(accounts
            .login(
                &email,
                password,
                client_address(ctx),
                device_token.as_deref(),
                device_name.as_deref(),
            )
            .await?
            .into())
    }

    /// Trades a refresh token for a new access token and a new refresh token. Each
    /// refresh token works once; reusing one ends its whole session.
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<AuthPayload> {
        let accounts = ctx.data::<Accounts>()?;
        Ok(accounts.refresh(&refresh_token).await?.into())
    }

    /// Ends the session of this refresh token (and the caller's, when signed
    /// in): its refresh tokens at once, its access tokens at every service
    /// within seconds, and its open subscriptions with them.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<bool> {
        let accounts = ctx.data::<Accounts>()?;
        let caller_session = ctx.current_user_opt().map(|user| user.session_id);
        accounts
            .logout(&refresh_token, caller_session)
            .await
            .map_err(ApiError::from)?;
        Ok(true)
    }

    /// Changes your password (`currentPassword` must match; counted like a
    /// sign-in attempt). Every other session ends; this one continues with
    /// the tokens returned, and its older tokens stop working.
    #[graphql(
        guard = "Authenticated",
        directive = fittrack_kit::schema::cost::apply(50)
    )]
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> async_graphql::Result<AuthPayload> {
        let accounts = ctx.data::<Accounts>()?;
        let caller = ctx.current_user()?;
        Ok(accounts
            .change_password(caller, current_password, new_password, client_address(ctx))
            .await?
            .into())
    }

    /// Mails a single-use link (valid 30 minutes) to reset the password of
    /// this email's account. Answers `true` whether or not the account
    /// exists; limited per client address and per email (`RATE_LIMITED`).
    #[graphql(
        directive = fittrack_kit::schema::cost::apply(50)
    )]
    async fn request_password_reset(
        &self,
        ctx: &Context<'_>,
        email: String,
    ) -> async_graphql::Result<bool> {
        let accounts = ctx.data::<Accounts>()?;
        accounts
            .request_password_reset(&email, client_address(ctx))
            .await?;
        Ok(true)
    }

    /// Sets a new password with the token from a reset link. The link is
    /// used up and every session of the account ends: sign in again.
    #[graphql(
        directive = fittrack_kit::schema::cost::apply(50)
    )]
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        new_password: String,
    ) -> async_graphql::Result<bool> {
        let accounts = ctx.data::<Accounts>()?;
        accounts.reset_password(&token, new_password).await?;
        Ok(true)
    }
}

/// The caller's address as the server resolved it (`kit::client_address`).
pub(crate) fn client_address<'a>(ctx: &'a Context<'_>) -> &'a str {
    ctx.data_opt::<fittrack_kit::server::ClientIp>()
        .map_or("unknown", |ip| ip.key())
}
