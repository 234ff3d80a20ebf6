//! The admin subgraph: account moderation (applied through the user
//! subgraph's internal API, which owns account status) and the append-only
//! audit log. Every field requires the ADMIN role.
//!
//! Layers: [`graphql`] → [`domain`] (moderation, the audit relay, and the
//! ports they own) ← [`store`] (the audit log) and [`users`] (the user
//! subgraph's internal API).

pub mod config;
pub mod domain;
pub mod graphql;
pub mod migrations;
pub mod store;
pub mod users;

use std::sync::Arc;

use fittrack_kit::{server::SubgraphApp, service::Service, JwtVerifier};

pub use config::AdminConfig;
use domain::{
    audit_relay,
    moderation::Moderation,
    ports::{AccountDirectory, AuditLog},
};

/// The admin subgraph as built from its config: the process to run (API and
/// audit relay), and the parts tests look into.
pub struct AdminService {
    pub service: Service,
    pub store: store::AuditStore,
    /// The user subgraph's internal API (the audit relay collects from it).
    pub directory: users::UserDirectory,
}

/// The composition root: connects the audit database (migrating it) and the
/// user subgraph's internal API, and assembles the service.
pub async fn build(config: &AdminConfig) -> anyhow::Result<AdminService> {
    let verifier = JwtVerifier::for_subgraph(&config.auth, &config.shared()).await?;
    let store = store::AuditStore::connect(
        &config.database_url(),
        config.database_owner_url.as_ref().map(|url| url.expose()),
    )
    .await?;
    let directory = users::UserDirectory::new(&config.user_internal_url, config.internal_token()?)?;
    Ok(assemble(config, store, directory, verifier))
}

/// The service from its parts: the GraphQL app and the audit relay.
pub fn assemble(
    config: &AdminConfig,
    store: store::AuditStore,
    directory: users::UserDirectory,
    verifier: Arc<JwtVerifier>,
) -> AdminService {
    let log: Arc<dyn AuditLog> = Arc::new(store.clone());
    let accounts: Arc<dyn AccountDirectory> = Arc::new(directory.clone());
    let schema = graphql::build_schema(Moderation::new(log.clone(), accounts.clone()));
    let ping = store.clone();
    let router = SubgraphApp::new(schema, verifier)
        .http(&config.http)
        .readiness("admin database", move || {
            let store = ping.clone();
            async move { store.db().ping().await.map_err(|e| e.to_string()) }
        })
        .into_router();
    let relay = (log, accounts);
    let interval = std::time::Duration::from_millis(config.audit_relay_interval_ms);
    let service = Service::new("admin")
        .api(router, config.http.address())
        .task("audit relay", config.tasks.audit_relay, move |token| {
            let (log, accounts) = relay;
            audit_relay::run(log, accounts, interval, token.cancelled_owned())
        });
    AdminService {
        service,
        store,
        directory,
    }
}

pub fn sdl() -> String {
    graphql::sdl()
}
