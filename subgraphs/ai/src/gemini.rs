//! Gemini `generateContent` over REST, with the resilience the worker needs:
//! a per-call timeout, retries with exponential backoff and full jitter for
//! 429/5xx/timeouts (honouring `Retry-After`), no retry for 400/401/403/404, a
//! circuit breaker, and a token bucket on calls per minute.
//!
//! The API key travels in the `x-goog-api-key` header only: never in a URL
//! (reqwest errors print URLs) and never in a log (it is a `Secret`).

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use fittrack_kit::config::Secret;
use rand::Rng as _;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::{json, Value};

/// `[ai.gemini]` in the config file; the key also from `GEMINI_API_KEY`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GeminiConfig {
    pub api_key: Option<Secret>,
    pub base_url: String,
    pub model: String,
    pub timeout_ms: u64,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// Longest `Retry-After` we wait for (a larger one is capped).
    pub max_retry_after_ms: u64,
    /// Consecutive failed calls that open the breaker.
    pub breaker_failures: u32,
    /// How long the breaker stays open before one trial call.
    pub breaker_cooldown_ms: u64,
    /// Token bucket: calls (attempts) per minute.
    pub calls_per_minute: u32,
    /// Longest wait for a token; past it the call gives way to the rules.
    pub max_bucket_wait_ms: u64,
}

impl Default for GeminiConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: "https://generativelanguage.googleapis.com/v1beta".into(),
            model: "gemini-2.0-flash".into(),
            timeout_ms: 20_000,
            max_attempts: 4,
            initial_backoff_ms: 500,
            max_backoff_ms: 10_000,
            max_retry_after_ms: 60_000,
            breaker_failures: 5,
            breaker_cooldown_ms: 30_000,
            calls_per_minute: 60,
            max_bucket_wait_ms: 2_000,
        }
    }
}

/// Why a call produced nothing usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeminiError {
    /// No API key: callers use the rules instead.
    NotConfigured,
    /// The breaker is open: callers use the rules instead.
    BreakerOpen,
    /// No token in the shared bucket within the configured wait, or the
    /// user's own Gemini budget is spent: callers use the rules instead.
    Throttled,
    /// 400/401/403/404: retrying cannot help.
    Rejected { status: u16, message: String },
    /// 429/5xx/timeouts, still failing after every attempt.
    Unavailable(String),
    /// An answer that is not the requested JSON, or was cut off.
    InvalidOutput(String),
}

impl std::fmt::Display for GeminiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotConfigured => write!(f, "Gemini is not configured"),
            Self::BreakerOpen => write!(f, "Gemini circuit breaker is open"),
            Self::Throttled => write!(f, "Gemini call budget spent for now"),
            Self::Rejected { status, message } => {
                write!(f, "Gemini rejected the request ({status}): {message}")
            }
            Self::Unavailable(reason) => write!(f, "Gemini unavailable: {reason}"),
            Self::InvalidOutput(reason) => write!(f, "Gemini returned invalid output: {reason}"),
        }
    }
}

impl std::error::Error for GeminiError {}

/// The Gemini circuit breaker's state, as the admin dashboard shows it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, async_graphql::Enum,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BreakerStatus {
    /// No `GEMINI_API_KEY`: every recommendation comes from the rules.
    Disabled,
    /// Calls go to Gemini.
    Closed,
    /// Too many failures: the rules answer until the cool-down ends.
    Open,
    /// Cool-down over: the next call is a trial.
    HalfOpen,
}

#[derive(Debug, Default)]
struct BreakerState {
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    trial_in_flight: bool,
}

