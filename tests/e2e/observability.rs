//! Metrics as an operator's Prometheus scrapes them: the router's own
//! (hive-router's, on a port of their own) and each subgraph's `/metrics`,
//! read after real operations through the router.

use fittrack_testkit as support;

use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use support::{gql, Stack, WsSubscription, LOGIN};

const LOG: &str = "mutation($input: LogActivityInput!) { logActivity(input: $input) { id } }";
const ADDED: &str = "subscription { recommendationAdded { activityId } }";

/// The Prometheus text at `url`.
async fn scrape(url: &str) -> String {
    let response = reqwest::get(url).await.expect("metrics answer");
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.expect("text")
}

/// The value of the series `name` whose labels include every one of
/// `labels`, summed over the rest (`None` when there is none).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (series_name, series_labels) = match series.split_once('{') {
            Some((series_name, rest)) => (series_name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let matches = series_name == name
            && labels.iter().all(|(key, value)| {
                series_labels
                    .split(',')
                    .any(|pair| pair == format!("{key}=\"{value}\""))
            });
        if matches {
            *found.get_or_insert(0.0) += value.parse::<f64>().expect("a number");
        }
    }
    found
}

fn metrics_url(graphql_url: &str) -> String {
    graphql_url.replace("/graphql", "/metrics")
}

