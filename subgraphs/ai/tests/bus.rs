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

/// More than a pub/sub connection buffers by default (fred's 32), spread
/// over users as a busy replica's traffic is.
const BURST_USERS: usize = 50;
const PER_USER: usize = 10;

async fn a_burst_reaches_its_subscribers_whole((backend, publisher, subscriber): Replicas) {
    let users: Vec<Uuid> = (0..BURST_USERS).map(|_| Uuid::new_v4()).collect();
    let mut feeds =
        futures_util::stream::select_all(users.iter().map(|user| subscriber.subscribe(*user)));
    let burst: Vec<Recommendation> = users
        .iter()
        .flat_map(|user| (0..PER_USER).map(|_| recommendation(*user)))
        .collect();
    // All published at once, and none read until all are out: the
    // subscriber side must hold the burst, not drop what its reader lags.
    let published =
        futures_util::future::join_all(burst.iter().map(|r| publisher.publish(r))).await;
    assert!(published.iter().all(Result::is_ok), "{backend}: published");
    let mut received = Vec::with_capacity(burst.len());
    while received.len() < burst.len() {
        match tokio::time::timeout(Duration::from_secs(5), feeds.next()).await {
            Ok(Some(recommendation)) => received.push(recommendation.id),
            Ok(None) => panic!(
                "{backend}: the feeds ended after {} of {}",
                received.len(),
                burst.len()
            ),
            Err(_) => panic!("{backend}: {} of {} arrived", received.len(), burst.len()),
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
        a_burst_reaches_its_subscribers_whole,
    ],
}

/// A user's channel lives while one of their subscribers does, so a replica
/// holds one per listening user, not one per user ever seen.
#[tokio::test]
async fn a_users_channel_goes_with_their_last_subscriber() {
    let bus = LocalBus::default();
    let ada = Uuid::new_v4();
    let first = bus.subscribe(ada);
    let second = bus.subscribe(ada);
    let bob = bus.subscribe(Uuid::new_v4());
    assert_eq!(bus.users_listening(), 2);
    drop(first);
    assert_eq!(bus.users_listening(), 2, "ada still has a subscriber");
    drop(second);
    assert_eq!(bus.users_listening(), 1, "ada's channel is gone");
    drop(bob);
    assert_eq!(bus.users_listening(), 0);
}
