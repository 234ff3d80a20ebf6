//! Sign-up, sign-in, token rotation and profile changes.

use std::sync::Arc;

use chrono::{Duration, Utc};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::{
    error::{UserError, UserResult},
    model::{AccountStatus, AuditRecord, FitnessGoal, Gender, User},
    password,
    password_policy::check_new_password,
    password_reset::{reset_link, reset_mail, Mailer, ResetToken, RESET_LINK_TTL},
    sign_in_limits::SignInLimits,
    tokens::{hash_token, TokenIssuer},
    validation::{normalize_email, normalize_name, normalize_username},
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
    erasure_marks: Option<Arc<dyn fittrack_kit::erasure::ErasedUsers>>,
    mail: Option<ResetMail>,
}

/// How reset links go out.
#[derive(Clone)]
struct ResetMail {
    mailer: Arc<dyn Mailer>,
    web_app_url: String,
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
            erasure_marks: None,
            mail: None,
        }
    }

    /// Marks deleted users here first (kit::erasure), so work in flight for
    /// them elsewhere undoes itself.
    pub fn with_erasure_marks(
        mut self,
        marks: Arc<dyn fittrack_kit::erasure::ErasedUsers>,
    ) -> Self {
        self.erasure_marks = Some(marks);
        self
    }

    /// Sends password-reset links through `mailer`, pointing at `web_app_url`.
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>, web_app_url: String) -> Self {
        self.mail = Some(ResetMail {
            mailer,
            web_app_url,
        });
        self
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
        check_new_password(&input.password, &email, "password")?;
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
        self.revoke_user_tokens(id).await?;
        let now = Utc::now();
        self.store
            .set_status(id, AccountStatus::Deactivated, reason, now)
            .await?;
        let revoked = self.store.revoke_all_refresh_tokens(id, now).await?;
        self.revoke_user_tokens_again(id).await;
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
        // Revoke first: no token of the account works while it is erased;
        // then mark it erased, so a request or job in flight undoes itself.
        self.revoke_user_tokens(id).await?;
        if let Some(marks) = &self.erasure_marks {
            marks
                .mark(id)
                .await
                .map_err(UserError::RevocationUnavailable)?;
        }
        let event =
            serde_json::to_string(&fittrack_kit::events::UserEvent::UserDeleted { user_id: id })
                .map_err(anyhow::Error::from)?;
        for queue in &self.erasure {
            queue.enqueue(&event).await?;
        }
        self.store.delete_user(id, &user.email).await?;
        self.revoke_user_tokens_again(id).await;
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
    /// the internal API), with its audit entry written in the same
    /// transaction. Leaving ACTIVE revokes access tokens first (nothing
    /// changes if that fails) and ends every session.
    pub async fn set_status_by_admin(
        &self,
        id: Uuid,
        status: AccountStatus,
        until: Option<chrono::DateTime<Utc>>,
        reason: Option<String>,
        audit: Option<AuditRecord>,
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
        let leaving_active = status != AccountStatus::Active;
        if leaving_active {
            self.revoke_user_tokens(id).await?;
        }
        self.store
            .moderate_status(id, status, until, reason, now, audit)
            .await?;
        if leaving_active {
            self.revoke_user_tokens_again(id).await;
        }
        tracing::info!(user_id = %id, status = status.as_str(), "account status changed by an admin");
        self.user(id).await
    }

    /// An administrator's role change, audited in the same transaction.
    pub async fn set_role_by_admin(
        &self,
        id: Uuid,
        role: fittrack_kit::Role,
        audit: AuditRecord,
    ) -> UserResult<User> {
        self.user(id).await?;
        // Tokens carry roles: make the user sign in again to get the new ones.
        self.revoke_user_tokens(id).await?;
        self.store.change_role(id, role, Utc::now(), audit).await?;
        self.revoke_user_tokens_again(id).await;
        self.user(id).await
    }

    /// Audit entries the admin subgraph has not confirmed yet.
    pub async fn pending_audit(&self, limit: u64) -> UserResult<Vec<AuditRecord>> {
        Ok(self.store.pending_audit(limit).await?)
    }

    pub async fn audit_delivered(&self, ids: &[Uuid]) -> UserResult<()> {
        Ok(self.store.mark_audit_delivered(ids, Utc::now()).await?)
    }

    /// Every access token of the user handed out until now stops working at
    /// every subgraph. Called *before* a security change, so that when
    /// revocations cannot be written the change is not made (fail closed).
    async fn revoke_user_tokens(&self, id: Uuid) -> UserResult<()> {
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
    async fn revoke_user_tokens_again(&self, id: Uuid) {
        if let Err(error) = self.revoke_user_tokens(id).await {
            tracing::error!(user_id = %id, error = ?fittrack_kit::ApiError::from(error), "second revocation failed");
        }
    }

    /// Every access token of the session stops working at every subgraph.
    async fn revoke_session_tokens(&self, session_id: Uuid) -> UserResult<()> {
        if let Some(revocations) = &self.revocations {
            revocations
                .revoke_session(session_id)
                .await
                .map_err(UserError::RevocationUnavailable)?;
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
    /// or an existing one promoted (its password must match). Audited like
    /// any role change, with no acting admin (the operator at the console).
    pub async fn create_or_promote_admin(&self, email: &str, password: String) -> UserResult<User> {
        let normalized = normalize_email(email)?;
        let (user, created) = match self.store.find_by_email(&normalized).await? {
            // The operator at the console: limited like any other address.
            Some(_) => (
                self.authenticate(&normalized, password, "cli").await?,
                false,
            ),
            None => {
                let session = self
                    .register(
                        Registration {
                            email: normalized,
                            password,
                            username: None,
                            first_name: None,
                            last_name: None,
                        },
                        "cli",
                    )
                    .await?;
                (session.user, true)
            }
        };
        let now = Utc::now();
        let audit = AuditRecord {
            id: Uuid::now_v7(),
            actor_id: None,
            action: "CHANGE_USER_ROLE".into(),
            target_user_id: Some(user.id),
            details: serde_json::json!({
                "role": "ADMIN",
                "previousRole": if created { serde_json::Value::Null } else { serde_json::json!(user.role) },
                "accountCreated": created,
                "via": "fittrack admin create",
            }),
            client_ip: None,
            created_at: now,
        };
        self.store
            .change_role(user.id, fittrack_kit::Role::Admin, now, audit)
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
            .find_refresh_token(&hash_token(token))
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
            .authenticate(&user.email, current_password, client_address)
            .await
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
            if let Err(error) = send_reset_link(&store, &mail, &email).await {
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
        let access = self.issuer.issue_access(&user, family_id, now)?;
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

/// Stores a reset link for the account of `email`, if any, and mails it.
async fn send_reset_link(store: &UserStore, mail: &ResetMail, email: &str) -> anyhow::Result<()> {
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
