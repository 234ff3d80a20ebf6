//! The Gemini client against a local fake (wiremock): success, 429 with
//! `Retry-After`, a 500 storm that opens the breaker, a timeout, malformed
//! JSON, truncation, and a 400 that is not retried.

use std::time::{Duration, Instant};

use fittrack_ai::{
    coach::Coach,
    domain::model::{ActivitySummary, Advice, Source},
    gemini::{GeminiClient, GeminiConfig, GeminiError},
};
use fittrack_kit::{config::Secret, queue::ConsumerOptions};
use serde_json::json;
use wiremock::{
    matchers::{header, method, path},
    Mock, MockServer, ResponseTemplate,
};

const PATH: &str = "/v1beta/models/gemini-test:generateContent";
const KEY: &str = "test-key-123";

fn config(server: &MockServer) -> GeminiConfig {
    GeminiConfig {
        api_key: Some(Secret::new(KEY)),
        base_url: format!("{}/v1beta", server.uri()),
        model: "gemini-test".into(),
        timeout_ms: 500,
        max_attempts: 3,
        initial_backoff_ms: 10,
        max_backoff_ms: 50,
        max_retry_after_ms: 5_000,
        breaker_failures: 2,
        breaker_cooldown_ms: 300,
        calls_per_minute: 6_000,
        max_bucket_wait_ms: 2_000,
    }
}

fn advice() -> serde_json::Value {
    json!({
        "summary": "Strong steady run.",
        "highlights": ["Even pacing"],
        "improvements": ["Add strides"],
        "nextWorkout": "30 min easy",
        "safetyNotes": ["Hydrate"],
    })
}

fn answer(text: &str, finish: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish}]
    }))
}

/// A fake Gemini that answers every call with `text`.
async fn answering(text: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(answer(text, "STOP"))
        .mount(&server)
        .await;
    server
}

fn activity() -> ActivitySummary {
    ActivitySummary {
        activity_id: uuid::Uuid::new_v4(),
        user_id: uuid::Uuid::new_v4(),
        activity_type: "RUNNING".into(),
        duration_minutes: 40,
        calories_burned: 420,
        start_time: chrono::Utc::now(),
        distance_km: Some(8.0),
        average_heart_rate: Some(150),
        max_heart_rate: Some(175),
        insights: None,
    }
}

#[tokio::test]
async fn success_sends_the_key_in_a_header_and_asks_for_structured_json() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .and(header("x-goog-api-key", KEY))
        .respond_with(answer(&advice().to_string(), "STOP"))
        .expect(1)
        .mount(&server)
        .await;
    let coach = Coach::new(GeminiClient::new(config(&server)).expect("client"));
    let (source, got) = coach.advise(&activity(), &[]).await.expect("advice");
    assert_eq!(source, Source::Gemini);
    assert_eq!(got.summary, "Strong steady run.");

    let requests = server.received_requests().await.expect("recorded");
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).expect("json body");
    assert_eq!(
        body["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert!(body["generationConfig"]["responseSchema"]["required"]
        .as_array()
        .expect("required")
        .contains(&json!("nextWorkout")));
    assert!(
        !requests[0].url.as_str().contains(KEY),
        "the key must not be in the URL"
    );
}

#[tokio::test]
async fn a_429_is_retried_after_the_retry_after_delay() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(answer(&advice().to_string(), "STOP"))
        .mount(&server)
        .await;
    let client = GeminiClient::new(config(&server)).expect("client");
    let started = Instant::now();
    let got: Advice = client
        .generate("prompt", json!({}))
        .await
        .expect("second attempt succeeds");
    assert_eq!(got.next_workout, "30 min easy");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After was honoured"
    );
    assert_eq!(server.received_requests().await.expect("recorded").len(), 2);
}

