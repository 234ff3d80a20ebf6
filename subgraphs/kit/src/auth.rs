//! Access-token verification and the signed-in caller.
//!
//! Tokens are issued by the user subgraph (EdDSA, `kid` in the header) and checked
//! here with the algorithm pinned, `iss`/`aud` required, ≤ 30 s clock leeway, and the
//! key looked up by `kid` in a JWKS that is cached and refetched on an unknown `kid`
//! at most once a minute.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use async_graphql::{Context, Guard};
use jsonwebtoken::{
    jwk::{Jwk, JwkSet},
    Algorithm, DecodingKey, Validation,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};
use uuid::Uuid;

use crate::{config::AuthConfig, error::ApiError, ErrorCode};

/// The only algorithm FitTrack signs with, so the only one it accepts.
pub const SIGNING_ALGORITHM: Algorithm = Algorithm::EdDSA;
/// Tolerated clock skew when checking `exp`/`iat`.
pub const LEEWAY_SECS: u64 = 30;
/// Minimum time between two JWKS fetches triggered by unknown `kid`s.
pub const JWKS_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    User,
    Admin,
}

/// Claims of a FitTrack access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub email: String,
    pub roles: Vec<Role>,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// Issue time in milliseconds: revocation cut-offs compare against it
    /// (`iat` has whole seconds only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat_ms: Option<i64>,
}

/// The authenticated caller, put in the GraphQL context when a valid token came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentUser {
    pub id: Uuid,
    pub email: String,
    pub roles: Vec<Role>,
    /// When the token was issued (epoch ms), for revocation checks.
    pub issued_at_ms: i64,
}

impl CurrentUser {
    pub fn is_admin(&self) -> bool {
        self.roles.contains(&Role::Admin)
    }

    /// The caller is `user_id` or an admin.
    pub fn may_access(&self, user_id: Uuid) -> bool {
        self.id == user_id || self.is_admin()
    }
}

/// Why a presented token was refused. Clients only ever see "invalid token".
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("algorithm {0:?} is not accepted")]
    WrongAlgorithm(Algorithm),
    #[error("token has no key id")]
    MissingKid,
    #[error("unknown key id {0}")]
    UnknownKid(String),
    #[error("token rejected: {0}")]
    Rejected(String),
    #[error("claims are invalid: {0}")]
    BadClaims(String),
    #[error("token was revoked (account no longer active)")]
    Revoked,
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        tracing::info!(reason = %error, "access token refused");
        ApiError::new(
            ErrorCode::Unauthenticated,
            "Invalid or expired access token",
        )
    }
}

enum KeySource {
    /// Keys known up front (the user subgraph verifying its own tokens).
    Fixed,
    /// Keys fetched from a JWKS endpoint.
    Remote {
        url: String,
        http: reqwest::Client,
        last_fetch: Mutex<Option<Instant>>,
    },
}

/// Verifies access tokens. Cheap to clone behind an `Arc`; share one per process.
pub struct JwtVerifier {
    validation: Validation,
    keys: RwLock<HashMap<String, DecodingKey>>,
    source: KeySource,
    revocations: std::sync::OnceLock<Arc<dyn crate::revocation::Revocations>>,
}

impl JwtVerifier {
    fn validation(issuer: &str, audience: &str) -> Validation {
        let mut validation = Validation::new(SIGNING_ALGORITHM);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation
    }

    /// A verifier that fetches keys from the configured JWKS endpoint.
    pub fn remote(config: &AuthConfig) -> Arc<Self> {
        Arc::new(Self {
            validation: Self::validation(&config.issuer, &config.audience),
            keys: RwLock::new(HashMap::new()),
            source: KeySource::Remote {
                url: config.jwks_url.clone(),
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap_or_default(),
                last_fetch: Mutex::new(None),
            },
            revocations: Default::default(),
        })
    }

