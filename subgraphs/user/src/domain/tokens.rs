//! Access tokens (EdDSA JWTs) and opaque refresh tokens.
//!
//! The issuer signs with an Ed25519 key it is given (the `keys` module loads
//! it from config or the data directory). Its public half is published as a
//! JWKS with a `kid` derived from the key itself.

use anyhow::Context as _;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::{pkcs8::EncodePrivateKey, SigningKey};
use fittrack_kit::auth::{AccessClaims, SIGNING_ALGORITHM};
use jsonwebtoken::{
    jwk::{
        AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
        OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
    },
    EncodingKey, Header,
};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::model::User;

pub struct TokenIssuer {
    encoding_key: EncodingKey,
    kid: String,
    jwks: JwkSet,
    issuer: String,
    audience: String,
    access_ttl: Duration,
    refresh_ttl: Duration,
}

/// A freshly signed access token.
pub struct AccessToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// A new refresh token: the opaque value goes to the client, only its hash is stored.
pub struct RefreshToken {
    pub token: String,
    pub hash: String,
    pub expires_at: DateTime<Utc>,
}

impl TokenIssuer {
    /// `record` signed with the token key, as a JWS of type `typ` (the admin
    /// subgraph verifies it against the same JWKS as access tokens).
    pub fn sign_record<T: serde::Serialize>(
        &self,
        record: &T,
        typ: &str,
    ) -> anyhow::Result<String> {
        let mut header = Header::new(SIGNING_ALGORITHM);
        header.kid = Some(self.kid.clone());
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, record, &self.encoding_key).context("signing a record")
    }

    pub fn new(
        signing_key: &SigningKey,
        issuer: &str,
        audience: &str,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> anyhow::Result<Self> {
        let der = signing_key
            .to_pkcs8_der()
            .map_err(|e| anyhow::anyhow!("encoding the signing key: {e}"))?;
        let public = signing_key.verifying_key().to_bytes();
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(public))[..16].to_owned();
        let jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                key_id: Some(kid.clone()),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(public),
            }),
        };
        Ok(Self {
            encoding_key: EncodingKey::from_ed_der(der.as_bytes()),
            kid,
            jwks: JwkSet { keys: vec![jwk] },
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_ttl,
            refresh_ttl,
        })
    }

    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// How long access tokens live (what verifiers accept as the maximum).
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// An access token of `user` in the sign-in session `session_id`.
    pub fn issue_access(
        &self,
        user: &User,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> anyhow::Result<AccessToken> {
        let expires_at = now + self.access_ttl;
        let claims = AccessClaims {
            sub: user.id.to_string(),
            email: user.email.clone(),
            roles: vec![user.role],
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now.timestamp(),
            nbf: Some(now.timestamp()),
            exp: expires_at.timestamp(),
            jti: Uuid::new_v4().to_string(),
            sid: session_id.to_string(),
            iat_ms: Some(now.timestamp_millis()),
        };
        let mut header = Header::new(SIGNING_ALGORITHM);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding_key)
            .context("signing an access token")?;
        Ok(AccessToken { token, expires_at })
    }

    pub fn new_refresh(&self, now: DateTime<Utc>) -> RefreshToken {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        RefreshToken {
            hash: hash_token(&token),
            token,
            expires_at: now + self.refresh_ttl,
        }
    }
}

/// The stored form of an opaque token (refresh tokens, password-reset links):
/// they are 256 random bits, so a plain SHA-256 is a safe lookup key.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let issuer = TokenIssuer::new(&key, "i", "a", Duration::minutes(15), Duration::days(7))
            .expect("issuer");
        let now = Utc::now();
        let a = issuer.new_refresh(now);
        let b = issuer.new_refresh(now);
        assert_ne!(a.token, b.token);
        assert_eq!(a.hash, hash_token(&a.token));
        assert_ne!(a.hash, a.token);
        assert_eq!(a.expires_at, now + Duration::days(7));
    }
}
