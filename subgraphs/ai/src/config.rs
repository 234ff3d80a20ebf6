use std::path::PathBuf;

use fittrack_kit::{
    config::{default_data_dir, AuthConfig, HttpConfig, Secret},
    queue::{ConsumerOptions, QueueOptions},
};
use serde::{Deserialize, Serialize};

use crate::gemini::GeminiConfig;

/// [`AiConfig::loader_delay_ms`] unless set: 1 ms, as the activity
/// subgraph's (`fittrack_activity::config::DEFAULT_LOADER_DELAY` says why).
pub const DEFAULT_LOADER_DELAY: std::time::Duration = std::time::Duration::from_millis(1);

/// The MongoDB database, unless configured.
pub const DEFAULT_MONGODB_DATABASE: &str = "ai_db";

/// Configuration of the AI subgraph and its worker (`[ai]` in the config file,
/// `FITTRACK_AI__…` in the environment).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AiConfig {
    pub http: HttpConfig,
    /// The embedded store (`ai.db`) lives here when no MongoDB is set.
    pub data_dir: PathBuf,
    /// `mongodb://…`; unset means the embedded store. Alias: `MONGODB_URI`.
    pub mongodb_uri: Option<Secret>,
    pub mongodb_database: String,
    /// `redis://…` for the event queue and pub/sub; unset means in-process.
    /// Alias: `REDIS_URL`.
    pub redis_url: Option<Secret>,
    /// The namespace of every Redis key, stream and channel (and in-process
    /// queue name); one per deployment. Alias: `FITTRACK_NAMESPACE`.
    pub namespace: String,
    pub auth: AuthConfig,
    /// The API key also comes from `GEMINI_API_KEY`.
    pub gemini: GeminiConfig,
    /// Per-user Gemini budget and plan limits.
    pub limits: crate::coach::AiLimitsConfig,
    pub worker: WorkerConfig,
    /// How long the dataloaders gather keys before one batched store query
    /// (`Activity.recommendation`, `User.recommendations`).
    pub loader_delay_ms: u64,
    /// Serve the GraphQL API; `fittrack worker` switches it off.
    pub api: bool,
    pub tasks: AiTasks,
}

/// The background work a process of this subgraph runs (beside its API, or
/// alone in `fittrack worker`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AiTasks {
    /// The recommendation worker. Off in `fittrack serve ai` when workers run
    /// apart (`fittrack worker`), so that killing one does not take
    /// subscriptions down with it.
    pub worker: bool,
    /// Deletes what this subgraph holds about deleted accounts.
    pub eraser: bool,
    /// Shares this process's Gemini breaker state on the dashboard (Redis).
    pub breaker_reports: bool,
}

impl Default for AiTasks {
    fn default() -> Self {
        Self {
            worker: true,
            eraser: true,
            breaker_reports: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerConfig {
    /// Jobs handled at once per worker process.
    pub concurrency: usize,
    /// The activity event queue and this worker's consumer group in it.
    pub queue: String,
    pub group: String,
    pub queue_options: QueueOptions,
    /// Name within the group; default `worker-<pid>`.
    pub consumer_name: Option<String>,
    /// Jobs read ahead and held at once, so that free slots go to the users
    /// with the fewest jobs running (`kit::queue::fair`); one user holds at
    /// most half of it, the rest of a burst waits at the back of the queue.
    /// 0: no read-ahead, jobs run in the queue's order.
    pub fair_window: usize,
    /// A worker without the API (`fittrack worker`) serves `/health`,
    /// `/ready` and `/metrics` on this port of `http.host`; 0 picks a free
    /// one. Default 4013 (the AI API's 4003, plus 10).
    pub metrics_port: u16,
}

impl Default for AiConfig {
    fn default() -> Self {
        Self {
            http: HttpConfig::on_port(4003),
            data_dir: default_data_dir(),
            mongodb_uri: None,
            mongodb_database: DEFAULT_MONGODB_DATABASE.into(),
            redis_url: None,
            namespace: fittrack_kit::shared::DEFAULT_NAMESPACE.into(),
            auth: AuthConfig::default(),
            gemini: GeminiConfig::default(),
            limits: Default::default(),
            worker: WorkerConfig::default(),
            loader_delay_ms: DEFAULT_LOADER_DELAY.as_millis() as u64,
            api: true,
            tasks: AiTasks::default(),
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            // A job mostly waits: on Gemini (seconds), on Redis, on the store,
            // so slots stay free while some wait on a slow model. With an
            // instant fake Gemini, 16 drained 1.1–1.2× what 4 did (release,
            // BENCHMARKS.md "Worker").
            concurrency: 16,
            queue: fittrack_kit::events::ACTIVITY_EVENTS_QUEUE.into(),
            group: fittrack_kit::events::ACTIVITY_EVENTS_GROUP.into(),
            queue_options: QueueOptions::default(),
            consumer_name: None,
            fair_window: DEFAULT_FAIR_WINDOW,
            metrics_port: 4013,
        }
    }
}

/// [`WorkerConfig::fair_window`] unless set: a burst of up to 32 jobs (more
/// than one user's per-minute write quota) is read past in one go.
pub const DEFAULT_FAIR_WINDOW: usize = 64;

impl WorkerConfig {
    pub fn consumer_name(&self) -> String {
        self.consumer_name
            .clone()
            .unwrap_or_else(|| format!("worker-{}", std::process::id()))
    }

    /// How the recommendation worker consumes: `concurrency` slots, shared
    /// fairly by the events' owners.
    pub fn consumer_options(&self) -> ConsumerOptions {
        let options = ConsumerOptions::new(self.consumer_name(), self.concurrency);
        if self.fair_window == 0 {
            return options;
        }
        options.fair_by(
            self.fair_window,
            std::sync::Arc::new(fittrack_kit::events::ActivityEvent::owner_of),
        )
    }
}

impl AiConfig {
    /// Redis (when configured) and this deployment's namespace in it.
    pub fn shared(&self) -> fittrack_kit::shared::SharedState {
        fittrack_kit::shared::SharedState::new(self.redis_url.clone(), &self.namespace)
    }

    /// Defaults → `fittrack.toml` `[ai]` → environment.
    pub fn load() -> anyhow::Result<Self> {
        fittrack_kit::config::load(
            "ai",
            &[
                ("MONGODB_URI", "mongodb_uri"),
                ("GEMINI_API_KEY", "gemini.api_key"),
                ("FITTRACK_JWKS_URL", "auth.jwks_url"),
            ],
        )
    }

    /// MongoDB when `mongodb_uri` is set, else `ai.db` in the data directory.
    pub fn store(&self) -> fittrack_kit::backend::StoreBackend {
        fittrack_kit::backend::StoreBackend::select(
            self.mongodb_uri.as_ref(),
            &self.mongodb_database,
            &self.data_dir,
            "ai.db",
        )
    }
}
