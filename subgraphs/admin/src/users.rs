//! The user subgraph's internal API, as the admin subgraph calls it.

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fittrack_kit::{config::Secret, ApiError, ErrorCode, Role};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::domain::{
    model::{AccountView, AuditRecord},
    ports::{AccountDirectory, Acting},
};

#[derive(Clone)]
pub struct UserDirectory {
    base_url: String,
    token: Secret,
    http: reqwest::Client,
}

/// A change's answer (the user subgraph's `internal::Changed`).
#[derive(Deserialize)]
struct Changed {
    account: AccountView,
    audit: AuditRecord,
}

#[derive(Deserialize)]
struct Refusal {
    code: String,
    message: String,
    field: Option<String>,
    #[serde(rename = "retryAfterSeconds")]
    retry_after_secs: Option<u64>,
}

impl UserDirectory {
    pub fn new(base_url: &str, token: Secret) -> anyhow::Result<Self> {
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
        })
    }

    async fn post(
        &self,
        path: &str,
        body: serde_json::Value,
        acting: &Acting,
    ) -> Result<(AccountView, AuditRecord), ApiError> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header("x-internal-token", self.token.expose())
            .bearer_auth(acting.token.expose());
        if let Some(address) = &acting.client_ip {
            request = request.header("x-acting-client-ip", address);
        }
        let response = request.json(&body).send().await.map_err(|error| {
            tracing::warn!(error = %error, "the user subgraph is out of reach");
            ApiError::unavailable("The account service is out of reach; try again shortly", 5)
        })?;
        let status = response.status();
        if status.is_success() {
            let changed: Changed = response
                .json()
                .await
                .context("reading the user subgraph's answer")?;
            return Ok((changed.account, changed.audit));
        }
        // The user subgraph's refusal, passed on with its code.
        match response.json::<Refusal>().await {
            Ok(refusal) if status.as_u16() != 500 => Err(ApiError::Client {
                // Passed on as it is: a database outage over there is
                // SERVICE_UNAVAILABLE here too, not a conflict.
                code: ErrorCode::parse(&refusal.code).unwrap_or(ErrorCode::Conflict),
                message: refusal.message,
                field: refusal.field,
                retry_after_secs: refusal.retry_after_secs,
            }),
            _ => Err(ApiError::Internal(anyhow::anyhow!(
                "user subgraph answered {status}"
            ))),
        }
    }
}

#[async_trait]
impl AccountDirectory for UserDirectory {
    /// Changes the status as `acting`; the user subgraph writes the audit
    /// record with the change, in one transaction.
    async fn set_status(
        &self,
        user: Uuid,
        status: &str,
        until: Option<DateTime<Utc>>,
        reason: Option<&str>,
        acting: &Acting,
    ) -> Result<(AccountView, AuditRecord), ApiError> {
        self.post(
            &format!("/internal/accounts/{user}/status"),
            json!({"status": status, "until": until, "reason": reason}),
            acting,
        )
        .await
    }

    async fn set_role(
        &self,
        user: Uuid,
        role: Role,
        acting: &Acting,
    ) -> Result<(AccountView, AuditRecord), ApiError> {
        self.post(
            &format!("/internal/accounts/{user}/role"),
            json!({ "role": role }),
            acting,
        )
        .await
    }
}
