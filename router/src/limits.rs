//! `fittrack_limits`: who is calling, and how often they may.
//!
//! - **Client address** ([`LimitsPlugin::on_http_request`]): the TCP peer, or what
//!   the configured trusted proxies wrote in `X-Forwarded-For`
//!   (`fittrack_kit::client_address`), resolved once per HTTP request or
//!   WebSocket upgrade and kept in the plugin context, which every operation
//!   of a WebSocket connection shares. [`LimitsPlugin::on_subgraph_execute`]
//!   writes it as the only `X-Forwarded-For` of every subgraph request, HTTP
//!   and WebSocket operations alike; router.yaml propagates no client
//!   `X-Forwarded-For`, and hive-router's headers built from a
//!   `connection_init` payload lose theirs here, so a client's claim never
//!   reaches a subgraph.
//! - **Request rate** ([`LimitsPlugin::on_execute`], after the JWT is verified):
//!   per signed-in user over all operations, per client address for anonymous
//!   traffic. Refusals are `RATE_LIMITED` with `extensions.retryAfterSeconds`,
//!   HTTP 429 and `Retry-After`; every response carries the IETF draft's
//!   `RateLimit-Policy` and `RateLimit` headers.
//! - **WebSocket connections**: new connections per client address per minute,
//!   and open connections per client address at once (per router process: the
//!   slot rides in the upgrade request, which lives as long as the connection).
//! - **Cost refusals** get the estimate and the maximum in `extensions`
//!   (hive-router puts them in `X-Cost-Estimated`/`X-Cost-Max` headers only).
//!
//! Counted in Redis when `REDIS_URL` is set (shared by router replicas), in
//! process otherwise. If Redis cannot be reached the request goes through
//! (logged): losing the limiter must not take the API down with it.

use std::{net::IpAddr, str::FromStr, sync::Arc};

use fittrack_kit::{
    client_address::{limit_key, TrustedProxies},
    ratelimit::{Decision, OpenSlots, Quota, RateLimiter},
};
use hive_router::{
    async_trait,
    executor::{
        hooks::{
            on_execute::{OnExecuteStartHookPayload, OnExecuteStartHookResult},
            on_http_request::{OnHttpRequestHookFuture, OnHttpRequestHookPayload},
            on_plugin_init::{OnPluginInitPayload, OnPluginInitResult},
            on_subgraph_execute::{
                OnSubgraphExecuteStartHookPayload, OnSubgraphExecuteStartHookResult,
            },
        },
        plugin_trait::{EndHookPayload, RouterPlugin, StartHookPayload},
    },
    http::StatusCode,
    ntex::{
        http::{
            body::{Body, ResponseBody},
            header::{HeaderName, HeaderValue, AUTHORIZATION, UPGRADE},
            HeaderMap,
        },
        util::Bytes,
    },
    GraphQLError,
};
use serde::Deserialize;
use tokio::sync::OnceCell;

/// Name under `plugins:` in `router.yaml`.
pub const FITTRACK_LIMITS: &str = "fittrack_limits";

/// `plugins.fittrack_limits.config`; each quota can be replaced from the
/// environment as `LIMIT/SECONDS` (`FITTRACK_LIMIT_PER_USER=100/60`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// Operations per signed-in user. Env: `FITTRACK_LIMIT_PER_USER`.
    pub per_user: Quota,
    /// Operations per client address without a token. Env: `FITTRACK_LIMIT_PER_ADDRESS`.
    pub per_address: Quota,
    /// New WebSocket connections per client address. Env: `FITTRACK_LIMIT_WS_PER_ADDRESS`.
    pub websocket_connects_per_address: Quota,
    /// WebSocket connections one client address may hold open at once (per
    /// router process). Env: `FITTRACK_LIMIT_WS_OPEN_PER_ADDRESS`.
    pub websocket_open_per_address: usize,
    /// Proxies whose `X-Forwarded-For` is believed. Env: `FITTRACK_TRUSTED_PROXIES`.
    /// Default: none (the peer is the client).
    pub trusted_proxies: Option<TrustedProxies>,
    /// IPv6 clients are limited by their network of this many bits (a /64
    /// is one subscriber's). Env: `FITTRACK_IPV6_PREFIX`.
    pub ipv6_prefix: u8,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            per_user: Quota::per_minute(100),
            per_address: Quota::per_minute(100),
            websocket_connects_per_address: Quota::per_minute(30),
            websocket_open_per_address: 20,
            trusted_proxies: None,
            ipv6_prefix: fittrack_kit::client_address::DEFAULT_IPV6_PREFIX,
        }
    }
}

