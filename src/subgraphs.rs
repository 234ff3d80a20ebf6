//! The subgraphs this build knows: names, default ports, SDL exporters, servers.

use std::{future::Future, pin::Pin};

use anyhow::Context as _;
use clap::ValueEnum;
use tokio::{net::TcpListener, sync::watch};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SubgraphName {
    User,
    Activity,
    Ai,
    Admin,
}

pub struct SubgraphSpec {
    pub name: SubgraphName,
    /// The name in `supergraph.yaml` and the supergraph's `join__Graph`.
    pub id: &'static str,
    pub sdl: fn() -> String,
}

/// Every subgraph built so far; later ones join this list.
pub const SUBGRAPHS: &[SubgraphSpec] = &[
    SubgraphSpec {
        name: SubgraphName::User,
        id: "user",
        sdl: fittrack_user::sdl,
    },
    SubgraphSpec {
        name: SubgraphName::Activity,
        id: "activity",
        sdl: fittrack_activity::sdl,
    },
    SubgraphSpec {
        name: SubgraphName::Ai,
        id: "ai",
        sdl: fittrack_ai::sdl,
    },
    SubgraphSpec {
        name: SubgraphName::Admin,
        id: "admin",
        sdl: fittrack_admin::sdl,
    },
];

/// Stops when the sender says `true` (or is dropped).
pub type Shutdown = watch::Receiver<bool>;

pub async fn stopped(mut shutdown: Shutdown) {
    let _ = shutdown.wait_for(|stopped| *stopped).await;
}

type BackgroundTask = Box<dyn FnOnce(Shutdown) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A subgraph bound to its port and ready to serve, with its background tasks.
pub struct BoundSubgraph {
    pub id: &'static str,
    pub listener: TcpListener,
    pub app: axum::Router,
    background: Vec<BackgroundTask>,
}

impl BoundSubgraph {
    pub fn url(&self) -> anyhow::Result<String> {
        Ok(format!("http://{}/graphql", self.listener.local_addr()?))
    }

    /// Serves until `shutdown`, running the background tasks alongside.
    pub async fn serve(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let tasks: Vec<_> = self
            .background
            .into_iter()
            .map(|task| tokio::spawn(task(shutdown.clone())))
            .collect();
        let served = fittrack_kit::server::serve(self.listener, self.app, stopped(shutdown))
            .await
            .with_context(|| format!("{} subgraph stopped", self.id));
        for task in tasks {
            let _ = task.await;
        }
        served
    }
}

async fn listen(id: &str, address: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("{id} subgraph cannot listen on {address}"))
}

/// The queue on which the user subgraph announces deletions to one subgraph.
async fn erasure_queue(
    redis_url: Option<&str>,
    name: &str,
) -> anyhow::Result<std::sync::Arc<dyn fittrack_kit::queue::JobQueue>> {
    fittrack_kit::queue::connect(
        redis_url,
        name,
        fittrack_kit::events::ERASURE_GROUP,
        Default::default(),
    )
    .await
}

/// How subgraphs started together find each other (`fittrack dev`).
#[derive(Debug, Clone, Default)]
pub struct Wiring {
    /// The user subgraph's JWKS endpoint, once it is bound.
    pub jwks_url: Option<String>,
    /// The user subgraph's base URL (its internal API), once it is bound.
    pub user_base_url: Option<String>,
}

