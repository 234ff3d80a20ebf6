//! Live recommendations end to end: subscribe through the router over
//! graphql-transport-ws, log an activity through the router, receive the
//! worker's recommendation on the subscription, then read it back.

mod support;

use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use support::{gql, Stack, WsSubscription};

const LOG: &str = "mutation($input: LogActivityInput!) { logActivity(input: $input) { id } }";
const ADDED: &str = "subscription { recommendationAdded { activityId source summary nextWorkout highlights safetyNotes } }";

fn token(auth: &Value) -> String {
    auth["accessToken"].as_str().expect("token").to_owned()
}

async fn log(stack: &Stack, token: &str, kind: &str, minutes: i32) -> String {
    let input = json!({"type": kind, "durationMinutes": minutes, "caloriesBurned": minutes * 9,
                       "startTime": Utc::now().to_rfc3339(), "metrics": {"distanceKm": 5.0}});
    let response = gql(&stack.router, LOG, json!({"input": input}), Some(token)).await;
    response.assert_ok();
    response.data("logActivity")["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn subscribe(stack: &Stack, token: &str) -> WsSubscription {
    let subscription = WsSubscription::open(
        &stack.router_ws(),
        json!({"Authorization": format!("Bearer {token}")}),
        ADDED,
    )
    .await
    .expect("subscription opens");
    // Let the router open its upstream subscription before events flow.
    tokio::time::sleep(Duration::from_millis(500)).await;
    subscription
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_subscriber_gets_only_their_own_recommendations_live() {
    let stack = Stack::start().await;
    let (_, ada) = stack.register("ada").await;
    let (_, bob) = stack.register("bob").await;
    let (ada_token, bob_token) = (token(&ada), token(&bob));
    let mut ada_live = subscribe(&stack, &ada_token).await;
    let mut bob_live = subscribe(&stack, &bob_token).await;

    let ada_activity = log(&stack, &ada_token, "RUNNING", 40).await;
    let received = ada_live
        .next(Duration::from_secs(15))
        .await
        .expect("ada's recommendation arrives");
    let added = &received["data"]["recommendationAdded"];
    assert_eq!(added["activityId"], ada_activity.as_str());
    // No GEMINI_API_KEY here: the rules write it.
    assert_eq!(added["source"], "RULES");
    assert!(added["summary"].as_str().is_some_and(|s| !s.is_empty()));

    let bob_activity = log(&stack, &bob_token, "YOGA", 30).await;
    let bobs = bob_live
        .next(Duration::from_secs(15))
        .await
        .expect("bob's arrives");
    assert_eq!(
        bobs["data"]["recommendationAdded"]["activityId"],
        bob_activity.as_str()
    );
    // Ada's stream did not carry Bob's recommendation.
    assert!(ada_live.next(Duration::from_millis(800)).await.is_err());

    // Readable afterwards: on the activity (joined across subgraphs) and listed.
    let read = gql(
        &stack.router,
        "query($id: ID!) { activity(id: $id) { id type recommendation { source summary activity { id } } } myRecommendations(first: 5) { edges { node { activityId } } } }",
        json!({"id": ada_activity}),
        Some(&ada_token),
    )
    .await;
    read.assert_ok();
    assert_eq!(read.data("activity")["recommendation"]["source"], "RULES");
    assert_eq!(
        read.data("activity")["recommendation"]["activity"]["id"],
        ada_activity.as_str()
    );
    assert_eq!(
        read.data("myRecommendations")["edges"][0]["node"]["activityId"],
        ada_activity.as_str()
    );
    // Bob cannot read Ada's.
    let peek = gql(
        &stack.router,
        "query($id: ID!) { recommendation(activityId: $id) { summary } }",
        json!({"id": ada_activity}),
        Some(&bob_token),
    )
    .await;
    peek.assert_ok();
    assert!(peek.data("recommendation").is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_without_a_token_is_refused() {
    let stack = Stack::start().await;
    let outcome = match WsSubscription::open(&stack.router_ws(), json!({}), ADDED).await {
        Err(refused) => Err(refused),
        Ok(mut subscription) => subscription.next(Duration::from_secs(10)).await,
    };
    // Refused at the connection, or answered with UNAUTHENTICATED and no data.
    match outcome {
        Err(refused) => assert!(
            refused.contains("UNAUTHENTICATED") || refused.contains("closed"),
            "{refused}"
        ),
        Ok(payload) => {
            assert!(payload["data"].is_null(), "{payload}");
            assert_eq!(
                payload["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
                "{payload}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_plans_are_kept_per_date_unless_regenerated() {
    let stack = Stack::start().await;
    let (_, ada) = stack.register("ada").await;
    let ada_token = token(&ada);
    let generate = "mutation($date: NaiveDate!, $goal: String, $regenerate: Boolean) { generateDailyPlan(date: $date, goal: $goal, regenerate: $regenerate) { id date goal source focus sessions { time activityType durationMinutes intensity } nutritionTips rationale } }";
    let date = Utc::now().date_naive().to_string();
    let first = gql(
        &stack.router,
        generate,
        json!({"date": date, "goal": "run a 10k"}),
        Some(&ada_token),
    )
    .await;
    first.assert_ok();
    let plan = first.data("generateDailyPlan").clone();
    assert_eq!(plan["source"], "RULES");
    assert!(plan["focus"].as_str().is_some_and(|f| f.contains("10k")));
    assert!(!plan["sessions"].as_array().expect("sessions").is_empty());

    let again = gql(
        &stack.router,
        generate,
        json!({"date": date, "goal": "other"}),
        Some(&ada_token),
    )
    .await;
    again.assert_ok();
    assert_eq!(
        again.data("generateDailyPlan")["id"],
        plan["id"],
        "the stored plan"
    );
    assert_eq!(again.data("generateDailyPlan")["goal"], "run a 10k");

    let regenerated = gql(
        &stack.router,
        generate,
        json!({"date": date, "goal": "swim", "regenerate": true}),
        Some(&ada_token),
    )
    .await;
    regenerated.assert_ok();
    assert_eq!(regenerated.data("generateDailyPlan")["goal"], "swim");

    let read = gql(
        &stack.router,
        "query($date: NaiveDate!) { dailyPlan(date: $date) { goal } dailyPlans(first: 10) { edges { node { date } } } }",
        json!({"date": date}),
        Some(&ada_token),
    )
    .await;
    read.assert_ok();
    assert_eq!(read.data("dailyPlan")["goal"], "swim");
    assert_eq!(
        read.data("dailyPlans")["edges"].as_array().map(Vec::len),
        Some(1)
    );

    let bad = gql(
        &stack.router,
        generate,
        json!({"date": "1999-01-01"}),
        Some(&ada_token),
    )
    .await;
    bad.assert_code("BAD_USER_INPUT");
}
