use std::{path::PathBuf, time::Duration};

use fittrack_kit::{
    config::{default_data_dir, AuthConfig, HttpConfig, Secret},
    queue::QueueOptions,
};
use serde::{Deserialize, Serialize};

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
    pub auth: AuthConfig,
    pub events: EventsConfig,
    /// How long dataloaders gather keys before one batched store query.
    pub loader_delay_ms: u64,
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
            mongodb_database: crate::storage::mongo::DATABASE.into(),
            redis_url: None,
            auth: AuthConfig::default(),
            events: EventsConfig::default(),
            loader_delay_ms: crate::graphql::DEFAULT_LOADER_DELAY.as_millis() as u64,
        }
    }
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            queue: crate::events::QUEUE.into(),
            group: crate::events::CONSUMER_GROUP.into(),
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
    /// Defaults → `fittrack.toml` `[activity]` → environment.
    pub fn load() -> anyhow::Result<Self> {
        fittrack_kit::config::load(
            "activity",
            &[
                ("MONGODB_URI", "mongodb_uri"),
                ("REDIS_URL", "redis_url"),
                ("FITTRACK_JWKS_URL", "auth.jwks_url"),
            ],
        )
        .map_err(|e| anyhow::anyhow!("invalid activity config: {e}"))
    }

    /// SQLite file of the embedded store.
    pub fn embedded_url(&self) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            self.data_dir.join("activity.db").display()
        )
    }
}