impl LimitsConfig {
    /// The environment's overrides on top of the file.
    fn with_env(mut self) -> Result<Self, String> {
        let quota = |name: &str, current: Quota| -> Result<Quota, String> {
            match std::env::var(name).ok().filter(|v| !v.trim().is_empty()) {
                Some(text) => parse_quota(&text).map_err(|e| format!("{name}: {e}")),
                None => Ok(current),
            }
        };
        self.per_user = quota("FITTRACK_LIMIT_PER_USER", self.per_user)?;
        self.per_address = quota("FITTRACK_LIMIT_PER_ADDRESS", self.per_address)?;
        self.websocket_connects_per_address = quota(
            "FITTRACK_LIMIT_WS_PER_ADDRESS",
            self.websocket_connects_per_address,
        )?;
        if let Some(text) = std::env::var("FITTRACK_LIMIT_WS_OPEN_PER_ADDRESS")
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            self.websocket_open_per_address = text
                .trim()
                .parse()
                .map_err(|_| "FITTRACK_LIMIT_WS_OPEN_PER_ADDRESS: a whole number".to_owned())?;
        }
        if let Some(text) = std::env::var("FITTRACK_IPV6_PREFIX")
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            self.ipv6_prefix = text
                .trim()
                .parse()
                .ok()
                .filter(|bits| (1..=128).contains(bits))
                .ok_or_else(|| "FITTRACK_IPV6_PREFIX: bits from 1 to 128".to_owned())?;
        }
        if let Some(text) = std::env::var("FITTRACK_TRUSTED_PROXIES")
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            self.trusted_proxies = Some(
                TrustedProxies::from_str(&text)
                    .map_err(|e| format!("FITTRACK_TRUSTED_PROXIES: {e}"))?,
            );
        }
        Ok(self)
    }
}

/// `100/60` (100 per 60 s) or `100` (per minute).
fn parse_quota(text: &str) -> Result<Quota, String> {
    let (limit, period) = text.split_once('/').unwrap_or((text, "60"));
    let limit: u32 = limit
        .trim()
        .parse()
        .map_err(|_| "limit must be a whole number")?;
    let period: u64 = period
        .trim()
        .parse()
        .map_err(|_| "period must be seconds")?;
    if limit == 0 || period == 0 {
        return Err("limit and period must be positive".into());
    }
    Ok(Quota {
        limit,
        period: std::time::Duration::from_secs(period),
    })
}

pub struct LimitsPlugin {
    config: LimitsConfig,
    trusted: TrustedProxies,
    redis_url: Option<String>,
    limiter: OnceCell<Arc<dyn RateLimiter>>,
    /// The deployment's revocations (`kit::revocation`, in Redis under
    /// `FITTRACK_NAMESPACE`), when Redis is configured; without it they live
    /// in the subgraphs' process, which checks them alone.
    revocations: OnceCell<Arc<dyn fittrack_kit::revocation::Revocations>>,
    namespace: String,
    /// `FITTRACK_RATE_LIMITS=off` stops counting (limits enforced elsewhere, or
    /// a benchmark's baseline); the client address is still resolved.
    counting: bool,
    max_cost: Option<u64>,
    /// WebSocket connections open per client address in this process.
    /// Keyed like the rate limits (an IPv6 client by its network).
    open_connections: OpenSlots<String>,
}

