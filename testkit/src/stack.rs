//! The whole system for a test: every subgraph built by its own composition
//! root (`fittrack_<name>::build`) from test configuration, served in this
//! process on free ports, and the real router binary (`fittrack router`) in
//! front.
//!
//! What a test changes is configuration only: a temporary data directory,
//! port 0, a namespace of its own on the shared Redis (queues, caches,
//! channels), fresh MongoDB databases, Gemini at a fake, relaxed or shipped
//! limits, the router's environment. The backends are those the environment
//! names (`DATABASE_URL`, `REDIS_URL`, `MONGODB_URI`), else the embedded ones.

use std::{
    net::TcpListener as StdListener,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::Arc,
    time::Duration,
};

use fittrack_kit::{
    config::{AuthConfig, HttpConfig, Secret},
    queue::{JobQueue, QueueOptions},
    service::{CancellationToken, Service},
};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::client::{decode_unverified, gql, unique_email, GqlResponse, PASSWORD};
use crate::client::{LOGIN, REGISTER};

/// Migrations of concurrently starting stacks must not race on one PostgreSQL.
static MIGRATION_LOCK: Mutex<()> = Mutex::const_new(());

/// How often a test stack's user subgraph delivers its audit outbox.
pub const AUDIT_DELIVERY_INTERVAL: Duration = Duration::from_millis(200);

/// The repository (router config, committed supergraph, web app).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The `fittrack` binary next to the running test or bench (Cargo builds a
/// package's binaries before its tests and benches); `FITTRACK_BIN` overrides.
pub fn fittrack_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FITTRACK_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("the running test binary");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/fittrack
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a Cargo target directory");
    profile_dir.join(format!("fittrack{}", std::env::consts::EXE_SUFFIX))
}

/// `name` on the PATH. `None` skips the calling test, unless CI requires
/// the tool (`require_var=1`, which `.ci/run` sets once it has installed it
/// with `install`).
pub fn installed_tool(name: &str, require_var: &str, install: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var(require_var).as_deref() != Ok("1"),
            "{name} is required ({install})"
        );
        eprintln!("skipped: {name} is not installed");
    }
    found
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Test queues redeliver quickly and give up after three deliveries.
pub fn test_queue_options() -> QueueOptions {
    QueueOptions {
        visibility_timeout: Duration::from_millis(800),
        max_deliveries: 3,
    }
}

/// A service named by the environment (`DATABASE_URL`, …), if set.
fn from_env(name: &str) -> Option<Secret> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .map(Secret::new)
}

/// Which limits a test stack runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limits {
    /// Far above anything a test does: every test speaks from 127.0.0.1 and,
    /// on Redis, shares the router's counters with every other test running
    /// at once. The router still trusts `X-Forwarded-For` from loopback (as
    /// behind a local load balancer), so tests can speak as other addresses.
    Relaxed,
    /// What ships (router.yaml and the config defaults), behind a local load
    /// balancer (loopback trusted).
    Production,
}

impl Limits {
    pub fn sign_in(self) -> fittrack_user::domain::sign_in_limits::SignInLimitsConfig {
        use fittrack_kit::ratelimit::Quota;
        match self {
            Limits::Production => Default::default(),
            Limits::Relaxed => {
                let plenty = Quota::per_minute(1_000_000);
                fittrack_user::domain::sign_in_limits::SignInLimitsConfig {
                    per_address: plenty,
                    per_account_address: plenty,
                    per_account_address_daily: plenty,
                    per_account: plenty,
                    per_known_device: plenty,
                    sign_ups_per_address: plenty,
                    reset_requests_per_address: plenty,
                    reset_requests_per_email: plenty,
                }
            }
        }
    }

    pub fn ai(self) -> fittrack_ai::coach::AiLimitsConfig {
        use fittrack_kit::ratelimit::Quota;
        match self {
            Limits::Production => Default::default(),
            Limits::Relaxed => {
                let plenty = Quota::per_minute(1_000_000);
                fittrack_ai::coach::AiLimitsConfig {
                    gemini_per_user_minute: plenty,
                    gemini_per_user_day: plenty,
                    plans_per_minute: plenty,
                    plans_per_day: plenty,
                    // The subscription bench holds thousands for one user.
                    live_subscriptions_per_user: 100_000,
                }
            }
        }
    }

