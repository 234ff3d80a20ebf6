//! Access-token verification and the signed-in caller.
//!
//! Tokens are issued by the user subgraph (EdDSA, `kid` in the header) and checked
//! here with the algorithm pinned and every registered claim checked (RFC 7519,
//! RFC 8725): `iss`, `aud`, `exp`, `nbf`, `iat` not in the future, a lifetime no
//! longer than configured ([`check_times`], ≤ 30 s clock leeway), a session id;
//! then revocations (per user, per session). The key is looked up by `kid` in a
//! JWKS that is cached and refetched on an unknown `kid` at most once a minute.

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
pub use crate::config::{DEFAULT_MAX_LIFETIME_SECS, LEEWAY_SECS};
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
    /// Not before: the issue time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub exp: i64,
    pub jti: String,
    /// The session (one per sign-in, kept across refreshes): logout and
    /// reuse detection revoke it.
    pub sid: String,
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
    /// The sign-in session the token belongs to.
    pub session_id: Uuid,
    /// When the token stops working (epoch seconds): long-lived operations
    /// (subscriptions) end then.
    pub expires_at: i64,
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
    #[error("token was revoked (session ended or account no longer usable)")]
    Revoked,
    #[error("revocations cannot be read: {0}")]
    RevocationsUnavailable(String),
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        if let TokenError::RevocationsUnavailable(_) = error {
            // Fail closed: a session this verifier has no recent copy of
            // may have been ended (see `JwtVerifier::check_revocations`).
            tracing::warn!(reason = %error, "token refused: its revocations cannot be read");
            return ApiError::unavailable(
                "Signed-in requests are unavailable for a moment; try again shortly",
                5,
            );
        }
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
    /// The longest lifetime (`exp - iat`) a token may claim.
    max_lifetime_secs: i64,
    keys: RwLock<HashMap<String, DecodingKey>>,
    source: KeySource,
    revocations: std::sync::OnceLock<Arc<dyn crate::revocation::Revocations>>,
    /// Tokens whose signature and claims passed, by the token itself, for
    /// [`VERIFIED_FOR`]: an Ed25519 check was the subgraphs' top cost in
    /// the reads bench's profile, once per subgraph a request touches. A hit
    /// still checks the time claims and the revocations.
    verified: moka::sync::Cache<String, VerifiedToken>,
}

/// How long a verified signature is trusted without checking it again.
pub const VERIFIED_FOR: Duration = Duration::from_secs(60);
/// How many verified tokens a verifier keeps (about 1 KB each).
const VERIFIED_KEPT: u64 = 10_000;

#[derive(Clone)]
struct VerifiedToken {
    user: CurrentUser,
    times: TokenTimes,
}

fn verified_cache() -> moka::sync::Cache<String, VerifiedToken> {
    moka::sync::Cache::builder()
        .max_capacity(VERIFIED_KEPT)
        .time_to_live(VERIFIED_FOR)
        .build()
}

impl JwtVerifier {
    fn validation(issuer: &str, audience: &str) -> Validation {
        let mut validation = Validation::new(SIGNING_ALGORITHM);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation
    }

    /// A verifier that fetches keys from the configured JWKS endpoint.
    pub fn remote(config: &AuthConfig) -> Arc<Self> {
        Arc::new(Self {
            validation: Self::validation(&config.issuer, &config.audience),
            max_lifetime_secs: config.max_token_lifetime_secs,
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
            verified: verified_cache(),
        })
    }

    /// What every subgraph but the user subgraph verifies with: the user
    /// subgraph's keys (fetched from `auth.jwks_url`) and the revocations in
    /// `shared`, read at most `auth.revocation_cache_ms` stale.
    pub async fn for_subgraph(
        auth: &crate::config::AuthConfig,
        shared: &crate::shared::SharedState,
    ) -> anyhow::Result<Arc<Self>> {
        let verifier = Self::remote(auth);
        verifier.use_revocations(
            crate::revocation::connect(shared, auth.revocation_keep_for(), auth.revocation_cache())
                .await?,
        );
        Ok(verifier)
    }

    /// A verifier over a fixed key set, accepting tokens that live at most
    /// [`DEFAULT_MAX_LIFETIME_SECS`].
    pub fn fixed(jwks: &JwkSet, issuer: &str, audience: &str) -> anyhow::Result<Arc<Self>> {
        Self::fixed_with_lifetime(jwks, issuer, audience, DEFAULT_MAX_LIFETIME_SECS)
    }

