//! Sign-up, sign-in, token rotation and profile changes.

use std::sync::Arc;

use chrono::{Duration, Utc};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::{
    error::{UserError, UserResult},
    model::{AccountStatus, FitnessGoal, Gender, User},
    password,
    sign_in_limits::SignInLimits,
    tokens::{hash_refresh, TokenIssuer},
    validation::{normalize_email, normalize_name, normalize_username, validate_password},
};
use crate::storage::{NewRefreshToken, NewUser, ProfileChanges, UserStore};

pub struct Registration {
    pub email: String,
    pub password: String,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// The sign-in limits' account key for an email that is not one.
const MALFORMED_EMAIL_KEY: &str = "(malformed)";

/// Contact messages one sender may send per hour.
pub const CONTACT_MESSAGES_PER_HOUR: u64 = 5;

pub struct ContactMessage {
    pub name: String,
    pub email: String,
    pub subject: String,
    pub message: String,
}

#[derive(Default)]
pub struct ProfileUpdate {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub gender: Option<Gender>,
    pub fitness_goal: Option<FitnessGoal>,
}

/// What a successful sign-in, sign-up or refresh hands out.
pub struct Session {
    pub access_token: String,
    pub access_token_expires_at: chrono::DateTime<Utc>,
    pub refresh_token: String,
    pub user: User,
}

/// Where `UserDeleted` goes: one queue per subgraph that holds user data.
pub type ErasureQueues = Vec<Arc<dyn fittrack_kit::queue::JobQueue>>;

#[derive(Clone)]
pub struct Accounts {
    store: UserStore,
    issuer: Arc<TokenIssuer>,
    sign_in_limits: SignInLimits,
    erasure: ErasureQueues,
    revocations: Option<Arc<dyn fittrack_kit::revocation::Revocations>>,
}

impl Accounts {
    pub fn new(
        db: DatabaseConnection,
        issuer: Arc<TokenIssuer>,
        sign_in_limits: SignInLimits,
    ) -> Self {
        Self {
            store: UserStore::new(db),
            issuer,
            sign_in_limits,
            erasure: Vec::new(),
            revocations: None,
        }
    }

    /// Where access tokens of accounts that stop being usable are revoked.
    pub fn with_revocations(
        mut self,
        revocations: Arc<dyn fittrack_kit::revocation::Revocations>,
    ) -> Self {
        self.revocations = Some(revocations);
        self
    }

    /// Announces account deletions on these queues.
    pub fn with_erasure_queues(mut self, queues: ErasureQueues) -> Self {
        self.erasure = queues;
        self
    }

    pub fn store(&self) -> &UserStore {
        &self.store
    }

    pub async fn register(&self, input: Registration, client_address: &str) -> UserResult<Session> {
        let email = normalize_email(&input.email)?;
        validate_password(&input.password, "password")?;
        let username = input
            .username
            .as_deref()
            .map(normalize_username)
            .transpose()?;
        let first_name = input
            .first_name
            .as_deref()
            .map(|n| normalize_name(n, "firstName"))
            .transpose()?;
        let last_name = input
            .last_name
            .as_deref()
            .map(|n| normalize_name(n, "lastName"))
            .transpose()?;

        self.sign_in_limits.admit_sign_up(client_address).await?;
        if self.store.email_taken(&email).await? {
            return Err(UserError::EmailTaken);
        }
        if let Some(username) = &username {
            if self.store.username_taken(username, None).await? {
                return Err(UserError::UsernameTaken);
            }
        }
        let password_hash = password::hash(input.password).await?;
        let user = self
            .store
            .insert(NewUser {
                email: email.clone(),
                username,
                first_name,
                last_name,
                password_hash,
            })
            .await
            .map_err(classify_conflict)?;
        tracing::info!(user_id = %user.id, "account registered");
        self.start_session(user, Uuid::now_v7()).await
    }
}

/// A unique violation that slipped past the pre-checks (a concurrent sign-up).
fn classify_conflict(error: anyhow::Error) -> UserError {
    {
        match error.downcast_ref::<crate::storage::UniqueViolation>() {
            Some(violation) if violation.0.contains("email") => UserError::EmailTaken,
            Some(_) => UserError::UsernameTaken,
            None => UserError::Internal(error),
        }
    }
}

impl Accounts {
    /// Signs in from `client_address` (the key of the guessing limits).
    pub async fn login(
        &self,
        email: &str,
        password: String,
        client_address: &str,
    ) -> UserResult<Session> {
        let user = self.authenticate(email, password, client_address).await?;
        let user = self.usable(user).await?;
        self.signed_in(user).await
    }