    pub fn activity(self) -> fittrack_activity::config::ActivityLimits {
        use fittrack_kit::ratelimit::Quota;
        match self {
            Limits::Production => Default::default(),
            Limits::Relaxed => fittrack_activity::config::ActivityLimits {
                writes_per_minute: Quota::per_minute(1_000_000),
                writes_per_day: Quota::per_minute(1_000_000),
                stats_per_minute: Quota::per_minute(1_000_000),
                import_chunks_per_minute: Quota::per_minute(1_000_000),
                import_chunks_per_day: Quota::per_minute(1_000_000),
            },
        }
    }

    fn router_env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Limits::Production => &[("FITTRACK_TRUSTED_PROXIES", "127.0.0.1,::1")],
            Limits::Relaxed => &[
                ("FITTRACK_TRUSTED_PROXIES", "127.0.0.1,::1"),
                ("FITTRACK_LIMIT_PER_USER", "1000000/60"),
                ("FITTRACK_LIMIT_PER_ADDRESS", "1000000/60"),
                ("FITTRACK_LIMIT_WS_PER_ADDRESS", "1000000/60"),
                ("FITTRACK_LIMIT_WS_OPEN_PER_ADDRESS", "1000000"),
            ],
        }
    }
}

/// What a test may change about its stack: configuration, nothing else.
#[derive(Debug, Clone)]
pub struct StackBuilder {
    gemini: Option<fittrack_ai::gemini::GeminiConfig>,
    run_worker: bool,
    router_env: Vec<(String, String)>,
    limits: Limits,
    smtp_url: Option<String>,
    loader_delay: Option<Duration>,
}

impl Default for StackBuilder {
    fn default() -> Self {
        Self {
            gemini: None,
            run_worker: true,
            router_env: Vec::new(),
            limits: Limits::Relaxed,
            smtp_url: None,
            loader_delay: None,
        }
    }
}

impl StackBuilder {
    /// Gemini at this (fake) server instead of the rules.
    pub fn gemini(mut self, gemini: Option<fittrack_ai::gemini::GeminiConfig>) -> Self {
        self.gemini = gemini;
        self
    }