/// The client address the request was given (plugin context).
struct ClientAddress(IpAddr);

/// The rate-limit decision for this request (plugin context), for the headers.
struct RateDecision {
    decision: Decision,
    quota: Quota,
}

impl LimitsPlugin {
    /// Connects on first use: `on_plugin_init` is synchronous, and Redis
    /// clients belong to the runtime that serves requests.
    async fn limiter(&self) -> anyhow::Result<&Arc<dyn RateLimiter>> {
        self.limiter
            .get_or_try_init(|| {
                fittrack_kit::ratelimit::connect(self.redis_url.as_deref(), "fittrack:ratelimit:")
            })
            .await
    }

    /// Whether the verified token's session or user was revoked: `None`
    /// without Redis (nothing shared to read), `Err` when the revocations
    /// cannot be read and no recent local copy answers (fail closed).
    async fn revoked(&self, token: &VerifiedToken) -> Option<anyhow::Result<bool>> {
        let url = self.redis_url.as_deref()?;
        let revocations = self
            .revocations
            .get_or_try_init(|| async {
                let redis = fittrack_kit::revocation::RedisRevocations::connect_in(
                    &self.namespace,
                    url,
                    fittrack_kit::revocation::DEFAULT_KEEP_FOR,
                )
                .await?;
                anyhow::Ok(Arc::new(
                    fittrack_kit::revocation::CachedRevocations::new(
                        Arc::new(redis),
                        fittrack_kit::revocation::CACHE_TTL,
                    )
                    .with_local_copy_for(fittrack_kit::revocation::DEFAULT_KEEP_FOR),
                )
                    as Arc<dyn fittrack_kit::revocation::Revocations>)
            })
            .await;
        Some(match revocations {
            Ok(revocations) => revocations
                .state(token.user, token.session)
                .await
                .map(|state| state.refuses(token.issued_at_ms)),
            Err(error) => Err(error),
        })
    }

    async fn check(&self, key: &str, quota: Quota) -> Option<Decision> {
        if !self.counting {
            return None;
        }
        // The first connection is not cut short by `LIMIT_WAIT`: one that
        // takes longer (TLS, Sentinel) would start over on every request and
        // never count anything.
        match self.limiter().await {
            Ok(limiter) => within_limit_wait(limiter.check(key, quota, 1)).await,
            Err(error) => uncounted(error),
        }
    }
}

/// How long a request waits for the shared limiter before it goes through
/// uncounted: as long as the subgraphs' per-user quotas wait
/// (`UserQuota::admit`). A Redis that is reconnecting or silent would
/// otherwise hold every request for its command timeout (2 s).
const LIMIT_WAIT: std::time::Duration = fittrack_kit::ratelimit::USER_QUOTA_WAIT;

/// The limiter's decision, or `None` (logged) when it failed or did not
/// answer within [`LIMIT_WAIT`]: losing the limiter costs the limit for a
/// while, never the request.
async fn within_limit_wait(
    check: impl std::future::Future<Output = anyhow::Result<Decision>>,
) -> Option<Decision> {
    match tokio::time::timeout(LIMIT_WAIT, check).await {
        Ok(Ok(decision)) => Some(decision),
        Ok(Err(error)) => uncounted(error),
        Err(_) => uncounted(anyhow::anyhow!("no answer within {LIMIT_WAIT:?}")),
    }
}

/// No decision: the request goes through uncounted (logged).
fn uncounted(error: anyhow::Error) -> Option<Decision> {
    tracing::warn!(
        error = format!("{error:#}"),
        "rate limiter unavailable; request allowed"
    );
    None
}

#[async_trait]
impl RouterPlugin for LimitsPlugin {
    type Config = LimitsConfig;

