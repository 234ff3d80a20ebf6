//! The subgraphs this build knows (names, SDL exporters) and how a process of
//! this binary builds one.

use clap::ValueEnum;
use fittrack_kit::service::{BoundService, CancellationToken, Service};

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

/// How subgraphs started together find each other (`fittrack dev`): the
/// user subgraph binds first, then the others are pointed at it.
#[derive(Debug, Clone, Default)]
pub struct Wiring {
    /// The user subgraph's JWKS endpoint, once it is bound.
    pub jwks_url: Option<String>,
    /// The user subgraph's base URL (its internal API), once it is bound.
    pub user_base_url: Option<String>,
    /// Where the admin subgraph will listen (the user subgraph, bound first,
    /// delivers its audit outbox there).
    pub admin_base_url: Option<String>,
}

impl Wiring {
    fn verify_with(&self, auth: &mut fittrack_kit::config::AuthConfig) {
        if let Some(url) = &self.jwks_url {
            auth.jwks_url = url.clone();
        }
    }
}

/// Load config → build: every process of this binary gets its subgraph here
/// (defaults → `fittrack.toml` → environment, then the dev `wiring`), from
/// the subgraph's own composition root.
pub async fn build(name: SubgraphName, wiring: &Wiring) -> anyhow::Result<Service> {
    Ok(match name {
        SubgraphName::User => {
            let mut config = fittrack_user::UserConfig::load()?;
            if let Some(url) = &wiring.admin_base_url {
                config.admin_internal_url = url.clone();
            }
            fittrack_user::build(&config).await?.service
        }
        SubgraphName::Activity => {
            let mut config = fittrack_activity::ActivityConfig::load()?;
            wiring.verify_with(&mut config.auth);
            fittrack_activity::build(&config).await?.service
        }
        SubgraphName::Ai => {
            let mut config = fittrack_ai::AiConfig::load()?;
            wiring.verify_with(&mut config.auth);
            fittrack_ai::build(&config).await?.service
        }
        SubgraphName::Admin => {
            let mut config = fittrack_admin::AdminConfig::load()?;
            wiring.verify_with(&mut config.auth);
            if let Some(url) = &wiring.user_base_url {
                config.user_internal_url = url.clone();
            }
            fittrack_admin::build(&config).await?.service
        }
    })
}

/// `fittrack worker`: the AI subgraph's composition root with its API
/// switched off (the worker, the eraser and the breaker reports).
pub async fn run_worker_alone() -> anyhow::Result<()> {
    let mut config = fittrack_ai::AiConfig::load()?;
    if config.redis_url.is_none() {
        tracing::warn!("REDIS_URL unset: this worker only sees events enqueued in its own process");
    }
    config.api = false;
    let service = fittrack_ai::build(&config).await?.service;
    let bound = service.bind().await?;
    tracing::info!(
        concurrency = config.worker.concurrency,
        tasks = ?bound.task_ids(),
        operations = ?bound.local_addr(),
        "worker running (/health, /ready, /metrics)"
    );
    run_until_signal(bound).await
}

/// `fittrack serve <name>`.
pub async fn serve_alone(name: SubgraphName) -> anyhow::Result<()> {
    // One subgraph per process: a revocation recorded here must reach the
    // others, so it has to go through Redis (building refuses otherwise).
    fittrack_kit::revocation::declare_separate_process();
    let bound = build(name, &Wiring::default()).await?.bind().await?;
    tracing::info!(subgraph = bound.id(), url = ?bound.graphql_url(), "serving");
    run_until_signal(bound).await
}

/// Runs until Ctrl-C or SIGTERM, then stops gracefully.
async fn run_until_signal(bound: BoundService) -> anyhow::Result<()> {
    let token = CancellationToken::new();
    let stop = token.clone();
    tokio::spawn(async move {
        fittrack_kit::server::shutdown_signal().await;
        stop.cancel();
    });
    bound.run(token).await
}
