//! A subgraph as a process runs it: its API (unless switched off) and its
//! background tasks, started together and stopped by one [`CancellationToken`].
//!
//! Every subgraph's composition root (`fittrack_<name>::build(config)`) returns
//! one of these; the launcher (`fittrack dev`, `fittrack serve`,
//! `fittrack worker`), the test stack and the benches only bind and run it, so
//! there is one way the system is put together (after hive-router's
//! `BackgroundTasksManager`).

use std::{future::Future, net::SocketAddr, time::Duration};

use anyhow::Context as _;
use futures_util::future::BoxFuture;
use tokio::{net::TcpListener, task::JoinSet};
pub use tokio_util::sync::CancellationToken;

/// How long background tasks get to finish their current work after the token
/// is cancelled (a worker finishing its jobs, say) before they are dropped.
pub const TASK_GRACE: Duration = Duration::from_secs(10);

type TaskBody = Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, ()> + Send>;

/// Work that runs beside the API until the token is cancelled (a queue
/// consumer, a sweeper, a relay).
pub struct BackgroundTask {
    pub id: &'static str,
    body: TaskBody,
}

/// A built subgraph: not yet listening, nothing running.
pub struct Service {
    id: &'static str,
    api: Option<(axum::Router, String)>,
    /// Whether `api` is GraphQL, or only the operations endpoints
    /// (`/health`, `/ready`, `/metrics`) of a worker.
    graphql: bool,
    tasks: Vec<BackgroundTask>,
}

impl Service {
    pub fn new(id: &'static str) -> Self {
        Self {
            id,
            api: None,
            graphql: false,
            tasks: Vec::new(),
        }
    }

    /// Serves `router` on `address` (`host:port`; port 0 picks a free one).
    pub fn api(mut self, router: axum::Router, address: String) -> Self {
        self.api = Some((router, address));
        self.graphql = true;
        self
    }

    /// Serves only the operations endpoints (`kit::server::operations_router`)
    /// on `address`: a process with background work and no GraphQL.
    pub fn operations(mut self, router: axum::Router, address: String) -> Self {
        self.api = Some((router, address));
        self.graphql = false;
        self
    }

    /// Runs `task` beside the API when `enabled` (each is switchable by config).
    pub fn task<F, Fut>(mut self, id: &'static str, enabled: bool, task: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if enabled {
            self.tasks.push(BackgroundTask {
                id,
                body: Box::new(move |token| Box::pin(task(token))),
            });
        }
        self
    }

    pub fn id(&self) -> &'static str {
        self.id
    }

    /// The background tasks this service will run, by id.
    pub fn task_ids(&self) -> Vec<&'static str> {
        self.tasks.iter().map(|task| task.id).collect()
    }

    pub fn serves_api(&self) -> bool {
        self.api.is_some() && self.graphql
    }

    /// Binds the API's port (nothing runs yet), so its address is known before
    /// anything depends on it.
    pub async fn bind(self) -> anyhow::Result<BoundService> {
        let Some((_, address)) = &self.api else {
            return Ok(BoundService {
                id: self.id,
                api: None,
                graphql: false,
                tasks: self.tasks,
            });
        };
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("{} subgraph cannot listen on {address}", self.id))?;
        Ok(self.bind_to(listener))
    }

    /// As [`Service::bind`], on a listener the caller bound already (its
    /// address had to be known, and held, before this service was built).
    pub fn bind_to(self, listener: TcpListener) -> BoundService {
        BoundService {
            id: self.id,
            api: self.api.map(|(router, _)| (router, listener)),
            graphql: self.graphql,
            tasks: self.tasks,
        }
    }
}

/// A service whose port is bound; [`BoundService::run`] starts it.
pub struct BoundService {
    id: &'static str,
    api: Option<(axum::Router, TcpListener)>,
    graphql: bool,
    tasks: Vec<BackgroundTask>,
}

