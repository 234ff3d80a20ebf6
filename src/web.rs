//! The web app (`clients/web`) in `fittrack dev`: built with npm when its
//! build is missing or older than its sources, then served as static files.

use std::{
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::SystemTime,
};

use anyhow::{bail, Context as _};
use tokio::process::Command;
use tower_http::services::ServeDir;

use fittrack_kit::service::CancellationToken;

/// What the build reads; a change to any of them triggers a rebuild.
const SOURCES: &[&str] = &[
    "src",
    "index.html",
    "graphiql.html",
    "package.json",
    "package-lock.json",
    "codegen.ts",
    "vite.config.ts",
    "../operations",
    "../../schema/api.graphql",
];

fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name() != "gql")
        .filter_map(|entry| newest(&entry.path()))
        .max()
}

async fn npm(web_dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    println!("  web app   npm {} …", args.join(" "));
    let status = Command::new("npm")
        .args(args)
        .current_dir(web_dir)
        .status()
        .await
        .context("npm is not installed (Node.js 20+ builds the web app)")?;
    if !status.success() {
        bail!("`npm {}` failed in {}", args.join(" "), web_dir.display());
    }
    Ok(())
}

/// The built app's directory, building it first when needed.
pub async fn prepare(web_dir: &Path) -> anyhow::Result<PathBuf> {
    let dist = web_dir.join("dist");
    let built = std::fs::metadata(dist.join("index.html"))
        .and_then(|m| m.modified())
        .ok();
    let changed = SOURCES
        .iter()
        .filter_map(|source| newest(&web_dir.join(source)))
        .max();
    if built.is_some() && built >= changed {
        return Ok(dist);
    }
    if !web_dir.join("node_modules").is_dir() {
        npm(web_dir, &["ci", "--no-audit", "--no-fund"]).await?;
    }
    npm(web_dir, &["run", "build"]).await?;
    Ok(dist)
}

/// Serves `dist` on `port` (0: any free port) until `shutdown`.
///
/// `/config.json` tells the app which API endpoints it may use
/// (`apiOrigins`): the app takes a `?api=` endpoint only from its own origin,
/// its build-time list or this list, which its own server publishes, so a
/// crafted link cannot point it (and its tokens) anywhere else.
pub async fn serve(
    dist: &Path,
    port: u16,
    api_origins: Vec<String>,
    shutdown: CancellationToken,
) -> anyhow::Result<(SocketAddr, impl Future<Output = anyhow::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("the web app cannot listen on port {port}"))?;
    let address = listener.local_addr()?;
    let config = serde_json::json!({ "apiOrigins": api_origins });
    let app = axum::Router::new()
        .route(
            "/config.json",
            axum::routing::get(move || {
                let config = config.clone();
                async move { ([("cache-control", "no-store")], axum::Json(config)) }
            }),
        )
        .fallback_service(ServeDir::new(dist));
    Ok((address, async move {
        fittrack_kit::server::serve(listener, app, shutdown.cancelled_owned())
            .await
            .context("web app server stopped")
    }))
}
