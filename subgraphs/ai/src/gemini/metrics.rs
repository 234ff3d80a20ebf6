//! What the Gemini client records (`fittrack_gemini_*`): each attempt by
//! outcome with its latency, the time spent waiting for a token, and the
//! breaker's state at each scrape.

use std::time::Duration;

use fittrack_kit::metrics::{Metrics, SECONDS_BUCKETS};
use opentelemetry::{
    metrics::{Counter, Histogram},
    KeyValue,
};

#[derive(Clone)]
pub struct GeminiInstruments {
    attempts: Counter<u64>,
    attempt_duration: Histogram<f64>,
    token_wait: Histogram<f64>,
}

impl GeminiInstruments {
    pub fn new(metrics: &Metrics) -> Self {
        let meter = metrics.meter();
        Self {
            attempts: meter
                .u64_counter("fittrack.gemini.attempts")
                .with_description(
                    "generateContent attempts by outcome: ok, retry (429, 5xx, timeout), \
                     rejected (4xx), invalid (an answer that is not the JSON asked for), \
                     throttled (no token in time)",
                )
                .build(),
            attempt_duration: meter
                .f64_histogram("fittrack.gemini.attempt.duration")
                .with_unit("s")
                .with_description("Time of one generateContent attempt")
                .with_boundaries(SECONDS_BUCKETS.to_vec())
                .build(),
            token_wait: meter
                .f64_histogram("fittrack.gemini.token.wait")
                .with_unit("s")
                .with_description("Time waited for a token of the calls-per-minute bucket")
                .with_boundaries(SECONDS_BUCKETS.to_vec())
                .build(),
        }
    }

    pub(super) fn attempt(&self, outcome: &'static str, took: Duration) {
        let labels = [KeyValue::new("outcome", outcome)];
        self.attempts.add(1, &labels);
        if outcome != "throttled" {
            self.attempt_duration.record(took.as_secs_f64(), &labels);
        }
    }

    pub(super) fn waited_for_token(&self, waited: Duration) {
        self.token_wait.record(waited.as_secs_f64(), &[]);
    }
}