    fn plugin_name() -> &'static str {
        FITTRACK_LIMITS
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let config = payload.config()?.with_env()?;
        let redis_url =
            fittrack_kit::config::variable_or_file("REDIS_URL").map_err(|e| format!("{e:#}"))?;
        let max_cost = payload
            .router_config()
            .demand_control
            .as_ref()
            .filter(|dc| dc.enabled)
            .map(|dc| dc.operation_cost.max);
        payload.initialize_plugin(Self {
            trusted: config
                .trusted_proxies
                .clone()
                .unwrap_or_else(TrustedProxies::none),
            config,
            redis_url,
            limiter: OnceCell::new(),
            revocations: OnceCell::new(),
            namespace: std::env::var("FITTRACK_NAMESPACE")
                .ok()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| fittrack_kit::shared::DEFAULT_NAMESPACE.to_owned()),
            counting: !std::env::var("FITTRACK_RATE_LIMITS")
                .is_ok_and(|v| v.trim().eq_ignore_ascii_case("off")),
            max_cost,
            open_connections: OpenSlots::default(),
        })
    }

    fn on_http_request<'req>(
        &'req self,
        mut payload: OnHttpRequestHookPayload<'req>,
    ) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            let request = &mut payload.router_http_request;
            let peer = request
                .peer_addr()
                .map_or(IpAddr::from([0, 0, 0, 0]), |addr| addr.ip());
            let forwarded: Vec<String> = request
                .headers()
                .get_all("x-forwarded-for")
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect();
            let client = self
                .trusted
                .client_address(peer, forwarded.iter().map(String::as_str));
            let headers = request.headers_mut();
            headers.remove("x-real-ip");
            if let Ok(value) = HeaderValue::from_str(&client.to_string()) {
                headers.insert(HeaderName::from_static("x-forwarded-for"), value);
            }
            let is_websocket = headers
                .get(UPGRADE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
            payload.context.insert(ClientAddress(client));
            // What limits count it under: an IPv6 client by its network.
            let network = limit_key(client, self.config.ipv6_prefix);

            if is_websocket {
                let quota = self.config.websocket_connects_per_address;
                if let Some(decision) = self.check(&format!("ws:ip:{network}"), quota).await {
                    if !decision.allowed {
                        let response = refusal(&decision, Some(quota));
                        return payload.end_with_response(response);
                    }
                }
                let max_open = self.config.websocket_open_per_address;
                let Some(guard) = self.open_connections.try_open(network, max_open) else {
                    // No address in logs (personal data): the count says enough.
                    tracing::info!(
                        max_open,
                        "WebSocket refused: too many open from one address"
                    );
                    let decision = Decision {
                        allowed: false,
                        limit: u32::try_from(max_open).unwrap_or(u32::MAX),
                        remaining: 0,
                        reset_after: std::time::Duration::from_secs(60),
                        retry_after: std::time::Duration::from_secs(60),
                    };
                    return payload.end_with_response(refusal(&decision, None));
                };
                payload.router_http_request.extensions_mut().insert(guard);
            }

            let max_cost = self.max_cost;
            payload.on_end(move |mut end| {
                if let Some(rate) = end.context.get_ref::<RateDecision>() {
                    let headers = end.response.headers_mut();
                    for (name, value) in rate_headers(&rate.decision, rate.quota) {
                        headers.insert(name, value);
                    }
                }
                if let Some(max) = max_cost {
                    explain_cost_refusal(&mut end.response, max);
                }
                end.proceed()
            })
        })
    }

    async fn on_execute<'exec>(
        &'exec self,
        payload: OnExecuteStartHookPayload<'exec>,
    ) -> OnExecuteStartHookResult<'exec> {
        // The JWT layer has verified this token, so its subject is the caller.
        let token = crate::token_verified(&payload)
            .then(|| verified_token(payload.router_http_request.headers))
            .flatten();
        // A revoked token stops here, before it costs any subgraph work (the
        // subgraphs check too: a token revoked meanwhile stops there).
        if let Some(token) = &token {
            match self.revoked(token).await {
                Some(Ok(true)) => {
                    return payload.end_with_graphql_error(
                        GraphQLError::from_message_and_code(
                            "This session has ended; sign in again",
                            "UNAUTHENTICATED",
                        ),
                        StatusCode::UNAUTHORIZED,
                    )
                }
                Some(Err(error)) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "revocations unreadable; signed-in request refused"
                    );
                    let mut refusal = GraphQLError::from_message_and_code(
                        "Sign-in checks are unavailable; try again shortly",
                        "SERVICE_UNAVAILABLE",
                    );
                    refusal
                        .extensions
                        .set("retryAfterSeconds".into(), hive_router::sonic_rs::json!(5));
                    return payload
                        .end_with_graphql_error(refusal, StatusCode::SERVICE_UNAVAILABLE);
                }
                Some(Ok(false)) | None => {}
            }
        }
        let (key, quota, per) = match token.map(|token| token.user) {
            Some(user) => (format!("api:user:{user}"), self.config.per_user, "user"),
            None => {
                let address = payload.context.get_ref::<ClientAddress>().map_or_else(
                    || "unknown".to_owned(),
                    |a| limit_key(a.0, self.config.ipv6_prefix),
                );
                (
                    format!("api:ip:{address}"),
                    self.config.per_address,
                    "address",
                )
            }
        };
        let Some(decision) = self.check(&key, quota).await else {
            return payload.proceed();
        };
        payload.context.insert(RateDecision { decision, quota });
        if decision.allowed {
            return payload.proceed();
        }
        // Not the key: it names a user or an address.
        tracing::info!(per, "operation refused: rate limit");
        payload.end_with_graphql_error(rate_limited_error(&decision), StatusCode::TOO_MANY_REQUESTS)
    }

    /// Every subgraph request says who the client is, in our words only.
    async fn on_subgraph_execute<'exec>(
        &'exec self,
        mut payload: OnSubgraphExecuteStartHookPayload<'exec>,
    ) -> OnSubgraphExecuteStartHookResult<'exec> {
        let client = payload.context.get_ref::<ClientAddress>().map(|a| a.0);
        let headers = &mut payload.execution_request.headers;
        for name in ["x-forwarded-for", "x-real-ip", "forwarded"] {
            headers.remove(name);
        }
        let value =
            client.and_then(|c| hive_router::http::HeaderValue::from_str(&c.to_string()).ok());
        if let Some(value) = value {
            headers.insert(
                hive_router::http::HeaderName::from_static("x-forwarded-for"),
                value,
            );
        }
        payload.proceed()
    }
}

