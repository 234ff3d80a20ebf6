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
    /// The namespace of every Redis key, stream and channel (and in-process
    /// queue name); one per deployment. Alias: `FITTRACK_NAMESPACE`.
    pub namespace: String,
    /// Shared secret of the internal (service-to-service) API. Alias:
    /// `FITTRACK_INTERNAL_TOKEN`; unset means generated once into the data dir.
    pub internal_token: Option<Secret>,
    /// Key of the pseudonyms that stand for emails and client addresses in
    /// limiter keys and logs (`kit::privacy`). Alias: `FITTRACK_PSEUDONYM_KEY`;
    /// unset means generated once into the data dir. Replicas share it.
    pub pseudonym_key: Option<Secret>,
    /// Password-reset mail (`[user.mail]`).
    pub mail: MailConfig,
    /// The admin subgraph, where the audit outbox is delivered. Alias:
    /// `FITTRACK_ADMIN_INTERNAL_URL`.
    pub admin_internal_url: String,
    /// How often the audit outbox is delivered.
    pub audit_delivery_interval_ms: u64,
    /// Background work this process runs (`[user.tasks]`).
    pub tasks: UserTasks,
}

/// The user subgraph's background work, each switchable.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct UserTasks {
    /// Delivers the audit outbox to the admin subgraph.
    pub audit_delivery: bool,
}

impl Default for UserTasks {
    fn default() -> Self {
        Self {
            audit_delivery: true,
        }
    }
}

/// Where mail goes and what its links point at.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MailConfig {
    /// `smtp://host:port`, `smtp://…?tls=required` or `smtps://user:pass@host`.
    /// Alias: `SMTP_URL`. Unset: mail is written to `outbox_dir`.
    pub smtp_url: Option<Secret>,
    /// The sender. Alias: `SMTP_FROM`.
    pub from: String,
    /// The web app, where reset links point. Alias: `FITTRACK_WEB_URL`.
    pub web_app_url: String,
    /// Where mail is written without SMTP; default `<data_dir>/outbox`.
    pub outbox_dir: Option<PathBuf>,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "FitTrack <no-reply@fittrack.local>".into(),
            web_app_url: "http://127.0.0.1:4080/".into(),
            outbox_dir: None,
        }
    }
}

impl MailConfig {
    pub fn outbox_dir(&self, data_dir: &std::path::Path) -> PathBuf {
        self.outbox_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("outbox"))
    }
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
            namespace: fittrack_kit::shared::DEFAULT_NAMESPACE.into(),
            internal_token: None,
            pseudonym_key: None,
            mail: MailConfig::default(),
            admin_internal_url: "http://127.0.0.1:4004".into(),
            audit_delivery_interval_ms: crate::audit_delivery::DEFAULT_INTERVAL.as_millis() as u64,
            tasks: UserTasks::default(),
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
    /// Redis (when configured) and this deployment's namespace in it.
    pub fn shared(&self) -> fittrack_kit::shared::SharedState {
        fittrack_kit::shared::SharedState::new(self.redis_url.clone(), &self.namespace)
    }

    /// Defaults → `fittrack.toml` `[user]` → environment.
    pub fn load() -> anyhow::Result<Self> {
        fittrack_kit::config::load(
            "user",
            &[
                ("DATABASE_URL", "database_url"),
                ("JWT_SIGNING_KEY", "jwt.signing_key_pem"),
                ("FITTRACK_INTERNAL_TOKEN", "internal_token"),
                ("FITTRACK_PSEUDONYM_KEY", "pseudonym_key"),
                ("SMTP_URL", "mail.smtp_url"),
                ("SMTP_FROM", "mail.from"),
                ("FITTRACK_WEB_URL", "mail.web_app_url"),
                ("FITTRACK_ADMIN_INTERNAL_URL", "admin_internal_url"),
            ],
        )
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

    /// The pseudonym key: configured, or generated once into the data dir.
    pub fn pseudonym_key(&self) -> anyhow::Result<Secret> {
        match self
            .pseudonym_key
            .as_ref()
            .filter(|key| !key.expose().is_empty())
        {
            Some(key) => Ok(key.clone()),
            None => {
                fittrack_kit::config::load_or_create_secret(&self.data_dir.join("pseudonym-key"))
            }
        }
    }

    /// How long a revocation must be kept: the access-token lifetime plus the
    /// verifiers' clock leeway.
    pub fn revocation_keep_for(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.jwt.access_ttl_secs.max(0) as u64 + fittrack_kit::auth::LEEWAY_SECS,
        )
    }

    pub fn signing_key_file(&self) -> PathBuf {
        self.jwt
            .signing_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("jwt-signing-key.pem"))
    }
}
