//! The admin subgraph: account moderation (applied through the user
//! subgraph's internal API, which owns account status) and the append-only
//! audit log. Every field requires the ADMIN role.
//!
//! Layers: [`graphql`] → [`domain`] (moderation and the ports it owns) ←
//! [`store`] (the audit log) and [`users`] (the user subgraph's internal
//! API); [`internal`] takes the audit entries the user subgraph signed.

pub mod config;
pub mod domain;
pub mod graphql;
pub mod internal;
pub mod migrations;
pub mod store;
pub mod users;

use std::sync::Arc;

use fittrack_kit::{server::SubgraphApp, service::Service, JwtVerifier};

pub use config::AdminConfig;
use domain::{
    moderation::Moderation,
    ports::{AccountDirectory, AuditLog},
};

/// The admin subgraph as built from its config: the process to run, and the
/// parts tests look into.
pub struct AdminService {
    pub service: Service,
    pub store: store::AuditStore,
}

/// The composition root: connects the audit database (migrating it) and the
/// user subgraph's internal API, and assembles the service.
pub async fn build(config: &AdminConfig) -> anyhow::Result<AdminService> {
    let verifier = JwtVerifier::for_subgraph(&config.auth, &config.shared()).await?;
    let metrics = fittrack_kit::metrics::Metrics::new("admin");
    let store = store::AuditStore::connect(
        &config.database_url(),
        config.database_owner_url.as_ref().map(|url| url.expose()),
    )
    .await?
    .timed(&metrics);
    let internal_token = config.internal_token()?;
    let directory = users::UserDirectory::new(&config.user_internal_url, internal_token.clone())?;
    let log: Arc<dyn AuditLog> = Arc::new(store.clone());
    let accounts: Arc<dyn AccountDirectory> = Arc::new(directory);
    let schema = graphql::build_schema(Moderation::new(log.clone(), accounts));
    let ping = store.clone();
    let router = SubgraphApp::new(schema, verifier.clone())
        .http(&config.http)
        .metrics(&metrics)
        .merge(internal::routes(log, verifier, internal_token))
        .readiness("admin database", move || {
            let store = ping.clone();
            async move { store.db().ping().await.map_err(|e| e.to_string()) }
        })
        .into_router();
    Ok(AdminService {
        service: Service::new("admin").api(router, config.http.address()),
        store,
    })
}

pub fn sdl() -> String {
    graphql::sdl()
}