    /// Whether the AI subgraph runs its recommendation worker.
    pub fn worker(mut self, run: bool) -> Self {
        self.run_worker = run;
        self
    }

    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How long the activity and AI dataloaders gather keys (else their
    /// configured default).
    pub fn loader_delay(mut self, window: Duration) -> Self {
        self.loader_delay = Some(window);
        self
    }

    /// Password-reset mail over SMTP at `url`.
    pub fn smtp(mut self, url: &str) -> Self {
        self.smtp_url = Some(url.to_owned());
        self
    }

    /// Extra environment for the router process (`PORT` fixes its port).
    pub fn router_env(mut self, env: &[(&str, &str)]) -> Self {
        self.router_env
            .extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        self
    }

    /// Builds every subgraph through its composition root, serves them and
    /// the router, and waits until the router is ready.
    pub async fn start(self) -> Stack {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let dir = data_dir.path().to_owned();
        // This stack's own keys, streams and channels on a shared Redis.
        let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
        let redis_url = from_env("REDIS_URL");
        let database_url = from_env("DATABASE_URL");
        let mongodb_uri = from_env("MONGODB_URI");
        let stop = CancellationToken::new();

        // The admin subgraph's port is bound first and held: the user
        // subgraph, built before it, delivers its audit outbox there (a port
        // merely picked could be taken by another test's stack meanwhile).
        let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the admin subgraph");
        let admin_port = admin_listener.local_addr().expect("an address").port();
        let mut user_config = fittrack_user::UserConfig {
            http: HttpConfig::on_port(0),
            admin_internal_url: format!("http://127.0.0.1:{admin_port}"),
            audit_delivery_interval_ms: AUDIT_DELIVERY_INTERVAL.as_millis() as u64,
            data_dir: dir.clone(),
            database_url: database_url.clone(),
            sign_in: self.limits.sign_in(),
            redis_url: redis_url.clone(),
            namespace: namespace.clone(),
            ..Default::default()
        };
        user_config.mail.smtp_url = self.smtp_url.clone().map(Secret::new);
        let user_service = {
            let _guard = MIGRATION_LOCK.lock().await;
            fittrack_user::build(&user_config)
                .await
                .expect("user subgraph builds")
        };
        let user_bound = user_service.service.bind().await.expect("binds");
        let user_addr = user_bound.local_addr().expect("an API");
        let user = format!("http://{user_addr}/graphql");
        user_bound.spawn(stop.clone());

        // The other subgraphs fetch the user subgraph's keys, and read
        // revocations uncached so tests see one at once (production: 2 s).
        let auth = AuthConfig {
            jwks_url: format!("http://{user_addr}/.well-known/jwks.json"),
            revocation_cache_ms: 0,
            ..Default::default()
        };

        let mut activity_config = fittrack_activity::ActivityConfig {
            http: HttpConfig::on_port(0),
            data_dir: dir.clone(),
            mongodb_uri: mongodb_uri.clone(),
            mongodb_database: format!("activity_test_{}", uuid::Uuid::new_v4().simple()),
            redis_url: redis_url.clone(),
            namespace: namespace.clone(),
            auth: auth.clone(),
            limits: self.limits.activity(),
            ..Default::default()
        };
        activity_config.events.queue_options = test_queue_options();
        if let Some(window) = self.loader_delay {
            activity_config.loader_delay_ms = window.as_millis() as u64;
        }
        let activity_service = fittrack_activity::build(&activity_config)
            .await
            .expect("activity subgraph builds");

        let mut ai_config = fittrack_ai::AiConfig {
            http: HttpConfig::on_port(0),
            data_dir: dir.clone(),
            mongodb_uri,
            mongodb_database: format!("ai_test_{}", uuid::Uuid::new_v4().simple()),
            redis_url: redis_url.clone(),
            namespace: namespace.clone(),
            auth: auth.clone(),
            gemini: self.gemini.clone().unwrap_or_default(),
            limits: self.limits.ai(),
            ..Default::default()
        };
        ai_config.worker.queue_options = test_queue_options();
        ai_config.worker.consumer_name = Some("test-worker".into());
        ai_config.tasks.worker = self.run_worker;
        if let Some(window) = self.loader_delay {
            ai_config.loader_delay_ms = window.as_millis() as u64;
        }
        let ai_service = fittrack_ai::build(&ai_config)
            .await
            .expect("AI subgraph builds");

        // On PostgreSQL the admin subgraph runs as a role that may only read
        // and append to the audit log; the owner role migrates it first, as
        // `fittrack admin migrate` does, and the service never gets the
        // owner's credentials.
        let admin_database_url = match &database_url {
            Some(url) if url.expose().starts_with("postgres") => {
                let app = audit_app_role_url(url.expose()).await;
                // Stacks of one test binary share the database: one migrates at a time.
                let _guard = MIGRATION_LOCK.lock().await;
                fittrack_admin::store::AuditStore::migrate_as_owner(app.expose(), url.expose())
                    .await
                    .expect("the audit log migrated by its owner");
                Some(app)
            }
            other => other.clone(),
        };
        let admin_config = fittrack_admin::AdminConfig {
            http: HttpConfig::on_port(admin_port),
            data_dir: dir.clone(),
            database_url: admin_database_url,
            database_owner_url: None,
            auth,
            user_internal_url: format!("http://{user_addr}"),
            redis_url,
            namespace: namespace.clone(),
            ..Default::default()
        };
        let admin_service = {
            let _guard = MIGRATION_LOCK.lock().await;
            fittrack_admin::build(&admin_config)
                .await
                .expect("admin subgraph builds")
        };

        let activity = serve(activity_service.service, &stop).await;
        let ai = serve(ai_service.service, &stop).await;
        let admin_bound = admin_service.service.bind_to(admin_listener);
        let admin = admin_bound.graphql_url().expect("an API");
        admin_bound.spawn(stop.clone());

        // A test that must know the router's address in advance passes PORT.
        let fixed_router_port: Option<u16> = self
            .router_env
            .iter()
            .find(|(name, _)| name == "PORT")
            .and_then(|(_, port)| port.parse().ok());
        let mut router_port = fixed_router_port.unwrap_or_else(free_port);
        let mut metrics_port = free_port();
        let mut router_env: Vec<(String, String)> = vec![
            (
                "ROUTER_CONFIG_FILE_PATH".into(),
                repo_root().join("router/router.yaml").display().to_string(),
            ),
            (
                "SUPERGRAPH_FILE_PATH".into(),
                repo_root()
                    .join("schema/supergraph.graphql")
                    .display()
                    .to_string(),
            ),
            ("PORT".into(), router_port.to_string()),
            // The router reads this stack's revocations on a shared Redis.
            ("FITTRACK_NAMESPACE".into(), namespace.clone()),
            ("FITTRACK_USER_URL".into(), user.clone()),
            ("FITTRACK_ACTIVITY_URL".into(), activity.clone()),
            ("FITTRACK_AI_URL".into(), ai.clone()),
            ("FITTRACK_ADMIN_URL".into(), admin.clone()),
            (
                "FITTRACK_JWKS_URL".into(),
                format!("http://{user_addr}/.well-known/jwks.json"),
            ),
            (
                "LOG_LEVEL".into(),
                std::env::var("ROUTER_LOG_LEVEL").unwrap_or_else(|_| "error".into()),
            ),
        ];
        router_env.extend(
            self.limits
                .router_env()
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        router_env.extend(self.router_env.iter().cloned());
        // The router is another process, so its port can only be picked, not
        // held: another stack may take it first. Then this router exits, and
        // it starts again on a fresh port.
        let mut attempts = 0;
        let router_process = loop {
            set_env(&mut router_env, "PORT", &router_port.to_string());
            set_env(
                &mut router_env,
                "FITTRACK_ROUTER_METRICS_PORT",
                &metrics_port.to_string(),
            );
            match start_router(&router_env, router_port).await {
                Ok(child) => break child,
                Err(status) if fixed_router_port.is_none() && attempts < 5 => {
                    attempts += 1;
                    eprintln!("router exited ({status}) on port {router_port}; trying another");
                    router_port = free_port();
                    metrics_port = free_port();
                }
                Err(status) => panic!("router exited ({status}) on port {router_port}"),
            }
        };
        let stack = Stack {
            router: format!("http://127.0.0.1:{router_port}/graphql"),
            router_metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
            user,
            activity,
            activity_store: activity_service.store,
            activity_queue: activity_service.queue,
            activity_events: activity_service.events,
            ai,
            ai_context: ai_service.context,
            worker: ai_service.worker,
            admin,
            admin_store: admin_service.store,
            data_dir,
            router_process,
            router_env,
            stop,
        };
        stack
    }
}

/// Binds `service` and runs it until `stop`; its GraphQL URL.
async fn serve(service: Service, stop: &CancellationToken) -> String {
    let bound = service.bind().await.expect("binds");
    let url = bound.graphql_url().expect("an API");
    bound.spawn(stop.clone());
    url
}

/// A running stack. Dropping it stops the router and every subgraph.
pub struct Stack {
    /// Router GraphQL endpoint.
    pub router: String,
    /// The router's Prometheus metrics (a port of their own).
    pub router_metrics: String,
    /// User subgraph GraphQL endpoint (bypassing the router).
    pub user: String,
    /// Activity subgraph GraphQL endpoint (bypassing the router).
    pub activity: String,
    pub activity_store: Arc<dyn fittrack_activity::storage::ActivityStore>,
    pub activity_queue: Arc<dyn JobQueue>,
    pub activity_events: fittrack_activity::events::EventPublisher,
    /// AI subgraph GraphQL endpoint (bypassing the router).
    pub ai: String,
    pub ai_context: fittrack_ai::graphql::AiContext,
    /// The recommendation worker (running unless started without it).
    pub worker: fittrack_ai::worker::Worker,
    /// Admin subgraph GraphQL endpoint (bypassing the router).
    pub admin: String,
    pub admin_store: fittrack_admin::store::AuditStore,
    pub data_dir: tempfile::TempDir,
    router_process: Child,
    /// What the router process was started with (to start it again).
    router_env: Vec<(String, String)>,
    stop: CancellationToken,
}

/// `fittrack router` with `env`, from the repository root.
fn spawn_router(env: &[(String, String)]) -> Child {
    Command::new(fittrack_binary())
        .arg("router")
        .current_dir(repo_root())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .spawn()
        .expect("router starts")
}

/// Replaces (or adds) `name` in `env`.
fn set_env(env: &mut Vec<(String, String)>, name: &str, value: &str) {
    env.retain(|(key, _)| key != name);
    env.push((name.to_owned(), value.to_owned()));
}

/// Starts the router on `port` and waits until it is ready, not merely
/// alive: the supergraph is loaded (else NO_SUPERGRAPH_AVAILABLE). Ready
/// means this process listens on `port`, so another stack's router that
/// holds the port is never taken for ours. `Err` with its exit status if the
/// router ended first (its port was taken).
async fn start_router(env: &[(String, String)], port: u16) -> Result<Child, ExitStatus> {
    let mut child = spawn_router(env);
    let readiness = format!("http://127.0.0.1:{port}/readiness");
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(status);
        }
        if listens_on(child.id(), port) {
            if let Ok(response) = client.get(&readiness).send().await {
                if response.status().is_success() {
                    return Ok(child);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    panic!("{readiness} did not come up within 60 s");
}

/// Whether process `pid` holds a listening TCP socket on `port`, read from
/// Linux's /proc (a socket's inode in the process's descriptors and in the
/// table of listening sockets). Elsewhere it cannot tell, and says yes.
fn listens_on(pid: u32, port: u16) -> bool {
    let Ok(descriptors) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return !std::path::Path::new("/proc/self/fd").exists();
    };
    let sockets: std::collections::HashSet<String> = descriptors
        .flatten()
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            let inode = target.strip_prefix("socket:[")?.strip_suffix(']')?;
            Some(inode.to_owned())
        })
        .collect();
    const LISTEN: &str = "0A";
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .any(|table| {
            table.lines().skip(1).any(|line| {
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
                let columns: Vec<&str> = line.split_whitespace().collect();
                columns.len() > 9
                    && columns[3] == LISTEN
                    && columns[1]
                        .rsplit(':')
                        .next()
                        .and_then(|hex| u16::from_str_radix(hex, 16).ok())
                        == Some(port)
                    && sockets.contains(columns[9])
            })
        })
}

impl Stack {
    pub fn builder() -> StackBuilder {
        StackBuilder::default()
    }

