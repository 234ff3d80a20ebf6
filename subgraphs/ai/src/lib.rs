//! The AI subgraph: recommendations written by a background worker from
//! activity events (Gemini, or rules), daily plans, and live recommendation
//! subscriptions.
//!
//! Layers: [`graphql`] → [`domain`] / [`coach`] (Gemini + rules) → [`storage`];
//! [`worker`] consumes the activity event queue; [`bus`] fans new
//! recommendations out to subscribers (Redis pub/sub or in-process).

pub mod breakers;
pub mod bus;
pub mod coach;
pub mod config;
pub mod domain;
pub mod gemini;
pub mod graphql;
pub mod storage;
pub mod worker;

use std::sync::Arc;

use axum::Router;
use fittrack_kit::{queue, server::SubgraphApp, JwtVerifier};

use bus::{LocalBus, RecommendationBus, RedisBus};
pub use config::AiConfig;
use graphql::AiContext;
use storage::AiStore;
use worker::Worker;

/// A built AI subgraph and the worker sharing its store, Gemini client and bus.
pub struct AiService {
    pub router: Router,
    pub context: AiContext,
    pub worker: Worker,
}

/// Store, queue, Gemini client and bus from config.
pub async fn connect(config: &AiConfig) -> anyhow::Result<AiContext> {
    let store: Arc<dyn AiStore> = match &config.mongodb_uri {
        Some(uri) => Arc::new(
            storage::mongo::MongoAiStore::connect(uri.expose(), &config.mongodb_database).await?,
        ),
        None => Arc::new(storage::embedded::EmbeddedAiStore::open(&config.embedded_url()).await?),
    };
    let redis = config.redis_url.as_ref().map(|u| u.expose().to_owned());
    let queue = queue::connect(
        redis.as_deref(),
        &config.worker.queue,
        &config.worker.group,
        config.worker.queue_options.clone(),
    )
    .await?;
    let bus: Arc<dyn RecommendationBus> = match &redis {
        Some(url) => RedisBus::connect(url).await?,
        None => Arc::new(LocalBus::default()),
    };
    if config.gemini.api_key.is_none() {
        tracing::info!("GEMINI_API_KEY unset: recommendations come from the built-in rules");
    }
    let coach = Arc::new(coach::Coach::with_limits(
        gemini::GeminiClient::new(config.gemini.clone())?,
        fittrack_kit::ratelimit::connect(redis.as_deref(), "fittrack:ratelimit:").await?,
        config.limits.clone(),
    ));
    let dashboard = fittrack_kit::cache::dashboard(redis.as_deref(), "dashboard:ai").await?;
    let breakers = breakers::BreakerBoard::connect(redis.as_deref()).await?;
    let erased = fittrack_kit::erasure::connect(redis.as_deref()).await?;
    Ok(AiContext {
        store,
        coach,
        bus,
        queue,
        dashboard,
        breakers,
        erased,
    })
}

pub async fn build(config: &AiConfig) -> anyhow::Result<AiService> {
    let context = connect(config).await?;
    let verifier = JwtVerifier::remote(&config.auth);
    verifier.use_revocations(
        fittrack_kit::revocation::connect(
            config.redis_url.as_ref().map(|u| u.expose()),
            config.auth.revocation_keep_for(),
        )
        .await?,
    );
    Ok(build_with(context, verifier, &config.http))
}

/// Builds the subgraph around given parts (tests pass fakes and fixed keys).
pub fn build_with(
    context: AiContext,
    verifier: Arc<JwtVerifier>,
    http: &fittrack_kit::config::HttpConfig,
) -> AiService {
    let worker = Worker::new(
        context.store.clone(),
        context.coach.clone(),
        context.bus.clone(),
    )
    .with_erasure_marks(context.erased.clone(), context.queue.clone());
    let schema = graphql::build_schema(context.clone());
    let ready_store = context.store.clone();
    let ready_queue = context.queue.clone();
    let router = SubgraphApp::new(schema, verifier)
        .http(http)
        .readiness("ai store", move || {
            let store = ready_store.clone();
            async move { store.ping().await.map_err(|e| format!("{e:#}")) }
        })
        .readiness("event queue", move || {
            let queue = ready_queue.clone();
            async move { queue.ping().await.map_err(|e| format!("{e:#}")) }
        })
        .into_router();
    AiService {
        router,
        context,
        worker,
    }
}

/// The subgraph's SDL (federation 2), as exported to `schema/ai.graphql`.
pub fn sdl() -> String {
    graphql::sdl()
}