    /// A verifier over a fixed key set.
    pub fn fixed(jwks: &JwkSet, issuer: &str, audience: &str) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            validation: Self::validation(issuer, audience),
            keys: RwLock::new(decoding_keys(jwks)?),
            source: KeySource::Fixed,
            revocations: Default::default(),
        }))
    }

    /// Also refuses tokens issued before their user's revocation cut-off (set
    /// once, at start-up).
    pub fn use_revocations(&self, revocations: Arc<dyn crate::revocation::Revocations>) {
        let _ = self.revocations.set(revocations);
    }

    /// Checks a raw token (without the `Bearer ` prefix) and returns its caller.
    pub async fn verify(&self, token: &str) -> Result<CurrentUser, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        if header.alg != SIGNING_ALGORITHM {
            return Err(TokenError::WrongAlgorithm(header.alg));
        }
        let kid = header.kid.ok_or(TokenError::MissingKid)?;
        let key = self.key_for(&kid).await?;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key, &self.validation)
            .map_err(|e| TokenError::Rejected(e.to_string()))?;
        let claims = data.claims;
        let id = Uuid::parse_str(&claims.sub)
            .map_err(|_| TokenError::BadClaims("sub is not a user id".into()))?;
        let issued_at_ms = claims.iat_ms.unwrap_or(claims.iat.saturating_mul(1000));
        if self.is_revoked_at(id, issued_at_ms).await {
            return Err(TokenError::Revoked);
        }
        Ok(CurrentUser {
            id,
            email: claims.email,
            roles: claims.roles,
            issued_at_ms,
        })
    }

    /// Whether the caller's token has been revoked since it was verified (for
    /// long-lived operations such as subscriptions).
    pub async fn is_revoked(&self, user: &CurrentUser) -> bool {
        self.is_revoked_at(user.id, user.issued_at_ms).await
    }

    async fn is_revoked_at(&self, user_id: Uuid, issued_at_ms: i64) -> bool {
        let Some(revocations) = self.revocations.get() else {
            return false;
        };
        match revocations.cutoff(user_id).await {
            Ok(cutoff) => cutoff.is_some_and(|cutoff| issued_at_ms < cutoff),
            // Fail open: without the list, tokens still expire within 15 min.
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "revocation lookup failed");
                false
            }
        }
    }

    async fn key_for(&self, kid: &str) -> Result<DecodingKey, TokenError> {
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(key.clone());
        }
        if let KeySource::Remote {
            url,
            http,
            last_fetch,
        } = &self.source
        {
            let mut last = last_fetch.lock().await;
            // Another task may have fetched while we waited for the lock.
            if let Some(key) = self.keys.read().await.get(kid) {
                return Ok(key.clone());
            }
            let due = last.is_none_or(|at| at.elapsed() >= JWKS_REFRESH_INTERVAL);
            if due {
                *last = Some(Instant::now());
                match fetch_jwks(http, url).await {
                    Ok(fresh) => *self.keys.write().await = fresh,
                    Err(error) => {
                        tracing::warn!(%url, error = format!("{error:#}"), "JWKS fetch failed")
                    }
                }
                if let Some(key) = self.keys.read().await.get(kid) {
                    return Ok(key.clone());
                }
            }
        }
        Err(TokenError::UnknownKid(kid.to_owned()))
    }

    /// Whether keys can be had (readiness): true once a JWKS was loaded or fetched.
    pub async fn is_ready(&self) -> bool {
        if !self.keys.read().await.is_empty() {
            return true;
        }
        match &self.source {
            KeySource::Fixed => false,
            KeySource::Remote { url, http, .. } => match fetch_jwks(http, url).await {
                Ok(fresh) => {
                    let ready = !fresh.is_empty();
                    *self.keys.write().await = fresh;
                    ready
                }
                Err(_) => false,
            },
        }
    }
}

async fn fetch_jwks(
    http: &reqwest::Client,
    url: &str,
) -> anyhow::Result<HashMap<String, DecodingKey>> {
    let jwks: JwkSet = http
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    decoding_keys(&jwks)
}

fn decoding_keys(jwks: &JwkSet) -> anyhow::Result<HashMap<String, DecodingKey>> {
    let mut keys = HashMap::new();
    for jwk in &jwks.keys {
        if let Some(kid) = accepted_kid(jwk) {
            keys.insert(kid.to_owned(), DecodingKey::from_jwk(jwk)?);
        }
    }
    Ok(keys)
}

/// Only Ed25519 keys with a `kid` are usable; anything else in the set is ignored.
fn accepted_kid(jwk: &Jwk) -> Option<&str> {
    use jsonwebtoken::jwk::AlgorithmParameters;
    match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(_) => jwk.common.key_id.as_deref(),
        _ => None,
    }
}

/// Access to the caller from resolvers.
pub trait ContextAuthExt {
    fn current_user_opt(&self) -> Option<&CurrentUser>;

    /// The caller, or `UNAUTHENTICATED`.
    fn current_user(&self) -> Result<&CurrentUser, ApiError> {
        self.current_user_opt()
            .ok_or_else(|| ApiError::unauthenticated("You must be signed in"))
    }
}

impl ContextAuthExt for Context<'_> {
    fn current_user_opt(&self) -> Option<&CurrentUser> {
        self.data_opt::<CurrentUser>()
    }
}

/// Guard: the caller must be signed in.
pub struct Authenticated;

impl Guard for Authenticated {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        ctx.current_user()?;
        Ok(())
    }
}

/// Guard: the caller must hold `role`.
pub struct RoleGuard(pub Role);

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let user = ctx.current_user()?;
        if user.roles.contains(&self.0) {
            Ok(())
        } else {
            Err(ApiError::forbidden().into())
        }
    }
}
