use std::path::PathBuf;

use fittrack_kit::config::{
    default_data_dir, HttpConfig, Secret, DEFAULT_AUDIENCE, DEFAULT_ISSUER,
};
use serde::{Deserialize, Serialize};

/// Configuration of the user subgraph (`[user]` in the config file,
/// `FITTRACK_USER__…` in the environment).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct UserConfig {
    pub http: HttpConfig,
    /// Embedded data (SQLite file, generated signing key) lives here.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://…`; unset means SQLite in `data_dir`. Alias: `DATABASE_URL`.
    pub database_url: Option<Secret>,
    pub jwt: JwtConfig,
    /// How many password attempts an address and an account get (`[user.sign_in]`).
    pub sign_in: crate::domain::sign_in_limits::SignInLimitsConfig,
    /// `redis://…` for the erasure queues; unset means in-process. Alias: `REDIS_URL`.
    pub redis_url: Option<Secret>,
    /// Shared secret of the internal (service-to-service) API. Alias:
    /// `FITTRACK_INTERNAL_TOKEN`; unset means generated once into the data dir.
    pub internal_token: Option<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    /// Ed25519 private key, PKCS#8 PEM. Alias: `JWT_SIGNING_KEY`.
    pub signing_key_pem: Option<Secret>,
    /// Where the key is read from (or generated into) when no PEM is given;
    /// default `<data_dir>/jwt-signing-key.pem`.
    pub signing_key_file: Option<PathBuf>,
}

impl Default for UserConfig {
    fn default() -> Self {
        Self {
            http: HttpConfig::on_port(4001),
            data_dir: default_data_dir(),
            database_url: None,
            jwt: JwtConfig::default(),
            sign_in: Default::default(),
            redis_url: None,
            internal_token: None,
        }
    }
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            issuer: DEFAULT_ISSUER.into(),
            audience: DEFAULT_AUDIENCE.into(),
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 7 * 24 * 60 * 60,
            signing_key_pem: None,
            signing_key_file: None,
        }
    }
}

impl UserConfig {
    /// Defaults → `fittrack.toml` `[user]` → environment.
    pub fn load() -> anyhow::Result<Self> {
        fittrack_kit::config::load(
            "user",
            &[
                ("DATABASE_URL", "database_url"),
                ("JWT_SIGNING_KEY", "jwt.signing_key_pem"),
                ("REDIS_URL", "redis_url"),
                ("FITTRACK_INTERNAL_TOKEN", "internal_token"),
            ],
        )
        .map_err(|e| anyhow::anyhow!("invalid user config: {e}"))
    }

    /// The database to use: the configured URL, else SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("user.db").display()
            ),
        }
    }

    /// The internal API token: configured, or generated once into the data dir
    /// (where an embedded admin subgraph finds it too).
    pub fn internal_token(&self) -> anyhow::Result<Secret> {
        match &self.internal_token {
            Some(token) => Ok(token.clone()),
            None => {
                fittrack_kit::config::load_or_create_secret(&self.data_dir.join("internal-token"))
            }
        }
    }

    pub fn signing_key_file(&self) -> PathBuf {
        self.jwt
            .signing_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("jwt-signing-key.pem"))
    }
}