    /// Every subgraph (embedded stores in a temp dir, or the real services
    /// the environment names), the recommendation worker (rules, no Gemini)
    /// and the router binary, ready.
    pub async fn start() -> Stack {
        Self::builder().start().await
    }

    /// As [`Stack::start`], with Gemini at a fake server and/or no worker.
    pub async fn start_with(
        gemini: Option<fittrack_ai::gemini::GeminiConfig>,
        run_worker: bool,
    ) -> Stack {
        Self::builder()
            .gemini(gemini)
            .worker(run_worker)
            .start()
            .await
    }

    /// As [`Stack::start`], with the user subgraph mailing through `smtp_url`.
    pub async fn start_with_smtp(smtp_url: &str) -> Stack {
        Self::builder().smtp(smtp_url).start().await
    }

    /// As [`Stack::start`], with extra environment for the router process.
    pub async fn start_with_router_env(router_env: &[(&str, &str)]) -> Stack {
        Self::builder().router_env(router_env).start().await
    }

    /// The shipped limits (rate limits, sign-in limits, AI budgets), with the
    /// router trusting `X-Forwarded-For` from loopback so a test can speak as
    /// several client addresses.
    pub async fn start_with_production_limits(
        gemini: Option<fittrack_ai::gemini::GeminiConfig>,
        router_env: &[(&str, &str)],
    ) -> Stack {
        Self::builder()
            .gemini(gemini)
            .router_env(router_env)
            .limits(Limits::Production)
            .start()
            .await
    }

