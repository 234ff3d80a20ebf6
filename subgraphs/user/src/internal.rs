//! Service-to-service API of the user subgraph, on its own paths (the router
//! only forwards `/graphql`, so none of this is reachable through it). The
//! admin subgraph changes account status and roles here, each with the audit
//! entry that records it (written in the same transaction, into the outbox),
//! and collects undelivered entries from the outbox. Account status stays
//! owned by this subgraph. Callers authenticate with the shared internal token.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::post,
    Json, Router,
};
use chrono::{DateTime, Utc};
use fittrack_kit::{config::Secret, ApiError, Role};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::domain::{
    accounts::Accounts,
    model::{AccountStatus, AuditRecord, User},
};

pub const TOKEN_HEADER: &str = "x-internal-token";

#[derive(Debug, Serialize, Deserialize)]
pub struct StatusChange {
    /// `ACTIVE`, `SUSPENDED`, `BANNED` or `DEACTIVATED`.
    pub status: String,
    pub until: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    /// The entry recording this change (required: every moderation is audited).
    pub audit: AuditRecord,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RoleChange {
    pub role: Role,
    pub audit: AuditRecord,
}

/// Entries the admin subgraph now holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Delivered {
    pub ids: Vec<Uuid>,
}

#[derive(Debug, Deserialize)]
pub struct PendingQuery {
    pub limit: Option<u64>,
}

/// At most this many outbox entries per collection.
pub const MAX_PENDING: u64 = 500;

/// What the admin subgraph learns about the account it changed.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccountView {
    pub id: Uuid,
    pub email: String,
    pub status: String,
    pub role: Role,
    pub suspended_until: Option<DateTime<Utc>>,
}

impl From<User> for AccountView {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            status: user.account_status.as_str().into(),
            role: user.role,
            suspended_until: user.suspended_until,
        }
    }
}

#[derive(Clone)]
struct InternalState {
    accounts: Accounts,
    token: Secret,
}

pub fn routes(accounts: Accounts, token: Secret) -> Router {
    Router::new()
        .route("/internal/accounts/{id}/status", post(change_status))
        .route("/internal/accounts/{id}/role", post(change_role))
        .route("/internal/audit-outbox", axum::routing::get(pending_audit))
        .route("/internal/audit-outbox/delivered", post(audit_delivered))
        .with_state(InternalState { accounts, token })
}

/// Compares without an early exit, so timing does not reveal the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(state: &InternalState, headers: &HeaderMap) -> bool {
    headers
        .get(TOKEN_HEADER)
        .is_some_and(|given| same(given.as_bytes(), state.token.expose().as_bytes()))
}

fn refuse(error: ApiError) -> axum::response::Response {
    let status = match error.code() {
        fittrack_kit::ErrorCode::NotFound => StatusCode::NOT_FOUND,
        fittrack_kit::ErrorCode::BadUserInput => StatusCode::BAD_REQUEST,
        fittrack_kit::ErrorCode::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
        fittrack_kit::ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        fittrack_kit::ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::CONFLICT,
    };
    let body = match &error {
        ApiError::Client {
            code,
            message,
            field,
            retry_after_secs,
        } => {
            json!({"code": code.as_str(), "message": message, "field": field,
                   "retryAfterSeconds": retry_after_secs})
        }
        ApiError::Internal(source) => {
            tracing::error!(error = format!("{source:#}"), "internal API failure");
            json!({"code": "INTERNAL_SERVER_ERROR", "message": fittrack_kit::error::INTERNAL_MESSAGE})
        }
    };
    (status, Json(body)).into_response()
}

async fn change_status(
    State(state): State<InternalState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(change): Json<StatusChange>,
) -> axum::response::Response {
    if !authorized(&state, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(status) = AccountStatus::parse(&change.status) else {
        return refuse(ApiError::bad_input("status", "unknown account status"));
    };
    match state
        .accounts
        .set_status_by_admin(id, status, change.until, change.reason, Some(change.audit))
        .await
    {
        Ok(user) => Json(AccountView::from(user)).into_response(),
        Err(error) => refuse(error.into()),
    }
}

async fn change_role(
    State(state): State<InternalState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(change): Json<RoleChange>,
) -> axum::response::Response {
    if !authorized(&state, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match state
        .accounts
        .set_role_by_admin(id, change.role, change.audit)
        .await
    {
        Ok(user) => Json(AccountView::from(user)).into_response(),
        Err(error) => refuse(error.into()),
    }
}

async fn pending_audit(
    State(state): State<InternalState>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<PendingQuery>,
) -> axum::response::Response {
    if !authorized(&state, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_PENDING);
    match state.accounts.pending_audit(limit).await {
        Ok(entries) => Json(entries).into_response(),
        Err(error) => refuse(error.into()),
    }
}

async fn audit_delivered(
    State(state): State<InternalState>,
    headers: HeaderMap,
    Json(delivered): Json<Delivered>,
) -> axum::response::Response {
    if !authorized(&state, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if delivered.ids.len() as u64 > MAX_PENDING {
        return refuse(ApiError::bad_input("ids", "too many ids at once"));
    }
    match state.accounts.audit_delivered(&delivered.ids).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => refuse(error.into()),
    }
}
