//! Accounts: sign-up and sign-in here; the rest by concern in the
//! submodules, each an `impl Accounts` block: [`sessions`] (token pairs,
//! refresh rotation and reuse, logout, revocation), [`passwords`] (change and
//! reset), [`lifecycle`] (deactivation, deletion, moderation), [`profile`],
//! [`contact`].

mod contact;
mod lifecycle;
mod passwords;
mod profile;
mod sessions;

pub use contact::{ContactMessage, CONTACT_MESSAGES_PER_HOUR};
use passwords::ResetMail;
pub use profile::ProfileUpdate;

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::{
    error::{UserError, UserResult},
    model::{AuditRecord, User},
    password,
    password_policy::check_new_password,
    password_reset::Mailer,
    ports::{NewUser, UniqueViolation, UserStore},
    sign_in_limits::SignInLimits,
    tokens::TokenIssuer,
    validation::{normalize_email, normalize_name, normalize_username},
};

pub struct Registration {
    pub email: String,
    pub password: String,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// The sign-in limits' account key for an email that is not one.
const MALFORMED_EMAIL_KEY: &str = "(malformed)";

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
    store: Arc<dyn UserStore>,
    issuer: Arc<TokenIssuer>,
    sign_in_limits: SignInLimits,
    erasure: ErasureQueues,
    revocations: Option<Arc<dyn fittrack_kit::revocation::Revocations>>,
    erasure_marks: Option<Arc<dyn fittrack_kit::erasure::ErasedUsers>>,
    mail: Option<ResetMail>,
}

impl Accounts {
    pub fn new(
        store: Arc<dyn UserStore>,
        issuer: Arc<TokenIssuer>,
        sign_in_limits: SignInLimits,
    ) -> Self {
        Self {
            store,
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

    pub fn store(&self) -> &Arc<dyn UserStore> {
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
        match error.downcast_ref::<UniqueViolation>() {
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

    pub async fn user(&self, id: Uuid) -> UserResult<User> {
        self.store.find_by_id(id).await?.ok_or(UserError::NotFound)
    }
}
