//! Token revocation lists: in-process and Redis keep the latest cut-off; the
//! cache serves a stale answer for at most its TTL and sees its own writes.

use std::{sync::Arc, time::Duration};

use chrono::{TimeZone, Utc};
use fittrack_kit::revocation::{
    CachedRevocations, MemoryRevocations, RedisRevocations, Revocations,
};
use uuid::Uuid;

async fn backends() -> Vec<(&'static str, Arc<dyn Revocations>)> {
    let mut out: Vec<(&'static str, Arc<dyn Revocations>)> =
        vec![("memory", Arc::new(MemoryRevocations::default()))];
    match std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => out.push((
            "redis",
            Arc::new(RedisRevocations::connect(&url).await.expect("redis")),
        )),
        None => eprintln!("REDIS_URL unset: Redis revocation test skipped"),
    }
    out
}

#[tokio::test]
async fn a_revocation_is_a_cutoff_time_per_user() {
    for (backend, list) in backends().await {
        let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(list.cutoff(ada).await.expect("cutoff"), None, "{backend}");
        let at = Utc.timestamp_millis_opt(1_780_000_000_123).unwrap();
        list.revoke(ada, at).await.expect("revoke");
        assert_eq!(
            list.cutoff(ada).await.expect("cutoff"),
            Some(1_780_000_000_123),
            "{backend}"
        );
        assert_eq!(list.cutoff(bob).await.expect("cutoff"), None, "{backend}");
    }
}

#[tokio::test]
async fn the_cache_is_stale_for_at_most_its_ttl_and_sees_its_own_writes() {
    let shared: Arc<dyn Revocations> = Arc::new(MemoryRevocations::default());
    let here = CachedRevocations::new(shared.clone(), Duration::from_millis(300));
    let elsewhere = CachedRevocations::new(shared, Duration::from_millis(300));
    let ada = Uuid::new_v4();
    assert_eq!(here.cutoff(ada).await.expect("cutoff"), None);

    elsewhere.revoke(ada, Utc::now()).await.expect("revoke");
    assert!(
        elsewhere.cutoff(ada).await.expect("cutoff").is_some(),
        "own write seen"
    );
    assert_eq!(here.cutoff(ada).await.expect("cutoff"), None, "cached");
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(
        here.cutoff(ada).await.expect("cutoff").is_some(),
        "seen after the TTL"
    );
}
