//! End-to-end harness: the user subgraph in-process on a free port, the real
//! router binary (`fittrack router`) in front of it, and typed helpers for
//! GraphQL over HTTP and graphql-transport-ws.
#![allow(dead_code)] // each test binary uses its own subset

use std::{
    net::TcpListener as StdListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fittrack_activity::storage::{
    embedded::EmbeddedActivityStore, mongo::MongoActivityStore, ActivityStore,
};
use fittrack_kit::queue::{memory::MemoryJobQueue, redis::RedisJobQueue, JobQueue, QueueOptions};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

pub const PASSWORD: &str = "correct horse battery";

/// Migrations of concurrently starting stacks must not race on one PostgreSQL.
static MIGRATION_LOCK: Mutex<()> = Mutex::const_new(());

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running stack. Dropping it stops the router and the subgraph.
pub struct Stack {
    /// Router GraphQL endpoint.
    pub router: String,
    /// User subgraph GraphQL endpoint (bypassing the router).
    pub user: String,
    /// Activity subgraph GraphQL endpoint (bypassing the router).
    pub activity: String,
    pub activity_store: Arc<dyn ActivityStore>,
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
    stop: tokio::sync::watch::Sender<bool>,
}

impl Stack {
    /// Starts every subgraph (embedded stores in a temp dir, or the real
    /// services the environment names), the recommendation worker (rules, no
    /// Gemini) and the router binary, and waits until they answer.
    pub async fn start() -> Stack {
        Self::start_with(None, true).await
    }

    /// As [`Stack::start`], with Gemini at a fake server and/or no worker.
    pub async fn start_with(
        gemini: Option<fittrack_ai::gemini::GeminiConfig>,
        run_worker: bool,
    ) -> Stack {
        Self::start_full(gemini, run_worker, &[], Limits::Relaxed, None).await
    }

    /// As [`Stack::start`], with the user subgraph mailing through `smtp_url`.
    pub async fn start_with_smtp(smtp_url: &str) -> Stack {
        Self::start_full(None, true, &[], Limits::Relaxed, Some(smtp_url)).await
    }

    /// As [`Stack::start`], with extra environment for the router process.
    pub async fn start_with_router_env(router_env: &[(&str, &str)]) -> Stack {
        Self::start_full(None, true, router_env, Limits::Relaxed, None).await
    }

    /// The shipped limits (rate limits, sign-in limits, AI budgets), with the
    /// router trusting `X-Forwarded-For` from loopback so a test can speak as
    /// several client addresses.
    pub async fn start_with_production_limits(
        gemini: Option<fittrack_ai::gemini::GeminiConfig>,
        router_env: &[(&str, &str)],
    ) -> Stack {
        Self::start_full(gemini, true, router_env, Limits::Production, None).await
    }

    async fn start_full(
        gemini: Option<fittrack_ai::gemini::GeminiConfig>,
        run_worker: bool,
        router_env: &[(&str, &str)],
        limits: Limits,
        smtp_url: Option<&str>,
    ) -> Stack {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = fittrack_user::UserConfig {
            data_dir: data_dir.path().to_owned(),
            database_url: std::env::var("DATABASE_URL")
                .ok()
                .filter(|url| !url.is_empty())
                .map(fittrack_kit::config::Secret::new),
            sign_in: limits.sign_in(),
            ..Default::default()
        };
        config.mail.smtp_url = smtp_url.map(fittrack_kit::config::Secret::new);
        // Deletions are announced on this stack's own erasure queues.
        let erase_activity = activity_queue().await;
        let erase_ai = activity_queue().await;
        let service = {
            let _guard = MIGRATION_LOCK.lock().await;
            fittrack_user::build_with(&config, vec![erase_activity.clone(), erase_ai.clone()])
                .await
                .expect("user subgraph builds")
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (user_addr, user) = serve_in_process(service.router, stopped.clone()).await;

        // The activity subgraph checks tokens with the user subgraph's keys.
        let verifier = fittrack_kit::JwtVerifier::fixed(
            service.issuer.jwks(),
            fittrack_kit::config::DEFAULT_ISSUER,
            fittrack_kit::config::DEFAULT_AUDIENCE,
        )
        .expect("verifier");
        // Uncached: tests see a revocation at once (production caches ≤ 30 s).
        verifier.use_revocations(fittrack_kit::revocation::MemoryRevocations::shared());
        let activity_store = activity_store(data_dir.path()).await;
        let activity_queue = activity_queue().await;
        let activity_service = fittrack_activity::build_with(
            activity_store.clone(),
            activity_queue.clone(),
            verifier,
            fittrack_activity::graphql::DEFAULT_LOADER_DELAY,
            fittrack_kit::cache::local_dashboard(),
            &fittrack_kit::config::HttpConfig::on_port(0),
        );
        let activity_events = activity_service.events.clone();
        let (_, activity) = serve_in_process(activity_service.router, stopped.clone()).await;

        // The AI subgraph and its worker consume the same queue.
        let mut ai_context =
            ai_context(data_dir.path(), activity_queue.clone(), gemini.clone()).await;
        if limits == Limits::Production {
            ai_context.coach = coach(gemini, Default::default());
        }
        let ai_verifier = fittrack_kit::JwtVerifier::fixed(
            service.issuer.jwks(),
            fittrack_kit::config::DEFAULT_ISSUER,
            fittrack_kit::config::DEFAULT_AUDIENCE,
        )
        .expect("verifier");
        ai_verifier.use_revocations(fittrack_kit::revocation::MemoryRevocations::shared());
        let ai_service = fittrack_ai::build_with(
            ai_context.clone(),
            ai_verifier,
            &fittrack_kit::config::HttpConfig::on_port(0),
        );
        let worker = ai_service.worker.clone();
        let (_, ai) = serve_in_process(ai_service.router, stopped.clone()).await;

        // The admin subgraph applies changes through the user subgraph's internal API.
        // On PostgreSQL the admin subgraph runs as a role that may only read
        // and append to the audit log; the owner role migrates it.
        let (admin_database_url, admin_owner_url) = match &config.database_url {
            Some(url) if url.expose().starts_with("postgres") => (
                Some(audit_app_role_url(url.expose()).await),
                Some(url.clone()),
            ),
            other => (other.clone(), None),
        };
        let admin_config = fittrack_admin::AdminConfig {
            data_dir: data_dir.path().to_owned(),
            database_url: admin_database_url,
            database_owner_url: admin_owner_url,
            user_internal_url: format!("http://{user_addr}"),
            ..Default::default()
        };
        let admin_verifier = fittrack_kit::JwtVerifier::fixed(
            service.issuer.jwks(),
            fittrack_kit::config::DEFAULT_ISSUER,
            fittrack_kit::config::DEFAULT_AUDIENCE,
        )
        .expect("verifier");
        admin_verifier.use_revocations(fittrack_kit::revocation::MemoryRevocations::shared());
        let admin_service = {
            let _guard = MIGRATION_LOCK.lock().await;
            fittrack_admin::build_with(&admin_config, admin_verifier)
                .await
                .expect("admin subgraph builds")
        };
        let admin_store = admin_service.store.clone();
        {
            let mut stop_relay = stopped.clone();
            tokio::spawn(fittrack_admin::audit_relay::run(
                admin_store.clone(),
                admin_service.directory.clone(),
                AUDIT_RELAY_INTERVAL,
                async move {
                    let _ = stop_relay.wait_for(|stopped| *stopped).await;
                },
            ));
        }
        let (_, admin) = serve_in_process(admin_service.router, stopped.clone()).await;
        {
            let (mut stop_a, mut stop_b) = (stopped.clone(), stopped.clone());
            tokio::spawn(fittrack_activity::events::run_eraser(
                activity_store.clone(),
                erase_activity,
                activity_queue.clone(),
                fittrack_kit::erasure::MemoryErasedUsers::shared(),
                async move {
                    let _ = stop_a.wait_for(|stopped| *stopped).await;
                },
            ));
            tokio::spawn(worker.clone().run_eraser(erase_ai, async move {
                let _ = stop_b.wait_for(|stopped| *stopped).await;
            }));
        }
        if run_worker {
            let mut stop_worker = stopped.clone();
            tokio::spawn(worker.clone().run(
                activity_queue.clone(),
                "test-worker".into(),
                4,
                async move {
                    let _ = stop_worker.wait_for(|stopped| *stopped).await;
                },
            ));
        }

        // A test that must know the router's address in advance passes PORT.
        let router_port = router_env
            .iter()
            .find(|(name, _)| *name == "PORT")
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or_else(free_port);
        let router_process = Command::new(env!("CARGO_BIN_EXE_fittrack"))
            .arg("router")
            .current_dir(repo_root())
            .env(
                "ROUTER_CONFIG_FILE_PATH",
                repo_root().join("router/router.yaml"),
            )
            .env(
                "SUPERGRAPH_FILE_PATH",
                repo_root().join("schema/supergraph.graphql"),
            )
            .env("PORT", router_port.to_string())
            .env("FITTRACK_USER_URL", &user)
            .env("FITTRACK_ACTIVITY_URL", &activity)
            .env("FITTRACK_AI_URL", &ai)
            .env("FITTRACK_ADMIN_URL", &admin)
            .env(
                "FITTRACK_JWKS_URL",
                format!("http://{user_addr}/.well-known/jwks.json"),
            )
            .env(
                "LOG_LEVEL",
                std::env::var("ROUTER_LOG_LEVEL").unwrap_or_else(|_| "error".into()),
            )
            .envs(limits.router_env().iter().copied())
            .envs(router_env.iter().copied())
            .stdin(Stdio::null())
            .spawn()
            .expect("router starts");
        let stack = Stack {
            router: format!("http://127.0.0.1:{router_port}/graphql"),
            user,
            activity,
            activity_store,
            activity_queue,
            activity_events,
            ai,
            ai_context,
            worker,
            admin,
            admin_store,
            data_dir,
            router_process,
            stop,
        };
        wait_until_up(&format!("http://127.0.0.1:{router_port}/health")).await;
        stack
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
    /// stack's real key (nothing promotes users to admin through the API yet).
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

/// How often a test stack's admin subgraph collects the audit outbox.
pub const AUDIT_RELAY_INTERVAL: Duration = Duration::from_millis(200);

/// The role the admin subgraph uses on PostgreSQL: it may log in, and the
/// admin subgraph's owner connection grants it the audit log's SELECT and
/// INSERT (nothing else). Returns `owner_url` with that role as the user.
pub async fn audit_app_role_url(owner_url: &str) -> fittrack_kit::config::Secret {
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
    fittrack_kit::config::Secret::new(url.to_string())
}

/// Which limits a test stack runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limits {
    /// Far above anything a test does: every test speaks from 127.0.0.1 and,
    /// on Redis, shares the counters with every other test running at once.
    /// The router still trusts `X-Forwarded-For` from loopback (as behind a
    /// local load balancer), so tests can speak as other addresses.
    Relaxed,
    /// What ships (router.yaml and the config defaults), behind a local load
    /// balancer (loopback trusted).
    Production,
}

impl Limits {
    fn sign_in(self) -> fittrack_user::domain::sign_in_limits::SignInLimitsConfig {
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
                    sign_ups_per_address: plenty,
                    reset_requests_per_address: plenty,
                    reset_requests_per_email: plenty,
                }
            }
        }
    }

    fn ai(self) -> fittrack_ai::coach::AiLimitsConfig {
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
                }
            }
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

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.router_process.kill();
        let _ = self.router_process.wait();
        let _ = self.stop.send(true);
    }
}

