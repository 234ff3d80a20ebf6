//! The activity subgraph: workouts, history, stats, and the activity events the
//! AI worker consumes.
//!
//! Layers: [`graphql`] (API types, resolvers, dataloaders) → [`domain`] (rules,
//! validation, stats) → [`storage`] (MongoDB or the embedded SQLite store), plus
//! [`events`] (queue publishing and the sweeper).

pub mod config;
pub mod domain;
pub mod events;
pub mod files;
pub mod graphql;
pub mod imports;
pub mod storage;

use std::{sync::Arc, time::Duration};

use fittrack_kit::{
    backend::StoreBackend,
    queue::{self, JobQueue},
    server::SubgraphApp,
    service::Service,
    JwtVerifier,
};

pub use config::ActivityConfig;
use domain::activities::Activities;
use domain::imports::{ImportStore, Imports};
use domain::ports::ActivityStore;
use events::EventPublisher;

/// The activity subgraph as built from its config: the process to run, and
/// the parts tests and benches look into.
pub struct ActivityService {
    /// The API and the background tasks (event confirmations, sweeper, eraser).
    pub service: Service,
    pub store: Arc<dyn ActivityStore>,
    pub queue: Arc<dyn JobQueue>,
    /// Erasure marks (the eraser sets them, `logActivity` checks them).
    pub erased: Arc<dyn fittrack_kit::erasure::ErasedUsers>,
    pub events: EventPublisher,
}

/// The configured store (MongoDB, else embedded SQLite): one backend, seen
/// as the activity store, the import store and the goal store.
pub type Stores = (
    Arc<dyn ActivityStore>,
    Arc<dyn ImportStore>,
    Arc<dyn domain::ports::GoalStore>,
    Arc<dyn domain::ports::GearStore>,
    Arc<dyn domain::ports::ProfileStore>,
    Arc<dyn domain::ports::OriginalStore>,
);

/// Opens the configured store.
pub async fn open_store(config: &ActivityConfig) -> anyhow::Result<Stores> {
    Ok(match config.store() {
        StoreBackend::Mongo { uri, database } => {
            let store = Arc::new(
                storage::mongo::MongoActivityStore::connect(uri.expose(), &database).await?,
            );
            (
                store.clone(),
                store.clone(),
                store.clone(),
                store.clone(),
                store.clone(),
                store,
            )
        }
        StoreBackend::Embedded { url } => {
            let store = Arc::new(storage::embedded::EmbeddedActivityStore::open(&url).await?);
            (
                store.clone(),
                store.clone(),
                store.clone(),
                store.clone(),
                store.clone(),
                store,
            )
        }
    })
}

/// The composition root: connects what the config names (store, queues,
/// Redis-backed caches and marks, JWT verification) and assembles the service.
pub async fn build(config: &ActivityConfig) -> anyhow::Result<ActivityService> {
    let shared = config.shared();
    let (store, import_store, goal_store, gear_store, profile_store, original_store) =
        open_store(config).await?;
    let import_queue = queue::connect(
        &shared,
        imports::IMPORT_QUEUE,
        imports::IMPORT_GROUP,
        imports::queue_options(),
    )
    .await?;
    let queue = queue::connect(
        &shared,
        &config.events.queue,
        &config.events.group,
        config.events.queue_options.clone(),
    )
    .await?;
    let erasure = queue::connect(
        &shared,
        fittrack_kit::events::USER_DELETED_ACTIVITY_QUEUE,
        fittrack_kit::events::ERASURE_GROUP,
        Default::default(),
    )
    .await?;
    let verifier = JwtVerifier::for_subgraph(&config.auth, &shared).await?;
    let platform_stats = fittrack_kit::cache::dashboard(&shared, "dashboard:activities").await?;
    let erased = fittrack_kit::erasure::connect(&shared).await?;
    let limiter =
        fittrack_kit::ratelimit::connect(shared.redis_url(), &shared.key("ratelimit:")).await?;
    // New records reach subscribers on every replica through Redis.
    let records_bus: domain::activities::RecordBus = match shared.redis_url() {
        Some(url) => fittrack_kit::live::RedisBus::connect_in(shared.namespace(), url).await?,
        None => Arc::new(fittrack_kit::live::LocalBus::default()),
    };
    Ok(assemble(
        config,
        Parts {
            store,
            import_store,
            goal_store,
            gear_store,
            profile_store,
            original_store,
            import_queue,
            queue,
            erasure,
            verifier,
            platform_stats,
            erased,
            limiter,
            records_bus,
        },
    ))
}

