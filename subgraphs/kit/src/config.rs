//! Typed, layered configuration: built-in defaults → optional TOML file → environment.
//!
//! Every service owns one config struct and one section of the file (`[user]`, …).
//! Environment variables use `FITTRACK_<SECTION>__<FIELD>` (double underscore for
//! nesting); a few well-known unprefixed variables (`DATABASE_URL`, …) are mapped by
//! the service itself so the documented names work.

use std::{fmt, path::PathBuf};

use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// The config file, when present: `$FITTRACK_CONFIG`, else `./fittrack.toml`.
pub fn config_file() -> PathBuf {
    std::env::var_os("FITTRACK_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("fittrack.toml"))
}

/// Plain variables every service reads, like `FITTRACK_DATA_DIR`: one Redis
/// and one namespace per deployment.
const DEPLOYMENT_ALIASES: &[(&str, &str)] = &[
    ("REDIS_URL", "redis_url"),
    ("FITTRACK_NAMESPACE", "namespace"),
];

/// Loads `section` of the layered config into `T`.
///
/// `aliases` maps plain environment variables onto keys of the section, e.g.
/// `("DATABASE_URL", "database_url")`; they win over the file, like the prefixed
/// ones. `REDIS_URL`, `FITTRACK_NAMESPACE` and `FITTRACK_DATA_DIR` are mapped
/// for every section.
pub fn load<T>(section: &str, aliases: &[(&str, &str)]) -> anyhow::Result<T>
where
    T: Serialize + DeserializeOwned + Default,
{
    let mut figment = Figment::new()
        .merge(Serialized::default(section, T::default()))
        .merge(Toml::file(config_file()))
        .merge(Env::prefixed("FITTRACK_").split("__"));
    if let Ok(data_dir) = std::env::var("FITTRACK_DATA_DIR") {
        figment = figment.merge(Serialized::default(
            &format!("{section}.data_dir"),
            data_dir,
        ));
    }
    for (var, key) in DEPLOYMENT_ALIASES.iter().chain(aliases) {
        if let Some(value) = variable_or_file(var)? {
            figment = figment.merge(Serialized::default(&format!("{section}.{key}"), value));
        }
    }
    figment
        .extract_inner(section)
        .map_err(|e| anyhow::anyhow!("invalid {section} config: {e}"))
}

/// A plain variable such as `DATABASE_URL`, or else the contents of the file
/// that `DATABASE_URL_FILE` names: a Kubernetes or Docker secret mounted as a
/// file, which neither the pod spec nor `/proc/<pid>/environ` shows. Empty is
/// unset; the file's trailing newline is not part of the value. Both set is
/// refused, since either choice would be a guess.
pub fn variable_or_file(name: &str) -> anyhow::Result<Option<String>> {
    let file_var = format!("{name}_FILE");
    let value = std::env::var(name).ok().filter(|v| !v.is_empty());
    let file = std::env::var_os(&file_var).filter(|f| !f.is_empty());
    match (value, file) {
        (Some(_), Some(_)) => anyhow::bail!("{name} and {file_var} are both set: set one"),
        (Some(value), None) => Ok(Some(value)),
        (None, None) => Ok(None),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                anyhow::anyhow!(
                    "{file_var}: reading {}: {e}",
                    PathBuf::from(&path).display()
                )
            })?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            Ok(Some(text.to_owned()).filter(|t| !t.is_empty()))
        }
    }
}

/// A value that must never reach a log line: `Debug` and `Display` print a placeholder.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where a subgraph listens, and what it accepts there.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpConfig {
    pub host: String,
    pub port: u16,
    /// Proxies whose `X-Forwarded-For` is believed (the router): addresses or
    /// CIDR blocks, a list or comma-separated. Default: loopback.
    #[serde(default)]
    pub trusted_proxies: crate::client_address::TrustedProxies,
    /// Larger request bodies are refused with 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// IPv6 clients are limited by their network of this many bits
    /// (`kit::client_address::limit_key`). Default: 64.
    #[serde(default = "default_ipv6_prefix")]
    pub ipv6_prefix: u8,
}

fn default_ipv6_prefix() -> u8 {
    crate::client_address::DEFAULT_IPV6_PREFIX
}

/// A GraphQL request of ours is a few KiB; 1 MiB leaves room for big variables.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

fn default_max_body_bytes() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

impl HttpConfig {
    pub fn on_port(port: u16) -> Self {
        Self {
            host: "127.0.0.1".into(),
            port,
            trusted_proxies: Default::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            ipv6_prefix: default_ipv6_prefix(),
        }
    }

    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// How a subgraph checks access tokens issued by the user subgraph.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthConfig {
    /// JWKS endpoint of the user subgraph.
    pub jwks_url: String,
    pub issuer: String,
    pub audience: String,
    /// Tokens claiming a longer lifetime (`exp - iat`) are refused; keep it
    /// equal to the user subgraph's `jwt.access_ttl_secs`.
    #[serde(default = "default_max_token_lifetime_secs")]
    pub max_token_lifetime_secs: i64,
    /// How stale this subgraph's view of revocations may be (lookups are
    /// cached this long; 0 reads every time).
    #[serde(default = "default_revocation_cache_ms")]
    pub revocation_cache_ms: u64,
}

