//! One trace from a logged workout to the recommendation pushed to the
//! client: the router and every process export OTLP to a receiver of the
//! test's own (`fittrack_testkit::otlp`), and the spans must join up.
//!
//! The exporting tracer is process-wide, so this binary has one test that
//! installs it (here).

use fittrack_testkit as support;

use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use support::{
    otlp::{OtlpReceiver, ReceivedSpan},
    Stack, WsSubscription,
};

const LOG: &str = "mutation($input: LogActivityInput!) { logActivity(input: $input) { id } }";

/// Whether `ancestor` is `span`'s parent, or its parent's, and so on.
fn descends_from(spans: &[ReceivedSpan], span: &ReceivedSpan, ancestor: &ReceivedSpan) -> bool {
    let mut parent = span.parent_span_id.clone();
    while !parent.is_empty() {
        if parent == ancestor.span_id {
            return true;
        }
        parent = spans
            .iter()
            .find(|s| s.span_id == parent)
            .map(|s| s.parent_span_id.clone())
            .unwrap_or_default();
    }
    false
}

const SPANS: [&str; 8] = [
    "POST /graphql",
    "store.insert",
    "queue.enqueue",
    "queue.job",
    "store.take_in_activity",
    "gemini.generate_content",
    "store.save_recommendation",
    "bus.publish",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_runs_from_log_activity_to_the_recommendation() {
    let receiver = OtlpReceiver::start().await;
    fittrack_kit::telemetry::init_with(Some(&receiver.traces_url));
    let gemini = support::fake_gemini().await;
    let stack = Stack::builder()
        .gemini(Some(fittrack_ai::gemini::GeminiConfig {
            api_key: Some(fittrack_kit::config::Secret::new("traced")),
            base_url: gemini.uri(),
            ..Default::default()
        }))
        .router_env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint)])
        .start()
        .await;
    let (_, ada) = stack.register("traced").await;
    let token = ada["accessToken"].as_str().expect("token").to_owned();
    let mut live = WsSubscription::open(
        &stack.router_ws(),
        json!({"Authorization": format!("Bearer {token}")}),
        "subscription { recommendationAdded { activityId } }",
    )
    .await
    .expect("subscription opens");
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The client starts the trace.
    let trace_id = format!("{:032x}", uuid::Uuid::new_v4().as_u128());
    let client_span = "00f067aa0ba902b7";
    let input = json!({"type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300,
                       "startTime": Utc::now().to_rfc3339()});
    let response = reqwest::Client::new()
        .post(&stack.router)
        .bearer_auth(&token)
        .header("traceparent", format!("00-{trace_id}-{client_span}-01"))
        .json(&json!({"query": LOG, "variables": {"input": input}}))
        .send()
        .await
        .expect("the router answers");
    assert!(response.status().is_success());
    live.next(Duration::from_secs(15))
        .await
        .expect("the recommendation arrives");

    let spans = receiver
        .trace(&trace_id, Duration::from_secs(30), |spans| {
            spans.iter().any(|s| s.service == "hive-router")
                && SPANS
                    .iter()
                    .all(|name| spans.iter().any(|s| s.name == *name))
        })
        .await;
    let names: Vec<(&str, &str)> = spans
        .iter()
        .map(|s| (s.service.as_str(), s.name.as_str()))
        .collect();
    let named = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name && s.service == "fittrack")
            .unwrap_or_else(|| panic!("no {name} span in {names:?}"))
    };
    // The router's span, then the activity subgraph's request under it.
    let request = named("POST /graphql");
    let router = spans
        .iter()
        .find(|s| s.span_id == request.parent_span_id)
        .unwrap_or_else(|| panic!("the request's parent is not in the trace: {names:?}"));
    assert_eq!(router.service, "hive-router", "{names:?}");
    assert!(
        spans
            .iter()
            .any(|s| s.service == "hive-router" && s.parent_span_id == client_span),
        "the router continues the client's trace: {names:?}"
    );
    // The store and the queue under the request; the worker's job is the
    // enqueue's child; the worker's steps under the job.
    for name in ["store.insert", "queue.enqueue"] {
        assert!(
            descends_from(&spans, named(name), request),
            "{name}: {names:?}"
        );
    }
    let job = named("queue.job");
    assert_eq!(
        job.parent_span_id,
        named("queue.enqueue").span_id,
        "{names:?}"
    );
    for name in [
        "store.take_in_activity",
        "gemini.generate_content",
        "store.save_recommendation",
    ] {
        assert!(descends_from(&spans, named(name), job), "{name}: {names:?}");
    }
    // Two publications: the recommendation by the worker, and the new
    // record (the user's first run is the longest) by the request.
    let publish = spans
        .iter()
        .find(|s| s.name == "bus.publish" && descends_from(&spans, s, job))
        .unwrap_or_else(|| panic!("no publish under the job: {names:?}"));
    assert!(
        spans
            .iter()
            .any(|s| s.name == "bus.publish" && descends_from(&spans, s, request)),
        "the new record's publish is under the request: {names:?}"
    );
    // The push to the subscriber: a span of its own, linked to the publish.
    let delivered = receiver
        .trace_linked_to(&publish.span_id, Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("no delivery linked to the publish"));
    assert_eq!(delivered.name, "subscription.deliver");
}
