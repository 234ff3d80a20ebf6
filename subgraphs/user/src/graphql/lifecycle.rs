//! The account's own lifecycle: onboarding, deactivation and reactivation.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use fittrack_kit::auth::{Authenticated, ContextAuthExt};

use super::types::{AuthPayload, User};
use crate::domain::{
    accounts::{Accounts, ContactMessage},
    model::{FitnessGoal, Gender},
};

#[derive(InputObject)]
pub struct ContactMessageInput {
    /// 1–100 characters.
    pub name: String,
    /// Where we reply.
    pub email: String,
    /// 1–200 characters.
    pub subject: String,
    /// 1–5000 characters.
    pub message: String,
}

#[derive(InputObject)]
pub struct CompleteOnboardingInput {
    pub fitness_goal: FitnessGoal,
    pub gender: Option<Gender>,
}

/// Where the signed-in user stands in onboarding.
#[derive(SimpleObject)]
pub struct OnboardingStatus {
    pub completed: bool,
    /// Answers still needed, by input field name.
    pub missing: Vec<String>,
}

#[derive(Default)]
pub struct LifecycleQuery;

#[Object]
impl LifecycleQuery {
    #[graphql(guard = "Authenticated")]
    async fn onboarding_status(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<OnboardingStatus> {
        let viewer = ctx.current_user()?;
        let user = ctx.data::<Accounts>()?.user(viewer.id).await?;
        let mut missing = Vec::new();
        if user.fitness_goal.is_none() {
            missing.push("fitnessGoal".to_owned());
        }
        Ok(OnboardingStatus {
            completed: user.onboarding_completed && missing.is_empty(),
            missing,
        })
    }
}

#[derive(Default)]
pub struct LifecycleMutation;

#[Object]
impl LifecycleMutation {
    /// Records the onboarding answers; onboarding is then complete.
    #[graphql(guard = "Authenticated")]
    async fn complete_onboarding(
        &self,
        ctx: &Context<'_>,
        input: CompleteOnboardingInput,
    ) -> async_graphql::Result<User> {
        let viewer = ctx.current_user()?;
        let user = ctx
            .data::<Accounts>()?
            .complete_onboarding(viewer.id, input.fitness_goal, input.gender)
            .await?;
        Ok(User::new(user, true))
    }

    /// Deactivates your account (a soft delete): every session ends and sign-in
    /// is refused with `ACCOUNT_DEACTIVATED` until `reactivateMyAccount`.
    /// Needs your password.
    #[graphql(
        guard = "Authenticated",
        directive = fittrack_kit::schema::cost::apply(50)
    )]
    async fn deactivate_my_account(
        &self,
        ctx: &Context<'_>,
        password: String,
        reason: Option<String>,
    ) -> async_graphql::Result<User> {
        let viewer = ctx.current_user()?;
        let user = ctx
            .data::<Accounts>()?
            .deactivate_self(viewer, password, reason, super::auth::client_address(ctx))
            .await?;
        Ok(User::new(user, true))
    }

    /// Deletes your account for good, with everything every subgraph holds
    /// about you (activities, recommendations, plans). Needs your password.
    #[graphql(
        guard = "Authenticated",
        directive = fittrack_kit::schema::cost::apply(50)
    )]
    async fn delete_my_account(
        &self,
        ctx: &Context<'_>,
        password: String,
    ) -> async_graphql::Result<bool> {
        let viewer = ctx.current_user()?;
        ctx.data::<Accounts>()?
            .delete_self(viewer, password, super::auth::client_address(ctx))
            .await?;
        Ok(true)
    }

    /// Asks every subgraph to erase a deleted account again (an eraser was
    /// stuck, or a backup brought data back); how many subgraphs were asked.
    /// Audited as `REPLAY_ERASURE`. `BAD_USER_INPUT` for an account that
    /// exists. Admins only; see `PlatformStats.erasures` for what is owed.
    #[graphql(
        guard = "fittrack_kit::auth::RoleGuard(fittrack_kit::Role::Admin)",
        directive = fittrack_kit::schema::cost::apply(50)
    )]
    async fn replay_erasure(
        &self,
        ctx: &Context<'_>,
        user_id: async_graphql::ID,
    ) -> async_graphql::Result<i32> {
        let target = uuid::Uuid::parse_str(&user_id)
            .map_err(|_| fittrack_kit::ApiError::bad_input("userId", "userId: not a user id"))?;
        let actor = ctx.current_user()?;
        let client_ip = ctx
            .data_opt::<fittrack_kit::server::ClientIp>()
            .and_then(|ip| ip.address());
        let asked = ctx
            .data::<Accounts>()?
            .replay_erasure(actor, target, client_ip)
            .await?;
        Ok(asked as i32)
    }

    /// Sends a message to the FitTrack team (signed in or not). At most 5 per
    /// hour per sender (`RATE_LIMITED`).
    async fn submit_contact_message(
        &self,
        ctx: &Context<'_>,
        input: ContactMessageInput,
    ) -> async_graphql::Result<bool> {
        let sender = ctx.current_user_opt().map(|user| user.id);
        let client_ip = ctx
            .data_opt::<fittrack_kit::server::ClientIp>()
            .map(|ip| ip.key().to_owned());
        ctx.data::<Accounts>()?
            .submit_contact_message(
                ContactMessage {
                    name: input.name,
                    email: input.email,
                    subject: input.subject,
                    message: input.message,
                },
                sender,
                client_ip,
            )
            .await?;
        Ok(true)
    }

    /// Reactivates an account you deactivated, and signs you in (with
    /// `deviceToken` as for `login`).
    #[graphql(
        directive = fittrack_kit::schema::cost::apply(50)
    )]
    async fn reactivate_my_account(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        device_token: Option<String>,
    ) -> async_graphql::Result<AuthPayload> {
        let accounts = ctx.data::<Accounts>()?;
        Ok(accounts
            .reactivate_self(
                &email,
                password,
                super::auth::client_address(ctx),
                device_token.as_deref(),
            )
            .await?
            .into())
    }
}