    /// The router process (benchmarks read its memory).
    pub fn router_pid(&self) -> u32 {
        self.router_process.id()
    }

    pub fn router_ws(&self) -> String {
        self.router.replacen("http://", "ws://", 1)
    }

    /// The signing key the user subgraph generated for this stack (to forge tokens).
    pub fn signing_key_pem(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("jwt-signing-key.pem")).expect("key file")
    }

    /// A registered user whose token carries the ADMIN role, signed with the
    /// stack's real key (nothing promotes users to admin through the API).
    pub async fn register_admin(&self, prefix: &str) -> (Value, String) {
        let (_, auth) = self.register(prefix).await;
        let token = auth["accessToken"].as_str().expect("token");
        let (header, mut claims) = decode_unverified(token);
        claims["roles"] = json!(["USER", "ADMIN"]);
        let key =
            jsonwebtoken::EncodingKey::from_ed_pem(self.signing_key_pem().as_bytes()).expect("key");
        let mut jwt_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        jwt_header.kid = header["kid"].as_str().map(str::to_owned);
        let admin = jsonwebtoken::encode(&jwt_header, &claims, &key).expect("sign");
        (auth, admin)
    }

    /// Signs in through the router.
    pub async fn login(&self, email: &str, password: &str) -> GqlResponse {
        gql(
            &self.router,
            LOGIN,
            json!({"email": email, "password": password}),
            None,
        )
        .await
    }

