//! FitTrack's federation router: the `hive-router` engine with two plugins of ours.
//!
//! - [`RejectInvalidTokens`]: hive-router's JWT support, with
//!   `require_authentication: false`, lets a request with an *invalid* token
//!   through as anonymous. We want anonymous requests for public fields but a bad
//!   token refused outright, so it ends any request that carried an
//!   `Authorization` header the JWT layer did not accept. hive-router checks
//!   the signature, `alg`, `iss`, `aud` and `exp`; the plugin then checks what
//!   it does not (`nbf`, `iat` not in the future, the lifetime no longer than
//!   `FITTRACK_MAX_TOKEN_LIFETIME_SECS`, `sub` and `sid` present) with the
//!   subgraphs' own function, `fittrack_kit::auth::check_times`.
//! - [`limits::LimitsPlugin`]: the trustworthy client address, rate limits per
//!   user and per address, WebSocket connection limits, and cost refusals that
//!   say the cost (see its module).
//!
//! Everything else that bounds a request (depth, aliases, tokens, body size,
//! demand control, CSRF) is hive-router's own, configured in `router.yaml`.

// Needed because of ntex's way of defining middlewares.
#![recursion_limit = "256"]

pub mod config_env;
pub mod limits;

pub use hive_router::{configure_global_allocator, RouterGlobalAllocator};
use hive_router::{
    error::RouterInitError,
    executor::{
        hooks::{
            on_execute::{OnExecuteStartHookPayload, OnExecuteStartHookResult},
            on_plugin_init::{OnPluginInitPayload, OnPluginInitResult},
        },
        plugin_trait::{RouterPlugin, StartHookPayload},
    },
    http::{header::AUTHORIZATION, StatusCode},
    init_rustls_crypto_provider, ntex, router_entrypoint, GraphQLError, PluginRegistry,
};

/// Name under `plugins:` in `router.yaml`.
pub const REJECT_INVALID_TOKENS: &str = "reject_invalid_tokens";

/// Refuses requests whose `Authorization` header did not authenticate, or
/// whose token's claims break our rules.
pub struct RejectInvalidTokens {
    max_lifetime_secs: i64,
}

#[hive_router::async_trait]
impl RouterPlugin for RejectInvalidTokens {
    type Config = ();

    fn plugin_name() -> &'static str {
        REJECT_INVALID_TOKENS
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let max_lifetime_secs = std::env::var("FITTRACK_MAX_TOKEN_LIFETIME_SECS")
            .ok()
            .and_then(|secs| secs.trim().parse().ok())
            .unwrap_or(fittrack_kit::auth::DEFAULT_MAX_LIFETIME_SECS);
        payload.initialize_plugin(Self { max_lifetime_secs })
    }

    async fn on_execute<'exec>(
        &'exec self,
        payload: OnExecuteStartHookPayload<'exec>,
    ) -> OnExecuteStartHookResult<'exec> {
        let presented = payload
            .router_http_request
            .headers
            .contains_key(AUTHORIZATION);
        if !presented {
            return payload.proceed();
        }
        let claims_ok = || {
            let header = payload.router_http_request.headers.get(AUTHORIZATION)?;
            claims_acceptable(header.to_str().ok()?, self.max_lifetime_secs).then_some(())
        };
        if token_verified(&payload) && claims_ok().is_some() {
            payload.proceed()
        } else {
            payload.end_with_graphql_error(
                GraphQLError::from_message_and_code(
                    "Invalid or expired access token",
                    "UNAUTHENTICATED",
                ),
                StatusCode::UNAUTHORIZED,
            )
        }
    }
}

/// The claims of a bearer token, read without checking its signature (the
/// JWT layer does): what the router needs that hive-router does not check.
#[derive(serde::Deserialize)]
pub(crate) struct TokenClaims {
    #[serde(flatten)]
    pub(crate) times: fittrack_kit::auth::TokenTimes,
    pub(crate) sub: String,
    pub(crate) sid: String,
    /// Issued-at in milliseconds (revocation cut-offs are that precise).
    pub(crate) iat_ms: Option<i64>,
}

/// [`TokenClaims`] of an `Authorization` value.
pub(crate) fn token_claims(authorization: &str) -> Option<TokenClaims> {
    use base64::Engine as _;
    let token = fittrack_kit::auth::bearer_token(authorization).unwrap_or(authorization.trim());
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The claims hive-router does not check, on a token whose signature it has
/// verified: times (`nbf`, `iat`, lifetime) and the ids the subgraphs need.
fn claims_acceptable(authorization: &str, max_lifetime_secs: i64) -> bool {
    let Some(claims) = token_claims(authorization) else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    !claims.sub.is_empty()
        && !claims.sid.is_empty()
        && fittrack_kit::auth::check_times(claims.times, now, max_lifetime_secs).is_ok()
}

/// Whether the JWT layer accepted this request's token.
pub(crate) fn token_verified(payload: &OnExecuteStartHookPayload<'_>) -> bool {
    payload
        .request_context
        .read()
        .map(|context| context.authentication().jwt_status() == Some(&true))
        .unwrap_or(false)
}

/// Our plugins, for `router_entrypoint`.
pub fn plugins() -> PluginRegistry {
    PluginRegistry::new()
        .register::<RejectInvalidTokens>()
        .register::<limits::LimitsPlugin>()
}

/// Runs the router until it is stopped (SIGINT/SIGTERM). Blocks: it owns its ntex
/// runtime, so call it outside any other async runtime.
///
/// Config comes from `ROUTER_CONFIG_FILE_PATH` (see `router/router.yaml`).
///
/// `FITTRACK_ENV=production` turns the Laboratory off unless `LABORATORY_ENABLED`
/// says otherwise (introspection follows the same variable in router.yaml).
pub fn run() -> Result<(), RouterInitError> {
    if fittrack_kit::config::is_production() && std::env::var_os("LABORATORY_ENABLED").is_none() {
        // Before the runtime and its threads start: nothing reads it concurrently.
        std::env::set_var("LABORATORY_ENABLED", "false");
    }
    // Held until the router stops: the effective config lives in it.
    let _effective = match apply_config_env() {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("router config: {error}");
            std::process::exit(2);
        }
    };
    serve()
}

/// Points `ROUTER_CONFIG_FILE_PATH` at a copy of the config with what
/// [`config_env`] applies from the environment, when it applies anything.
fn apply_config_env() -> Result<Option<tempfile::TempDir>, String> {
    let Some(original) = std::env::var_os("ROUTER_CONFIG_FILE_PATH") else {
        return Ok(None);
    };
    let dir = tempfile::Builder::new()
        .prefix("fittrack-router-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    match config_env::effective_config(std::path::Path::new(&original), dir.path())? {
        Some(effective) => {
            // Before the runtime and its threads start, as above.
            std::env::set_var("ROUTER_CONFIG_FILE_PATH", effective);
            Ok(Some(dir))
        }
        None => Ok(None),
    }
}

#[hive_router::main]
async fn serve() -> Result<(), RouterInitError> {
    init_rustls_crypto_provider();
    router_entrypoint(plugins()).await
}
