//! Gemini `generateContent` over REST, with the resilience the worker needs:
//! a per-call timeout, retries with exponential backoff and full jitter for
//! 429/5xx/timeouts (honouring `Retry-After`), no retry for 400/401/403/404, a
//! circuit breaker, and a token bucket on calls per minute.
//!
//! The API key travels in the `x-goog-api-key` header only: never in a URL
//! (reqwest errors print URLs) and never in a log (it is a `Secret`).

mod breaker;
mod client;
mod metrics;
mod rate_limit;

use fittrack_kit::config::Secret;
use serde::{Deserialize, Serialize};

pub use breaker::CircuitBreaker;
pub use client::GeminiClient;
pub use metrics::GeminiInstruments;
pub use rate_limit::TokenBucket;

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