#[tokio::test]
async fn a_500_storm_opens_the_breaker_and_the_rules_take_over_until_it_half_opens() {
    let server = MockServer::start().await;
    let storm = Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(ResponseTemplate::new(500))
        .mount_as_scoped(&server)
        .await;
    let coach = Coach::new(GeminiClient::new(config(&server)).expect("client"));
    for _ in 0..2 {
        let error = coach
            .advise(&activity(), &[])
            .await
            .expect_err("unavailable");
        assert!(matches!(error, GeminiError::Unavailable(_)), "{error:?}");
    }
    assert!(coach.gemini().breaker().is_open());
    let calls = server.received_requests().await.expect("recorded").len();
    assert_eq!(calls, 6, "3 attempts per call");

    // Open: no call goes out, the rules answer.
    let (source, _) = coach.advise(&activity(), &[]).await.expect("fallback");
    assert_eq!(source, Source::Rules);
    assert_eq!(
        server.received_requests().await.expect("recorded").len(),
        calls
    );

    // After the cool-down one trial goes out; Gemini is back, so it closes.
    drop(storm);
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(answer(&advice().to_string(), "STOP"))
        .mount(&server)
        .await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (source, _) = coach.advise(&activity(), &[]).await.expect("advice");
    assert_eq!(source, Source::Gemini);
    assert!(!coach.gemini().breaker().is_open());
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(answer(&advice().to_string(), "STOP").set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let client = GeminiClient::new(config(&server)).expect("client");
    let started = Instant::now();
    let error = client
        .generate::<Advice>("prompt", json!({}))
        .await
        .expect_err("times out");
    assert!(
        matches!(&error, GeminiError::Unavailable(reason) if reason.contains("timed out")),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "each attempt is cut at 500 ms"
    );
}

#[tokio::test]
async fn malformed_or_truncated_output_is_a_failure_not_a_recommendation() {
    for (text, finish) in [
        ("{\"summary\": \"cut", "STOP"),
        ("{\"summary\": \"no other fields\"}", "STOP"),
        (&*advice().to_string(), "MAX_TOKENS"),
        (&*json!({"summary": "", "highlights": [], "improvements": [], "nextWorkout": "x", "safetyNotes": []}).to_string(), "STOP"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(PATH))
            .respond_with(answer(text, finish))
            .mount(&server)
            .await;
        let coach = Coach::new(GeminiClient::new(config(&server)).expect("client"));
        let error = coach.advise(&activity(), &[]).await.expect_err("invalid");
        assert!(matches!(error, GeminiError::InvalidOutput(_)), "{text} {finish}: {error:?}");
        assert_eq!(server.received_requests().await.expect("recorded").len(), 1, "not retried");
    }
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"error": {"message": "bad schema"}})),
        )
        .mount(&server)
        .await;
    let client = GeminiClient::new(config(&server)).expect("client");
    let error = client
        .generate::<Advice>("prompt", json!({}))
        .await
        .expect_err("rejected");
    assert_eq!(
        error,
        GeminiError::Rejected {
            status: 400,
            message: "bad schema".into()
        }
    );
    assert_eq!(server.received_requests().await.expect("recorded").len(), 1);
    assert!(
        !client.breaker().is_open(),
        "our bad request says nothing about Gemini"
    );
}

#[tokio::test]
async fn without_a_key_the_rules_answer_and_nothing_is_called() {
    let server = MockServer::start().await;
    let coach = Coach::new(
        GeminiClient::new(GeminiConfig {
            api_key: None,
            ..config(&server)
        })
        .expect("client"),
    );
    let (source, advice) = coach.advise(&activity(), &[]).await.expect("rules");
    assert_eq!(source, Source::Rules);
    assert!(advice.summary.contains("running"));
    assert!(server
        .received_requests()
        .await
        .expect("recorded")
        .is_empty());
}

#[tokio::test]
async fn the_token_bucket_spaces_calls_once_the_burst_is_spent() {
    let bucket = fittrack_ai::gemini::TokenBucket::per_minute(120);
    let started = Instant::now();
    for _ in 0..120 {
        assert!(bucket.acquire_within(Duration::ZERO).await);
    }
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "the burst is immediate"
    );
    // 120 per minute refill one token every 500 ms: a shorter wait gives up
    // at once instead of sleeping past it.
    let gave_up = Instant::now();
    assert!(!bucket.acquire_within(Duration::from_millis(100)).await);
    assert!(
        gave_up.elapsed() < Duration::from_millis(50),
        "{:?}",
        gave_up.elapsed()
    );
    let waited = Instant::now();
    assert!(bucket.acquire_within(Duration::from_secs(2)).await);
    assert!(
        waited.elapsed() >= Duration::from_millis(400),
        "{:?}",
        waited.elapsed()
    );
}

