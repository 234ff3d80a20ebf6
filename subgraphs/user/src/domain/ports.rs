//! What the user domain needs from storage, as traits it owns: one per
//! concern (accounts, sessions, lifecycle, contact). `storage::SqlUserStore`
//! implements them on SQLite or PostgreSQL; rows never leave `storage`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fittrack_kit::Role;
use uuid::Uuid;

use super::{
    devices::Device,
    model::{AccountStatus, AuditRecord, FitnessGoal, Gender, User},
};

/// What registration stores.
pub struct NewUser {
    pub email: String,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub password_hash: String,
}

/// Profile fields to change; `None` leaves a field as it is.
#[derive(Default)]
pub struct ProfileChanges {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub gender: Option<Gender>,
    pub fitness_goal: Option<FitnessGoal>,
}

pub struct NewRefreshToken {
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct RefreshTokenRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A stored password-reset link (its token only as a hash).
#[derive(Debug, Clone)]
pub struct PasswordResetRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// A unique constraint refused a write.
#[derive(Debug, thiserror::Error)]
#[error("unique constraint violated: {0}")]
pub struct UniqueViolation(pub String);

/// A message to the team, as the domain accepted it.
pub struct NewContactMessage {
    pub user_id: Option<Uuid>,
    pub name: String,
    pub email: String,
    pub subject: String,
    pub message: String,
    /// Who is counted for the hourly limit: `user:<id>` or `ip:<address>`.
    pub sender_key: String,
    pub created_at: DateTime<Utc>,
}

/// Accounts: registration, look-ups, profile, onboarding, sign-in bookkeeping, counts.
#[async_trait]
pub trait AccountRecords: Send + Sync + 'static {
    async fn find_by_email(&self, email: &str) -> anyhow::Result<Option<(User, String)>>;
    async fn find_by_id(&self, id: Uuid) -> anyhow::Result<Option<User>>;
    /// One query for any number of ids (the federation entity loader).
    async fn find_by_ids(&self, ids: &[Uuid]) -> anyhow::Result<Vec<User>>;
    async fn email_taken(&self, email: &str) -> anyhow::Result<bool>;
    async fn username_taken(&self, username: &str, except: Option<Uuid>) -> anyhow::Result<bool>;
    /// Inserts an account; a concurrent duplicate surfaces as [`UniqueViolation`].
    async fn insert(&self, new: NewUser) -> anyhow::Result<User>;
    async fn update_profile(&self, id: Uuid, changes: ProfileChanges) -> anyhow::Result<()>;
    /// Records the onboarding answers and marks onboarding complete.
    async fn complete_onboarding(
        &self,
        id: Uuid,
        fitness_goal: FitnessGoal,
        gender: Option<Gender>,
    ) -> anyhow::Result<()>;
    async fn record_successful_login(&self, id: Uuid, now: DateTime<Utc>) -> anyhow::Result<()>;
    /// Accounts per (status, role).
    async fn count_by_status_and_role(&self) -> anyhow::Result<Vec<(String, String, i64)>>;
    /// How many accounts were created since `since`.
    async fn count_created_since(&self, since: DateTime<Utc>) -> anyhow::Result<i64>;
    /// When each account created since `since` was created.
    async fn created_since(&self, since: DateTime<Utc>) -> anyhow::Result<Vec<DateTime<Utc>>>;
}

