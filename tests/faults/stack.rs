//! FitTrack as production runs it: every subgraph its own `fittrack serve`
//! process, the recommendation workers apart (`fittrack worker`), the router
//! (`fittrack router`), all on the harness's own PostgreSQL, Redis and
//! nx-27017. Two links go through fault proxies: router → activity subgraph,
//! and activity subgraph → Redis.
//!
//! [`Topology::Replicated`] runs two replicas of every service (subgraphs,
//! workers, routers) with HAProxy in front of each replicated one, round
//! robin, health-checked: the routers and every subgraph reach a service
//! only through its balancer ([`Balancer`]).

use std::{
    collections::BTreeMap,
    fs::OpenOptions,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use super::{
    backends::{Backends, Unavailable},
    balancer::Balancer,
    proxy::FaultProxy,
    support::{free_port, repo_root, wait_until_up},
};

/// One process of the stack; the number is its replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    User(u8),
    Activity(u8),
    Ai(u8),
    Admin(u8),
    Worker(u8),
    Router(u8),
}

impl Service {
    fn name(self) -> String {
        let (kind, replica) = self.kind();
        format!("{kind}-{replica}")
    }

    pub fn kind(self) -> (&'static str, u8) {
        match self {
            Service::User(r) => ("user", r),
            Service::Activity(r) => ("activity", r),
            Service::Ai(r) => ("ai", r),
            Service::Admin(r) => ("admin", r),
            Service::Worker(r) => ("worker", r),
            Service::Router(r) => ("router", r),
        }
    }

    /// Replica `r` of every service.
    pub fn every(r: u8) -> [Service; 6] {
        [
            Service::User(r),
            Service::Activity(r),
            Service::Ai(r),
            Service::Admin(r),
            Service::Worker(r),
            Service::Router(r),
        ]
    }
}

/// How many processes of each service run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// One of each subgraph and router, [`WORKERS`] workers.
    Single,
    /// Two of everything, each replicated service behind HAProxy.
    Replicated,
}

pub const WORKERS: u8 = 2;
/// How long a job a worker took and never acknowledged (it was killed) waits
/// before another worker gets it.
pub const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(2);
/// The router gives up on a subgraph after this (`traffic_shaping.all.request_timeout`).
pub const SUBGRAPH_TIMEOUT: Duration = Duration::from_secs(4);

pub struct FaultStack {
    pub dir: tempfile::TempDir,
    pub backends: Backends,
    ports: BTreeMap<Service, u16>,
    children: BTreeMap<Service, Child>,
    /// HAProxy in front of each replicated service ([`Topology::Replicated`]).
    balancer: Option<Balancer>,
    /// Set on every router after the harness's own settings.
    router_env: Vec<(String, String)>,
    /// router → activity subgraph.
    pub activity_link: FaultProxy,
    /// activity subgraph → Redis.
    pub activity_redis_link: FaultProxy,
}

impl FaultStack {
    pub async fn start(topology: Topology) -> Result<Self, Unavailable> {
        Self::start_with_router_env(topology, &[]).await
    }

