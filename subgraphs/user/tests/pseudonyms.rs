//! Limiter keys carry no personal data: after sign-ins, sign-ups and reset
//! requests, no key the limiter was asked about contains the email or the
//! client address, only their pseudonyms.

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use fittrack_kit::ratelimit::{Decision, MemoryRateLimiter, Quota, RateLimiter};

/// Counts in memory and remembers every key it was given.
#[derive(Default)]
struct Recording {
    inner: MemoryRateLimiter,
    keys: Mutex<Vec<String>>,
}

#[async_trait]
impl RateLimiter for Recording {
    async fn check(&self, key: &str, quota: Quota, cost: u32) -> anyhow::Result<Decision> {
        self.keys.lock().expect("keys").push(key.to_owned());
        self.inner.check(key, quota, cost).await
    }
    async fn reset(&self, key: &str, quota: Quota) -> anyhow::Result<()> {
        self.keys.lock().expect("keys").push(key.to_owned());
        self.inner.reset(key, quota).await
    }
}

#[tokio::test]
async fn limiter_keys_hold_pseudonyms_never_emails_or_addresses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("user.db").display());
    let db = fittrack_user::storage::connect(&url)
        .await
        .expect("database");
    let limiter = Arc::new(Recording::default());
    let accounts = common::accounts_counting_with(db, limiter.clone());
    let (email, address) = ("ada.lovelace@example.com", "203.0.113.77");

    accounts
        .register(common::registration(email), address)
        .await
        .map_err(fittrack_kit::ApiError::from)
        .expect("registered");
    let _ = accounts
        .login(email, "wrong password".into(), address, None, None)
        .await;
    accounts
        .login(email, common::PASSWORD.into(), address, None, None)
        .await
        .map_err(fittrack_kit::ApiError::from)
        .expect("signed in");
    let _ = accounts.request_password_reset(email, address).await;

    let keys = limiter.keys.lock().expect("keys").clone();
    assert!(keys.len() >= 8, "{keys:?}");
    for key in &keys {
        for secret in [email, "ada.lovelace", "example.com", address] {
            assert!(!key.contains(secret), "{key} holds {secret}");
        }
    }
}