/// Loads a subgraph's config, builds it and binds its port.
pub async fn bind(name: SubgraphName, wiring: &Wiring) -> anyhow::Result<BoundSubgraph> {
    match name {
        SubgraphName::User => {
            let config = fittrack_user::UserConfig::load()?;
            let service = fittrack_user::build(&config).await?;
            Ok(BoundSubgraph {
                id: "user",
                listener: listen("user", &config.http.address()).await?,
                app: service.router,
                background: vec![],
            })
        }
        SubgraphName::Ai => {
            let config = ai_config(wiring)?;
            let service = fittrack_ai::build(&config).await?;
            let worker = service.worker.clone();
            let eraser = service.worker.clone();
            let queue = service.context.queue.clone();
            let worker_config = config.worker.clone();
            let (board, coach) = (
                service.context.breakers.clone(),
                service.context.coach.clone(),
            );
            let instance = worker_config.consumer_name();
            let erasure = erasure_queue(
                config.redis_url.as_ref().map(|u| u.expose()),
                fittrack_kit::events::USER_DELETED_AI_QUEUE,
            )
            .await?;
            Ok(BoundSubgraph {
                id: "ai",
                listener: listen("ai", &config.http.address()).await?,
                app: service.router,
                // `dev` and `serve ai` run the worker alongside the API; production
                // can also run more workers apart with `fittrack worker`.
                background: vec![
                    Box::new(move |shutdown| {
                        Box::pin(worker.run(
                            queue,
                            worker_config.consumer_name(),
                            worker_config.concurrency,
                            stopped(shutdown),
                        ))
                    }),
                    Box::new(move |shutdown| {
                        Box::pin(eraser.run_eraser(erasure, stopped(shutdown)))
                    }),
                    Box::new(move |shutdown| {
                        Box::pin(fittrack_ai::breakers::report_until(
                            board,
                            coach,
                            instance,
                            stopped(shutdown),
                        ))
                    }),
                ],
            })
        }
        SubgraphName::Admin => {
            let mut config = fittrack_admin::AdminConfig::load()?;
            if let Some(url) = &wiring.jwks_url {
                config.auth.jwks_url = url.clone();
            }
            if let Some(url) = &wiring.user_base_url {
                config.user_internal_url = url.clone();
            }
            let service = fittrack_admin::build(&config).await?;
            let interval = std::time::Duration::from_millis(config.audit_relay_interval_ms);
            let (store, directory) = (service.store.clone(), service.directory.clone());
            Ok(BoundSubgraph {
                id: "admin",
                listener: listen("admin", &config.http.address()).await?,
                background: vec![Box::new(move |shutdown| {
                    Box::pin(fittrack_admin::audit_relay::run(
                        store,
                        directory,
                        interval,
                        stopped(shutdown),
                    ))
                })],
                app: service.router,
            })
        }
        SubgraphName::Activity => {
            let mut config = fittrack_activity::ActivityConfig::load()?;
            if let Some(url) = &wiring.jwks_url {
                config.auth.jwks_url = url.clone();
            }
            let service = fittrack_activity::build(&config).await?;
            let events = service.events.clone();
            let sweep = config.events.clone();
            let eraser_store = service.store.clone();
            let (event_queue, marks) = (service.queue.clone(), service.erased.clone());
            let erasure = erasure_queue(
                config.redis_url.as_ref().map(|u| u.expose()),
                fittrack_kit::events::USER_DELETED_ACTIVITY_QUEUE,
            )
            .await?;
            Ok(BoundSubgraph {
                id: "activity",
                listener: listen("activity", &config.http.address()).await?,
                app: service.router,
                background: vec![
                    Box::new(move |shutdown| {
                        Box::pin(events.run_sweeper(sweep, stopped(shutdown)))
                    }),
                    Box::new(move |shutdown| {
                        Box::pin(fittrack_activity::events::run_eraser(
                            eraser_store,
                            erasure,
                            event_queue,
                            marks,
                            stopped(shutdown),
                        ))
                    }),
                ],
            })
        }
    }
}

/// The AI subgraph's config, wired to the user subgraph's JWKS when known.
fn ai_config(wiring: &Wiring) -> anyhow::Result<fittrack_ai::AiConfig> {
    let mut config = fittrack_ai::AiConfig::load()?;
    if let Some(url) = &wiring.jwks_url {
        config.auth.jwks_url = url.clone();
    }
    Ok(config)
}

/// `fittrack worker`: the recommendation worker without the API.
pub async fn run_worker_alone() -> anyhow::Result<()> {
    let config = ai_config(&Wiring::default())?;
    if config.redis_url.is_none() {
        tracing::warn!("REDIS_URL unset: this worker only sees events enqueued in its own process");
    }
    let context = fittrack_ai::connect(&config).await?;
    let worker = fittrack_ai::worker::Worker::new(
        context.store.clone(),
        context.coach.clone(),
        context.bus.clone(),
    )
    .with_erasure_marks(context.erased.clone(), context.queue.clone());
    tracing::info!(concurrency = config.worker.concurrency, "worker running");
    tokio::spawn(fittrack_ai::breakers::report_until(
        context.breakers.clone(),
        context.coach.clone(),
        config.worker.consumer_name(),
        fittrack_kit::server::shutdown_signal(),
    ));
    worker
        .run(
            context.queue.clone(),
            config.worker.consumer_name(),
            config.worker.concurrency,
            fittrack_kit::server::shutdown_signal(),
        )
        .await;
    Ok(())
}

/// `fittrack serve <name>`.
pub async fn serve_alone(name: SubgraphName) -> anyhow::Result<()> {
    // One subgraph per process: a revocation recorded here must reach the
    // others, so it has to go through Redis (building refuses otherwise).
    fittrack_kit::revocation::declare_separate_process();
    let bound = bind(name, &Wiring::default()).await?;
    tracing::info!(subgraph = bound.id, url = %bound.url()?, "serving");
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        fittrack_kit::server::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    bound.serve(stop_rx).await
}