/// Serves `app` on a free port until `stop` turns true; (address, GraphQL URL).
async fn serve_in_process(
    app: axum::Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> (std::net::SocketAddr, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(fittrack_kit::server::serve(listener, app, async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    }));
    (addr, format!("http://{addr}/graphql"))
}

/// The activity store under test: MongoDB (a fresh database) when
/// `MONGODB_URI` is set, else the embedded store in `dir`.
pub async fn activity_store(dir: &std::path::Path) -> Arc<dyn ActivityStore> {
    match std::env::var("MONGODB_URI").ok().filter(|u| !u.is_empty()) {
        Some(uri) => {
            let database = format!("activity_test_{}", uuid::Uuid::new_v4().simple());
            Arc::new(
                MongoActivityStore::connect(&uri, &database)
                    .await
                    .expect("mongodb store"),
            )
        }
        None => Arc::new(
            EmbeddedActivityStore::open(&format!(
                "sqlite://{}?mode=rwc",
                dir.join("activity.db").display()
            ))
            .await
            .expect("embedded store"),
        ),
    }
}

/// Test queues redeliver quickly and give up after three deliveries.
pub fn test_queue_options() -> QueueOptions {
    QueueOptions {
        visibility_timeout: Duration::from_millis(800),
        max_deliveries: 3,
    }
}

