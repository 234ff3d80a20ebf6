//! Live recommendations end to end: subscribe through the router over
//! graphql-transport-ws, log an activity through the router, receive the
//! worker's recommendation on the subscription, then read it back.

use fittrack_testkit as support;

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

async fn wait_for_recommendation(stack: &Stack, token: &str, activity: &str) -> Value {
    let query = "query($id: ID!) { recommendation(activityId: $id) { id source summary } }";
    for _ in 0..100 {
        let response = gql(&stack.router, query, json!({"id": activity}), Some(token)).await;
        response.assert_ok();
        if !response.data("recommendation").is_null() {
            return response.data("recommendation").clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no recommendation for {activity} within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_held_by_a_crashed_worker_is_redelivered_and_recommended_once() {
    let stack = Stack::start_with(None, false).await;
    let (_, ada) = stack.register("ada").await;
    let ada_token = token(&ada);
    let activity = log(&stack, &ada_token, "CYCLING", 50).await;

    // A worker takes the job and dies without acknowledging it.
    let held = stack
        .activity_queue
        .receive("doomed-worker", 10, Duration::from_secs(2))
        .await
        .expect("receive");
    assert_eq!(held.len(), 1);
    drop(held);

    // Two healthy workers start; after the visibility timeout one gets the job.
    for name in ["worker-a", "worker-b"] {
        let options = fittrack_ai::config::WorkerConfig {
            concurrency: 2,
            consumer_name: Some(name.into()),
            ..Default::default()
        }
        .consumer_options();
        tokio::spawn(stack.worker.clone().run(
            stack.activity_queue.clone(),
            options,
            std::future::pending::<()>(),
        ));
    }
    wait_for_recommendation(&stack, &ada_token, &activity).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mine = gql(
        &stack.router,
        "{ myRecommendations(first: 10) { edges { node { activityId } } } }",
        json!({}),
        Some(&ada_token),
    )
    .await;
    mine.assert_ok();
    assert_eq!(
        mine.data("myRecommendations")["edges"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "exactly one recommendation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_job_is_dead_lettered_then_replayed_once_gemini_recovers() {
    use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};
    let gemini = MockServer::start().await;
    let broken = Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "candidates": [{"content": {"parts": [{"text": "{not json"}]}, "finishReason": "STOP"}]
        })))
        .mount_as_scoped(&gemini)
        .await;
    let config = fittrack_ai::gemini::GeminiConfig {
        api_key: Some(fittrack_kit::config::Secret::new("fake")),
        base_url: gemini.uri(),
        max_attempts: 1,
        // Keep the breaker closed: this is about one bad job, not an outage.
        breaker_failures: 100,
        ..Default::default()
    };
    let stack = Stack::start_with(Some(config), true).await;
    let (_, ada) = stack.register("ada").await;
    let (_, admin) = stack.register_admin("root").await;
    let ada_token = token(&ada);
    let activity = log(&stack, &ada_token, "SWIMMING", 45).await;

    let letters = "{ deadLetters(first: 10) { id payload deliveries reason } }";
    let mut dead = Value::Null;
    for _ in 0..100 {
        let response = gql(&stack.router, letters, json!({}), Some(&admin)).await;
        response.assert_ok();
        if response
            .data("deadLetters")
            .as_array()
            .is_some_and(|l| !l.is_empty())
        {
            dead = response.data("deadLetters")[0].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !dead.is_null(),
        "the poison job never reached the dead-letter queue"
    );
    assert_eq!(dead["deliveries"], 3, "the configured attempts");
    assert!(
        dead["reason"]
            .as_str()
            .is_some_and(|r| r.contains("invalid output")),
        "{dead}"
    );
    assert!(dead["payload"]
        .as_str()
        .is_some_and(|p| p.contains(&activity)));
    gql(&stack.router, letters, json!({}), Some(&ada_token))
        .await
        .assert_code("FORBIDDEN");

    // Gemini recovers; the admin replays the dead letter.
    drop(broken);
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "candidates": [{"content": {"parts": [{"text": json!({
                "summary": "Smooth swim.", "highlights": [], "improvements": [],
                "nextWorkout": "Intervals", "safetyNotes": []
            }).to_string()}]}, "finishReason": "STOP"}]
        })))
        .mount(&gemini)
        .await;
    let replay = gql(
        &stack.router,
        "mutation($ids: [ID!]!) { replayDeadLetters(ids: $ids) }",
        json!({"ids": [dead["id"]]}),
        Some(&admin),
    )
    .await;
    replay.assert_ok();
    assert_eq!(replay.data("replayDeadLetters"), &json!([dead["id"]]));
    let recommendation = wait_for_recommendation(&stack, &ada_token, &activity).await;
    assert_eq!(recommendation["source"], "GEMINI");
    assert_eq!(recommendation["summary"], "Smooth swim.");
    let after = gql(&stack.router, letters, json!({}), Some(&admin)).await;
    assert_eq!(after.data("deadLetters"), &json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_activity_removes_its_recommendation() {
    let stack = Stack::start().await;
    let (_, ada) = stack.register("ada").await;
    let ada_token = token(&ada);
    let activity = log(&stack, &ada_token, "HIKING", 120).await;
    wait_for_recommendation(&stack, &ada_token, &activity).await;

    gql(
        &stack.router,
        "mutation($id: ID!) { deleteActivity(id: $id) }",
        json!({"id": activity}),
        Some(&ada_token),
    )
    .await
    .assert_ok();
    let query = "query($id: ID!) { recommendation(activityId: $id) { id } }";
    for _ in 0..100 {
        let response = gql(
            &stack.router,
            query,
            json!({"id": activity}),
            Some(&ada_token),
        )
        .await;
        response.assert_ok();
        if response.data("recommendation").is_null() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the recommendation outlived its activity");
}

/// The subscription's last word: an `UNAUTHENTICATED` error saying why, then
/// the end (no further events).
async fn ends_with_session_error(live: &mut WsSubscription, wait: Duration) -> String {
    let last = live
        .next(wait)
        .await
        .unwrap_or_else(|reason| panic!("no error before the end: {reason}"));
    let error = &last["errors"][0];
    assert_eq!(
        error["extensions"]["code"], "UNAUTHENTICATED",
        "an error the client acts on: {last:#}"
    );
    assert!(
        last["data"].is_null() || last.get("data").is_none(),
        "{last:#}"
    );
    let after = live.next(Duration::from_secs(3)).await;
    assert!(
        after.as_ref().is_err_and(|reason| reason != "timed out"),
        "the subscription goes on after its session: {after:?}"
    );
    error["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_subscription_ends_when_its_user_is_deactivated() {
    let stack = Stack::start().await;
    let (_, ada) = stack.register("ada").await;
    let ada_token = token(&ada);
    let mut live = subscribe(&stack, &ada_token).await;
    gql(
        &stack.router,
        &format!(
            "mutation {{ deactivateMyAccount(password: {:?}) {{ accountStatus }} }}",
            support::PASSWORD
        ),
        json!({}),
        Some(&ada_token),
    )
    .await
    .assert_ok();
    let message = ends_with_session_error(&mut live, Duration::from_secs(10)).await;
    assert!(message.contains("session has ended"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_subscription_ends_at_logout_and_other_sessions_keep_theirs() {
    let stack = Stack::start().await;
    let (email, laptop) = stack.register("ada").await;
    let phone = stack
        .login(&email, support::PASSWORD)
        .await
        .data("login")
        .clone();
    let mut laptop_live = subscribe(&stack, &token(&laptop)).await;
    let mut phone_live = subscribe(&stack, &token(&phone)).await;
    gql(
        &stack.router,
        support::LOGOUT,
        json!({"token": laptop["refreshToken"]}),
        Some(&token(&laptop)),
    )
    .await
    .assert_ok();
    ends_with_session_error(&mut laptop_live, Duration::from_secs(10)).await;
    // The phone's session still receives its recommendations.
    log(&stack, &token(&phone), "RUNNING", 30).await;
    let event = phone_live
        .next(Duration::from_secs(15))
        .await
        .expect("the other session is still live");
    assert!(event["errors"].is_null(), "{event:#}");
    assert!(event["data"]["recommendationAdded"]["summary"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_subscription_ends_when_its_token_expires_and_a_fresh_one_resumes() {
    let stack = Stack::start().await;
    let (_, ada) = stack.register("ada").await;
    // The same claims, re-signed to expire in 4 seconds.
    let (header, mut claims) = support::decode_unverified(&token(&ada));
    let now = Utc::now().timestamp();
    claims["iat"] = json!(now);
    claims["exp"] = json!(now + 4);
    let key =
        jsonwebtoken::EncodingKey::from_ed_pem(stack.signing_key_pem().as_bytes()).expect("key");
    let mut jwt_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    jwt_header.kid = header["kid"].as_str().map(str::to_owned);
    let short_lived = jsonwebtoken::encode(&jwt_header, &claims, &key).expect("sign");

    let mut live = subscribe(&stack, &short_lived).await;
    let message = ends_with_session_error(&mut live, Duration::from_secs(10)).await;
    assert!(message.contains("expired"), "{message}");

    // What a client does next: refresh, subscribe again, and receive.
    let refreshed = gql(
        &stack.router,
        support::REFRESH,
        json!({"token": ada["refreshToken"]}),
        None,
    )
    .await;
    refreshed.assert_ok();
    let fresh = token(refreshed.data("refreshToken"));
    let mut resumed = subscribe(&stack, &fresh).await;
    log(&stack, &fresh, "CYCLING", 40).await;
    let event = resumed
        .next(Duration::from_secs(15))
        .await
        .expect("the new subscription receives");
    assert!(
        event["data"]["recommendationAdded"]["summary"].is_string(),
        "{event:#}"
    );
}

/// The coach is told what the activity subgraph knows of a new workout
/// beyond its summary: the records it set and the athlete's goals with it
/// counted (splits and zones too, for a recorded workout: see
/// `fittrack_ai::domain::prompt`'s tests and `activity/tests/insights.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coachs_prompt_has_the_records_and_goals_of_the_workout() {
    use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};
    let gemini = MockServer::start().await;
    let advice = json!({"summary": "Good session.", "highlights": ["Consistent"],
        "improvements": ["Stretch"], "nextWorkout": "Easy 30 min", "safetyNotes": ["Hydrate"]});
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "candidates": [{"content": {"parts": [{"text": advice.to_string()}]}, "finishReason": "STOP"}]
        })))
        .mount(&gemini)
        .await;
    let stack = Stack::builder()
        .gemini(Some(fittrack_ai::gemini::GeminiConfig {
            api_key: Some(fittrack_kit::config::Secret::new("coached")),
            base_url: gemini.uri(),
            ..Default::default()
        }))
        .start()
        .await;
    let (_, ada) = stack.register("coached").await;
    let ada = token(&ada);
    gql(
        &stack.router,
        "mutation { createGoal(input: {period: WEEK, metric: DURATION, target: 9000, timeZone: \"UTC\"}) { id } }",
        json!({}),
        Some(&ada),
    )
    .await
    .assert_ok();
    let activity = log(&stack, &ada, "RUNNING", 45).await;
    wait_for_recommendation(&stack, &ada, &activity).await;

    let prompts: Vec<String> = gemini
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|request| String::from_utf8_lossy(&request.body).into_owned())
        .collect();
    let prompt = prompts
        .iter()
        .find(|p| p.contains("Analyse the workout"))
        .unwrap_or_else(|| panic!("no recommendation prompt in {prompts:?}"));
    for expected in [
        "personal records: longest duration 45:00",
        "WEEK DURATION (all types): 45.0 of 150.0 min",
    ] {
        assert!(prompt.contains(expected), "{expected:?} in {prompt}");
    }
}