impl BoundService {
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// The background tasks this service runs, by id.
    pub fn task_ids(&self) -> Vec<&'static str> {
        self.tasks.iter().map(|task| task.id).collect()
    }

    /// Where the API (or a worker's operations endpoints) listens.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.api
            .as_ref()
            .and_then(|(_, listener)| listener.local_addr().ok())
    }

    /// The GraphQL endpoint (`None` for a worker-only process).
    pub fn graphql_url(&self) -> Option<String> {
        self.local_addr()
            .filter(|_| self.graphql)
            .map(|address| format!("http://{address}/graphql"))
    }

    /// Serves and runs every background task until `token` is cancelled;
    /// then drains in-flight requests and gives the tasks [`TASK_GRACE`] to
    /// finish. A task that ends by itself before that is logged, not fatal
    /// (it may have nothing to do in this configuration).
    pub async fn run(self, token: CancellationToken) -> anyhow::Result<()> {
        let mut tasks = JoinSet::new();
        for task in self.tasks {
            tracing::debug!(
                service = self.id,
                task = task.id,
                "background task starting"
            );
            let (id, token) = (task.id, token.child_token());
            tasks.spawn(async move {
                (task.body)(token).await;
                id
            });
        }
        let served = match self.api {
            Some((router, listener)) => {
                crate::server::serve(listener, router, token.clone().cancelled_owned())
                    .await
                    .with_context(|| format!("{} subgraph stopped serving", self.id))
            }
            None => {
                token.cancelled().await;
                Ok(())
            }
        };
        // The API has stopped (or was never served): stop the tasks too.
        token.cancel();
        let drained = tokio::time::timeout(TASK_GRACE, async {
            while let Some(finished) = tasks.join_next().await {
                if let Err(error) = finished {
                    tracing::error!(service = self.id, error = %error, "background task failed");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                service = self.id,
                "background tasks still busy after the grace period; stopping them"
            );
            tasks.abort_all();
        }
        served
    }

    /// [`BoundService::run`] on its own task (tests and the launcher).
    pub fn spawn(self, token: CancellationToken) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        tokio::spawn(self.run(token))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    };

    use super::*;

    #[tokio::test]
    async fn one_token_stops_the_api_and_every_task_and_disabled_tasks_never_run() {
        let started = Arc::new(AtomicUsize::new(0));
        let stopped = Arc::new(AtomicUsize::new(0));
        let mut service = Service::new("test").api(
            axum::Router::new().route("/health", axum::routing::get(|| async { "ok" })),
            "127.0.0.1:0".into(),
        );
        for (id, enabled) in [("a", true), ("b", true), ("off", false)] {
            let (started, stopped) = (started.clone(), stopped.clone());
            service = service.task(id, enabled, move |token| async move {
                started.fetch_add(1, Ordering::SeqCst);
                token.cancelled().await;
                stopped.fetch_add(1, Ordering::SeqCst);
            });
        }
        assert_eq!(service.task_ids(), ["a", "b"]);
        let bound = service.bind().await.expect("binds");
        let url = format!("http://{}/health", bound.local_addr().expect("an API"));
        let token = CancellationToken::new();
        let running = bound.spawn(token.clone());

        let body = reqwest::get(&url).await.expect("served").text().await;
        assert_eq!(body.expect("a body"), "ok");
        assert_eq!(started.load(Ordering::SeqCst), 2);

        token.cancel();
        running.await.expect("joined").expect("a clean stop");
        assert_eq!(stopped.load(Ordering::SeqCst), 2);
        assert!(reqwest::get(&url).await.is_err(), "the port is closed");
    }

    #[tokio::test]
    async fn a_service_without_an_api_runs_its_tasks_until_cancelled() {
        let ran = Arc::new(AtomicUsize::new(0));
        let seen = ran.clone();
        let bound = Service::new("worker")
            .task("work", true, move |token| async move {
                seen.fetch_add(1, Ordering::SeqCst);
                token.cancelled().await;
            })
            .bind()
            .await
            .expect("binds");
        assert!(bound.graphql_url().is_none());
        let token = CancellationToken::new();
        let running = bound.spawn(token.clone());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!running.is_finished(), "it waits for the token");
        token.cancel();
        running.await.expect("joined").expect("a clean stop");
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }
}
