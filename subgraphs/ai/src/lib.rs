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

use fittrack_kit::{
    backend::StoreBackend, queue, server::SubgraphApp, service::Service, JwtVerifier,
};

use bus::{LocalBus, RecommendationBus, RedisBus};
pub use config::AiConfig;
use domain::{ports::AiStore, recommendations::Recommender};
use graphql::AiContext;
use worker::Worker;

/// The AI subgraph as built from its config: the process to run (API,
/// worker, eraser, breaker reports, each switchable), and the parts tests and
/// benches look into.
pub struct AiService {
    pub service: Service,
    pub context: AiContext,
    pub worker: Worker,
}

/// Store, queue, Gemini client and bus from config.
pub async fn connect(config: &AiConfig) -> anyhow::Result<AiContext> {
    let metrics = fittrack_kit::metrics::Metrics::new("ai");
    let backend = config.store().kind();
    let store: Arc<dyn AiStore> = match config.store() {
        StoreBackend::Mongo { uri, database } => {
            Arc::new(storage::mongo::MongoAiStore::connect(uri.expose(), &database).await?)
        }
        StoreBackend::Embedded { url } => {
            Arc::new(storage::embedded::EmbeddedAiStore::open(&url).await?)
        }
    };
    // Every use of the store is timed and traced.
    let store: Arc<dyn AiStore> = Arc::new(storage::TimedStore::new(
        store,
        fittrack_kit::metrics::StoreTimings::new(&metrics, "ai", backend),
    ));
    let shared = config.shared();
    let queue = queue::connect(
        &shared,
        &config.worker.queue,
        &config.worker.group,
        config.worker.queue_options.clone(),
    )
    .await?;
    let bus: Arc<dyn RecommendationBus> = match shared.redis_url() {
        Some(url) => RedisBus::connect_in(shared.namespace(), url).await?,
        None => Arc::new(LocalBus::default()),
    };
    if config.gemini.api_key.is_none() {
        tracing::info!("GEMINI_API_KEY unset: recommendations come from the built-in rules");
    }
    let coach = Arc::new(
        coach::Coach::with_limits(
            gemini::GeminiClient::new(config.gemini.clone())?,
            fittrack_kit::ratelimit::connect(shared.redis_url(), &shared.key("ratelimit:")).await?,
            config.limits.clone(),
        )
        .with_metrics(&metrics),
    );
    coach::report_breaker(&metrics, coach.clone());
    let dashboard = fittrack_kit::cache::dashboard(&shared, "dashboard:ai").await?;
    let breakers = breakers::BreakerBoard::connect(&shared).await?;
    let erased = fittrack_kit::erasure::connect(&shared).await?;
    Ok(AiContext {
        metrics,
        store,
        coach,
        bus,
        queue,
        dashboard,
        breakers,
        erased,
    })
}

/// The composition root: connects what the config names and assembles the
/// service. `fittrack worker` is this with `api = false`.
pub async fn build(config: &AiConfig) -> anyhow::Result<AiService> {
    let shared = config.shared();
    let context = connect(config).await?;
    let erasure = queue::connect(
        &shared,
        fittrack_kit::events::USER_DELETED_AI_QUEUE,
        fittrack_kit::events::ERASURE_GROUP,
        Default::default(),
    )
    .await?;
    // A worker-only process verifies no tokens (and keeps no revocations).
    let verifier = if config.api {
        JwtVerifier::for_subgraph(&config.auth, &shared).await?
    } else {
        JwtVerifier::remote(&config.auth)
    };
    Ok(assemble(
        config,
        Parts {
            context,
            erasure,
            verifier,
        },
    ))
}

/// What [`build`] connects; tests substitute a part (a fake coach, say).
pub struct Parts {
    pub context: AiContext,
    /// Where the user subgraph announces deleted accounts.
    pub erasure: Arc<dyn queue::JobQueue>,
    pub verifier: Arc<JwtVerifier>,
}

