//! The recommendation bus: subscribers get only their user's recommendations,
//! and with Redis a recommendation published by one replica reaches the
//! subscribers of every other replica.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use fittrack_ai::{
    bus::{LocalBus, RecommendationBus, RedisBus},
    domain::model::{Advice, Recommendation, Source},
};
use futures_util::StreamExt;
use uuid::Uuid;

fn recommendation(user: Uuid) -> Recommendation {
    Recommendation {
        id: Uuid::now_v7(),
        activity_id: Uuid::new_v4(),
        user_id: user,
        source: Source::Gemini,
        advice: Advice {
            summary: "s".into(),
            highlights: vec!["h".into()],
            improvements: vec![],
            next_workout: "n".into(),
            safety_notes: vec![],
        },
        created_at: Utc::now(),
    }
}

/// The backend's name, a publishing replica and a subscribing replica.
type Replicas = (
    &'static str,
    Arc<dyn RecommendationBus>,
    Arc<dyn RecommendationBus>,
);

/// In-process: one bus for both; Redis (where `REDIS_URL` is set): two
/// connections, as two replicas have.
async fn replicas_under_test(backend: &'static str) -> Option<Replicas> {
    if backend == "local" {
        let local: Arc<dyn RecommendationBus> = Arc::new(LocalBus::default());
        return Some((backend, local.clone(), local));
    }
    let url = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty())?;
    let a: Arc<dyn RecommendationBus> = RedisBus::connect(&url).await.expect("redis");
    let b: Arc<dyn RecommendationBus> = RedisBus::connect(&url).await.expect("redis");
    Some(("redis, across replicas", a, b))
}

async fn subscribers_get_their_own_recommendations_from_any_replica(
    (backend, publisher, subscriber): Replicas,
) {
    let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let mut ada_stream = subscriber.subscribe(ada);
    let mut bob_stream = subscriber.subscribe(bob);
    let for_bob = recommendation(bob);
    let for_ada = recommendation(ada);
    publisher.publish(&for_bob).await.expect("publish");
    publisher.publish(&for_ada).await.expect("publish");

    let got = tokio::time::timeout(Duration::from_secs(5), ada_stream.next())
        .await
        .unwrap_or_else(|_| panic!("{backend}: nothing for ada"))
        .expect("open");
    assert_eq!(got, for_ada, "{backend}: ada gets only hers");
    let got = tokio::time::timeout(Duration::from_secs(5), bob_stream.next())
        .await
        .unwrap_or_else(|_| panic!("{backend}: nothing for bob"))
        .expect("open");
    assert_eq!(got, for_bob, "{backend}");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), ada_stream.next())
            .await
            .is_err(),
        "{backend}: ada got more than hers"
    );
}

/// More than a pub/sub connection buffers by default (fred's 32).
const BURST: usize = 500;

async fn a_burst_reaches_a_subscriber_whole((backend, publisher, subscriber): Replicas) {
    let ada = Uuid::new_v4();
    let mut ada_stream = subscriber.subscribe(ada);
    let burst: Vec<Recommendation> = (0..BURST).map(|_| recommendation(ada)).collect();
    // All published at once, and none read until all are out: the
    // subscriber side must hold the burst, not drop what its reader lags.
    let published =
        futures_util::future::join_all(burst.iter().map(|r| publisher.publish(r))).await;
    assert!(published.iter().all(Result::is_ok), "{backend}: published");
    let mut received = Vec::with_capacity(BURST);
    while received.len() < BURST {
        match tokio::time::timeout(Duration::from_secs(5), ada_stream.next()).await {
            Ok(Some(recommendation)) => received.push(recommendation.id),
            Ok(None) => panic!(
                "{backend}: the feed ended after {} of {BURST}",
                received.len()
            ),
            Err(_) => panic!("{backend}: {} of {BURST} arrived", received.len()),
        }
    }
    received.sort();
    let mut sent: Vec<Uuid> = burst.iter().map(|r| r.id).collect();
    sent.sort();
    assert_eq!(received, sent, "{backend}: each once");
}

fittrack_kit::backend_contracts! {
    setup: replicas_under_test,
    backends: [local, redis],
    contracts: [
        subscribers_get_their_own_recommendations_from_any_replica,
        a_burst_reaches_a_subscriber_whole,
    ],
}
