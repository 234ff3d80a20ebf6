//! The `generateContent` call: attempts, retries with backoff, and reading
//! the answer out of Gemini's envelope.

use std::time::Duration;

use rand::Rng as _;
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{json, Value};

use super::{CircuitBreaker, GeminiConfig, GeminiError, GeminiInstruments, TokenBucket};
use crate::domain::model::BreakerStatus;

pub struct GeminiClient {
    config: GeminiConfig,
    http: reqwest::Client,
    breaker: CircuitBreaker,
    bucket: TokenBucket,
    metrics: Option<GeminiInstruments>,
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
            metrics: None,
        })
    }

    /// Records every attempt and token wait in `metrics`.
    pub fn with_metrics(mut self, metrics: GeminiInstruments) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn record_attempt(&self, outcome: &'static str, took: Duration) {
        if let Some(metrics) = &self.metrics {
            metrics.attempt(outcome, took);
        }
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
        let span = tracing::info_span!(
            "gemini.generate_content",
            model = %self.config.model,
            otel.kind = "client",
        );
        let outcome = tracing::Instrument::instrument(self.call(prompt, schema), span)
            .await
            .and_then(|text| {
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
            let waiting = std::time::Instant::now();
            let acquired = self.bucket.acquire_within(bucket_wait).await;
            if let Some(metrics) = &self.metrics {
                metrics.waited_for_token(waiting.elapsed());
            }
            if !acquired {
                self.record_attempt("throttled", Duration::ZERO);
                tracing::info!(
                    attempt,
                    "no Gemini token within the wait; giving way to the rules"
                );
                return Err(GeminiError::Throttled);
            }
            let started = std::time::Instant::now();
            let result = self.attempt(&url, &body).await;
            let outcome = match &result {
                Attempt::Done(_) => "ok",
                Attempt::Retry { .. } => "retry",
                Attempt::Fail(GeminiError::Rejected { .. }) => "rejected",
                Attempt::Fail(_) => "invalid",
            };
            self.record_attempt(outcome, started.elapsed());
            match result {
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
