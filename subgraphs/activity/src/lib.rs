//! The activity subgraph: workouts, history, stats, and the activity events the
//! AI worker consumes.
//!
//! Layers: [`graphql`] (API types, resolvers, dataloaders) → [`domain`] (rules,
//! validation, stats) → [`storage`] (MongoDB or the embedded SQLite store), plus
//! [`events`] (queue publishing and the sweeper).

pub mod config;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod storage;

use std::{sync::Arc, time::Duration};

use axum::Router;
use fittrack_kit::{
    queue::{self, JobQueue},
    server::SubgraphApp,
    JwtVerifier,
};

pub use config::ActivityConfig;
use domain::activities::Activities;
use events::EventPublisher;
use storage::ActivityStore;

/// A built activity subgraph, ready to be served.
pub struct ActivityService {
    pub router: Router,
    pub store: Arc<dyn ActivityStore>,
    pub queue: Arc<dyn JobQueue>,
    /// Erasure marks (the eraser sets them, `logActivity` checks them).
    pub erased: Arc<dyn fittrack_kit::erasure::ErasedUsers>,
    pub events: EventPublisher,
}

/// Opens the configured store (MongoDB, else embedded SQLite).
pub async fn open_store(config: &ActivityConfig) -> anyhow::Result<Arc<dyn ActivityStore>> {
    Ok(match &config.mongodb_uri {
        Some(uri) => Arc::new(
            storage::mongo::MongoActivityStore::connect(uri.expose(), &config.mongodb_database)
                .await?,
        ),
        None => {
            Arc::new(storage::embedded::EmbeddedActivityStore::open(&config.embedded_url()).await?)
        }
    })
}

/// Builds the subgraph from config: store, queue, JWT verification.
pub async fn build(config: &ActivityConfig) -> anyhow::Result<ActivityService> {
    let store = open_store(config).await?;
    let queue = queue::connect(
        config.redis_url.as_ref().map(|u| u.expose()),
        &config.events.queue,
        &config.events.group,
        config.events.queue_options.clone(),
    )
    .await?;
    let verifier = JwtVerifier::remote(&config.auth);
    verifier.use_revocations(
        fittrack_kit::revocation::connect(
            config.redis_url.as_ref().map(|u| u.expose()),
            config.auth.revocation_keep_for(),
        )
        .await?,
    );
    let platform_stats = fittrack_kit::cache::dashboard(
        config.redis_url.as_ref().map(|u| u.expose()),
        "dashboard:activities",
    )
    .await?;
    let erased =
        fittrack_kit::erasure::connect(config.redis_url.as_ref().map(|u| u.expose())).await?;
    Ok(build_with_erasures(
        store,
        queue,
        verifier,
        Duration::from_millis(config.loader_delay_ms),
        platform_stats,
        &config.http,
        erased,
    ))
}

/// Builds the subgraph around given parts (tests pass counting stores, fixed
/// keys), with the process's own erasure marks.
pub fn build_with(
    store: Arc<dyn ActivityStore>,
    queue: Arc<dyn JobQueue>,
    verifier: Arc<JwtVerifier>,
    loader_delay: Duration,
    platform_stats: graphql::admin::PlatformStatsCache,
    http: &fittrack_kit::config::HttpConfig,
) -> ActivityService {
    build_with_erasures(
        store,
        queue,
        verifier,
        loader_delay,
        platform_stats,
        http,
        fittrack_kit::erasure::MemoryErasedUsers::shared(),
    )
}

fn build_with_erasures(
    store: Arc<dyn ActivityStore>,
    queue: Arc<dyn JobQueue>,
    verifier: Arc<JwtVerifier>,
    loader_delay: Duration,
    platform_stats: graphql::admin::PlatformStatsCache,
    http: &fittrack_kit::config::HttpConfig,
    erased: Arc<dyn fittrack_kit::erasure::ErasedUsers>,
) -> ActivityService {
    let events = EventPublisher::new(queue.clone(), store.clone());
    let activities = Activities::new(store.clone(), events.clone(), erased.clone());
    let schema = graphql::build_schema(activities, loader_delay, platform_stats);
    let ready_store = store.clone();
    let ready_queue = queue.clone();
    let router = SubgraphApp::new(schema, verifier)
        .http(http)
        .readiness("activity store", move || {
            let store = ready_store.clone();
            async move { store.ping().await.map_err(|e| format!("{e:#}")) }
        })
        .readiness("event queue", move || {
            let queue = ready_queue.clone();
            async move { queue.ping().await.map_err(|e| format!("{e:#}")) }
        })
        .into_router();
    ActivityService {
        router,
        store,
        queue,
        erased,
        events,
    }
}

/// The subgraph's SDL (federation 2), as exported to `schema/activity.graphql`.
pub fn sdl() -> String {
    graphql::sdl()
}
