use std::path::PathBuf;

use fittrack_kit::config::{default_data_dir, AuthConfig, HttpConfig, Secret};
use serde::{Deserialize, Serialize};

/// Configuration of the admin subgraph (`[admin]` in the config file,
/// `FITTRACK_ADMIN__…` in the environment).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AdminConfig {
    pub http: HttpConfig,
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://…`; unset means SQLite in `data_dir`. Alias:
    /// `DATABASE_URL` (the admin tables live beside the user tables).
    pub database_url: Option<Secret>,
    /// PostgreSQL only: a separate role that owns the audit log and migrates
    /// it, leaving `database_url`'s role only `SELECT` and `INSERT` on it.
    /// Alias: `ADMIN_DATABASE_OWNER_URL`.
    pub database_owner_url: Option<Secret>,
    pub auth: AuthConfig,
    /// Base URL of the user subgraph's internal API.
    pub user_internal_url: String,
    /// Shared internal token. Alias: `FITTRACK_INTERNAL_TOKEN`; unset means the
    /// one the user subgraph generated into the data dir.
    pub internal_token: Option<Secret>,
    /// Where token revocations are read (as the other subgraphs). Alias: `REDIS_URL`.
    pub redis_url: Option<Secret>,
    /// The namespace of every Redis key, stream and channel (and in-process
    /// queue name); one per deployment. Alias: `FITTRACK_NAMESPACE`.
    pub namespace: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            http: HttpConfig::on_port(4004),
            data_dir: default_data_dir(),
            database_url: None,
            database_owner_url: None,
            auth: AuthConfig::default(),
            user_internal_url: "http://127.0.0.1:4001".into(),
            internal_token: None,
            redis_url: None,
            namespace: fittrack_kit::shared::DEFAULT_NAMESPACE.into(),
        }
    }
}

impl AdminConfig {
    /// Redis (when configured) and this deployment's namespace in it.
    pub fn shared(&self) -> fittrack_kit::shared::SharedState {
        fittrack_kit::shared::SharedState::new(self.redis_url.clone(), &self.namespace)
    }

    pub fn load() -> anyhow::Result<Self> {
        fittrack_kit::config::load(
            "admin",
            &[
                ("DATABASE_URL", "database_url"),
                ("ADMIN_DATABASE_OWNER_URL", "database_owner_url"),
                ("FITTRACK_INTERNAL_TOKEN", "internal_token"),
                ("FITTRACK_JWKS_URL", "auth.jwks_url"),
                ("FITTRACK_USER_INTERNAL_URL", "user_internal_url"),
            ],
        )
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("admin.db").display()
            ),
        }
    }

    pub fn internal_token(&self) -> anyhow::Result<Secret> {
        match &self.internal_token {
            Some(token) => Ok(token.clone()),
            None => {
                fittrack_kit::config::load_or_create_secret(&self.data_dir.join("internal-token"))
            }
        }
    }
}
