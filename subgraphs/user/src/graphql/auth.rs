use async_graphql::{Context, Object};
use fittrack_kit::ApiError;

use super::types::{AuthPayload, RegisterInput};
use crate::domain::accounts::{Accounts, Registration};

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Creates an account and signs it in.
    async fn register(
        &self,
        ctx: &Context<'_>,
        input: RegisterInput,
    ) -> async_graphql::Result<AuthPayload> {
        let accounts = ctx.data::<Accounts>()?;
        let session = accounts
            .register(Registration {
                email: input.email,
                password: input.password,
                username: input.username,
                first_name: input.first_name,
                last_name: input.last_name,
            })
            .await?;
        Ok(session.into())
    }

    /// Signs in. Five failures within 15 minutes lock the account for 15 minutes.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> async_graphql::Result<AuthPayload> {
        let accounts = ctx.data::<Accounts>()?;
        Ok(accounts.login(&email, password).await?.into())
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