    /// Checks credentials, whatever the account's status. Each call is one
    /// attempt against the sign-in limits, counted before the password is
    /// verified (see `sign_in_limits`). Unknown email and wrong password cost
    /// the same and look the same.
    async fn authenticate(
        &self,
        email: &str,
        password: String,
        client_address: &str,
    ) -> UserResult<User> {
        let Ok(email) = normalize_email(email) else {
            // Counted too (under one shared key): it costs a verification,
            // and aliases of malformed emails must not spray for free.
            self.sign_in_limits
                .admit(MALFORMED_EMAIL_KEY, client_address)
                .await?;
            password::verify_dummy(password).await?;
            return Err(UserError::InvalidCredentials);
        };
        self.sign_in_limits.admit(&email, client_address).await?;
        let Some((user, stored_hash)) = self.store.find_by_email(&email).await? else {
            password::verify_dummy(password).await?;
            return Err(UserError::InvalidCredentials);
        };
        if !password::verify(password, stored_hash).await? {
            tracing::info!(user_id = %user.id, "failed sign-in");
            return Err(UserError::InvalidCredentials);
        }
        self.sign_in_limits
            .succeeded(&email, client_address)
            .await?;
        Ok(user)
    }

    async fn signed_in(&self, user: User) -> UserResult<Session> {
        self.store
            .record_successful_login(user.id, Utc::now())
            .await?;
        tracing::info!(user_id = %user.id, "signed in");
        self.start_session(user, Uuid::now_v7()).await
    }

    /// Records the onboarding answers; onboarding is then complete.
    pub async fn complete_onboarding(
        &self,
        id: Uuid,
        fitness_goal: FitnessGoal,
        gender: Option<Gender>,
    ) -> UserResult<User> {
        self.store
            .complete_onboarding(id, fitness_goal, gender)
            .await?;
        self.user(id).await
    }

    /// Soft delete by the owner: sign-in is refused (`ACCOUNT_DEACTIVATED`)
    /// until `reactivate_self`, and every session ends now.
    pub async fn deactivate_self(&self, id: Uuid, reason: Option<String>) -> UserResult<User> {
        let reason = status_reason(reason)?;
        let user = self.user(id).await?;
        ensure_active(&user)?;
        let now = Utc::now();
        self.store
            .set_status(id, AccountStatus::Deactivated, reason, now)
            .await?;
        let revoked = self.store.revoke_all_refresh_tokens(id, now).await?;
        self.revoke_access_tokens(id).await?;
        tracing::info!(user_id = %id, revoked, "account deactivated by its owner");
        self.user(id).await
    }

    /// Undoes a self-deactivation with the account's credentials; banned or
    /// suspended accounts stay refused.
    pub async fn reactivate_self(
        &self,
        email: &str,
        password: String,
        client_address: &str,
    ) -> UserResult<Session> {
        let mut user = self.authenticate(email, password, client_address).await?;
        if user.account_status == AccountStatus::Deactivated {
            self.store
                .set_status(user.id, AccountStatus::Active, None, Utc::now())
                .await?;
            tracing::info!(user_id = %user.id, "account reactivated by its owner");
            user = self.user(user.id).await?;
        }
        ensure_active(&user)?;
        self.signed_in(user).await
    }

    /// Hard delete by the owner, password required. `UserDeleted` is enqueued
    /// for every subgraph holding user data *before* the row goes: if the
    /// announcement fails nothing is deleted and the caller can retry; once it
    /// is queued, erasure happens even if this process dies.
    pub async fn delete_self(
        &self,
        id: Uuid,
        password: String,
        client_address: &str,
    ) -> UserResult<()> {
        let user = self.user(id).await?;
        self.authenticate(&user.email, password, client_address)
            .await?;
        let event =
            serde_json::to_string(&fittrack_kit::events::UserEvent::UserDeleted { user_id: id })
                .map_err(anyhow::Error::from)?;
        for queue in &self.erasure {
            queue.enqueue(&event).await?;
        }
        self.store.delete_user(id).await?;
        self.revoke_access_tokens(id).await?;
        tracing::info!(user_id = %id, queues = self.erasure.len(), "account deleted; erasure requested");
        Ok(())
    }

