//! The token bucket that keeps this process under Gemini's calls-per-minute quota.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

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
