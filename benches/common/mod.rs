//! What the bench binaries share.

use std::time::Duration;

/// The `q` quantile (0.0–1.0) of `samples` in milliseconds (nearest rank);
/// sorts `samples`.
pub fn percentile_ms(samples: &mut [Duration], q: f64) -> f64 {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[index].as_secs_f64() * 1000.0
}
