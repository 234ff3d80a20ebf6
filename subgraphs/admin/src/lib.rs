//! The admin subgraph: account moderation (applied through the user
//! subgraph's internal API, which owns account status) and the append-only
//! audit log. Every field requires the ADMIN role.

pub mod audit_relay;
pub mod config;
pub mod graphql;
pub mod migrations;
pub mod store;
pub mod users;

use std::sync::Arc;

use axum::Router;
use fittrack_kit::{server::SubgraphApp, JwtVerifier};

pub use config::AdminConfig;

pub struct AdminService {
    pub router: Router,
    pub store: store::AuditStore,
    /// The user subgraph's internal API (the audit relay collects from it).
    pub directory: users::UserDirectory,
}

pub async fn build(config: &AdminConfig) -> anyhow::Result<AdminService> {
    let verifier = JwtVerifier::remote(&config.auth);
    verifier.use_revocations(
        fittrack_kit::revocation::connect(
            config.redis_url.as_ref().map(|u| u.expose()),
            config.auth.revocation_keep_for(),
        )
        .await?,
    );
    build_with(config, verifier).await
}

pub async fn build_with(
    config: &AdminConfig,
    verifier: Arc<JwtVerifier>,
) -> anyhow::Result<AdminService> {
    let store = store::AuditStore::connect(
        &config.database_url(),
        config.database_owner_url.as_ref().map(|url| url.expose()),
    )
    .await?;
    let directory = users::UserDirectory::new(&config.user_internal_url, config.internal_token()?)?;
    let schema = graphql::build_schema(store.clone(), directory.clone());
    let ping = store.clone();
    let router = SubgraphApp::new(schema, verifier)
        .http(&config.http)
        .readiness("admin database", move || {
            let store = ping.clone();
            async move { store.db().ping().await.map_err(|e| e.to_string()) }
        })
        .into_router();
    Ok(AdminService {
        router,
        store,
        directory,
    })
}

pub fn sdl() -> String {
    graphql::sdl()
}
