//! Token revocation lists: in-process and Redis keep the latest cut-off per
//! user and the ended sessions, for as long as configured; the cache serves a
//! stale answer for at most its TTL and sees its own writes.

use std::{sync::Arc, time::Duration};

use chrono::{TimeZone, Utc};
use fittrack_kit::revocation::{
    CachedRevocations, MemoryRevocations, RedisRevocations, RevocationState, Revocations,
};
use uuid::Uuid;

/// A revocation backend: in-process, or Redis where `REDIS_URL` is set.
struct Backend {
    name: &'static str,
    redis_url: Option<String>,
}

impl Backend {
    /// A list that keeps its entries for `keep_for`.
    async fn open(&self, keep_for: Duration) -> Arc<dyn Revocations> {
        match &self.redis_url {
            None => Arc::new(MemoryRevocations::new(keep_for)),
            Some(url) => Arc::new(
                RedisRevocations::connect(url, keep_for)
                    .await
                    .expect("redis"),
            ),
        }
    }
}

async fn backend_under_test(name: &'static str) -> Option<Backend> {
    let redis_url = match name {
        "memory" => None,
        _ => Some(std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty())?),
    };
    Some(Backend { name, redis_url })
}

async fn a_user_cutoff_and_a_session_are_revoked_separately(under_test: Backend) {
    let (backend, list) = (
        under_test.name,
        under_test.open(Duration::from_secs(60)).await,
    );
    let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let (phone, laptop) = (Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(
        list.state(ada, phone).await.expect("state"),
        RevocationState::default(),
        "{backend}"
    );
    let at = Utc.timestamp_millis_opt(1_780_000_000_123).unwrap();
    list.revoke_user(ada, at).await.expect("revoke");
    list.revoke_session(laptop).await.expect("revoke");
    let phone_state = list.state(ada, phone).await.expect("state");
    assert_eq!(
        phone_state.user_cutoff_ms,
        Some(1_780_000_000_123),
        "{backend}"
    );
    assert!(!phone_state.session_revoked, "{backend}");
    assert!(
        phone_state.refuses(1_780_000_000_122),
        "{backend}: before the cut-off"
    );
    assert!(
        !phone_state.refuses(1_780_000_000_123),
        "{backend}: issued at the cut-off"
    );
    let laptop_state = list.state(bob, laptop).await.expect("state");
    assert_eq!(laptop_state.user_cutoff_ms, None, "{backend}");
    assert!(
        laptop_state.refuses(i64::MAX),
        "{backend}: a revoked session refuses all"
    );
}

async fn entries_live_as_long_as_the_tokens_they_refuse(under_test: Backend) {
    let (backend, list) = (
        under_test.name,
        under_test.open(Duration::from_secs(1)).await,
    );
    let (ada, session) = (Uuid::new_v4(), Uuid::new_v4());
    list.revoke_user(ada, Utc::now()).await.expect("revoke");
    list.revoke_session(session).await.expect("revoke");
    assert!(
        list.state(ada, session)
            .await
            .expect("state")
            .session_revoked
    );
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(
        list.state(ada, session).await.expect("state"),
        RevocationState::default(),
        "{backend}: gone once no token it refuses can be alive"
    );
}

#[tokio::test]
async fn the_cache_is_stale_for_at_most_its_ttl_and_sees_its_own_writes() {
    let shared: Arc<dyn Revocations> = Arc::new(MemoryRevocations::default());
    let here = CachedRevocations::new(shared.clone(), Duration::from_millis(300));
    let elsewhere = CachedRevocations::new(shared, Duration::from_millis(300));
    let (ada, session) = (Uuid::new_v4(), Uuid::new_v4());
    assert!(
        !here
            .state(ada, session)
            .await
            .expect("state")
            .session_revoked
    );

    elsewhere.revoke_session(session).await.expect("revoke");
    assert!(
        elsewhere
            .state(ada, session)
            .await
            .expect("state")
            .session_revoked,
        "own write seen"
    );
    assert!(
        !here
            .state(ada, session)
            .await
            .expect("state")
            .session_revoked,
        "cached"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(
        here.state(ada, session)
            .await
            .expect("state")
            .session_revoked,
        "seen after the TTL"
    );
}

fittrack_kit::backend_contracts! {
    setup: backend_under_test,
    backends: [memory, redis],
    contracts: [
        a_user_cutoff_and_a_session_are_revoked_separately,
        entries_live_as_long_as_the_tokens_they_refuse,
    ],
}
