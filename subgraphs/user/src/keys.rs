//! The signing key the token issuer uses: from config (`JWT_SIGNING_KEY`), or
//! generated once into the data directory so tokens survive restarts.

use std::path::Path;

use anyhow::Context as _;
use chrono::Duration;
use ed25519_dalek::{
    pkcs8::{DecodePrivateKey, EncodePrivateKey},
    SigningKey,
};

use crate::{config::UserConfig, domain::tokens::TokenIssuer};

/// The issuer the config describes: its key, issuer, audience and lifetimes.
pub fn token_issuer(config: &UserConfig) -> anyhow::Result<TokenIssuer> {
    let signing_key = match &config.jwt.signing_key_pem {
        Some(pem) => SigningKey::from_pkcs8_pem(pem.expose()).map_err(|e| {
            anyhow::anyhow!("jwt.signing_key_pem is not an Ed25519 PKCS#8 key: {e}")
        })?,
        None => load_or_create_key(&config.signing_key_file())?,
    };
    TokenIssuer::new(
        &signing_key,
        &config.jwt.issuer,
        &config.jwt.audience,
        Duration::seconds(config.jwt.access_ttl_secs),
        Duration::seconds(config.jwt.refresh_ttl_secs),
    )
}

fn load_or_create_key(path: &Path) -> anyhow::Result<SigningKey> {
    if path.exists() {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("reading signing key {}", path.display()))?;
        return SigningKey::from_pkcs8_pem(&pem)
            .map_err(|e| anyhow::anyhow!("{} is not an Ed25519 PKCS#8 key: {e}", path.display()));
    }
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = key
        .to_pkcs8_pem(Default::default())
        .map_err(|e| anyhow::anyhow!("encoding a new signing key: {e}"))?;
    fittrack_kit::files::write_private(path, pem.as_bytes())
        .with_context(|| format!("writing signing key {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a new JWT signing key");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_is_reused_across_restarts() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("key.pem");
        let first = load_or_create_key(&path)?;
        let second = load_or_create_key(&path)?;
        assert_eq!(first.to_bytes(), second.to_bytes());
        Ok(())
    }
}
