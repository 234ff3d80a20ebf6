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
    devices::{device_name, Device, DeviceTokens, KnownClient, MAX_DEVICES_PER_ACCOUNT},
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

/// A device or session an attempt proved to be the account's own.
struct KnownDevice {
    /// What the sign-in limits count it under (`SignInLimits::admit`).
    limiter_key: String,
    /// The device row, for a device token (a session has none).
    device_id: Option<Uuid>,
}

/// What a successful sign-in, sign-up or refresh hands out.
pub struct Session {
    pub access_token: String,
    pub access_token_expires_at: chrono::DateTime<Utc>,
    pub refresh_token: String,
    /// Set by a sign-in: the token of the device it came from, to present
    /// at the next sign-in (`domain::devices`).
    pub device_token: Option<String>,
    pub user: User,
}

/// Where `UserDeleted` goes: one queue per subgraph that holds user data,
/// with the eraser's name (`kit::events::ERASERS`).
pub type ErasureQueues = Vec<(&'static str, Arc<dyn fittrack_kit::queue::JobQueue>)>;

#[derive(Clone)]
pub struct Accounts {
    store: Arc<dyn UserStore>,
    issuer: Arc<TokenIssuer>,
    sign_in_limits: SignInLimits,
    device_tokens: DeviceTokens,
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
            device_tokens: DeviceTokens::new(sign_in_limits.pseudonyms().clone()),
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
        let device = self.remember_device(&user, None, None).await?;
        let mut session = self.start_session(user, Uuid::now_v7()).await?;
        session.device_token = Some(device);
        Ok(session)
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
    /// Signs in from `client_address` (the key of the guessing limits),
    /// presenting `device_token` if this client signed in to the account
    /// before. The session carries the device's token for the next time (a
    /// new device's if the one presented was not good for this account).
    pub async fn login(
        &self,
        email: &str,
        password: String,
        client_address: &str,
        device_token: Option<&str>,
        device_name: Option<&str>,
    ) -> UserResult<Session> {
        let name = self::device_name(device_name)?;
        let known = device_token.map_or(KnownClient::Unknown, KnownClient::DeviceToken);
        let (user, device) = self
            .authenticate(email, password, client_address, known)
            .await?;
        let user = self.usable(user).await?;
        let device_token = self.remember_device(&user, device, Some(name)).await?;
        let mut session = self.signed_in(user).await?;
        session.device_token = Some(device_token);
        Ok(session)
    }

    /// Checks credentials, whatever the account's status. Each call is one
    /// attempt against the sign-in limits, counted before the password is
    /// verified (see `sign_in_limits`): as an attempt from a known device
    /// when `known` proves one of this account's devices or sessions, else
    /// from an unknown one. Unknown email and wrong password cost the same
    /// and look the same. On success, the known device it came from.
    async fn authenticate(
        &self,
        email: &str,
        password: String,
        client_address: &str,
        known: KnownClient<'_>,
    ) -> UserResult<(User, Option<Uuid>)> {
        let Ok(email) = normalize_email(email) else {
            // Counted too (under one shared key): it costs a verification,
            // and aliases of malformed emails must not spray for free.
            self.sign_in_limits
                .admit(MALFORMED_EMAIL_KEY, client_address, None)
                .await?;
            password::verify_dummy(password).await?;
            return Err(UserError::InvalidCredentials);
        };
        let (known, found) = self.known_device(&email, known).await?;
        let device_key = known.as_ref().map(|known| known.limiter_key.as_str());
        self.sign_in_limits
            .admit(&email, client_address, device_key)
            .await?;
        let found = match found {
            Some(found) => Some(found),
            None => self.store.find_by_email(&email).await?,
        };
        let Some((user, stored_hash)) = found else {
            password::verify_dummy(password).await?;
            return Err(UserError::InvalidCredentials);
        };
        if !password::verify(password, stored_hash).await? {
            tracing::info!(user_id = %user.id, "failed sign-in");
            return Err(UserError::InvalidCredentials);
        }
        self.sign_in_limits
            .succeeded(&email, client_address, device_key)
            .await?;
        Ok((user, known.and_then(|known| known.device_id)))
    }

    /// Whether `known` proves a device or session of `email`'s account;
    /// with the account when it had to be looked up (no second look-up). A
    /// forged token costs no look-up.
    async fn known_device(
        &self,
        email: &str,
        known: KnownClient<'_>,
    ) -> UserResult<(Option<KnownDevice>, Option<(User, String)>)> {
        let device = match known {
            KnownClient::Unknown => return Ok((None, None)),
            KnownClient::Session(session_id) => {
                let session = KnownDevice {
                    limiter_key: format!("session:{session_id}"),
                    device_id: None,
                };
                return Ok((Some(session), None));
            }
            KnownClient::DeviceToken(token) => match self.device_tokens.verify(token) {
                Some(id) => self.store.find_device(id).await?,
                None => None,
            },
        };
        let Some(device) = device else {
            return Ok((None, None));
        };
        let found = self.store.find_by_email(email).await?;
        let theirs = found
            .as_ref()
            .is_some_and(|(user, _)| user.id == device.user_id);
        let known = theirs.then(|| KnownDevice {
            limiter_key: format!("device:{}", device.id),
            device_id: Some(device.id),
        });
        Ok((known, found))
    }

    /// The token of the device a sign-in came from: the known device's
    /// (marked used now), or a new device's, remembered under `name`.
    pub(super) async fn remember_device(
        &self,
        user: &User,
        known: Option<Uuid>,
        name: Option<String>,
    ) -> UserResult<String> {
        let now = Utc::now();
        if let Some(id) = known {
            self.store.touch_device(id, now).await?;
            return Ok(self.device_tokens.issue(id));
        }
        let device = Device {
            id: Uuid::now_v7(),
            user_id: user.id,
            name: name.unwrap_or_else(|| super::devices::UNNAMED_DEVICE.to_owned()),
            created_at: now,
            last_sign_in_at: now,
        };
        let id = device.id;
        self.store
            .insert_device(device, MAX_DEVICES_PER_ACCOUNT)
            .await?;
        Ok(self.device_tokens.issue(id))
    }

    /// The caller's devices, most recently used first.
    pub async fn devices(&self, user_id: Uuid) -> UserResult<Vec<Device>> {
        Ok(self.store.devices_of(user_id).await?)
    }

    /// Forgets one of the caller's devices: its token counts as unknown from
    /// now on. `NOT_FOUND` if it is not theirs.
    pub async fn revoke_device(&self, user_id: Uuid, device_id: Uuid) -> UserResult<()> {
        if !self.store.delete_device(user_id, device_id).await? {
            return Err(UserError::DeviceNotFound);
        }
        tracing::info!(user_id = %user_id, device_id = %device_id, "device revoked");
        Ok(())
    }

    pub(super) async fn signed_in(&self, user: User) -> UserResult<Session> {
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
                self.authenticate(&normalized, password, "cli", KnownClient::Unknown)
                    .await?
                    .0,
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
