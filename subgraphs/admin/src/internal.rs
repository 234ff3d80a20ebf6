//! The admin subgraph's internal API (not routed): the user subgraph
//! delivers its audit outbox here (`user::audit_delivery`). Callers
//! authenticate with the shared internal token, and every entry must carry
//! the user subgraph's signature (its token key, checked against the same
//! JWKS as access tokens, `kit::audit::SIGNED_AUDIT_RECORD`): an entry that
//! does not is refused, so the internal token cannot write the log.

use std::sync::Arc;

use axum::{
    extract::State, http::HeaderMap, http::StatusCode, response::IntoResponse, Json, Router,
};
use fittrack_kit::{audit::AuditRecord, auth::JwtVerifier, config::Secret};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{model::AuditEntry, ports::AuditLog};

/// At most this many entries per delivery.
pub const MAX_ENTRIES: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedEntries {
    entries: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Recorded {
    recorded: Vec<Uuid>,
}

#[derive(Clone)]
struct IntakeState {
    log: Arc<dyn AuditLog>,
    verifier: Arc<JwtVerifier>,
    token: Secret,
}

pub fn routes(log: Arc<dyn AuditLog>, verifier: Arc<JwtVerifier>, token: Secret) -> Router {
    Router::new()
        .route("/internal/audit-log", axum::routing::post(record_signed))
        .with_state(IntakeState {
            log,
            verifier,
            token,
        })
}

/// Records every entry whose signature checks (by id: a second delivery
/// stores nothing) and answers the ids the log now holds. An entry that
/// does not check is left out (and logged): its sender keeps it waiting.
async fn record_signed(
    State(state): State<IntakeState>,
    headers: HeaderMap,
    Json(delivery): Json<SignedEntries>,
) -> axum::response::Response {
    let authorized = headers
        .get("x-internal-token")
        .is_some_and(|given| state.token.matches(given.as_bytes()));
    if !authorized {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if delivery.entries.len() > MAX_ENTRIES {
        return (StatusCode::PAYLOAD_TOO_LARGE, "too many entries at once").into_response();
    }
    let mut recorded = Vec::with_capacity(delivery.entries.len());
    for signed in &delivery.entries {
        let record = match state
            .verifier
            .verify_signed::<AuditRecord>(signed, fittrack_kit::audit::SIGNED_AUDIT_RECORD)
            .await
        {
            Ok(record) => record,
            Err(error) => {
                tracing::warn!(error = %error, "audit entry refused: not signed by the user subgraph");
                continue;
            }
        };
        let id = record.id;
        if let Err(error) = state.log.record(&AuditEntry::from(record)).await {
            tracing::error!(error = format!("{error:#}"), "audit entry not recorded");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        recorded.push(id);
    }
    Json(Recorded { recorded }).into_response()
}
