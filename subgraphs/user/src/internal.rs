//! Service-to-service API of the user subgraph, on its own paths (the router
//! only forwards `/graphql`, so none of this is reachable through it). The
//! admin subgraph changes account status and roles here. Account status
//! stays owned by this subgraph (the outbox goes out from here: `audit_delivery`).
//! Callers authenticate with the shared internal token; a
//! change also needs the acting admin's own access token (`Authorization`),
//! which is verified here, and the audit entry is built here from the change
//! and that token (`Accounts::moderate_status`), in the same transaction: the
//! internal token alone can neither change an account nor write the log.

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

/// Where the admin subgraph says its caller's address is (recorded in the
/// audit entry, as the admin's client address).
pub const ACTING_ADDRESS_HEADER: &str = "x-acting-client-ip";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// `ACTIVE`, `SUSPENDED`, `BANNED` or `DEACTIVATED`.
    pub status: String,
    pub until: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub role: Role,
}

/// A change's answer: the account after it, and the entry that records it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Changed {
    pub account: AccountView,
    pub audit: AuditRecord,
}

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
    verifier: std::sync::Arc<fittrack_kit::auth::JwtVerifier>,
}

pub fn routes(
    accounts: Accounts,
    token: Secret,
    verifier: std::sync::Arc<fittrack_kit::auth::JwtVerifier>,
) -> Router {
    Router::new()
        .route("/internal/accounts/{id}/status", post(change_status))
        .route("/internal/accounts/{id}/role", post(change_role))
        .with_state(InternalState {
            accounts,
            token,
            verifier,
        })
}

fn authorized(state: &InternalState, headers: &HeaderMap) -> bool {
    headers
        .get(TOKEN_HEADER)
        .is_some_and(|given| state.token.matches(given.as_bytes()))
}

/// The acting admin, from their own access token (verified here, revocation
/// included), and the address they act from.
async fn acting_admin(
    state: &InternalState,
    headers: &HeaderMap,
) -> Result<(fittrack_kit::CurrentUser, Option<String>), axum::response::Response> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(fittrack_kit::auth::bearer_token)
        .ok_or_else(|| {
            refuse(ApiError::unauthenticated(
                "the acting admin's token is required",
            ))
        })?;
    let actor = state
        .verifier
        .verify(token)
        .await
        .map_err(|error| refuse(ApiError::from(error)))?;
    let client_ip = headers
        .get(ACTING_ADDRESS_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<std::net::IpAddr>().ok())
        .map(|ip| ip.to_string());
    Ok((actor, client_ip))
}

fn refuse(error: ApiError) -> axum::response::Response {
    let status = match error.code() {
        fittrack_kit::ErrorCode::NotFound => StatusCode::NOT_FOUND,
        fittrack_kit::ErrorCode::BadUserInput => StatusCode::BAD_REQUEST,
        fittrack_kit::ErrorCode::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
        fittrack_kit::ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        fittrack_kit::ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        fittrack_kit::ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        fittrack_kit::ErrorCode::Forbidden => StatusCode::FORBIDDEN,
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
    let (actor, client_ip) = match acting_admin(&state, &headers).await {
        Ok(acting) => acting,
        Err(refusal) => return refusal,
    };
    let Ok(status) = AccountStatus::parse(&change.status) else {
        return refuse(ApiError::bad_input("status", "unknown account status"));
    };
    match state
        .accounts
        .moderate_status(&actor, id, status, change.until, change.reason, client_ip)
        .await
    {
        Ok((user, audit)) => Json(Changed {
            account: AccountView::from(user),
            audit,
        })
        .into_response(),
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
    let (actor, client_ip) = match acting_admin(&state, &headers).await {
        Ok(acting) => acting,
        Err(refusal) => return refusal,
    };
    match state
        .accounts
        .moderate_role(&actor, id, change.role, client_ip)
        .await
    {
        Ok((user, audit)) => Json(Changed {
            account: AccountView::from(user),
            audit,
        })
        .into_response(),
        Err(error) => refuse(error.into()),
    }
}
