//! The subgraphs this build knows: names, default ports, SDL exporters, servers.

use std::future::Future;

use anyhow::Context as _;
use clap::ValueEnum;
use tokio::net::TcpListener;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SubgraphName {
    User,
}

pub struct SubgraphSpec {
    pub name: SubgraphName,
    /// The name in `supergraph.yaml` and the supergraph's `join__Graph`.
    pub id: &'static str,
    pub sdl: fn() -> String,
}

/// Every subgraph built so far; later ones join this list.
pub const SUBGRAPHS: &[SubgraphSpec] = &[SubgraphSpec {
    name: SubgraphName::User,
    id: "user",
    sdl: fittrack_user::sdl,
}];

/// A subgraph bound to its port and ready to serve.
pub struct BoundSubgraph {
    pub id: &'static str,
    pub listener: TcpListener,
    pub app: axum::Router,
}

impl BoundSubgraph {
    pub fn url(&self) -> anyhow::Result<String> {
        Ok(format!("http://{}/graphql", self.listener.local_addr()?))
    }

    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        fittrack_kit::server::serve(self.listener, self.app, shutdown)
            .await
            .with_context(|| format!("{} subgraph stopped", self.id))
    }
}

/// Loads a subgraph's config, builds it and binds its port.
pub async fn bind(name: SubgraphName) -> anyhow::Result<BoundSubgraph> {
    match name {
        SubgraphName::User => {
            let config = fittrack_user::UserConfig::load()?;
            let service = fittrack_user::build(&config).await?;
            let address = config.http.address();
            let listener = TcpListener::bind(&address)
                .await
                .with_context(|| format!("user subgraph cannot listen on {address}"))?;
            Ok(BoundSubgraph {
                id: "user",
                listener,
                app: service.router,
            })
        }
    }
}

/// `fittrack serve <name>`.
pub async fn serve_alone(name: SubgraphName) -> anyhow::Result<()> {
    let bound = bind(name).await?;
    tracing::info!(subgraph = bound.id, url = %bound.url()?, "serving");
    bound.serve(fittrack_kit::server::shutdown_signal()).await
}