/// The AI subgraph's parts: a fresh store (MongoDB database or embedded file),
/// the given queue, the bus (Redis when `REDIS_URL` is set), rules or `gemini`.
pub async fn ai_context(
    dir: &std::path::Path,
    queue: Arc<dyn JobQueue>,
    gemini: Option<fittrack_ai::gemini::GeminiConfig>,
) -> fittrack_ai::graphql::AiContext {
    use fittrack_ai::{bus, storage};
    let store: Arc<dyn storage::AiStore> =
        match std::env::var("MONGODB_URI").ok().filter(|u| !u.is_empty()) {
            Some(uri) => Arc::new(
                storage::mongo::MongoAiStore::connect(
                    &uri,
                    &format!("ai_test_{}", uuid::Uuid::new_v4().simple()),
                )
                .await
                .expect("mongodb ai store"),
            ),
            None => Arc::new(
                storage::embedded::EmbeddedAiStore::open(&format!(
                    "sqlite://{}?mode=rwc",
                    dir.join("ai.db").display()
                ))
                .await
                .expect("embedded ai store"),
            ),
        };
    let bus: Arc<dyn bus::RecommendationBus> =
        match std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) {
            Some(url) => bus::RedisBus::connect(&url).await.expect("redis bus"),
            None => Arc::new(bus::LocalBus::default()),
        };
    fittrack_ai::graphql::AiContext {
        store,
        coach: coach(gemini, Limits::Relaxed.ai()),
        bus,
        queue,
        dashboard: fittrack_kit::cache::local_dashboard(),
        breakers: fittrack_ai::breakers::BreakerBoard::local(),
        erased: fittrack_kit::erasure::MemoryErasedUsers::shared(),
    }
}