#[tokio::test]
async fn an_empty_bucket_gives_way_to_the_rules_instead_of_waiting() {
    let server = answering(&advice().to_string()).await;
    // One call a minute, and no patience for the next token.
    let coach = Coach::new(
        GeminiClient::new(GeminiConfig {
            calls_per_minute: 1,
            max_bucket_wait_ms: 50,
            ..config(&server)
        })
        .expect("client"),
    );
    let (first, _) = coach.advise(&activity(), &[]).await.expect("advice");
    assert_eq!(first, Source::Gemini);
    let started = Instant::now();
    let (second, _) = coach.advise(&activity(), &[]).await.expect("advice");
    assert_eq!(second, Source::Rules);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.received_requests().await.expect("recorded").len(), 1);
}

#[tokio::test]
async fn answers_that_do_not_parse_never_open_the_breaker() {
    let server = answering("{not json").await;
    // The breaker opens after 2 failures; a user whose notes steer the model
    // into nonsense 10 times must not switch everyone to the rules.
    let coach = Coach::new(GeminiClient::new(config(&server)).expect("client"));
    for _ in 0..10 {
        let error = coach.advise(&activity(), &[]).await.expect_err("invalid");
        assert!(matches!(error, GeminiError::InvalidOutput(_)), "{error:?}");
    }
    assert!(!coach.gemini().breaker().is_open());
}

#[tokio::test]
async fn a_users_gemini_budget_is_theirs_alone() {
    use std::sync::Arc;

    use fittrack_ai::coach::AiLimitsConfig;
    use fittrack_kit::ratelimit::{MemoryRateLimiter, Quota};

    let server = answering(&advice().to_string()).await;
    let coach = Coach::with_limits(
        GeminiClient::new(config(&server)).expect("client"),
        Arc::new(MemoryRateLimiter::default()),
        AiLimitsConfig {
            gemini_per_user_minute: Quota::per_minute(3),
            ..Default::default()
        },
    );
    let burst = activity();
    let mut sources = Vec::new();
    for _ in 0..5 {
        sources.push(coach.advise(&burst, &[]).await.expect("advice").0);
    }
    assert_eq!(
        sources,
        [
            Source::Gemini,
            Source::Gemini,
            Source::Gemini,
            Source::Rules,
            Source::Rules
        ]
    );
    let other = ActivitySummary {
        user_id: uuid::Uuid::new_v4(),
        ..activity()
    };
    assert_eq!(
        coach.advise(&other, &[]).await.expect("advice").0,
        Source::Gemini
    );
    assert_eq!(server.received_requests().await.expect("recorded").len(), 4);
}