/// Sessions: refresh-token families, password changes and reset links.
#[async_trait]
pub trait SessionRecords: Send + Sync + 'static {
    async fn insert_refresh_token(&self, new: NewRefreshToken) -> anyhow::Result<()>;
    async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> anyhow::Result<Option<RefreshTokenRecord>>;
    /// Rotation, in one transaction serialised with every revocation of the
    /// user's tokens: marks `used` used if it is still neither used nor
    /// revoked, and stores `next`. `false`, with nothing stored, when another
    /// rotation won or the token's family or user was revoked first; a
    /// revocation that comes after sees `next` and revokes it too.
    async fn rotate_refresh_token(
        &self,
        used: Uuid,
        next: NewRefreshToken,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool>;
    /// Ends one session (serialised with rotations, as above).
    async fn revoke_family(&self, family_id: Uuid, now: DateTime<Utc>) -> anyhow::Result<u64>;
    /// Ends every session of a user (serialised with rotations, as above).
    async fn revoke_all_refresh_tokens(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> anyhow::Result<u64>;
    /// Replaces the password and ends every refresh token of the user, in one
    /// transaction (the caller then starts a new session if it keeps one).
    async fn change_password(
        &self,
        user_id: Uuid,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()>;
    async fn insert_password_reset(
        &self,
        user_id: Uuid,
        token_hash: String,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()>;
    async fn find_password_reset(
        &self,
        token_hash: &str,
    ) -> anyhow::Result<Option<PasswordResetRecord>>;
    /// Uses the reset `reset_id` if it is still unused and unexpired: sets the
    /// password, uses up every other reset link of the user and ends every
    /// refresh token, all in one transaction. Whether it was used here (of two
    /// concurrent uses exactly one wins).
    async fn complete_password_reset(
        &self,
        reset_id: Uuid,
        user_id: Uuid,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool>;
    /// Reset links requested for the user since `since` (a mailbox is not
    /// flooded by repeated requests).
    async fn count_password_resets_since(
        &self,
        user_id: Uuid,
        since: DateTime<Utc>,
    ) -> anyhow::Result<u64>;
}

/// Lifecycle: status, moderation and role changes with their audit outbox, deletion.
#[async_trait]
pub trait LifecycleRecords: Send + Sync + 'static {
    /// Moves an account to `status`, keeping why (cleared when it becomes ACTIVE).
    async fn set_status(
        &self,
        id: Uuid,
        status: AccountStatus,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()>;
    /// As [`Self::set_status`]; `until` ends a suspension on its own.
    async fn set_status_until(
        &self,
        id: Uuid,
        status: AccountStatus,
        until: Option<DateTime<Utc>>,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()>;
    /// A moderation change in one transaction: the status, the end of every
    /// refresh token when the account leaves ACTIVE, and the audit entry.
    async fn moderate_status(
        &self,
        id: Uuid,
        status: AccountStatus,
        until: Option<DateTime<Utc>>,
        reason: Option<String>,
        now: DateTime<Utc>,
        audit: Option<AuditRecord>,
    ) -> anyhow::Result<()>;
    /// A role change in one transaction: the role, the end of every refresh
    /// token (tokens carry roles), and the audit entry.
    async fn change_role(
        &self,
        id: Uuid,
        role: Role,
        now: DateTime<Utc>,
        audit: AuditRecord,
    ) -> anyhow::Result<()>;
    /// An audit entry for an admin action that changes no row here (an
    /// erasure replayed).
    async fn record_audit(&self, audit: AuditRecord) -> anyhow::Result<()>;
    /// Audit entries not yet delivered to the admin subgraph, oldest first.
    async fn pending_audit(&self, limit: u64) -> anyhow::Result<Vec<AuditRecord>>;
    /// The admin subgraph has these entries in its log.
    async fn mark_audit_delivered(&self, ids: &[Uuid], now: DateTime<Utc>) -> anyhow::Result<()>;
    /// Removes the account and its sessions for good.
    async fn delete_user(&self, id: Uuid, email: &str) -> anyhow::Result<()>;
}

/// Messages to the team.
#[async_trait]
pub trait ContactRecords: Send + Sync + 'static {
    /// Stores a contact message unless `sender_key` already sent `limit` since
    /// `since`; whether it was stored.
    async fn insert_contact_message(
        &self,
        message: NewContactMessage,
        since: DateTime<Utc>,
        limit: u64,
    ) -> anyhow::Result<bool>;
}

/// Devices that signed in to an account (`domain::devices`).
#[async_trait]
pub trait DeviceRecords: Send + Sync + 'static {
    async fn find_device(&self, id: Uuid) -> anyhow::Result<Option<Device>>;
    /// Stores a new device, then forgets the user's least recently used
    /// devices beyond `keep`.
    async fn insert_device(&self, device: Device, keep: u64) -> anyhow::Result<()>;
    async fn touch_device(&self, id: Uuid, now: DateTime<Utc>) -> anyhow::Result<()>;
    /// The user's devices, most recently used first.
    async fn devices_of(&self, user_id: Uuid) -> anyhow::Result<Vec<Device>>;
    /// Forgets one of the user's devices; whether it was theirs.
    async fn delete_device(&self, user_id: Uuid, id: Uuid) -> anyhow::Result<bool>;
}

/// The admin subgraph's append-only audit log, where the outbox is
/// delivered (`audit_delivery::AdminAuditLog`).
#[async_trait]
pub trait AuditLogSink: Send + Sync + 'static {
    /// Records these signed entries (by id: a second delivery stores
    /// nothing); the ids the log holds now.
    async fn record(&self, signed: &[String]) -> anyhow::Result<Vec<Uuid>>;
}

/// Everything the user domain keeps.
pub trait UserStore:
    AccountRecords + SessionRecords + LifecycleRecords + ContactRecords + DeviceRecords
{
}

impl<T> UserStore for T where
    T: AccountRecords + SessionRecords + LifecycleRecords + ContactRecords + DeviceRecords
{
}