    /// As [`FaultStack::start`], the routers with `router_env` on top of the
    /// harness's settings (its limits are high, for the load).
    pub async fn start_with_router_env(
        topology: Topology,
        router_env: &[(&str, &str)],
    ) -> Result<Self, Unavailable> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        std::fs::create_dir_all(dir.path().join("logs")).map_err(|e| e.to_string())?;
        let backends = Backends::start(dir.path()).await?;
        let replicas = match topology {
            Topology::Single => 1,
            Topology::Replicated => 2,
        };
        let mut ports = BTreeMap::new();
        for r in 0..replicas {
            // A worker serves /health, /ready and /metrics.
            for service in Service::every(r) {
                ports.insert(service, free_port());
            }
        }
        for n in 0..WORKERS {
            ports.insert(Service::Worker(n), free_port());
        }
        let balancer = match topology {
            Topology::Single => None,
            Topology::Replicated => Some(Balancer::start(dir.path(), &ports).await?),
        };
        let activity_entry = match &balancer {
            Some(balancer) => balancer.frontends["activity"],
            None => ports[&Service::Activity(0)],
        };
        let activity_link =
            FaultProxy::start("activity", &format!("127.0.0.1:{activity_entry}")).await;
        let activity_redis_link = FaultProxy::start(
            "activity-redis",
            &format!("127.0.0.1:{}", backends.redis.port),
        )
        .await;
        let mut stack = Self {
            dir,
            backends,
            ports,
            children: BTreeMap::new(),
            balancer,
            router_env: router_env
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
            activity_link,
            activity_redis_link,
        };
        // One replica after the other: the first migrates, the first user
        // replica writes the signing and pseudonym keys the others read.
        for r in 0..replicas {
            for service in [
                Service::User(r),
                Service::Activity(r),
                Service::Ai(r),
                Service::Admin(r),
            ] {
                stack.start_service(service).await;
            }
        }
        for n in 0..WORKERS {
            stack.start_service(Service::Worker(n)).await;
        }
        for r in 0..replicas {
            stack.start_service(Service::Router(r)).await;
        }
        if let Some(balancer) = &stack.balancer {
            balancer.wait_all_up().await;
        }
        Ok(stack)
    }

    /// Where clients send requests: the routers' balancer, or the router.
    pub fn router(&self) -> String {
        format!("http://127.0.0.1:{}/graphql", self.entry("router"))
    }

    pub fn router_ws(&self) -> String {
        format!("ws://127.0.0.1:{}/graphql", self.entry("router"))
    }

    /// One router replica, not through the balancer.
    pub fn router_replica(&self, r: u8) -> String {
        format!(
            "http://127.0.0.1:{}/graphql",
            self.ports[&Service::Router(r)]
        )
    }

    pub fn router_replica_ws(&self, r: u8) -> String {
        format!("ws://127.0.0.1:{}/graphql", self.ports[&Service::Router(r)])
    }

    /// The port through which the other services reach `kind`: its
    /// balancer's, or its one replica's.
    fn entry(&self, kind: &str) -> u16 {
        match &self.balancer {
            Some(balancer) => balancer.frontends[kind],
            None => {
                let (_, port) = self
                    .ports
                    .iter()
                    .find(|(service, _)| service.kind() == (kind, 0))
                    .expect("a service of that kind");
                *port
            }
        }
    }

    fn url(&self, kind: &str) -> String {
        format!("http://127.0.0.1:{}", self.entry(kind))
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, service: Service) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fittrack"));
        command
            .current_dir(repo_root())
            .env("FITTRACK_DATA_DIR", self.data_dir())
            .env("RUST_LOG", "warn")
            .env("LOG_LEVEL", "warn")
            .env_remove("GEMINI_API_KEY")
            .env_remove("DATABASE_URL")
            .env_remove("MONGODB_URI")
            .env("REDIS_URL", self.backends.redis.url())
            .env(
                "FITTRACK_JWKS_URL",
                format!("{}/.well-known/jwks.json", self.url("user")),
            );
        match service {
            Service::User(_) => {
                command
                    .args(["serve", "user"])
                    .env("DATABASE_URL", self.backends.postgres.url())
                    .env("FITTRACK_ADMIN_INTERNAL_URL", self.url("admin"))
                    .env("FITTRACK_USER__AUDIT_DELIVERY_INTERVAL_MS", "200")
                    .env(
                        "FITTRACK_USER__HTTP__PORT",
                        self.ports[&service].to_string(),
                    );
                // Every simulated user signs in from 127.0.0.1.
                for limit in [
                    "PER_ADDRESS",
                    "PER_ACCOUNT_ADDRESS",
                    "PER_ACCOUNT_ADDRESS_DAILY",
                    "PER_ACCOUNT",
                    "SIGN_UPS_PER_ADDRESS",
                ] {
                    command.env(format!("FITTRACK_USER__SIGN_IN__{limit}__LIMIT"), "1000000");
                }
            }
            Service::Activity(_) => {
                command
                    .args(["serve", "activity"])
                    .env("MONGODB_URI", self.backends.mongo.url())
                    .env(
                        "REDIS_URL",
                        format!("redis://{}", self.activity_redis_link.address()),
                    )
                    .env(
                        "FITTRACK_ACTIVITY__HTTP__PORT",
                        self.ports[&service].to_string(),
                    )
                    .env("FITTRACK_ACTIVITY__EVENTS__SWEEP_INTERVAL_SECS", "1")
                    .env("FITTRACK_ACTIVITY__EVENTS__SWEEP_GRACE_SECS", "3")
                    // The load logs far more than a person does.
                    .env(
                        "FITTRACK_ACTIVITY__LIMITS__WRITES_PER_MINUTE__LIMIT",
                        "1000000",
                    )
                    .env(
                        "FITTRACK_ACTIVITY__LIMITS__WRITES_PER_DAY__LIMIT",
                        "1000000",
                    );
            }
            Service::Ai(_) => {
                command
                    .args(["serve", "ai"])
                    .env("MONGODB_URI", self.backends.mongo.url())
                    .env("FITTRACK_AI__HTTP__PORT", self.ports[&service].to_string())
                    .env("FITTRACK_AI__TASKS__WORKER", "false");
            }
            Service::Worker(n) => {
                command
                    .arg("worker")
                    .env("MONGODB_URI", self.backends.mongo.url())
                    .env("FITTRACK_AI__WORKER__CONSUMER_NAME", format!("worker-{n}"))
                    .env(
                        "FITTRACK_AI__WORKER__METRICS_PORT",
                        self.ports[&service].to_string(),
                    )
                    .env(
                        "FITTRACK_AI__WORKER__QUEUE_OPTIONS__VISIBILITY_TIMEOUT",
                        VISIBILITY_TIMEOUT.as_millis().to_string(),
                    );
            }
            Service::Admin(_) => {
                command
                    .args(["serve", "admin"])
                    .env("DATABASE_URL", self.backends.postgres.url())
                    .env(
                        "FITTRACK_ADMIN__HTTP__PORT",
                        self.ports[&service].to_string(),
                    )
                    .env("FITTRACK_USER_INTERNAL_URL", self.url("user"));
            }
            Service::Router(_) => {
                command
                    .arg("router")
                    .env(
                        "ROUTER_CONFIG_FILE_PATH",
                        repo_root().join("router/router.yaml"),
                    )
                    .env(
                        "SUPERGRAPH_FILE_PATH",
                        repo_root().join("schema/supergraph.graphql"),
                    )
                    .env("PORT", self.ports[&service].to_string())
                    .env("FITTRACK_ROUTER_METRICS_PORT", free_port().to_string())
                    .env("FITTRACK_USER_URL", format!("{}/graphql", self.url("user")))
                    .env(
                        "FITTRACK_ACTIVITY_URL",
                        format!("http://{}/graphql", self.activity_link.address()),
                    )
                    .env("FITTRACK_AI_URL", format!("{}/graphql", self.url("ai")))
                    .env(
                        "FITTRACK_ADMIN_URL",
                        format!("{}/graphql", self.url("admin")),
                    )
                    .env(
                        "FITTRACK_SUBGRAPH_TIMEOUT",
                        format!("{}s", SUBGRAPH_TIMEOUT.as_secs()),
                    )
                    .env("FITTRACK_TRUSTED_PROXIES", "127.0.0.1,::1")
                    .env("FITTRACK_LIMIT_PER_USER", "1000000/60")
                    .env("FITTRACK_LIMIT_PER_ADDRESS", "1000000/60")
                    .env("FITTRACK_LIMIT_WS_PER_ADDRESS", "1000000/60")
                    .env("FITTRACK_LIMIT_WS_OPEN_PER_ADDRESS", "1000000")
                    .envs(self.router_env.iter().map(|(k, v)| (k, v)));
            }
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(
                self.dir
                    .path()
                    .join("logs")
                    .join(format!("{}.log", service.name())),
            )
            .expect("log file");
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        command
    }

    /// GraphQL requests `service` (a subgraph replica) answered since it
    /// started, from its own `/metrics`.
    pub async fn graphql_requests(&self, service: Service) -> u64 {
        let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", self.ports[&service]))
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .filter(|line| line.starts_with("fittrack_graphql_requests_total{"))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// Starts `service` and waits until it answers `/health`; back in its
    /// balancer's rotation, if it was taken out.
    pub async fn start_service(&mut self, service: Service) {
        let child = self.command(service).spawn().expect("fittrack starts");
        self.children.insert(service, child);
        if let Some(port) = self.ports.get(&service) {
            // The router is ready once its supergraph is loaded.
            let probe = if matches!(service, Service::Router(_)) {
                "readiness"
            } else {
                "health"
            };
            wait_until_up(&format!("http://127.0.0.1:{port}/{probe}")).await;
        }
        if let Some(balancer) = &self.balancer {
            balancer.set_state(service, "ready").await;
        }
    }

    /// `kill -9`: no drain, no goodbye to clients or the queue.
    pub fn kill(&mut self, service: Service) {
        if let Some(mut child) = self.children.remove(&service) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops `service` as Kubernetes stops a pod: out of its balancer's
    /// rotation first (the endpoint removed), then the `preStop` pause
    /// (1 s here, 5 s in deploy/kubernetes), then `SIGTERM`; how long the
    /// process took to exit after the signal. Panics past `grace` (the pod
    /// would have been killed).
    pub async fn stop_gracefully(&mut self, service: Service, grace: Duration) -> Duration {
        use nix::{sys::signal, unistd::Pid};
        if let Some(balancer) = &self.balancer {
            balancer.set_state(service, "maint").await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let mut child = self.children.remove(&service).expect("the service runs");
        let pid = Pid::from_raw(child.id() as i32);
        let _ = signal::kill(pid, signal::Signal::SIGTERM);
        let started = std::time::Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                assert!(
                    status.success(),
                    "{} exited with {status} on SIGTERM",
                    service.name()
                );
                return started.elapsed();
            }
            if started.elapsed() > grace {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} did not exit within {grace:?} of SIGTERM",
                    service.name()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn restart(&mut self, service: Service) {
        self.kill(service);
        self.start_service(service).await;
    }

    /// Fails the test if a process exited on its own (a crash the harness did
    /// not cause), naming its log.
    pub fn assert_all_running(&mut self) {
        for (service, child) in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                let log = self
                    .dir
                    .path()
                    .join("logs")
                    .join(format!("{}.log", service.name()));
                panic!(
                    "{} exited by itself ({status}):\n{}",
                    service.name(),
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
        }
    }

    /// `fittrack admin create` against the stack's database; (email, password).
    pub fn create_admin(&self) -> (String, String) {
        let email = super::support::unique_email("fault-admin");
        let password = super::support::PASSWORD.to_owned();
        let status = Command::new(env!("CARGO_BIN_EXE_fittrack"))
            .current_dir(repo_root())
            .args(["admin", "create", "--email", &email])
            .env("FITTRACK_ADMIN_PASSWORD", &password)
            .env("FITTRACK_DATA_DIR", self.data_dir())
            .env("DATABASE_URL", self.backends.postgres.url())
            .env("REDIS_URL", self.backends.redis.url())
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .status()
            .expect("fittrack admin create runs");
        assert!(status.success(), "admin created");
        (email, password)
    }

    /// The activity event queue as the workers see it.
    pub async fn queue(&self) -> std::sync::Arc<dyn fittrack_kit::queue::JobQueue> {
        fittrack_kit::queue::connect(
            &fittrack_kit::shared::SharedState::new(
                Some(fittrack_kit::config::Secret::new(self.backends.redis.url())),
                fittrack_kit::shared::DEFAULT_NAMESPACE,
            ),
            "activity-events",
            "ai-worker",
            Default::default(),
        )
        .await
        .expect("queue")
    }
}

impl Drop for FaultStack {
    fn drop(&mut self) {
        let services: Vec<Service> = self.children.keys().copied().collect();
        for service in services {
            self.kill(service);
        }
        if std::thread::panicking() || std::env::var_os("FITTRACK_FAULT_KEEP_LOGS").is_some() {
            let kept = self.dir.path().to_path_buf();
            eprintln!("fault harness logs: {}", kept.join("logs").display());
            // Keep the folder for a post-mortem.
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
            let _ = dir.keep();
        }
    }
}