    /// The account if it may be used now; a suspension whose time is over ends
    /// here, on the account's next sign-in or refresh.
    async fn usable(&self, user: User) -> UserResult<User> {
        let now = Utc::now();
        if user.account_status == AccountStatus::Suspended
            && user.suspended_until.is_some_and(|until| until <= now)
        {
            self.store
                .set_status(user.id, AccountStatus::Active, None, now)
                .await?;
            tracing::info!(user_id = %user.id, "suspension over");
            return self.user(user.id).await;
        }
        ensure_active(&user)?;
        Ok(user)
    }

    /// An administrator's status change (applied for the admin subgraph over
    /// the internal API). Leaving ACTIVE ends every session and revokes access
    /// tokens at once.
    pub async fn set_status_by_admin(
        &self,
        id: Uuid,
        status: AccountStatus,
        until: Option<chrono::DateTime<Utc>>,
        reason: Option<String>,
    ) -> UserResult<User> {
        let now = Utc::now();
        match (status, until) {
            (AccountStatus::Suspended, Some(until)) if until > now => {}
            (AccountStatus::Suspended, _) => {
                return Err(UserError::invalid("until", "must be in the future"))
            }
            (_, Some(_)) => return Err(UserError::invalid("until", "only applies to suspensions")),
            _ => {}
        }
        let reason = status_reason(reason)?;
        self.user(id).await?;
        self.store
            .set_status_until(id, status, until, reason, now)
            .await?;
        if status != AccountStatus::Active {
            self.store.revoke_all_refresh_tokens(id, now).await?;
            self.revoke_access_tokens(id).await?;
        }
        tracing::info!(user_id = %id, status = status.as_str(), "account status changed by an admin");
        self.user(id).await
    }

    pub async fn set_role_by_admin(&self, id: Uuid, role: fittrack_kit::Role) -> UserResult<User> {
        self.user(id).await?;
        self.store.set_role(id, role).await?;
        // Tokens carry roles: make the user sign in again to get the new ones.
        self.store.revoke_all_refresh_tokens(id, Utc::now()).await?;
        self.revoke_access_tokens(id).await?;
        self.user(id).await
    }

    /// Access tokens already handed out stop working at every subgraph.
    async fn revoke_access_tokens(&self, id: Uuid) -> UserResult<()> {
        if let Some(revocations) = &self.revocations {
            revocations.revoke(id, Utc::now()).await?;
        }
        Ok(())
    }

    /// Stores a message for the team: 5 per hour per signed-in user, or per
    /// client address for anonymous senders.
    pub async fn submit_contact_message(
        &self,
        message: ContactMessage,
        sender: Option<Uuid>,
        client_ip: Option<String>,
    ) -> UserResult<()> {
        let text = |raw: &str, field: &'static str, max: usize| -> UserResult<String> {
            let value = raw.trim();
            if value.is_empty() || value.chars().count() > max {
                return Err(UserError::invalid(
                    field,
                    format!("must be 1 to {max} characters"),
                ));
            }
            Ok(value.to_owned())
        };
        let now = Utc::now();
        let row = crate::storage::entities::contact_messages::Model {
            id: Uuid::now_v7(),
            user_id: sender,
            name: text(&message.name, "name", 100)?,
            email: normalize_email(&message.email)?,
            subject: text(&message.subject, "subject", 200)?,
            message: text(&message.message, "message", 5_000)?,
            sender_key: match (sender, client_ip) {
                (Some(user), _) => format!("user:{user}"),
                (None, Some(ip)) => format!("ip:{ip}"),
                (None, None) => "ip:unknown".to_owned(),
            },
            created_at: now,
        };
        let stored = self
            .store
            .insert_contact_message(row, now - Duration::hours(1), CONTACT_MESSAGES_PER_HOUR)
            .await?;
        if !stored {
            return Err(UserError::RateLimited);
        }
        Ok(())
    }