    /// A verifier over a fixed key set, accepting tokens that live at most
    /// `max_lifetime_secs`.
    pub fn fixed_with_lifetime(
        jwks: &JwkSet,
        issuer: &str,
        audience: &str,
        max_lifetime_secs: i64,
    ) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            validation: Self::validation(issuer, audience),
            max_lifetime_secs,
            keys: RwLock::new(decoding_keys(jwks)?),
            source: KeySource::Fixed,
            revocations: Default::default(),
            verified: verified_cache(),
        }))
    }

    /// Also refuses tokens issued before their user's revocation cut-off (set
    /// once, at start-up).
    pub fn use_revocations(&self, revocations: Arc<dyn crate::revocation::Revocations>) {
        let _ = self.revocations.set(revocations);
    }

    /// Checks a raw token (without the `Bearer ` prefix) and returns its caller.
    pub async fn verify(&self, token: &str) -> Result<CurrentUser, TokenError> {
        if let Some(seen) = self.verified.get(token) {
            check_times(
                seen.times,
                chrono::Utc::now().timestamp(),
                self.max_lifetime_secs,
            )?;
            self.check_revocations(&seen.user).await?;
            return Ok(seen.user);
        }
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
        let times = TokenTimes {
            iat: claims.iat,
            nbf: claims.nbf,
            exp: claims.exp,
        };
        check_times(
            times,
            chrono::Utc::now().timestamp(),
            self.max_lifetime_secs,
        )?;
        let id = Uuid::parse_str(&claims.sub)
            .map_err(|_| TokenError::BadClaims("sub is not a user id".into()))?;
        let session_id = Uuid::parse_str(&claims.sid)
            .map_err(|_| TokenError::BadClaims("sid is not a session id".into()))?;
        let issued_at_ms = claims.iat_ms.unwrap_or(claims.iat.saturating_mul(1000));
        let user = CurrentUser {
            id,
            email: claims.email,
            roles: claims.roles,
            issued_at_ms,
            session_id,
            expires_at: claims.exp,
        };
        self.verified.insert(
            token.to_owned(),
            VerifiedToken {
                user: user.clone(),
                times,
            },
        );
        self.check_revocations(&user).await?;
        Ok(user)
    }

    /// Checks a record the user subgraph signed with its token key (a JWS
    /// whose `typ` header is `typ`, e.g. [`crate::audit::SIGNED_AUDIT_RECORD`])
    /// and returns its payload. No time claims: a record stays true.
    pub async fn verify_signed<T: serde::de::DeserializeOwned>(
        &self,
        jws: &str,
        typ: &str,
    ) -> Result<T, TokenError> {
        let header =
            jsonwebtoken::decode_header(jws).map_err(|e| TokenError::Malformed(e.to_string()))?;
        if header.alg != SIGNING_ALGORITHM {
            return Err(TokenError::WrongAlgorithm(header.alg));
        }
        if header.typ.as_deref() != Some(typ) {
            return Err(TokenError::BadClaims(format!("not a {typ}")));
        }
        let kid = header.kid.ok_or(TokenError::MissingKid)?;
        let key = self.key_for(&kid).await?;
        let mut validation = Validation::new(SIGNING_ALGORITHM);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<T>(jws, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError::Rejected(e.to_string()))
    }

    /// Whether the caller's token still works: not expired, not revoked (for
    /// long-lived operations such as subscriptions).
    pub async fn still_valid(&self, user: &CurrentUser) -> Result<(), SessionEnded> {
        if chrono::Utc::now().timestamp() >= user.expires_at {
            return Err(SessionEnded::Expired);
        }
        match self.check_revocations(user).await {
            Err(TokenError::Revoked) => Err(SessionEnded::Revoked),
            // A passing outage does not end an open subscription.
            _ => Ok(()),
        }
    }

    /// Refuses a revoked token. When revocations cannot be read and no
    /// recent local copy answers for them (`revocation::CachedRevocations`),
    /// every token is refused (fail closed): a session ended by logout or a
    /// ban must never come back because Redis is away.
    async fn check_revocations(&self, user: &CurrentUser) -> Result<(), TokenError> {
        let Some(revocations) = self.revocations.get() else {
            return Ok(());
        };
        match revocations.state(user.id, user.session_id).await {
            Ok(state) if state.refuses(user.issued_at_ms) => Err(TokenError::Revoked),
            Ok(_) => Ok(()),
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "revocation lookup failed");
                Err(TokenError::RevocationsUnavailable(format!("{error:#}")))
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
                    Ok(fresh) => {
                        *self.keys.write().await = fresh;
                        // A key may have been withdrawn: what it signed is checked again.
                        self.verified.invalidate_all();
                    }
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

/// The token of an `Authorization: Bearer …` value (either case of the
/// scheme), trimmed; `None` for any other scheme.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    authorization
        .strip_prefix("Bearer ")
        .or_else(|| authorization.strip_prefix("bearer "))
        .map(str::trim)
}

