//! The erasure ledger, in process and on Redis (where `REDIS_URL` is set): a
//! requested erasure is owed by each eraser until that eraser settles it, the
//! oldest first, and asking again keeps the first request's time.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use fittrack_kit::{
    config::Secret,
    erasure::{ErasedUsers, MemoryErasedUsers},
    shared::SharedState,
};
use uuid::Uuid;

async fn ledger_under_test(backend: &str) -> Option<Arc<dyn ErasedUsers>> {
    match backend {
        "memory" => Some(Arc::new(MemoryErasedUsers::default())),
        _ => {
            let url = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty())?;
            let namespace = format!("contract-{}", Uuid::new_v4().simple());
            let shared = SharedState::new(Some(Secret::new(url)), &namespace);
            Some(
                fittrack_kit::erasure::connect(&shared)
                    .await
                    .expect("redis"),
            )
        }
    }
}

async fn an_erasure_is_owed_by_each_eraser_until_it_settles(ledger: Arc<dyn ErasedUsers>) {
    let at =
        |minutes| Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap() + Duration::minutes(minutes);
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    ledger.owe(second, &["a", "b"], at(5)).await.expect("owe");
    ledger.owe(first, &["a", "b"], at(1)).await.expect("owe");
    // Asked again later: still owed since the first request.
    ledger.owe(first, &["a"], at(9)).await.expect("owe");

    let owed = ledger.outstanding("a", 10).await.expect("outstanding");
    assert_eq!(owed.count, 2);
    assert_eq!(owed.oldest, vec![(first, at(1)), (second, at(5))]);
    let listed = ledger.outstanding("a", 1).await.expect("outstanding");
    assert_eq!((listed.count, listed.oldest), (2, vec![(first, at(1))]));

    ledger.settle(first, "a").await.expect("settle");
    assert_eq!(
        ledger
            .outstanding("a", 10)
            .await
            .expect("outstanding")
            .oldest,
        vec![(second, at(5))]
    );
    // Settling with one eraser leaves the other's debt, and settling twice is harmless.
    assert_eq!(
        ledger
            .outstanding("b", 10)
            .await
            .expect("outstanding")
            .count,
        2
    );
    ledger.settle(first, "a").await.expect("settle again");
    ledger.settle(second, "a").await.expect("settle");
    assert_eq!(
        ledger
            .outstanding("a", 10)
            .await
            .expect("outstanding")
            .count,
        0
    );
    assert_eq!(
        ledger
            .outstanding("nobody", 10)
            .await
            .expect("outstanding")
            .count,
        0
    );
}

fittrack_kit::backend_contracts! {
    setup: ledger_under_test,
    backends: [memory, redis],
    contracts: [an_erasure_is_owed_by_each_eraser_until_it_settles],
}
