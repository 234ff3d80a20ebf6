//! What the user subgraph's domain tests share: accounts over a database,
//! with a fresh signing key and in-process sign-in limits.

// Each test binary that includes this uses some of it.
#![allow(dead_code)]

use std::sync::Arc;

use fittrack_user::domain::{
    accounts::{Accounts, Registration},
    sign_in_limits::SignInLimits,
    tokens::TokenIssuer,
};

pub const PASSWORD: &str = "correct horse battery";

/// A migrated SQLite user database in `dir`.
pub async fn sqlite(dir: &tempfile::TempDir) -> sea_orm::DatabaseConnection {
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("user.db").display());
    fittrack_user::storage::connect(&url)
        .await
        .expect("database")
}

/// `Accounts` over `db` (already migrated), with the default limits.
pub fn accounts(db: sea_orm::DatabaseConnection) -> Accounts {
    accounts_counting_with(
        db,
        Arc::new(fittrack_kit::ratelimit::MemoryRateLimiter::default()),
    )
}

/// As [`accounts`], with sign-in limits counted by `limiter`.
pub fn accounts_counting_with(
    db: sea_orm::DatabaseConnection,
    limiter: Arc<dyn fittrack_kit::ratelimit::RateLimiter>,
) -> Accounts {
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let issuer = Arc::new(
        TokenIssuer::new(
            &key,
            "i",
            "a",
            chrono::Duration::minutes(15),
            chrono::Duration::days(7),
        )
        .expect("issuer"),
    );
    Accounts::new(
        Arc::new(fittrack_user::storage::SqlUserStore::new(db)),
        issuer,
        SignInLimits::new(
            limiter,
            Default::default(),
            fittrack_kit::privacy::Pseudonyms::new(&fittrack_kit::config::Secret::new("test")),
        ),
    )
}

/// The caller `session`'s access token names (a user, one session).
pub fn caller(session: &fittrack_user::domain::accounts::Session) -> fittrack_kit::CurrentUser {
    fittrack_kit::CurrentUser {
        id: session.user.id,
        email: session.user.email.clone(),
        roles: vec![fittrack_kit::Role::User],
        issued_at_ms: 0,
        session_id: uuid::Uuid::now_v7(),
        expires_at: 0,
    }
}

/// A sign-up of `email` with [`PASSWORD`].
pub fn registration(email: &str) -> Registration {
    Registration {
        email: email.into(),
        password: PASSWORD.into(),
        username: None,
        first_name: None,
        last_name: None,
    }
}
