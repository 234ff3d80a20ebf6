use std::{path::PathBuf, time::Duration};

use fittrack_kit::{
    config::{default_data_dir, AuthConfig, HttpConfig, Secret},
    queue::QueueOptions,
    ratelimit::Quota,
};
use serde::{Deserialize, Serialize};

/// How long a dataloader collects keys before it queries, by default. In a
/// release build every key of one `_entities` request arrives within 1 ms
/// (the activity bench counts 3 store queries for 100 users), and a 5 ms
/// window cost the three-subgraph read 3 ms at p50 and a sixth of its
/// throughput (BENCHMARKS.md, issue 15). An unoptimised build may split such
/// a batch; the tests that count queries set a wider window.
pub const DEFAULT_LOADER_DELAY: Duration = Duration::from_millis(1);
/// The MongoDB database, unless configured.
pub const DEFAULT_MONGODB_DATABASE: &str = "activity_db";

/// Configuration of the activity subgraph (`[activity]` in the config file,
/// `FITTRACK_ACTIVITY__…` in the environment).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ActivityConfig {
    pub http: HttpConfig,
    /// The embedded store (`activity.db`) lives here when no MongoDB is set.
    pub data_dir: PathBuf,
    /// `mongodb://…`; unset means the embedded store. Alias: `MONGODB_URI`.
    pub mongodb_uri: Option<Secret>,
    pub mongodb_database: String,
    /// `redis://…` for the event queue; unset means in-process. Alias: `REDIS_URL`.
    pub redis_url: Option<Secret>,
    /// The namespace of every Redis key, stream and channel (and in-process
    /// queue name); one per deployment. Alias: `FITTRACK_NAMESPACE`.
    pub namespace: String,
    pub auth: AuthConfig,
    pub events: EventsConfig,
    /// How long dataloaders gather keys before one batched store query.
    pub loader_delay_ms: u64,
    pub tasks: ActivityTasks,
    pub limits: ActivityLimits,
}

/// Per-user quotas, each aliased field counted
/// (`FITTRACK_ACTIVITY__LIMITS__WRITES_PER_MINUTE__LIMIT=…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ActivityLimits {
    /// `logActivity`, `updateActivity` and `deleteActivity` together.
    pub writes_per_minute: Quota,
    pub writes_per_day: Quota,
    /// Whole-history aggregations (`myActivityStats`, `User.activityStats`)
    /// a user may ask for.
    pub stats_per_minute: Quota,
    /// `uploadImportChunk` (512 KiB each): a 25 MB file is 50 chunks; a day
    /// allows 1 GB.
    pub import_chunks_per_minute: Quota,
    pub import_chunks_per_day: Quota,
}

impl Default for ActivityLimits {
    fn default() -> Self {
        // A person logs a few workouts a day and fixes a few; a script that
        // aliases 30 writes into each of 100 operations a minute does not.
        Self {
            writes_per_minute: Quota::per_minute(20),
            writes_per_day: Quota::per_day(500),
            stats_per_minute: Quota::per_minute(60),
            import_chunks_per_minute: Quota::per_minute(120),
            import_chunks_per_day: Quota::per_day(2_000),
        }
    }
}

/// The background work a process of this subgraph runs beside its API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ActivityTasks {
    /// Re-publishes events that never reached the queue.
    pub sweeper: bool,
    /// Deletes the activities of deleted accounts.
    pub eraser: bool,
    /// Reads imported files (`imports::run_importer`).
    pub importer: bool,
}

impl Default for ActivityTasks {
    fn default() -> Self {
        Self {
            sweeper: true,
            eraser: true,
            importer: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EventsConfig {
    /// Queue the `ActivityLogged` / `ActivityDeleted` events go to.
    pub queue: String,
    /// Consumer group reading it (the AI worker).
    pub group: String,
    pub queue_options: QueueOptions,
    /// How often the sweeper looks for activities whose event never made it.
    pub sweep_interval_secs: u64,
    /// Age before an unconfirmed activity counts as missed (leaves the inline
    /// publish time to finish).
    pub sweep_grace_secs: u64,
    pub sweep_batch: u32,
}

impl Default for ActivityConfig {
    fn default() -> Self {
        Self {
            http: HttpConfig::on_port(4002),
            data_dir: default_data_dir(),
            mongodb_uri: None,
            mongodb_database: DEFAULT_MONGODB_DATABASE.into(),
            redis_url: None,
            namespace: fittrack_kit::shared::DEFAULT_NAMESPACE.into(),
            auth: AuthConfig::default(),
            events: EventsConfig::default(),
            loader_delay_ms: DEFAULT_LOADER_DELAY.as_millis() as u64,
            tasks: ActivityTasks::default(),
            limits: ActivityLimits::default(),
        }
    }
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            queue: fittrack_kit::events::ACTIVITY_EVENTS_QUEUE.into(),
            group: fittrack_kit::events::ACTIVITY_EVENTS_GROUP.into(),
            queue_options: QueueOptions::default(),
            sweep_interval_secs: 30,
            sweep_grace_secs: 60,
            sweep_batch: 200,
        }
    }
}

impl EventsConfig {
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_interval_secs.max(1))
    }

    pub fn sweep_grace(&self) -> Duration {
        Duration::from_secs(self.sweep_grace_secs)
    }
}

impl ActivityConfig {
    /// Redis (when configured) and this deployment's namespace in it.
    pub fn shared(&self) -> fittrack_kit::shared::SharedState {
        fittrack_kit::shared::SharedState::new(self.redis_url.clone(), &self.namespace)
    }

    /// Defaults → `fittrack.toml` `[activity]` → environment.
    pub fn load() -> anyhow::Result<Self> {
        fittrack_kit::config::load(
            "activity",
            &[
                ("MONGODB_URI", "mongodb_uri"),
                ("FITTRACK_JWKS_URL", "auth.jwks_url"),
            ],
        )
    }

    /// MongoDB when `mongodb_uri` is set, else `activity.db` in the data directory.
    pub fn store(&self) -> fittrack_kit::backend::StoreBackend {
        fittrack_kit::backend::StoreBackend::select(
            self.mongodb_uri.as_ref(),
            &self.mongodb_database,
            &self.data_dir,
            "activity.db",
        )
    }
}
