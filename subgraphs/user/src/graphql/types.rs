//! GraphQL shapes. Built from domain types; storage rows never reach here.

use async_graphql::{ComplexObject, Context, InputObject, SimpleObject, ID};
use chrono::{DateTime, Utc};
use fittrack_kit::{auth::ContextAuthExt, ApiError, Role};
use uuid::Uuid;

use crate::domain::{
    accounts::Session,
    model::{self, AccountStatus, FitnessGoal, Gender},
};

/// A FitTrack account. Its public profile is `id`, `username`, `firstName`,
/// `lastName` and `createdAt`: what anyone (an anonymous `_entities` lookup
/// included) may see. Every other field (email, role, status, profile
/// details) is visible to the account itself and to admins only (`FORBIDDEN`
/// otherwise).
#[derive(SimpleObject)]
#[graphql(complex, shareable = false)]
pub struct User {
    pub id: ID,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub created_at: DateTime<Utc>,
    #[graphql(skip)]
    pub inner: model::User,
    /// Set when the viewer is known to own this account (a fresh sign-in).
    #[graphql(skip)]
    pub owner_view: bool,
}

impl User {
    pub fn new(inner: model::User, owner_view: bool) -> Self {
        Self {
            id: ID(inner.id.to_string()),
            username: inner.username.clone(),
            first_name: inner.first_name.clone(),
            last_name: inner.last_name.clone(),
            created_at: inner.created_at,
            inner,
            owner_view,
        }
    }

    fn private<T>(&self, ctx: &Context<'_>, value: T) -> async_graphql::Result<T> {
        let allowed = self.owner_view
            || ctx
                .current_user_opt()
                .is_some_and(|viewer| viewer.may_access(self.inner.id));
        if allowed {
            Ok(value)
        } else {
            Err(ApiError::forbidden().into())
        }
    }
}

#[ComplexObject]
impl User {
    async fn email(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        self.private(ctx, self.inner.email.as_str())
    }

    /// Who is an admin is not public: admins are whom attackers aim at.
    async fn role(&self, ctx: &Context<'_>) -> async_graphql::Result<Role> {
        self.private(ctx, self.inner.role)
    }

    async fn account_status(&self, ctx: &Context<'_>) -> async_graphql::Result<AccountStatus> {
        self.private(ctx, self.inner.account_status)
    }

    async fn email_verified(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        self.private(ctx, self.inner.email_verified)
    }

    async fn onboarding_completed(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        self.private(ctx, self.inner.onboarding_completed)
    }

    async fn gender(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Gender>> {
        self.private(ctx, self.inner.gender)
    }

    async fn fitness_goal(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<FitnessGoal>> {
        self.private(ctx, self.inner.fitness_goal)
    }

    async fn last_login_at(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<DateTime<Utc>>> {
        self.private(ctx, self.inner.last_login_at)
    }

    async fn updated_at(&self, ctx: &Context<'_>) -> async_graphql::Result<DateTime<Utc>> {
        self.private(ctx, self.inner.updated_at)
    }
}

/// Tokens for a signed-in session.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Short-lived (15 min) JWT for the `Authorization: Bearer` header.
    pub access_token: String,
    /// Opaque, single-use token for `refreshToken`; valid 7 days.
    pub refresh_token: String,
    pub access_token_expires_at: DateTime<Utc>,
    /// Set by a sign-in (`login`, `register`, `reactivateMyAccount`): keep it
    /// with the client and pass it to the next `login` to this account.
    pub device_token: Option<String>,
    pub user: User,
}

impl From<Session> for AuthPayload {
    fn from(session: Session) -> Self {
        Self {
            access_token: session.access_token,
            refresh_token: session.refresh_token,
            access_token_expires_at: session.access_token_expires_at,
            device_token: session.device_token,
            user: User::new(session.user, true),
        }
    }
}

#[derive(InputObject)]
pub struct RegisterInput {
    pub email: String,
    /// 12 to 128 characters, not a commonly used password (a few unrelated
    /// words make a good one).
    pub password: String,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// Fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateProfileInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub gender: Option<Gender>,
    pub fitness_goal: Option<FitnessGoal>,
}

/// Parses a GraphQL `ID` holding a user id, naming `field` when it is not one.
pub fn parse_user_id(id: &ID, field: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::bad_input(field, format!("{field}: not a valid id")))
}

/// A browser or app that has signed in to your account.
#[derive(SimpleObject)]
pub struct Device {
    pub id: ID,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_sign_in_at: DateTime<Utc>,
}

impl From<crate::domain::devices::Device> for Device {
    fn from(device: crate::domain::devices::Device) -> Self {
        Self {
            id: ID(device.id.to_string()),
            name: device.name,
            created_at: device.created_at,
            last_sign_in_at: device.last_sign_in_at,
        }
    }
}