    /// Registers a fresh user through the router; returns (email, auth payload).
    pub async fn register(&self, prefix: &str) -> (String, Value) {
        let email = unique_email(prefix);
        let response = gql(
            &self.router,
            REGISTER,
            json!({"input": {"email": email, "password": PASSWORD}}),
            None,
        )
        .await;
        let payload = response.data("register").clone();
        assert!(
            payload["accessToken"].is_string(),
            "register failed: {response:?}"
        );
        (email, payload)
    }
}

impl Stack {
    /// Kills the router (SIGKILL: connections drop, no goodbye) and starts
    /// it again on the same port; returns once it is ready.
    pub async fn restart_router(&mut self) {
        let _ = self.router_process.kill();
        let _ = self.router_process.wait();
        let port = self
            .router_env
            .iter()
            .rev()
            .find(|(name, _)| name == "PORT")
            .and_then(|(_, port)| port.parse().ok())
            .expect("the router's port");
        self.router_process = start_router(&self.router_env, port)
            .await
            .unwrap_or_else(|status| panic!("router exited ({status}) on restart"));
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.router_process.kill();
        let _ = self.router_process.wait();
        self.stop.cancel();
    }
}

/// The role the admin subgraph uses on PostgreSQL: it may log in, and the
/// admin subgraph's owner connection grants it the audit log's SELECT and
/// INSERT (nothing else). Returns `owner_url` with that role as the user.
pub async fn audit_app_role_url(owner_url: &str) -> Secret {
    use sea_orm::ConnectionTrait as _;
    const ROLE: &str = "fittrack_audit_app";
    let owner = sea_orm::Database::connect(owner_url)
        .await
        .expect("owner connection");
    owner
        .execute_unprepared(&format!(
            "DO $$ BEGIN CREATE ROLE {ROLE} LOGIN; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ))
        .await
        .expect("the audit application role exists");
    let _ = owner.close().await;
    let mut url = reqwest::Url::parse(owner_url).expect("a database URL");
    url.set_username(ROLE).expect("a user name");
    url.set_password(None).expect("no password");
    Secret::new(url.to_string())
}

/// A fake Gemini that answers every call at once with valid advice, and
/// keeps no record of the calls (a recording server slows as it grows, and
/// benches send it thousands).
pub async fn fake_gemini() -> wiremock::MockServer {
    use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};
    let server = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    let advice = json!({"summary": "Good session.", "highlights": ["Consistent"],
        "improvements": ["Stretch"], "nextWorkout": "Easy 30 min", "safetyNotes": ["Hydrate"]});
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "candidates": [{"content": {"parts": [{"text": advice.to_string()}]}, "finishReason": "STOP"}]
        })))
        .mount(&server)
        .await;
    server
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_is_ours_only_while_this_process_listens_on_it() {
        let listener = StdListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().expect("an address").port();
        let me = std::process::id();
        assert!(listens_on(me, port));
        // PID 1 is never this test: another process's socket is not ours.
        assert!(!listens_on(1, port));
        drop(listener);
        assert!(!listens_on(me, port));
    }
}