/// What [`build`] connects; tests that count store calls substitute a part.
pub struct Parts {
    pub store: Arc<dyn ActivityStore>,
    /// Imports and their uploaded bytes (the same backend as `store`).
    pub import_store: Arc<dyn ImportStore>,
    /// Goals (the same backend as `store`).
    pub goal_store: Arc<dyn domain::ports::GoalStore>,
    /// Gear and which workout used it (the same backend as `store`).
    pub gear_store: Arc<dyn domain::ports::GearStore>,
    /// Training profiles (the same backend as `store`).
    pub profile_store: Arc<dyn domain::ports::ProfileStore>,
    /// The files imported workouts came from (the same backend as `store`).
    pub original_store: Arc<dyn domain::ports::OriginalStore>,
    /// Where import jobs wait for the importer.
    pub import_queue: Arc<dyn JobQueue>,
    /// Where `ActivityLogged` / `ActivityDeleted` go.
    pub queue: Arc<dyn JobQueue>,
    /// Where the user subgraph announces deleted accounts.
    pub erasure: Arc<dyn JobQueue>,
    pub verifier: Arc<JwtVerifier>,
    pub platform_stats: graphql::admin::PlatformStatsCache,
    pub erased: Arc<dyn fittrack_kit::erasure::ErasedUsers>,
    /// Counts the per-user write quotas (`ActivityLimits`).
    pub limiter: Arc<dyn fittrack_kit::ratelimit::RateLimiter>,
    /// Where new personal records are announced live.
    pub records_bus: domain::activities::RecordBus,
}

/// The service from its parts: the GraphQL app with its readiness checks,
/// and the background tasks the config switches on.
pub fn assemble(config: &ActivityConfig, parts: Parts) -> ActivityService {
    let (raw_store, queue, erased) = (parts.store, parts.queue, parts.erased);
    let metrics = fittrack_kit::metrics::Metrics::new("activity");
    // Every use of the store is timed and traced; tests and benches get
    // the store itself (`ActivityService::store`).
    let store: Arc<dyn ActivityStore> = Arc::new(storage::TimedStore::new(
        raw_store.clone(),
        fittrack_kit::metrics::StoreTimings::new(&metrics, "activity", config.store().kind()),
    ));
    let (events, confirmations) = EventPublisher::batched(queue.clone(), store.clone());
    let event_metrics = events::EventInstruments::new(&metrics);
    let (events, confirmations) = (
        events.with_metrics(event_metrics.clone()),
        confirmations.with_metrics(event_metrics),
    );
    let gear = domain::gear::GearList::new(parts.gear_store, store.clone());
    let goals = domain::goals::Goals::new(parts.goal_store, store.clone());
    let profiles = domain::profile::Profiles::new(parts.profile_store);
    let activities = Activities::new(store.clone(), Arc::new(events.clone()), erased.clone())
        .with_records_bus(parts.records_bus)
        .with_gear(gear.clone())
        .with_coaching(goals.clone(), profiles.clone())
        .with_originals(parts.original_store.clone());
    let import_queue = parts.import_queue;
    let import_store = parts.import_store;
    let imports = Imports::new(
        import_store.clone(),
        Arc::new(imports::QueuedImports(import_queue.clone())),
        Arc::new(files::Reader),
        activities.clone(),
    );
    let importer = imports.clone();
    let expiry = imports.clone();
    let schema = graphql::build_schema(
        graphql::UseCases {
            activities,
            imports,
            goals,
            gear,
            profiles,
        },
        Duration::from_millis(config.loader_delay_ms),
        parts.platform_stats,
        graphql::Quotas::new(parts.limiter, &config.limits),
    );
    let router = SubgraphApp::new(schema, parts.verifier)
        .http(&config.http)
        .metrics(&metrics)
        .ready_when("activity store", store.clone(), |store| store.ping())
        .ready_when("event queue", queue.clone(), |queue| queue.ping())
        .into_router();
    let sweeper = (events.clone(), config.events.clone(), erased.clone());
    let eraser = (store.clone(), import_store, queue.clone(), erased.clone());
    let service = Service::new("activity")
        .api(router, config.http.address())
        // Runs with the API it serves: the requests hand it their marks.
        .task("confirmations", true, move |token| {
            confirmations.run(token.cancelled_owned())
        })
        .task("sweeper", config.tasks.sweeper, move |token| {
            let (events, sweep, erased) = sweeper;
            events.run_sweeper(sweep, erased, token.cancelled_owned())
        })
        .task("importer", config.tasks.importer, move |token| {
            imports::run_importer(
                importer,
                import_queue,
                imports::importer_options(),
                token.cancelled_owned(),
            )
        })
        .task("upload expiry", config.tasks.importer, move |token| {
            imports::run_expiry(expiry, token.cancelled_owned())
        })
        .task("eraser", config.tasks.eraser, move |token| {
            let (store, import_store, events, marks) = eraser;
            events::run_eraser(
                store,
                import_store,
                parts.erasure,
                events,
                marks,
                events::eraser_options(),
                token.cancelled_owned(),
            )
        });
    ActivityService {
        service,
        store: raw_store,
        queue,
        erased,
        events,
    }
}

/// The subgraph's SDL (federation 2), as exported to `schema/activity.graphql`.
pub fn sdl() -> String {
    graphql::sdl()
}