/// Closed → (N failures) → open → (cool-down) → half-open: one trial call,
/// which closes it on success and re-opens it on failure.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(BreakerState::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a call may go out now.
    pub fn allow(&self) -> bool {
        let mut state = self.state();
        match state.opened_at {
            None => true,
            Some(opened) if opened.elapsed() < self.cooldown => false,
            Some(_) if state.trial_in_flight => false,
            Some(_) => {
                state.trial_in_flight = true;
                true
            }
        }
    }

    pub fn is_open(&self) -> bool {
        self.state().opened_at.is_some()
    }

    /// Where the breaker stands now.
    pub fn status(&self) -> BreakerStatus {
        let state = self.state();
        match state.opened_at {
            None => BreakerStatus::Closed,
            Some(opened) if opened.elapsed() < self.cooldown => BreakerStatus::Open,
            Some(_) => BreakerStatus::HalfOpen,
        }
    }

    pub fn success(&self) {
        *self.state() = BreakerState::default();
    }

    pub fn failure(&self) {
        let mut state = self.state();
        state.consecutive_failures += 1;
        if state.trial_in_flight || state.consecutive_failures >= self.threshold {
            if state.opened_at.is_none() || state.trial_in_flight {
                tracing::warn!(
                    failures = state.consecutive_failures,
                    "Gemini circuit breaker opened"
                );
            }
            state.opened_at = Some(Instant::now());
            state.trial_in_flight = false;
        }
    }

    /// A call that says nothing about Gemini's health (e.g. our own bad request).
    pub fn neutral(&self) {
        self.state().trial_in_flight = false;
    }
}

/// Continuous-refill token bucket.
#[derive(Debug)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn per_minute(calls: u32) -> Self {
        let capacity = f64::from(calls.max(1));
        Self {
            capacity,
            per_second: capacity / 60.0,
            state: Mutex::new((capacity, Instant::now())),
        }
    }

    /// Takes a token, waiting at most `max_wait` for one; false if none came.
    pub async fn acquire_within(&self, max_wait: Duration) -> bool {
        let deadline = Instant::now() + max_wait;
        loop {
            let wait = {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                let (tokens, last) = *state;
                let now = Instant::now();
                let tokens = (tokens + now.duration_since(last).as_secs_f64() * self.per_second)
                    .min(self.capacity);
                if tokens >= 1.0 {
                    *state = (tokens - 1.0, now);
                    return true;
                }
                *state = (tokens, now);
                Duration::from_secs_f64((1.0 - tokens) / self.per_second)
            };
            // Waiting past the deadline cannot help: give up now, not later.
            if Instant::now() + wait > deadline {
                return false;
            }
            tokio::time::sleep(wait).await;
        }
    }
}

pub struct GeminiClient {
    config: GeminiConfig,
    http: reqwest::Client,
    breaker: CircuitBreaker,
    bucket: TokenBucket,
}

enum Attempt {
    Done(String),
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    Fail(GeminiError),
}

impl GeminiClient {
    pub fn new(config: GeminiConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()?;
        Ok(Self {
            breaker: CircuitBreaker::new(
                config.breaker_failures,
                Duration::from_millis(config.breaker_cooldown_ms),
            ),
            bucket: TokenBucket::per_minute(config.calls_per_minute),
            http,
            config,
        })
    }

    pub fn is_configured(&self) -> bool {
        self.config.api_key.is_some()
    }

    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The breaker's state, or `Disabled` without an API key.
    pub fn breaker_status(&self) -> BreakerStatus {
        if self.is_configured() {
            self.breaker.status()
        } else {
            BreakerStatus::Disabled
        }
    }

    /// Asks for JSON matching `schema` and decodes it as `T`.
    pub async fn generate<T: DeserializeOwned>(
        &self,
        prompt: &str,
        schema: Value,
    ) -> Result<T, GeminiError> {
        if !self.is_configured() {
            return Err(GeminiError::NotConfigured);
        }
        if !self.breaker.allow() {
            return Err(GeminiError::BreakerOpen);
        }
        let outcome = self.call(prompt, schema).await.and_then(|text| {
            serde_json::from_str::<T>(&text)
                .map_err(|e| GeminiError::InvalidOutput(format!("not the requested JSON: {e}")))
        });
        // Only the service failing (transport, 429, 5xx) opens the breaker. An
        // answer that does not parse says something about the prompt, which a
        // user writes (activity notes): counting it would let one user switch
        // everyone to the rules.
        match &outcome {
            Ok(_) => self.breaker.success(),
            Err(GeminiError::Unavailable(_)) => self.breaker.failure(),
            Err(_) => self.breaker.neutral(),
        }
        outcome
    }

