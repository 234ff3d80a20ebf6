//! The circuit breaker in front of Gemini: after a run of failures the rules
//! answer until a cool-down has passed and one trial call succeeds.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::domain::model::BreakerStatus;

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