/// Tolerated clock skew when checking `exp`/`iat`.
pub const LEEWAY_SECS: u64 = 30;
/// The longest lifetime a token may claim by default: the user subgraph's
/// default access-token lifetime (15 min).
pub const DEFAULT_MAX_LIFETIME_SECS: i64 = 15 * 60;
/// How stale a subgraph's view of revocations may be by default.
pub const DEFAULT_REVOCATION_CACHE_MS: u64 = 2_000;

fn default_max_token_lifetime_secs() -> i64 {
    DEFAULT_MAX_LIFETIME_SECS
}

fn default_revocation_cache_ms() -> u64 {
    DEFAULT_REVOCATION_CACHE_MS
}

impl AuthConfig {
    /// How long a revocation must be kept: as long as a token may live, plus
    /// the clock leeway.
    pub fn revocation_keep_for(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.max_token_lifetime_secs.max(0) as u64 + LEEWAY_SECS)
    }

    pub fn revocation_cache(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.revocation_cache_ms)
    }
}

pub const DEFAULT_ISSUER: &str = "https://fittrack.local/user";
pub const DEFAULT_AUDIENCE: &str = "fittrack-api";

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwks_url: "http://127.0.0.1:4001/.well-known/jwks.json".into(),
            issuer: DEFAULT_ISSUER.into(),
            audience: DEFAULT_AUDIENCE.into(),
            max_token_lifetime_secs: default_max_token_lifetime_secs(),
            revocation_cache_ms: default_revocation_cache_ms(),
        }
    }
}

/// A secret kept in `path`, created there (random, owner-only) on first use.
pub fn load_or_create_secret(path: &std::path::Path) -> anyhow::Result<Secret> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let existing = existing.trim();
        if !existing.is_empty() {
            return Ok(Secret::new(existing));
        }
    }
    let token: String = {
        use std::fmt::Write as _;
        let bytes: [u8; 32] = rand_bytes();
        bytes.iter().fold(String::new(), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
    };
    crate::files::write_private(path, token.as_bytes())?;
    Ok(Secret::new(token))
}

fn rand_bytes() -> [u8; 32] {
    // Two v4 UUIDs from the OS RNG: 244 random bits.
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes
}

/// `FITTRACK_ENV=production`: the production profile, one switch for every
/// process of a deployment. Subgraphs then answer no introspection, suggest no
/// field names and serve no GraphiQL; the router turns off its Laboratory and
/// introspection (router.yaml). Anything else is development.
pub fn is_production() -> bool {
    std::env::var("FITTRACK_ENV").is_ok_and(|env| env.trim().eq_ignore_ascii_case("production"))
}

/// Default data directory for embedded storage.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from(".fittrack")
}

#[cfg(test)]
// figment's `Jail` closures must return its (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Sample {
        port: u16,
        database_url: Option<Secret>,
        data_dir: PathBuf,
    }

    impl Default for Sample {
        fn default() -> Self {
            Self {
                port: 1,
                database_url: None,
                data_dir: default_data_dir(),
            }
        }
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("postgres://user:hunter2@db");
        assert!(!format!("{secret:?} {secret}").contains("hunter2"));
    }

    #[test]
    fn defaults_apply_without_file_or_env() {
        figment::Jail::expect_with(|_jail| {
            let loaded: Sample = load("sample", &[]).map_err(|e| e.to_string())?;
            assert_eq!(loaded, Sample::default());
            Ok(())
        });
    }

    #[test]
    fn env_overrides_file_which_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("fittrack.toml", "[sample]\nport = 2\n")?;
            let loaded: Sample = load("sample", &[]).map_err(|e| e.to_string())?;
            assert_eq!(loaded.port, 2);
            jail.set_env("FITTRACK_SAMPLE__PORT", "3");
            jail.set_env("MY_DB", "postgres://x");
            jail.set_env("FITTRACK_DATA_DIR", "/tmp/elsewhere");
            let loaded: Sample =
                load("sample", &[("MY_DB", "database_url")]).map_err(|e| e.to_string())?;
            assert_eq!(loaded.port, 3);
            assert_eq!(loaded.database_url, Some(Secret::new("postgres://x")));
            assert_eq!(loaded.data_dir, PathBuf::from("/tmp/elsewhere"));
            Ok(())
        });
    }

    #[test]
    fn a_plain_variable_can_come_from_a_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("database-url", "postgres://from-a-file\n")?;
            jail.set_env("MY_DB_FILE", "database-url");
            let loaded: Sample =
                load("sample", &[("MY_DB", "database_url")]).map_err(|e| e.to_string())?;
            assert_eq!(
                loaded.database_url,
                Some(Secret::new("postgres://from-a-file"))
            );

            jail.set_env("MY_DB", "postgres://from-the-environment");
            let both = load::<Sample>("sample", &[("MY_DB", "database_url")])
                .expect_err("both set")
                .to_string();
            assert!(both.contains("MY_DB and MY_DB_FILE are both set"), "{both}");

            jail.set_env("MY_DB", "");
            jail.set_env("MY_DB_FILE", "missing");
            let missing = load::<Sample>("sample", &[("MY_DB", "database_url")])
                .expect_err("no such file")
                .to_string();
            assert!(missing.contains("MY_DB_FILE: reading missing"), "{missing}");
            Ok(())
        });
    }
}