    async fn call(&self, prompt: &str, schema: Value) -> Result<String, GeminiError> {
        let body = json!({
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": schema,
                "temperature": 0.4,
            },
        });
        let url = format!(
            "{}/models/{}:generateContent",
            self.config.base_url.trim_end_matches('/'),
            self.config.model
        );
        let attempts = self.config.max_attempts.max(1);
        let mut last_reason = String::new();
        let bucket_wait = Duration::from_millis(self.config.max_bucket_wait_ms);
        for attempt in 1..=attempts {
            if !self.bucket.acquire_within(bucket_wait).await {
                tracing::info!(
                    attempt,
                    "no Gemini token within the wait; giving way to the rules"
                );
                return Err(GeminiError::Throttled);
            }
            match self.attempt(&url, &body).await {
                Attempt::Done(text) => return Ok(text),
                Attempt::Fail(error) => return Err(error),
                Attempt::Retry { reason, after } => {
                    tracing::warn!(attempt, attempts, reason = %reason, "Gemini call failed");
                    last_reason = reason;
                    if attempt < attempts {
                        tokio::time::sleep(self.backoff(attempt, after)).await;
                    }
                }
            }
        }
        Err(GeminiError::Unavailable(format!(
            "{last_reason} (after {attempts} attempts)"
        )))
    }

    /// `Retry-After` when the server gave one (capped), else exponential backoff
    /// with full jitter.
    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(Duration::from_millis(self.config.max_retry_after_ms));
        }
        let exp = self
            .config
            .initial_backoff_ms
            .saturating_mul(1u64 << (attempt - 1).min(20))
            .min(self.config.max_backoff_ms);
        Duration::from_millis(rand::thread_rng().gen_range(0..=exp))
    }

    async fn attempt(&self, url: &str, body: &Value) -> Attempt {
        let key = match &self.config.api_key {
            Some(key) => key.expose().to_owned(),
            None => return Attempt::Fail(GeminiError::NotConfigured),
        };
        let response = match self
            .http
            .post(url)
            .header("x-goog-api-key", key)
            .json(body)
            .send()
            .await
        {
            Ok(response) => response,
            Err(error) => {
                let reason = if error.is_timeout() {
                    "timed out".to_owned()
                } else {
                    format!("request failed: {}", error.without_url())
                };
                return Attempt::Retry {
                    reason,
                    after: None,
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = match response.text().await {
            Ok(text) => text,
            Err(error) => {
                return Attempt::Retry {
                    reason: format!("reading the response failed: {}", error.without_url()),
                    after: None,
                }
            }
        };
        match status {
            200..=299 => match extract_text(&text) {
                Ok(output) => Attempt::Done(output),
                Err(error) => Attempt::Fail(error),
            },
            429 | 500..=599 => Attempt::Retry {
                reason: format!("HTTP {status}"),
                after: retry_after,
            },
            _ => Attempt::Fail(GeminiError::Rejected {
                status,
                message: error_message(&text),
            }),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(default)]
    candidates: Vec<Candidate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<Content>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
struct Part {
    text: Option<String>,
}

/// The model's text from a `generateContent` response; a cut-off answer
/// (`MAX_TOKENS`, safety stops, …) is invalid output.
fn extract_text(body: &str) -> Result<String, GeminiError> {
    let envelope: Envelope = serde_json::from_str(body)
        .map_err(|e| GeminiError::InvalidOutput(format!("unreadable response: {e}")))?;
    let candidate = envelope
        .candidates
        .into_iter()
        .next()
        .ok_or_else(|| GeminiError::InvalidOutput("no candidates".into()))?;
    match candidate.finish_reason.as_deref() {
        Some("STOP") | None => {}
        Some(other) => {
            return Err(GeminiError::InvalidOutput(format!(
                "generation stopped early: {other}"
            )))
        }
    }
    let text: String = candidate
        .content
        .map(|c| c.parts.into_iter().filter_map(|p| p.text).collect())
        .unwrap_or_default();
    if text.trim().is_empty() {
        return Err(GeminiError::InvalidOutput("empty answer".into()));
    }
    Ok(text)
}

/// Google's error message, shortened; never the request.
fn error_message(body: &str) -> String {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.to_owned());
    message.chars().take(200).collect()
}
