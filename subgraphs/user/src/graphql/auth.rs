use async_graphql::{Context, Object};
use fittrack_kit::ApiError;

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
    #[graphql(
        directive = fittrack_kit::schema::cost::apply(50)
    )]
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> async_graphql::Result<AuthPayload> {
        let accounts = ctx.data::<Accounts>()?;
        Ok(accounts
            .login(&email, password, client_address(ctx))
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

    /// Ends the session of this refresh token.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<bool> {
        let accounts = ctx.data::<Accounts>()?;
        accounts
            .logout(&refresh_token)
            .await
            .map_err(ApiError::from)?;
        Ok(true)
    }
}

/// The caller's address as the server resolved it (`kit::client_address`).
pub(crate) fn client_address<'a>(ctx: &'a Context<'_>) -> &'a str {
    ctx.data_opt::<fittrack_kit::server::ClientIp>()
        .map_or("unknown", |ip| ip.key())
}