    /// Bootstrap (`fittrack admin create`): a new account with the ADMIN role,
    /// or an existing one promoted (its password must match).
    pub async fn create_or_promote_admin(&self, email: &str, password: String) -> UserResult<User> {
        let normalized = normalize_email(email)?;
        let user = match self.store.find_by_email(&normalized).await? {
            // The operator at the console: limited like any other address.
            Some(_) => self.authenticate(&normalized, password, "cli").await?,
            None => {
                self.register(
                    Registration {
                        email: normalized,
                        password,
                        username: None,
                        first_name: None,
                        last_name: None,
                    },
                    "cli",
                )
                .await?
                .user
            }
        };
        self.store
            .set_role(user.id, fittrack_kit::Role::Admin)
            .await?;
        tracing::info!(user_id = %user.id, "granted the ADMIN role");
        self.user(user.id).await
    }

    /// Rotates a refresh token. Presenting one that was already used (or revoked)
    /// revokes its whole family: a stolen token dies with the legitimate one.
    pub async fn refresh(&self, token: &str) -> UserResult<Session> {
        let now = Utc::now();
        let record = self
            .store
            .find_refresh_token(&hash_refresh(token))
            .await?
            .ok_or(UserError::InvalidRefreshToken)?;
        if record.used_at.is_some() || record.revoked_at.is_some() {
            return self.reject_reuse(record.family_id, record.user_id).await;
        }
        if record.expires_at <= now {
            return Err(UserError::InvalidRefreshToken);
        }
        if !self.store.claim_refresh_token(record.id, now).await? {
            // Someone rotated it between our read and our write.
            return self.reject_reuse(record.family_id, record.user_id).await;
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
        self.start_session(user, record.family_id).await
    }

    async fn reject_reuse(&self, family_id: Uuid, user_id: Uuid) -> UserResult<Session> {
        let revoked = self.store.revoke_family(family_id, Utc::now()).await?;
        tracing::warn!(%user_id, %family_id, revoked, "refresh token reuse detected; family revoked");
        Err(UserError::InvalidRefreshToken)
    }

    /// Ends the session the refresh token belongs to. Unknown tokens are not an
    /// error: logging out twice is fine.
    pub async fn logout(&self, token: &str) -> UserResult<()> {
        if let Some(record) = self.store.find_refresh_token(&hash_refresh(token)).await? {
            self.store
                .revoke_family(record.family_id, Utc::now())
                .await?;
        }
        Ok(())
    }

    pub async fn user(&self, id: Uuid) -> UserResult<User> {
        self.store.find_by_id(id).await?.ok_or(UserError::NotFound)
    }

    pub async fn update_profile(&self, id: Uuid, update: ProfileUpdate) -> UserResult<User> {
        let changes = ProfileChanges {
            first_name: update
                .first_name
                .as_deref()
                .map(|n| normalize_name(n, "firstName"))
                .transpose()?,
            last_name: update
                .last_name
                .as_deref()
                .map(|n| normalize_name(n, "lastName"))
                .transpose()?,
            username: update
                .username
                .as_deref()
                .map(normalize_username)
                .transpose()?,
            gender: update.gender,
            fitness_goal: update.fitness_goal,
        };
        if let Some(username) = &changes.username {
            if self.store.username_taken(username, Some(id)).await? {
                return Err(UserError::UsernameTaken);
            }
        }
        self.store
            .update_profile(id, changes)
            .await
            .map_err(
                |error| match error.downcast_ref::<crate::storage::UniqueViolation>() {
                    Some(_) => UserError::UsernameTaken,
                    None => UserError::Internal(error),
                },
            )?;
        self.user(id).await
    }

    async fn start_session(&self, user: User, family_id: Uuid) -> UserResult<Session> {
        let now = Utc::now();
        let access = self.issuer.issue_access(&user, now)?;
        let refresh = self.issuer.new_refresh(now);
        self.store
            .insert_refresh_token(NewRefreshToken {
                user_id: user.id,
                family_id,
                token_hash: refresh.hash,
                expires_at: refresh.expires_at,
            })
            .await?;
        Ok(Session {
            access_token: access.token,
            access_token_expires_at: access.expires_at,
            refresh_token: refresh.token,
            user,
        })
    }
}

/// A status change's reason: trimmed, blank means none, at most 500 characters.
fn status_reason(reason: Option<String>) -> UserResult<Option<String>> {
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(UserError::invalid(
            "reason",
            "must be at most 500 characters",
        ));
    }
    Ok(reason)
}

fn ensure_active(user: &User) -> UserResult<()> {
    match user.account_status {
        AccountStatus::Active => Ok(()),
        other => Err(UserError::AccountUnavailable(other)),
    }
}