fn rate_limited_error(decision: &Decision) -> GraphQLError {
    let secs = decision.retry_after_secs();
    let mut error = GraphQLError::from_message_and_code(
        format!("Too many requests; try again in {secs} s"),
        "RATE_LIMITED",
    );
    error.extensions.set(
        "retryAfterSeconds".into(),
        hive_router::sonic_rs::json!(secs),
    );
    error
}

/// `RateLimit-Policy: 100;w=60` and `RateLimit: limit=100, remaining=42, reset=17`
/// (draft-ietf-httpapi-ratelimit-headers), plus `Retry-After` on refusals.
fn rate_headers(decision: &Decision, quota: Quota) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = Vec::with_capacity(3);
    let reset = decision.reset_after.as_secs();
    let values = [
        ("ratelimit-policy", quota.policy()),
        (
            "ratelimit",
            format!(
                "limit={}, remaining={}, reset={reset}",
                decision.limit, decision.remaining
            ),
        ),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.push((HeaderName::from_static(name), value));
        }
    }
    if !decision.allowed {
        headers.push((
            HeaderName::from_static("retry-after"),
            HeaderValue::from(decision.retry_after_secs()),
        ));
    }
    headers
}

/// A refusal before any GraphQL is read (WebSocket upgrades).
/// `quota`: the rate that refused it, for the `RateLimit` headers; `None` for the
/// open-connection cap, which is no rate (only `Retry-After` then).
fn refusal(decision: &Decision, quota: Option<Quota>) -> hive_router::ntex::http::Response {
    use hive_router::executor::plugin_trait::FromGraphQLErrorToResponse;
    let mut response = hive_router::ntex::http::Response::from_graphql_error_to_response(
        rate_limited_error(decision),
        StatusCode::TOO_MANY_REQUESTS,
    );
    let headers = match quota {
        Some(quota) => rate_headers(decision, quota),
        None => vec![(
            HeaderName::from_static("retry-after"),
            HeaderValue::from(decision.retry_after_secs()),
        )],
    };
    for (name, value) in headers {
        response.headers_mut().insert(name, value);
    }
    response
}

