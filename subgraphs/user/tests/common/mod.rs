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

/// `Accounts` over `db` (already migrated), with the default limits.
pub fn accounts(db: sea_orm::DatabaseConnection) -> Accounts {
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
    let limiter = Arc::new(fittrack_kit::ratelimit::MemoryRateLimiter::default());
    Accounts::new(
        Arc::new(fittrack_user::storage::SqlUserStore::new(db)),
        issuer,
        SignInLimits::new(limiter, Default::default()),
    )
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
