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
    let policy = content_security_policy(&api_origins);
    let config = serde_json::json!({ "apiOrigins": api_origins });
    let app = axum::Router::new()
        .route(
            "/config.json",
            axum::routing::get(move || {
                let config = config.clone();
                async move { ([("cache-control", "no-store")], axum::Json(config)) }
            }),
        )
        .fallback_service(ServeDir::new(dist))
        .layer(axum::middleware::map_response(
            move |mut response: axum::response::Response| {
                let policy = policy.clone();
                async move {
                    let headers = response.headers_mut();
                    for (name, value) in [
                        ("content-security-policy", policy.as_str()),
                        ("x-content-type-options", "nosniff"),
                        ("referrer-policy", "no-referrer"),
                        ("x-frame-options", "DENY"),
                    ] {
                        if let Ok(value) = axum::http::HeaderValue::from_str(value) {
                            headers.insert(name, value);
                        }
                    }
                    response
                }
            },
        ));
    Ok((address, async move {
        fittrack_kit::server::serve(listener, app, shutdown.cancelled_owned())
            .await
            .context("web app server stopped")
    }))
}

/// A strict Content-Security-Policy: scripts, styles, fonts and images only
/// from the app's own origin (the build inlines no script; GraphiQL sets
/// inline styles), network requests only to the app itself and the API
/// origins it may use (HTTP and WebSocket, under both loopback names), no
/// framing, no plugins, no `<base>` rewriting.
fn content_security_policy(api_origins: &[String]) -> String {
    let mut connect = vec!["'self'".to_owned()];
    for origin in api_origins {
        let mut names = vec![origin.clone()];
        if origin.contains("://127.0.0.1") {
            names.push(origin.replacen("://127.0.0.1", "://localhost", 1));
        } else if origin.contains("://localhost") {
            names.push(origin.replacen("://localhost", "://127.0.0.1", 1));
        }
        for name in names {
            let socket = name
                .replacen("https://", "wss://", 1)
                .replacen("http://", "ws://", 1);
            connect.push(name);
            connect.push(socket);
        }
    }
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self' data:; connect-src {}; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
        connect.join(" ")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_policy_allows_only_the_published_api_origins() {
        let policy = super::content_security_policy(&["http://127.0.0.1:4000".to_owned()]);
        assert!(policy.contains(
            "connect-src 'self' http://127.0.0.1:4000 ws://127.0.0.1:4000 http://localhost:4000 ws://localhost:4000;"
        ));
        assert!(policy.contains("script-src 'self';"));
        assert!(policy.contains("frame-ancestors 'none'"));
    }
}
