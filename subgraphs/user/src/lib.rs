//! The user subgraph: accounts, sign-in, JWT issuing (and its JWKS), profiles.
//!
//! Layers: [`graphql`] (API types and resolvers) → [`domain`] (rules, tokens,
//! passwords) → [`storage`] (sea-orm, SQLite or PostgreSQL).

pub mod audit_delivery;
pub mod config;
pub mod domain;
pub mod graphql;
pub mod internal;
pub mod keys;
pub mod mail;
pub mod storage;

use std::sync::Arc;

use axum::{routing::get, Json, Router};
use fittrack_kit::{server::SubgraphApp, service::Service, JwtVerifier};
use sea_orm::DatabaseConnection;

pub use config::UserConfig;
use domain::{accounts::Accounts, tokens::TokenIssuer};

/// The user subgraph as built from its config: the process to run (its API;
/// it has no background work), and the parts tests look into.
pub struct UserService {
    pub service: Service,
    pub db: DatabaseConnection,
    pub issuer: Arc<TokenIssuer>,
}

/// The composition root: connects storage (running migrations), loads or
/// creates the signing key, and builds the HTTP app.
pub async fn build(config: &UserConfig) -> anyhow::Result<UserService> {
    let shared = config.shared();
    let mut erasure = Vec::new();
    for name in fittrack_kit::events::ERASERS {
        erasure.push((
            name,
            fittrack_kit::queue::connect(
                &shared,
                name,
                fittrack_kit::events::ERASURE_GROUP,
                Default::default(),
            )
            .await?,
        ));
    }
    let metrics = fittrack_kit::metrics::Metrics::new("user");
    let mut db = storage::connect(&config.database_url()).await?;
    fittrack_kit::metrics::time_statements(&metrics, &mut db, "user");
    let issuer = Arc::new(keys::token_issuer(config)?);
    let verifier = JwtVerifier::fixed_with_lifetime(
        issuer.jwks(),
        &config.jwt.issuer,
        &config.jwt.audience,
        config.jwt.access_ttl_secs,
    )?;
    let revocations = fittrack_kit::revocation::connect(
        &shared,
        config.revocation_keep_for(),
        fittrack_kit::revocation::CACHE_TTL,
    )
    .await?;
    verifier.use_revocations(revocations.clone());
    let store = Arc::new(storage::SqlUserStore::new(db.clone()));
    let erasure_marks = fittrack_kit::erasure::connect(&shared).await?;
    fittrack_kit::erasure::observe(&metrics, erasure_marks.clone());
    let accounts = Accounts::new(store, issuer.clone(), sign_in_limits(config).await?)
        .with_erasure_queues(erasure)
        .with_revocations(revocations)
        .with_erasure_marks(erasure_marks)
        .with_mailer(
            mail::from_config(&config.mail, &config.data_dir)?,
            config.mail.web_app_url.clone(),
        );
    let internal_routes =
        internal::routes(accounts.clone(), config.internal_token()?, verifier.clone());
    let delivering = accounts.clone();
    let user_stats = fittrack_kit::cache::dashboard(&shared, "dashboard:users").await?;
    let schema = graphql::build_schema(accounts, user_stats, &metrics);

    let jwks = issuer.jwks().clone();
    let jwks_routes = Router::new().route(
        "/.well-known/jwks.json",
        get(move || {
            let jwks = jwks.clone();
            async move { ([("cache-control", "public, max-age=300")], Json(jwks)) }
        }),
    );
    let ping_db = db.clone();
    let router = SubgraphApp::new(schema, verifier)
        .http(&config.http)
        .metrics(&metrics)
        .merge(jwks_routes)
        .merge(internal_routes)
        .readiness("database", move || {
            let db = ping_db.clone();
            async move { db.ping().await.map_err(|e| e.to_string()) }
        })
        .into_router();
    let audit_log: Arc<dyn domain::ports::AuditLogSink> = Arc::new(
        audit_delivery::AdminAuditLog::new(&config.admin_internal_url, config.internal_token()?)?,
    );
    let interval = std::time::Duration::from_millis(config.audit_delivery_interval_ms);
    Ok(UserService {
        service: Service::new("user")
            .api(router, config.http.address())
            .task(
                "audit delivery",
                config.tasks.audit_delivery,
                move |token| {
                    audit_delivery::run(delivering, audit_log, interval, token.cancelled_owned())
                },
            ),
        db,
        issuer,
    })
}

/// The sign-in limits, counted in Redis when configured (shared by replicas).
async fn sign_in_limits(
    config: &UserConfig,
) -> anyhow::Result<domain::sign_in_limits::SignInLimits> {
    let shared = config.shared();
    let limiter =
        fittrack_kit::ratelimit::connect(shared.redis_url(), &shared.key("ratelimit:")).await?;
    Ok(domain::sign_in_limits::SignInLimits::new(
        limiter,
        config.sign_in.clone(),
        fittrack_kit::privacy::Pseudonyms::new(&config.pseudonym_key()?),
    ))
}

/// `fittrack admin create`: a new ADMIN account, or an existing account
/// (whose password must match) promoted. There is no self-service admin.
pub async fn create_admin(
    config: &UserConfig,
    email: &str,
    password: String,
) -> anyhow::Result<domain::model::User> {
    let db = storage::connect(&config.database_url()).await?;
    let issuer = Arc::new(keys::token_issuer(config)?);
    let store = Arc::new(storage::SqlUserStore::new(db));
    let accounts = Accounts::new(store, issuer, sign_in_limits(config).await?);
    accounts
        .create_or_promote_admin(email, password)
        .await
        .map_err(|error| anyhow::anyhow!("{:?}", fittrack_kit::ApiError::from(error)))
}

/// The subgraph's SDL (federation 2), as exported to `schema/user.graphql`.
pub fn sdl() -> String {
    graphql::sdl()
}
