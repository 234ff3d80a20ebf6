//! The admin API. Every field requires the ADMIN role.

use async_graphql::{
    connection::{Connection, EmptyFields},
    Context, EmptySubscription, InputObject, Json, MergedObject, Object, Schema, SimpleObject, ID,
};
use chrono::{DateTime, Utc};
use fittrack_kit::{
    auth::{ContextAuthExt, RoleGuard},
    pagination::Page,
    server::ClientIp,
    ApiError, Role,
};
use serde_json::Value;
use uuid::Uuid;

use crate::domain::{
    model::{AuditEntry, AuditFilter},
    moderation::{Moderated, Moderation, Moderator, StatusChange},
    ports::Acting,
};

/// A `User` as seen from here: its key (the user subgraph resolves the rest).
#[derive(SimpleObject, Clone)]
#[graphql(name = "User")]
pub struct UserRef {
    pub id: ID,
}

/// Platform-wide figures for admins; each subgraph contributes its fields and
/// the router fetches them in parallel.
#[derive(SimpleObject, Clone)]
pub struct PlatformStats {
    pub id: ID,
}

/// The one `PlatformStats` instance.
pub const PLATFORM_ID: &str = "platform";

/// One admin action, as recorded (append-only).
#[derive(SimpleObject, Clone)]
pub struct AuditLogEntry {
    pub id: ID,
    /// Who acted; null for the operator at the console (`fittrack admin
    /// create`, whose entries say so in `details.via`).
    pub admin: Option<UserRef>,
    /// `BAN_USER`, `SUSPEND_USER`, `DEACTIVATE_USER`, `REACTIVATE_USER`,
    /// `CHANGE_USER_ROLE`, `REPLAY_ERASURE`.
    pub action: String,
    pub target: Option<UserRef>,
    pub details: Json<Value>,
    pub client_ip: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<AuditEntry> for AuditLogEntry {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: ID(e.id.to_string()),
            admin: e.admin_id.map(|id| UserRef {
                id: ID(id.to_string()),
            }),
            action: e.action,
            target: e.target_user_id.map(|id| UserRef {
                id: ID(id.to_string()),
            }),
            details: Json(e.details),
            client_ip: e.client_ip,
            created_at: e.created_at,
        }
    }
}

/// The account after a moderation action, and the audit entry recording it.
#[derive(SimpleObject)]
pub struct ModerationResult {
    pub user: UserRef,
    pub account_status: String,
    pub role: Role,
    pub suspended_until: Option<DateTime<Utc>>,
    pub audit_entry: AuditLogEntry,
}