/// A fake Gemini that answers every call at once with valid advice.
pub async fn fake_gemini() -> wiremock::MockServer {
    use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
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

/// Rules, or Gemini at `gemini`, with these per-user limits (in process).
pub fn coach(
    gemini: Option<fittrack_ai::gemini::GeminiConfig>,
    limits: fittrack_ai::coach::AiLimitsConfig,
) -> Arc<fittrack_ai::coach::Coach> {
    Arc::new(fittrack_ai::coach::Coach::with_limits(
        fittrack_ai::gemini::GeminiClient::new(gemini.unwrap_or_default()).expect("gemini client"),
        Arc::new(fittrack_kit::ratelimit::MemoryRateLimiter::default()),
        limits,
    ))
}

/// The event queue under test: Redis (a fresh stream) when `REDIS_URL` is set,
/// else in-process.
pub async fn activity_queue() -> Arc<dyn JobQueue> {
    let name = format!("activity-events-{}", uuid::Uuid::new_v4().simple());
    match std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => Arc::new(
            RedisJobQueue::connect(&url, &name, "ai-worker", test_queue_options())
                .await
                .expect("redis queue"),
        ),
        None => Arc::new(MemoryJobQueue::new(&name, test_queue_options())),
    }
}

pub async fn wait_until_up(url: &str) {
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(response) = client.get(url).send().await {
            if response.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not come up within 60 s");
}

pub fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.com", uuid::Uuid::new_v4().simple())
}

pub const REGISTER: &str = "mutation($input: RegisterInput!) { register(input: $input) { accessToken refreshToken accessTokenExpiresAt user { id email role } } }";
pub const LOGIN: &str = "mutation($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken refreshToken user { id email } } }";
pub const LOGOUT: &str = "mutation($token: String!) { logout(refreshToken: $token) }";
pub const CHANGE_PASSWORD: &str = "mutation($current: String!, $new: String!) { changePassword(currentPassword: $current, newPassword: $new) { accessToken refreshToken user { id } } }";
pub const REQUEST_RESET: &str = "mutation($email: String!) { requestPasswordReset(email: $email) }";
pub const RESET_PASSWORD: &str =
    "mutation($token: String!, $new: String!) { resetPassword(token: $token, newPassword: $new) }";

