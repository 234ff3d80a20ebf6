//! One contract, both rate-limiter backends: in-process always, Redis when
//! `REDIS_URL` is set (CI sets it to the local Redis). Failures name the backend.

use std::{sync::Arc, time::Duration};

use fittrack_kit::ratelimit::{MemoryRateLimiter, Quota, RateLimiter, RedisRateLimiter};

#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Redis,
}

/// `redis` only where `REDIS_URL` is set (CI's real-services pass).
async fn limiter_under_test(backend: &str) -> Option<Backend> {
    match backend {
        "memory" => Some(Backend::Memory),
        _ => std::env::var("REDIS_URL").is_ok().then_some(Backend::Redis),
    }
}

impl Backend {
    async fn limiter(self) -> Arc<dyn RateLimiter> {
        match self {
            Backend::Memory => Arc::new(MemoryRateLimiter::default()),
            Backend::Redis => {
                let url = std::env::var("REDIS_URL").expect("checked in limiter_under_test()");
                let prefix = format!("fittrack:test:rl:{}:", uuid::Uuid::new_v4().simple());
                Arc::new(
                    RedisRateLimiter::connect(&url, &prefix)
                        .await
                        .expect("redis limiter"),
                )
            }
        }
    }
}

async fn a_quota_admits_its_burst_then_refuses_with_a_retry_time(backend: Backend) {
    let limiter = backend.limiter().await;
    let quota = Quota::per_minute(5);
    for expected in (0..5).rev() {
        let decision = limiter.check("k", quota, 1).await.expect("check");
        assert!(decision.allowed, "{backend:?}: refused early");
        assert_eq!(decision.remaining, expected, "{backend:?}");
        assert_eq!(decision.limit, 5, "{backend:?}");
    }
    let refused = limiter.check("k", quota, 1).await.expect("check");
    assert!(!refused.allowed, "{backend:?}: sixth admitted");
    assert_eq!(refused.remaining, 0, "{backend:?}");
    // One request per 12 s comes back.
    assert!(
        (11..=12).contains(&refused.retry_after_secs()),
        "{backend:?}: retry after {:?}",
        refused.retry_after
    );
    assert!(
        refused.reset_after <= Duration::from_secs(60),
        "{backend:?}"
    );
    // Other keys are independent.
    assert!(
        limiter
            .check("other", quota, 1)
            .await
            .expect("check")
            .allowed
    );
}

async fn refused_checks_count_nothing_and_cost_counts_several(backend: Backend) {
    let limiter = backend.limiter().await;
    let quota = Quota::per_hour(10);
    assert!(limiter.check("c", quota, 7).await.expect("check").allowed);
    let refused = limiter.check("c", quota, 4).await.expect("check");
    assert!(!refused.allowed, "{backend:?}: 11 of 10 admitted");
    // The refusal did not use up the three that are left.
    let last = limiter.check("c", quota, 3).await.expect("check");
    assert!(last.allowed && last.remaining == 0, "{backend:?}: {last:?}");
}

async fn parallel_checks_never_exceed_the_quota(backend: Backend) {
    let limiter = backend.limiter().await;
    let quota = Quota::per_minute(20);
    let attempts = (0..100).map(|_| {
        let limiter = limiter.clone();
        tokio::spawn(async move { limiter.check("p", quota, 1).await.expect("check") })
    });
    let mut admitted = 0;
    for attempt in attempts {
        if attempt.await.expect("task").allowed {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 20, "{backend:?}");
}

async fn reset_restores_the_full_quota_and_time_refills_it(backend: Backend) {
    let limiter = backend.limiter().await;
    // Ten per second: one every 100 ms.
    let quota = Quota {
        limit: 10,
        period: Duration::from_secs(1),
    };
    assert!(limiter.check("r", quota, 10).await.expect("check").allowed);
    assert!(!limiter.check("r", quota, 1).await.expect("check").allowed);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let refilled = limiter.check("r", quota, 2).await.expect("check");
    assert!(
        refilled.allowed,
        "{backend:?}: nothing refilled: {refilled:?}"
    );
    limiter.reset("r", quota).await.expect("reset");
    let fresh = limiter.check("r", quota, 1).await.expect("check");
    assert_eq!(fresh.remaining, 9, "{backend:?}");
}

fittrack_kit::backend_contracts! {
    setup: limiter_under_test,
    backends: [memory, redis],
    contracts: [
        a_quota_admits_its_burst_then_refuses_with_a_retry_time,
        refused_checks_count_nothing_and_cost_counts_several,
        parallel_checks_never_exceed_the_quota,
        reset_restores_the_full_quota_and_time_refills_it,
    ],
}
