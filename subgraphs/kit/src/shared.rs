//! Where the state that processes share lives: job queues, revocations,
//! erasure marks, dashboard caches, rate-limit counters, breaker reports and
//! the recommendation bus. Redis when `REDIS_URL` is set, else this process
//! (`fittrack dev` runs every subgraph in one).
//!
//! Every key, stream and channel is under one namespace (`fittrack` unless
//! `FITTRACK_NAMESPACE` says otherwise), so two deployments, or two test
//! stacks running at once, can share one Redis without seeing each other's
//! state.

use crate::config::Secret;

/// The namespace when none is configured (the keys FitTrack always used).
pub const DEFAULT_NAMESPACE: &str = "fittrack";

#[derive(Debug, Clone)]
pub struct SharedState {
    redis_url: Option<Secret>,
    namespace: String,
}

impl SharedState {
    /// An empty `namespace` means [`DEFAULT_NAMESPACE`].
    pub fn new(redis_url: Option<Secret>, namespace: &str) -> Self {
        let namespace = match namespace.trim() {
            "" => DEFAULT_NAMESPACE,
            given => given,
        };
        Self {
            redis_url,
            namespace: namespace.to_owned(),
        }
    }

    /// This process only, default namespace.
    pub fn in_process() -> Self {
        Self::new(None, DEFAULT_NAMESPACE)
    }

    pub fn redis_url(&self) -> Option<&str> {
        self.redis_url.as_ref().map(Secret::expose)
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// `<namespace>:<name>`: the name of a key, stream or channel.
    pub fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_live_under_the_namespace_and_the_default_keeps_the_historic_names() {
        assert_eq!(
            SharedState::in_process().key("queue:activity-events"),
            "fittrack:queue:activity-events"
        );
        assert_eq!(
            SharedState::new(None, "  ").key("cache:x"),
            "fittrack:cache:x"
        );
        let test = SharedState::new(Some(Secret::new("redis://127.0.0.1")), "t-1");
        assert_eq!(test.key("erased:u"), "t-1:erased:u");
        assert_eq!(test.redis_url(), Some("redis://127.0.0.1"));
    }
}