#[derive(InputObject, Default)]
pub struct AuditLogFilter {
    pub admin_id: Option<ID>,
    pub target_user_id: Option<ID>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

fn parse_id(id: &ID, field: &'static str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::bad_input(field, format!("{field}: not a valid id")))
}

/// The signed-in admin, as the audit record names them.
fn moderator(ctx: &Context<'_>) -> async_graphql::Result<Moderator> {
    let token = ctx
        .data_opt::<fittrack_kit::server::CallerToken>()
        .ok_or_else(|| ApiError::unauthenticated("Sign in as an admin"))?;
    Ok(Moderator {
        id: ctx.current_user()?.id,
        acting: Acting {
            token: token.0.clone(),
            client_ip: ctx.data_opt::<ClientIp>().and_then(ClientIp::address),
        },
    })
}

impl From<Moderated> for ModerationResult {
    fn from(Moderated { account, entry }: Moderated) -> Self {
        Self {
            user: UserRef {
                id: ID(account.id.to_string()),
            },
            account_status: account.status,
            role: account.role,
            suspended_until: account.suspended_until,
            audit_entry: entry.into(),
        }
    }
}

#[derive(Default)]
pub struct AdminQuery;

#[Object]
impl AdminQuery {
    /// The audit log, newest first.
    #[graphql(
        guard = "RoleGuard(Role::Admin)",
        complexity = "fittrack_kit::schema::page_complexity(first, child_complexity)",
        directive = fittrack_kit::schema::connection_size::apply()
    )]
    async fn audit_logs(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditLogFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, AuditLogEntry, EmptyFields, EmptyFields>> {
        let filter = filter.unwrap_or_default();
        let filter = AuditFilter {
            admin_id: filter
                .admin_id
                .as_ref()
                .map(|id| parse_id(id, "adminId"))
                .transpose()?,
            target_user_id: filter
                .target_user_id
                .as_ref()
                .map(|id| parse_id(id, "targetUserId"))
                .transpose()?,
            action: filter.action,
            from: filter.from,
            to: filter.to,
        };
        let limit = fittrack_kit::pagination::page_size(first)?;
        let after = fittrack_kit::pagination::decode_after(after.as_deref())?;
        let entries = ctx
            .data::<Moderation>()?
            .log()
            .page(&filter, after, limit as u64 + 1)
            .await
            .map_err(ApiError::from)?;
        Ok(Page::from_overfetch(entries, limit).into_connection(
            after.is_some(),
            |e| fittrack_kit::cursor::encode(e.created_at, e.id),
            AuditLogEntry::from,
        ))
    }

    /// The admin dashboard: users, activities and AI figures, each part from
    /// the subgraph that owns it (cached there for 60 s).
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn admin_dashboard(&self) -> PlatformStats {
        PlatformStats {
            id: ID(PLATFORM_ID.into()),
        }
    }

    /// Federation: `PlatformStats` is keyed by id here too.
    #[graphql(entity)]
    async fn find_platform_stats_by_id(&self, id: ID) -> PlatformStats {
        PlatformStats { id }
    }

    /// Federation: the admin subgraph only knows a user's key.
    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> UserRef {
        UserRef { id }
    }
}

#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Bans an account: sign-in refused (`ACCOUNT_BANNED`), sessions and access
    /// tokens revoked at once.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn ban_user(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        reason: Option<String>,
    ) -> async_graphql::Result<ModerationResult> {
        change_status(ctx, &user_id, StatusChange::Ban, reason).await
    }

    /// Suspends an account until `until` (then it works again on its own).
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn suspend_user(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        until: DateTime<Utc>,
        reason: Option<String>,
    ) -> async_graphql::Result<ModerationResult> {
        change_status(ctx, &user_id, StatusChange::Suspend { until }, reason).await
    }

    /// Deactivates an account on its owner's behalf.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn deactivate_user(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        reason: Option<String>,
    ) -> async_graphql::Result<ModerationResult> {
        change_status(ctx, &user_id, StatusChange::Deactivate, reason).await
    }

    /// Makes a banned, suspended or deactivated account usable again.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn reactivate_user(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
    ) -> async_graphql::Result<ModerationResult> {
        change_status(ctx, &user_id, StatusChange::Reactivate, None).await
    }

    /// Grants or withdraws the ADMIN role (the user signs in again to use it).
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn change_user_role(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        role: Role,
    ) -> async_graphql::Result<ModerationResult> {
        let target = parse_id(&user_id, "userId")?;
        let moderated = ctx
            .data::<Moderation>()?
            .change_role(&moderator(ctx)?, target, role)
            .await?;
        Ok(moderated.into())
    }
}

/// A status change through the moderation use case.
async fn change_status(
    ctx: &Context<'_>,
    user_id: &ID,
    change: StatusChange,
    reason: Option<String>,
) -> async_graphql::Result<ModerationResult> {
    let target = parse_id(user_id, "userId")?;
    let moderated = ctx
        .data::<Moderation>()?
        .change_status(&moderator(ctx)?, target, change, reason)
        .await?;
    Ok(moderated.into())
}

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(AdminQuery);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(AdminMutation);

pub type AdminSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

fn builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    fittrack_kit::schema::federated(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
        // Lists multiply by `first` (kit::schema::page_complexity): a full 100-item page of audit entries is ~1 500.
        5_000,
    )
}

pub fn build_schema(moderation: Moderation) -> AdminSchema {
    builder().data(moderation).finish()
}

pub fn sdl() -> String {
    fittrack_kit::schema::federation_sdl(&builder().finish())
}