/// Waits until the series reaches `expected` (gauges follow connections
/// that close asynchronously).
async fn eventually(url: &str, name: &str, labels: &[(&str, &str)], expected: f64) -> String {
    for _ in 0..100 {
        let text = scrape(url).await;
        if sample(&text, name, labels) == Some(expected) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = scrape(url).await;
    panic!(
        "{name}{labels:?} at {url} is {:?}, not {expected}:\n{text}",
        sample(&text, name, labels)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_counts_what_it_served_on_its_metrics_endpoint() {
    let stack = Stack::start().await;
    let (email, ada) = stack.register("metrics").await;
    let token = ada["accessToken"].as_str().expect("token").to_owned();
    let user_id = ada["user"]["id"].as_str().expect("id").to_owned();
    gql(
        &stack.router,
        LOGIN,
        json!({"email": email, "password": "not the password at all"}),
        None,
    )
    .await
    .assert_code("UNAUTHENTICATED");

    let mut live = WsSubscription::open(
        &stack.router_ws(),
        json!({"Authorization": format!("Bearer {token}")}),
        ADDED,
    )
    .await
    .expect("subscription opens");
    let ai_metrics = metrics_url(&stack.ai);
    // The router's upstream WebSocket and the subscription, while it lives.
    eventually(
        &ai_metrics,
        "fittrack_graphql_subscriptions_active",
        &[],
        1.0,
    )
    .await;
    eventually(&ai_metrics, "fittrack_websocket_connections", &[], 1.0).await;

    let input = json!({"type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300,
                       "startTime": Utc::now().to_rfc3339()});
    gql(&stack.router, LOG, json!({"input": input}), Some(&token))
        .await
        .assert_ok();
    live.next(Duration::from_secs(15))
        .await
        .expect("the recommendation arrives");

    // A read that joins all three subgraphs: each join is one batch.
    gql(
        &stack.router,
        "{ myActivities(first: 5) { nodes { id recommendation { summary } user { email activities(first: 5) { nodes { id } } } } } }",
        json!({}),
        Some(&token),
    )
    .await
    .assert_ok();

    let user = scrape(&metrics_url(&stack.user)).await;
    let requests = "fittrack_graphql_requests_total";
    assert_eq!(
        sample(
            &user,
            requests,
            &[
                ("operation", "register"),
                ("operation_type", "mutation"),
                ("outcome", "ok")
            ]
        ),
        Some(1.0),
        "{user}"
    );
    assert_eq!(
        sample(
            &user,
            requests,
            &[("operation", "login"), ("outcome", "error")]
        ),
        Some(1.0),
        "{user}"
    );
    assert_eq!(
        sample(
            &user,
            "fittrack_graphql_errors_total",
            &[("code", "UNAUTHENTICATED"), ("operation", "login")]
        ),
        Some(1.0),
        "{user}"
    );
    assert_eq!(
        sample(
            &user,
            "fittrack_graphql_request_duration_seconds_count",
            &[("operation", "register")]
        ),
        Some(1.0),
        "{user}"
    );

    let activity = scrape(&metrics_url(&stack.activity)).await;
    // The user store's statements, by verb: registering inserted the account.
    let relational = if std::env::var_os("DATABASE_URL").is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    assert!(
        sample(
            &user,
            "fittrack_store_call_duration_seconds_count",
            &[
                ("store", "user"),
                ("backend", relational),
                ("operation", "insert"),
                ("outcome", "ok")
            ]
        )
        .is_some_and(|n| n >= 1.0),
        "{user}"
    );
    // Nothing owed by any eraser.
    for eraser in fittrack_kit::events::ERASERS {
        assert_eq!(
            sample(&user, "fittrack_erasures_pending", &[("eraser", eraser)]),
            Some(0.0),
            "{user}"
        );
    }
    let batches = "fittrack_dataloader_batch_keys_count";
    assert_eq!(
        sample(&user, batches, &[("loader", "user")]),
        Some(1.0),
        "{user}"
    );
    assert_eq!(
        sample(&activity, batches, &[("loader", "activities_first_page")]),
        Some(1.0),
        "{activity}"
    );
    // Its event enqueued and confirmed; nothing for the sweeper.
    assert_eq!(
        sample(
            &activity,
            "fittrack_events_published_total",
            &[("event", "ActivityLogged"), ("outcome", "ok")]
        ),
        Some(1.0),
        "{activity}"
    );
    eventually(
        &metrics_url(&stack.activity),
        "fittrack_events_confirmed_total",
        &[("outcome", "ok")],
        1.0,
    )
    .await;
    assert_eq!(
        sample(&activity, "fittrack_events_resent_total", &[]),
        Some(0.0),
        "{activity}"
    );
    // The store call behind it, timed by backend and operation.
    let backend = if std::env::var_os("MONGODB_URI").is_some() {
        "mongodb"
    } else {
        "sqlite"
    };
    assert_eq!(
        sample(
            &activity,
            "fittrack_store_call_duration_seconds_count",
            &[
                ("store", "activity"),
                ("backend", backend),
                ("operation", "insert"),
                ("outcome", "ok")
            ]
        ),
        Some(1.0),
        "{activity}"
    );
    assert_eq!(
        sample(
            &activity,
            requests,
            &[("operation", "logActivity"), ("outcome", "ok")]
        ),
        Some(1.0),
        "{activity}"
    );

    // The router's own: every client request above, by status.
    let router = scrape(&stack.router_metrics).await;
    let served = sample(&router, "http_server_request_duration_seconds_count", &[])
        .expect("the router counts its requests");
    assert!(served >= 3.0, "{router}");

    // Nothing a client chose or a user is known by becomes a label.
    for text in [&user, &activity, &router, &scrape(&ai_metrics).await] {
        assert!(!text.contains(&user_id), "{text}");
        assert!(!text.contains(&email), "{text}");
    }

    // The worker's job, and the queue it came from, drained.
    eventually(
        &ai_metrics,
        "fittrack_jobs_total",
        &[("outcome", "done")],
        1.0,
    )
    .await;
    let ai = eventually(
        &ai_metrics,
        "fittrack_queue_jobs",
        &[("state", "waiting")],
        0.0,
    )
    .await;
    assert_eq!(
        sample(&ai, "fittrack_queue_reachable", &[]),
        Some(1.0),
        "{ai}"
    );
    assert_eq!(
        sample(
            &ai,
            "fittrack_store_call_duration_seconds_count",
            &[("store", "ai"), ("operation", "save_recommendation")]
        ),
        Some(1.0),
        "{ai}"
    );
    assert_eq!(
        sample(&ai, "fittrack_queue_oldest_job_age_seconds", &[]),
        Some(0.0),
        "{ai}"
    );
    assert_eq!(
        sample(
            &ai,
            "fittrack_job_duration_seconds_count",
            &[("outcome", "done")]
        ),
        Some(1.0),
        "{ai}"
    );
    assert_eq!(
        sample(&ai, "fittrack_jobs_in_flight", &[]),
        Some(0.0),
        "{ai}"
    );
    assert_eq!(
        sample(
            &ai,
            "fittrack_dataloader_batch_keys_count",
            &[("loader", "recommendation")]
        ),
        Some(1.0),
        "{ai}"
    );
    // No GEMINI_API_KEY in the test stack: the rules answered, and say why.
    assert_eq!(
        sample(
            &ai,
            "fittrack_coach_answers_total",
            &[("source", "rules"), ("reason", "not_configured")]
        ),
        Some(1.0),
        "{ai}"
    );
    assert_eq!(
        sample(&ai, "fittrack_gemini_breaker", &[("state", "disabled")]),
        Some(1.0),
        "{ai}"
    );

    drop(live);
    eventually(
        &ai_metrics,
        "fittrack_graphql_subscriptions_active",
        &[],
        0.0,
    )
    .await;
    let ai = scrape(&ai_metrics).await;
    assert_eq!(
        sample(
            &ai,
            requests,
            &[
                ("operation", "recommendationAdded"),
                ("operation_type", "subscription"),
                ("outcome", "ok")
            ]
        ),
        Some(1.0),
        "{ai}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_name_or_an_unknown_field_never_becomes_a_label() {
    let stack = Stack::start().await;
    for name in ["Attacker1", "Attacker2", "Attacker3"] {
        gql(
            &stack.user,
            &format!("query {name} {{ noSuchField{name} }}"),
            json!({}),
            None,
        )
        .await
        .assert_code("BAD_USER_INPUT");
    }
    gql(&stack.user, "query Chosen { __typename }", json!({}), None)
        .await
        .assert_ok();
    let text = scrape(&metrics_url(&stack.user)).await;
    assert!(!text.contains("Attacker"), "{text}");
    assert!(!text.contains("noSuchField"), "{text}");
    assert!(!text.contains("Chosen"), "{text}");
    assert_eq!(
        sample(
            &text,
            "fittrack_graphql_requests_total",
            &[("operation", "invalid"), ("outcome", "error")]
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "fittrack_graphql_requests_total",
            &[("operation", "__typename"), ("outcome", "ok")]
        ),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_without_the_api_serves_health_readiness_and_its_job_metrics() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = fittrack_ai::AiConfig {
        data_dir: dir.path().to_owned(),
        namespace: format!("worker-{}", uuid::Uuid::new_v4().simple()),
        redis_url: None,
        mongodb_uri: None,
        api: false,
        ..Default::default()
    };
    config.worker.metrics_port = 0;
    let ai = fittrack_ai::build(&config)
        .await
        .expect("the worker builds");
    let queue = ai.context.queue.clone();
    let bound = ai.service.bind().await.expect("binds");
    assert!(bound.graphql_url().is_none(), "no GraphQL in a worker");
    let base = format!("http://{}", bound.local_addr().expect("operations port"));
    let stop = fittrack_kit::service::CancellationToken::new();
    let running = bound.spawn(stop.clone());

    assert_eq!(
        reqwest::get(format!("{base}/health"))
            .await
            .expect("health")
            .status(),
        200
    );
    let ready = reqwest::get(format!("{base}/ready")).await.expect("ready");
    assert_eq!(ready.status(), 200, "{:?}", ready.text().await);
    let event = json!({"event": "ActivityLogged", "activityId": uuid::Uuid::new_v4(),
                       "userId": uuid::Uuid::new_v4(), "type": "RUNNING",
                       "durationMinutes": 30, "caloriesBurned": 300,
                       "startTime": Utc::now(), "metrics": {}});
    queue.enqueue(&event.to_string()).await.expect("enqueued");
    let metrics = format!("{base}/metrics");
    eventually(&metrics, "fittrack_jobs_total", &[("outcome", "done")], 1.0).await;
    // A worker answers no GraphQL, so records none.
    let text = scrape(&metrics).await;
    assert!(!text.contains("fittrack_graphql_requests_total"), "{text}");

    stop.cancel();
    running.await.expect("joined").expect("a clean stop");
}