/// Polls `query` with `token` at `url` until it is refused as
/// `UNAUTHENTICATED`; how long that took. Panics after `within`.
pub async fn refused_within(url: &str, query: &str, token: &str, within: Duration) -> Duration {
    let started = std::time::Instant::now();
    loop {
        let response = gql(url, query, json!({}), Some(token)).await;
        if response.code() == Some("UNAUTHENTICATED") {
            return started.elapsed();
        }
        response.assert_ok();
        assert!(
            started.elapsed() < within,
            "{url} still accepts the token {:?} later",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub const REFRESH: &str = "mutation($token: String!) { refreshToken(refreshToken: $token) { accessToken refreshToken user { id } } }";
pub const ME: &str =
    "{ me { id email username firstName lastName gender fitnessGoal role accountStatus } }";

/// A GraphQL response as the client saw it.
#[derive(Debug)]
pub struct GqlResponse {
    pub status: u16,
    pub body: Value,
}

impl GqlResponse {
    pub fn data(&self, field: &str) -> &Value {
        &self.body["data"][field]
    }

    pub fn errors(&self) -> &[Value] {
        self.body["errors"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// `extensions.code` of the first error.
    pub fn code(&self) -> Option<&str> {
        self.errors().first()?["extensions"]["code"].as_str()
    }

    pub fn field(&self) -> Option<&str> {
        self.errors().first()?["extensions"]["field"].as_str()
    }

    pub fn assert_ok(&self) -> &Self {
        assert!(
            self.errors().is_empty(),
            "unexpected errors: {:#}",
            self.body
        );
        self
    }

    pub fn assert_code(&self, code: &str) -> &Self {
        assert_eq!(self.code(), Some(code), "expected {code}: {:#}", self.body);
        self
    }
}

pub async fn gql(url: &str, query: &str, variables: Value, token: Option<&str>) -> GqlResponse {
    let mut request = reqwest::Client::new()
        .post(url)
        .json(&json!({"query": query, "variables": variables}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    GqlResponse { status, body }
}

/// One graphql-transport-ws operation: init (with `init_payload`), subscribe,
/// collect `next` payloads until `complete` or `error`.
/// An open graphql-transport-ws subscription.
pub struct WsSubscription {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl WsSubscription {
    /// Connects, initialises with `init_payload` and subscribes; `Err` if the
    /// server refuses the connection or the subscription.
    pub async fn open(url: &str, init_payload: Value, query: &str) -> Result<Self, String> {
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().map_err(|_| "header")?,
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| e.to_string())?;
        let send = |value: Value| Message::Text(value.to_string().into());
        socket
            .send(send(
                json!({"type": "connection_init", "payload": init_payload}),
            ))
            .await
            .map_err(|e| e.to_string())?;
        let ack = next_json(&mut socket).await?;
        if ack["type"] != "connection_ack" {
            return Err(format!("no ack: {ack}"));
        }
        socket
            .send(send(
                json!({"id": "1", "type": "subscribe", "payload": {"query": query}}),
            ))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self { socket })
    }

    /// The next `next` payload within `wait`; `Err` on an error, completion,
    /// a closed socket or the timeout.
    pub async fn next(&mut self, wait: Duration) -> Result<Value, String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, next_json(&mut self.socket))
                .await
                .map_err(|_| "timed out".to_owned())??;
            match message["type"].as_str() {
                Some("next") => return Ok(message["payload"].clone()),
                Some("ping") => self
                    .socket
                    .send(Message::Text(json!({"type": "pong"}).to_string().into()))
                    .await
                    .map_err(|e| e.to_string())?,
                Some("error") => return Err(message["payload"].to_string()),
                Some("complete") => return Err("completed".into()),
                _ => {}
            }
        }
    }
}

pub async fn ws_operation(
    url: &str,
    init_payload: Value,
    query: &str,
    variables: Value,
) -> Result<Vec<Value>, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().map_err(|_| "header")?,
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    let send = |value: Value| Message::Text(value.to_string().into());
    socket
        .send(send(
            json!({"type": "connection_init", "payload": init_payload}),
        ))
        .await
        .map_err(|e| e.to_string())?;
    let ack = next_json(&mut socket).await?;
    if ack["type"] != "connection_ack" {
        return Err(format!("no ack: {ack}"));
    }
    socket
        .send(send(json!({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}})))
        .await
        .map_err(|e| e.to_string())?;
    let mut payloads = Vec::new();
    loop {
        let message = next_json(&mut socket).await?;
        match message["type"].as_str() {
            Some("next") => payloads.push(message["payload"].clone()),
            Some("complete") => return Ok(payloads),
            Some("error") => return Err(message["payload"].to_string()),
            Some("ping") => socket
                .send(send(json!({"type": "pong"})))
                .await
                .map_err(|e| e.to_string())?,
            _ => {}
        }
    }
}

async fn next_json<S>(socket: &mut S) -> Result<Value, String>
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .map_err(|_| "timed out waiting for a message".to_string())?
            .ok_or("socket closed")?
            .map_err(|e| e.to_string())?;
        match message {
            Message::Text(text) => return serde_json::from_str(&text).map_err(|e| e.to_string()),
            Message::Close(frame) => return Err(format!("closed: {frame:?}")),
            _ => {}
        }
    }
}

/// Reads a claim set without verifying (tests inspect what was issued).
pub fn decode_unverified(token: &str) -> (Value, Value) {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let mut parts = token.split('.');
    let mut part = || -> Value {
        let bytes = URL_SAFE_NO_PAD
            .decode(parts.next().expect("part"))
            .expect("base64");
        serde_json::from_slice(&bytes).expect("json")
    };
    (part(), part())
}
