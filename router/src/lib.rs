//! FitTrack's federation router: the `hive-router` engine with two plugins of ours.
//!
//! - [`RejectInvalidTokens`]: hive-router's JWT support, with
//!   `require_authentication: false`, lets a request with an *invalid* token
//!   through as anonymous. We want anonymous requests for public fields but a bad
//!   token refused outright, so it ends any request that carried an
//!   `Authorization` header the JWT layer did not accept.
//! - [`limits::LimitsPlugin`]: the trustworthy client address, rate limits per
//!   user and per address, WebSocket connection limits, and cost refusals that
//!   say the cost (see its module).
//!
//! Everything else that bounds a request (depth, aliases, tokens, body size,
//! demand control, CSRF) is hive-router's own, configured in `router.yaml`.

// Needed because of ntex's way of defining middlewares.
#![recursion_limit = "256"]

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

/// Refuses requests whose `Authorization` header did not authenticate.
#[derive(Default)]
pub struct RejectInvalidTokens;

#[hive_router::async_trait]
impl RouterPlugin for RejectInvalidTokens {
    type Config = ();

    fn plugin_name() -> &'static str {
        REJECT_INVALID_TOKENS
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        payload.initialize_plugin_with_defaults()
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
        if token_verified(&payload) {
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
    serve()
}

#[hive_router::main]
async fn serve() -> Result<(), RouterInitError> {
    init_rustls_crypto_provider();
    router_entrypoint(plugins()).await
}
