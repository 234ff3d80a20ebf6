use std::path::PathBuf;

use fittrack_kit::{
    config::{default_data_dir, AuthConfig, HttpConfig, Secret},
    queue::QueueOptions,
};
use serde::{Deserialize, Serialize};

use crate::gemini::GeminiConfig;

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
    pub auth: AuthConfig,
    /// The API key also comes from `GEMINI_API_KEY`.
    pub gemini: GeminiConfig,
    /// Per-user Gemini budget and plan limits.
    pub limits: crate::coach::AiLimitsConfig,
    pub worker: WorkerConfig,
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
}

impl Default for AiConfig {
    fn default() -> Self {
        Self {
            http: HttpConfig::on_port(4003),
            data_dir: default_data_dir(),
            mongodb_uri: None,
            mongodb_database: crate::storage::mongo::DATABASE.into(),
            redis_url: None,
            auth: AuthConfig::default(),
            gemini: GeminiConfig::default(),
            limits: Default::default(),
            worker: WorkerConfig::default(),
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 4,
            queue: "activity-events".into(),
            group: "ai-worker".into(),
            queue_options: QueueOptions::default(),
            consumer_name: None,
        }
    }
}

impl WorkerConfig {
    pub fn consumer_name(&self) -> String {
        self.consumer_name
            .clone()
            .unwrap_or_else(|| format!("worker-{}", std::process::id()))
    }
}

impl AiConfig {
    /// Defaults → `fittrack.toml` `[ai]` → environment.
    pub fn load() -> anyhow::Result<Self> {
        fittrack_kit::config::load(
            "ai",
            &[
                ("MONGODB_URI", "mongodb_uri"),
                ("REDIS_URL", "redis_url"),
                ("GEMINI_API_KEY", "gemini.api_key"),
                ("FITTRACK_JWKS_URL", "auth.jwks_url"),
            ],
        )
        .map_err(|e| anyhow::anyhow!("invalid ai config: {e}"))
    }

    pub fn embedded_url(&self) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            self.data_dir.join("ai.db").display()
        )
    }
}
