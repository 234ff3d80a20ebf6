//! Argon2id password hashing (m = 19 MiB, t = 2, p = 1, the OWASP baseline), run on
//! the blocking pool so sign-ins never stall the async workers.

use std::sync::OnceLock;

use anyhow::Context as _;
use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};

fn hasher() -> anyhow::Result<Argon2<'static>> {
    let params =
        Params::new(19_456, 2, 1, None).map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()?
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await
    .context("password hashing task")?
}

/// True when `password` matches `stored`. A malformed stored hash is an error.
pub async fn verify(password: String, stored: String) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        Ok(hasher()?
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .context("password verification task")?
}

/// Verifies against a throw-away hash so an unknown email costs as much as a wrong
/// password (no user enumeration by timing).
pub async fn verify_dummy(password: String) -> anyhow::Result<()> {
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
        let stored = hash("correct horse".into()).await?;
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify("correct horse".into(), stored.clone()).await?);
        assert!(!verify("wrong horse".into(), stored).await?);
        Ok(())
    }
}