#[tokio::test]
async fn a_rejected_call_sends_the_job_straight_to_the_dead_letter_queue() {
    use std::sync::Arc;

    use fittrack_ai::{
        bus::LocalBus, domain::recommendations::Recommender, storage::embedded::EmbeddedAiStore,
        worker::Worker,
    };
    use fittrack_kit::queue::{memory::MemoryJobQueue, JobQueue, QueueOptions};

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"error": {"message": "API key not valid"}})),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().expect("dir");
    let store = EmbeddedAiStore::open(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("ai.db").display()
    ))
    .await
    .expect("store");
    let worker = Worker::new(Recommender::new(
        Arc::new(store),
        Arc::new(Coach::new(
            GeminiClient::new(config(&server)).expect("client"),
        )),
        Arc::new(LocalBus::default()),
    ));
    let queue: Arc<dyn JobQueue> = Arc::new(MemoryJobQueue::new(
        "rejected",
        QueueOptions {
            visibility_timeout: Duration::from_secs(30),
            max_deliveries: 5,
        },
    ));
    let a = activity();
    queue
        .enqueue(
            &json!({"event": "ActivityLogged", "activityId": a.activity_id, "userId": a.user_id,
                    "type": "RUNNING", "durationMinutes": 40, "caloriesBurned": 420,
                    "startTime": a.start_time})
            .to_string(),
        )
        .await
        .expect("enqueue");
    queue.enqueue("{not an event").await.expect("enqueue");
    tokio::spawn(worker.run(
        queue.clone(),
        ConsumerOptions::new("w", 2),
        std::future::pending::<()>(),
    ));

    let deadline = Instant::now() + Duration::from_secs(5);
    let dead = loop {
        let dead = queue.dead_letters(10).await.expect("dlq");
        if dead.len() == 2 || Instant::now() > deadline {
            break dead;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        dead.len(),
        2,
        "both dead-lettered on their first delivery: {dead:?}"
    );
    assert!(dead.iter().all(|d| d.deliveries == 1), "{dead:?}");
    assert!(dead
        .iter()
        .any(|d| d.reason.contains("403") && d.reason.contains("API key not valid")));
    assert!(dead
        .iter()
        .any(|d| d.reason.contains("unreadable activity event")));
    assert!(
        !dead.iter().any(|d| d.reason.contains(KEY)),
        "the key never appears"
    );
    assert_eq!(
        server.received_requests().await.expect("recorded").len(),
        1,
        "no retry"
    );
}

/// The value of one series in a Prometheus text.
fn series(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(line_start))
        .and_then(|line| line.rsplit_once(' '))
        .and_then(|(_, value)| value.parse().ok())
}

#[tokio::test]
async fn metrics_show_retries_the_open_breaker_and_the_rules_taking_over() {
    let server = MockServer::start().await;
    let storm = Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(ResponseTemplate::new(500))
        .mount_as_scoped(&server)
        .await;
    let metrics = fittrack_kit::metrics::Metrics::new("ai");
    let coach = std::sync::Arc::new(
        Coach::new(GeminiClient::new(config(&server)).expect("client")).with_metrics(&metrics),
    );
    fittrack_ai::coach::report_breaker(&metrics, coach.clone());
    for _ in 0..2 {
        coach
            .advise(&activity(), &[])
            .await
            .expect_err("unavailable");
    }
    coach.advise(&activity(), &[]).await.expect("the rules");
    let text = metrics.scrape().await;
    // Two calls of three attempts each, all answered 500.
    assert_eq!(
        series(&text, r#"fittrack_gemini_attempts_total{outcome="retry"}"#),
        Some(6.0),
        "{text}"
    );
    assert_eq!(
        series(
            &text,
            r#"fittrack_gemini_attempt_duration_seconds_count{outcome="retry"}"#
        ),
        Some(6.0),
        "{text}"
    );
    assert_eq!(
        series(&text, r#"fittrack_gemini_breaker{state="open"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        series(&text, r#"fittrack_gemini_breaker{state="closed"}"#),
        Some(0.0),
        "{text}"
    );
    let answers = |source: &str, reason: &str| {
        series(
            &text,
            &format!(
                r#"fittrack_coach_answers_total{{kind="advice",reason="{reason}",source="{source}"}}"#
            ),
        )
    };
    assert_eq!(answers("none", "unavailable"), Some(2.0), "{text}");
    assert_eq!(answers("rules", "breaker_open"), Some(1.0), "{text}");

    // Gemini back after the cool-down: one attempt, answered, closed again.
    drop(storm);
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(answer(&advice().to_string(), "STOP"))
        .mount(&server)
        .await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    coach.advise(&activity(), &[]).await.expect("advice");
    let text = metrics.scrape().await;
    assert_eq!(
        series(&text, r#"fittrack_gemini_attempts_total{outcome="ok"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        series(&text, r#"fittrack_gemini_breaker{state="closed"}"#),
        Some(1.0),
        "{text}"
    );
    assert!(
        series(&text, "fittrack_gemini_token_wait_seconds_count").is_some_and(|n| n >= 7.0),
        "{text}"
    );
}