/// The time claims of a token (epoch seconds).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct TokenTimes {
    pub iat: i64,
    pub nbf: Option<i64>,
    pub exp: i64,
}

/// Checks the time claims against `now` (RFC 7519 §4.1.4-6, RFC 8725 §3.10):
/// not expired, not before `nbf`, not issued in the future, and not living
/// longer than `max_lifetime_secs`, all with [`LEEWAY_SECS`] of clock skew.
/// The router applies the same function (`fittrack-router`).
pub fn check_times(times: TokenTimes, now: i64, max_lifetime_secs: i64) -> Result<(), TokenError> {
    let leeway = LEEWAY_SECS as i64;
    if times.exp <= now - leeway {
        return Err(TokenError::BadClaims("expired".into()));
    }
    if times.nbf.is_some_and(|nbf| nbf > now + leeway) {
        return Err(TokenError::BadClaims("not valid yet (nbf)".into()));
    }
    if times.iat > now + leeway {
        return Err(TokenError::BadClaims("issued in the future (iat)".into()));
    }
    if times.exp - times.iat > max_lifetime_secs {
        return Err(TokenError::BadClaims(format!(
            "lifetime {} s exceeds the maximum {max_lifetime_secs} s",
            times.exp - times.iat
        )));
    }
    Ok(())
}

/// Why an open subscription's token stopped working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnded {
    /// The token's `exp` passed: refresh it and subscribe again.
    Expired,
    /// The session was ended (logout, password change, moderation …).
    Revoked,
}

impl From<SessionEnded> for ApiError {
    fn from(ended: SessionEnded) -> Self {
        ApiError::unauthenticated(match ended {
            SessionEnded::Expired => "Your access token expired: refresh it and subscribe again",
            SessionEnded::Revoked => "Your session has ended: sign in again",
        })
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

/// How often an open subscription re-checks its token's revocations.
pub const SESSION_POLL: Duration = Duration::from_secs(2);

/// Ends `items` when the subscriber's session does: at the token's expiry,
/// or within [`SESSION_POLL`] of a revocation (logout, password change,
/// moderation …). The last item is then an `UNAUTHENTICATED` error that says
/// which, so the client can refresh (or sign in) and subscribe again, instead
/// of being left listening to a stream that went quiet. When `items` run out
/// first, the stream ends with them (their last item says why).
pub fn until_session_ends<T, S>(
    items: S,
    verifier: Option<Arc<JwtVerifier>>,
    subscriber: CurrentUser,
) -> impl futures_util::Stream<Item = async_graphql::Result<T>> + Send
where
    T: Send + 'static,
    S: futures_util::Stream<Item = async_graphql::Result<T>> + Send + 'static,
{
    use futures_util::StreamExt as _;
    let ended = async move {
        let left = subscriber.expires_at - chrono::Utc::now().timestamp();
        let expiry = tokio::time::sleep(Duration::from_secs(left.max(0) as u64));
        tokio::pin!(expiry);
        loop {
            tokio::select! {
                () = &mut expiry => return SessionEnded::Expired,
                () = tokio::time::sleep(SESSION_POLL) => {
                    if let Some(verifier) = &verifier {
                        if let Err(ended) = verifier.still_valid(&subscriber).await {
                            return ended;
                        }
                    }
                }
            }
        }
    };
    // Whichever comes first: the items running out (their own last word
    // included) ends the stream; the session ending cuts the items short and
    // has the last word.
    let state = Some((Box::pin(items), Box::pin(ended)));
    futures_util::stream::unfold(state, |state| async move {
        let (mut items, mut ended) = state?;
        tokio::select! {
            biased;
            why = &mut ended => Some((Err(async_graphql::Error::from(ApiError::from(why))), None)),
            item = items.next() => item.map(|item| (item, Some((items, ended)))),
        }
    })
}