/// What the router reads from a bearer token the JWT layer has verified.
struct VerifiedToken {
    user: uuid::Uuid,
    session: uuid::Uuid,
    issued_at_ms: i64,
}

/// The bearer token's user, session and issue time (its signature already
/// verified by the JWT layer); the same reading as the subgraphs'
/// `kit::auth::JwtVerifier::verify`.
fn verified_token(headers: &HeaderMap) -> Option<VerifiedToken> {
    let claims = crate::token_claims(headers.get(AUTHORIZATION)?.to_str().ok()?)?;
    Some(VerifiedToken {
        user: claims.sub.parse().ok()?,
        session: claims.sid.parse().ok()?,
        issued_at_ms: claims
            .iat_ms
            .unwrap_or(claims.times.iat.saturating_mul(1000)),
    })
}

/// hive-router refuses an over-budget operation with `COST_ESTIMATED_TOO_EXPENSIVE`
/// and the figures only in headers; clients read errors, so they go in there too.
fn explain_cost_refusal(response: &mut hive_router::ntex::web::WebResponse, max: u64) {
    let estimated = response
        .headers()
        .get("x-cost-estimated")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(estimated) = estimated.filter(|estimated| *estimated > max) else {
        return;
    };
    let ResponseBody::Body(Body::Bytes(bytes)) = response.response().body() else {
        return;
    };
    let Ok(mut body) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return;
    };
    let Some(errors) = body["errors"].as_array_mut() else {
        return;
    };
    for error in errors {
        if error["extensions"]["code"] == "COST_ESTIMATED_TOO_EXPENSIVE" {
            error["message"] = format!(
                "Operation too expensive: estimated cost {estimated} exceeds the maximum {max}; \
                 ask for fewer items (smaller `first`) or fewer nested lists"
            )
            .into();
            error["extensions"]["estimatedCost"] = estimated.into();
            error["extensions"]["maxCost"] = max.into();
        }
    }
    if let Ok(text) = serde_json::to_vec(&body) {
        *response.response_mut() = std::mem::replace(
            response.response_mut(),
            hive_router::ntex::http::Response::new(StatusCode::OK),
        )
        .set_body(Body::Bytes(Bytes::from(text)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse_from_the_environment_form() {
        assert_eq!(parse_quota("100/60"), Ok(Quota::per_minute(100)));
        assert_eq!(parse_quota("5"), Ok(Quota::per_minute(5)));
        assert!(parse_quota("0/60").is_err());
        assert!(parse_quota("many").is_err());
    }

    /// A limiter that answers only long after it was asked, as a
    /// reconnecting or silent Redis does: the request goes through
    /// uncounted after `LIMIT_WAIT` instead of waiting for it.
    #[tokio::test]
    async fn a_limiter_slower_than_the_wait_lets_the_request_through_uncounted() {
        let decision = Decision {
            allowed: true,
            limit: 1,
            remaining: 0,
            reset_after: std::time::Duration::from_secs(60),
            retry_after: std::time::Duration::ZERO,
        };
        let slow = async {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            Ok(decision)
        };
        assert_eq!(within_limit_wait(slow).await, None);
        assert_eq!(
            within_limit_wait(async { Ok(decision) }).await,
            Some(decision)
        );
    }
}