/// The service from its parts: the GraphQL app (when `config.api`) and the
/// background tasks the config switches on, sharing one store, coach and bus.
pub fn assemble(config: &AiConfig, parts: Parts) -> AiService {
    let Parts {
        context,
        erasure,
        verifier,
    } = parts;
    let worker = Worker::new(
        Recommender::new(
            context.store.clone(),
            context.coach.clone(),
            context.bus.clone(),
        )
        .with_erasure_marks(context.erased.clone(), context.queue.clone()),
    );
    let metrics = context.metrics.clone();
    queue::observe(&metrics, context.queue.clone());
    let mut service = Service::new("ai");
    if config.api {
        let schema = graphql::build_schema_with(
            context.clone(),
            std::time::Duration::from_millis(config.loader_delay_ms),
        );
        let router = SubgraphApp::new(schema, verifier)
            .http(&config.http)
            .metrics(&metrics)
            .ready_when("ai store", context.store.clone(), |store| store.ping())
            .ready_when("event queue", context.queue.clone(), |queue| queue.ping())
            .into_router();
        service = service.api(router, config.http.address());
    } else {
        let checks = vec![
            (
                "ai store",
                fittrack_kit::server::ping_check(context.store.clone(), |store| store.ping()),
            ),
            (
                "event queue",
                fittrack_kit::server::ping_check(context.queue.clone(), |queue| queue.ping()),
            ),
        ];
        service = service.operations(
            fittrack_kit::server::operations_router(checks, &metrics),
            format!("{}:{}", config.http.host, config.worker.metrics_port),
        );
    }
    let consumer = config.worker.consumer_name();
    let (queue, consumer_options) = (
        context.queue.clone(),
        config.worker.consumer_options().with_metrics(&metrics),
    );
    let recommender = (worker.clone(), consumer_options);
    let eraser = worker.clone();
    let reports = (context.breakers.clone(), context.coach.clone(), consumer);
    let bus = context.bus.clone();
    let service = service
        .task("live streams end on shutdown", config.api, move |token| {
            end_live_streams_on_shutdown(bus, token)
        })
        .task("worker", config.tasks.worker, move |token| {
            let (worker, options) = recommender;
            worker.run(queue, options, token.cancelled_owned())
        })
        .task("eraser", config.tasks.eraser, move |token| {
            eraser.run_eraser(erasure, token.cancelled_owned())
        })
        .task(
            "breaker reports",
            config.tasks.breaker_reports,
            move |token| {
                let (board, coach, instance) = reports;
                breakers::report_until(board, coach, instance, token.cancelled_owned())
            },
        );
    AiService {
        service,
        context,
        worker,
    }
}

/// How long a stopping replica waits for its subscribers' streams to close
/// after it has ended them, so that each client gets its error and
/// `complete` before the connection goes.
pub const LIVE_STREAMS_CLOSE_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// On shutdown (`SIGTERM`), ends every `recommendationAdded` stream with
/// `SERVICE_UNAVAILABLE` ("subscribe again"), as a Redis interruption does,
/// and waits for them to close: the router passes the error on and each
/// client subscribes again, through the router, on another replica. Without
/// it, the process would exit under its WebSockets, and the router would
/// report `SUBGRAPH_WEBSOCKET_CLIENT_FAILURE`.
async fn end_live_streams_on_shutdown(
    bus: Arc<dyn RecommendationBus>,
    token: fittrack_kit::service::CancellationToken,
) {
    token.cancelled().await;
    let open = graphql::subscription::live_subscriptions();
    bus.end_all();
    let started = std::time::Instant::now();
    while graphql::subscription::live_subscriptions() > 0
        && started.elapsed() < LIVE_STREAMS_CLOSE_WITHIN
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tracing::info!(
        ended = open,
        still_open = graphql::subscription::live_subscriptions(),
        "live subscriptions ended for shutdown"
    );
}

/// The subgraph's SDL (federation 2), as exported to `schema/ai.graphql`.
pub fn sdl() -> String {
    graphql::sdl()
}
