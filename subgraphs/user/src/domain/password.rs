//! Argon2id password hashing (m = 19 MiB, t = 2, p = 1, the OWASP baseline), run on
//! the blocking pool so sign-ins never stall the async workers.
//!
//! At most one hash per core runs at a time ([`HashingSlots`]): more would only
//! share the same cores, make every sign-in slower and take 19 MiB each. A
//! sign-in that cannot get a slot within [`SLOT_WAIT`] is refused with
//! `SERVICE_UNAVAILABLE` and a retry hint instead of queueing without bound, so
//! a storm of sign-ins never starves the rest of the service. The slot travels
//! with the work onto the blocking pool, so a caller that gives up does not
//! free it while the hash still runs.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use anyhow::Context as _;
use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use tokio::sync::Semaphore;

use super::error::UserError;

/// How long a sign-in waits for a hashing slot before it is refused.
pub const SLOT_WAIT: Duration = Duration::from_secs(2);

/// Bounded argon2 work: `count` at once, waiting at most `wait` for a turn.
#[derive(Clone)]
pub struct HashingSlots {
    slots: Arc<Semaphore>,
    wait: Duration,
}

impl HashingSlots {
    pub fn new(count: usize, wait: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(count.max(1))),
            wait,
        }
    }

    /// The process's slots: one per core.
    pub fn shared() -> &'static HashingSlots {
        static SHARED: OnceLock<HashingSlots> = OnceLock::new();
        SHARED.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, usize::from);
            HashingSlots::new(cores, SLOT_WAIT)
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        what: &'static str,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, UserError> {
        let permit = match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await
        {
            Ok(Ok(permit)) => permit,
            Ok(Err(closed)) => return Err(UserError::Internal(closed.into())),
            Err(_) => {
                tracing::warn!("every password-hashing slot busy; sign-in refused");
                return Err(UserError::Busy(self.wait.as_secs().max(1)));
            }
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .context(what)?
        .map_err(UserError::Internal)
    }

    pub async fn hash(&self, password: String) -> Result<String, UserError> {
        self.run("password hashing task", move || {
            let salt = SaltString::generate(&mut OsRng);
            hasher()?
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
        })
        .await
    }

    pub async fn verify(&self, password: String, stored: String) -> Result<bool, UserError> {
        self.run("password verification task", move || {
            let parsed =
                PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
            Ok(hasher()?
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await
    }
}

fn hasher() -> anyhow::Result<Argon2<'static>> {
    let params =
        Params::new(19_456, 2, 1, None).map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

pub async fn hash(password: String) -> Result<String, UserError> {
    HashingSlots::shared().hash(password).await
}

/// True when `password` matches `stored`. A malformed stored hash is an error.
pub async fn verify(password: String, stored: String) -> Result<bool, UserError> {
    HashingSlots::shared().verify(password, stored).await
}

/// Verifies against a throw-away hash so an unknown email costs as much as a wrong
/// password (no user enumeration by timing).
pub async fn verify_dummy(password: String) -> Result<(), UserError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored = match DUMMY.get() {
        Some(stored) => stored.clone(),
        None => {
            let made = hash("fittrack-timing-equaliser".into()).await?;
            DUMMY.get_or_init(|| made).clone()
        }
    };
    verify(password, stored).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_argon2id_params() -> anyhow::Result<()> {
        let stored = hash("correct horse".into())
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        let verify = |password: &'static str, stored: String| async move {
            verify(password.into(), stored)
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))
        };
        assert!(verify("correct horse", stored.clone()).await?);
        assert!(!verify("wrong horse", stored).await?);
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_storm_of_hashes_is_refused_once_the_slots_stay_busy() {
        // Far more hashes than two slots can do within SLOT_WAIT: some must be
        // refused with a retry hint, none may fail otherwise. (Slots of its
        // own: the process's are shared with the other tests.)
        let slots = HashingSlots::new(2, SLOT_WAIT);
        let tasks: Vec<_> = (0..400)
            .map(|_| {
                let slots = slots.clone();
                tokio::spawn(async move { slots.hash("correct horse".into()).await })
            })
            .collect();
        let (mut hashed, mut busy) = (0, 0);
        for task in tasks {
            match task.await.expect("task") {
                Ok(_) => hashed += 1,
                Err(UserError::Busy(secs)) => {
                    assert!(secs >= 1);
                    busy += 1;
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert!(hashed > 0 && busy > 0, "hashed {hashed}, refused {busy}");
    }
}
