//! Personal data stays out of counters and logs: a limiter key or a log line
//! that needs to tell one email (or one client address) from another carries
//! its [`Pseudonyms::of`], a keyed hash, never the value itself.
//!
//! HMAC-SHA256 under the deployment's secret, the first 16 bytes in hex: the
//! same value gives the same pseudonym on every replica sharing the secret,
//! and without the secret nobody holding a Redis dump or a log can test a
//! guess ("is ada@example.com in here?").

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Secret;

#[derive(Clone)]
pub struct Pseudonyms {
    /// Keyed once; each pseudonym starts from a copy.
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonyms(..)")
    }
}

impl Pseudonyms {
    pub fn new(secret: &Secret) -> Self {
        // HMAC takes a key of any length: this cannot fail.
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        Self { keyed }
    }

    /// The pseudonym of `value` (32 hex characters).
    pub fn of(&self, value: &str) -> String {
        use std::fmt::Write as _;
        let mut mac = self.keyed.clone();
        mac.update(value.as_bytes());
        mac.finalize().into_bytes()[..16]
            .iter()
            .fold(String::with_capacity(32), |mut out, b| {
                let _ = write!(out, "{b:02x}");
                out
            })
    }
}

/// Whether `a` and `b` are equal, compared without an early exit, so the
/// time taken says nothing about where they differ (secrets, signatures).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Secret {
    /// Whether `given` is this secret ([`constant_time_eq`]).
    pub fn matches(&self, given: &[u8]) -> bool {
        constant_time_eq(self.expose().as_bytes(), given)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_keyed_and_hide_the_value() {
        let one = Pseudonyms::new(&Secret::new("deployment-one"));
        let other = Pseudonyms::new(&Secret::new("deployment-two"));
        let ada = one.of("ada@example.com");
        assert_eq!(ada, one.of("ada@example.com"));
        assert_ne!(ada, one.of("bob@example.com"));
        assert_ne!(ada, other.of("ada@example.com"));
        assert_eq!(ada.len(), 32);
        assert!(!ada.contains("ada"));
    }
}
