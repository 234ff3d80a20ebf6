//! The verifier's rules that need no running service: revocations that
//! cannot be read are answered from a recent local copy or fail closed, a
//! revoked session is refused while the account's other sessions work, and
//! the time claims are checked.

use std::sync::Arc;

use async_trait::async_trait;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::{DateTime, Utc};
use ed25519_dalek::{pkcs8::EncodePrivateKey, SigningKey};
use fittrack_kit::{
    auth::{AccessClaims, TokenError},
    revocation::{MemoryRevocations, RevocationState, Revocations},
    ApiError, ErrorCode, JwtVerifier, Role,
};
use jsonwebtoken::{
    jwk::{
        AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, OctetKeyPairParameters,
        OctetKeyPairType,
    },
    EncodingKey, Header,
};
use uuid::Uuid;

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "api.test";

struct Keys {
    encoding: EncodingKey,
    jwks: JwkSet,
}

fn keys() -> Keys {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let der = key.to_pkcs8_der().expect("der");
    let jwk = Jwk {
        common: CommonParameters {
            key_id: Some("k1".into()),
            ..Default::default()
        },
        algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
            key_type: OctetKeyPairType::OctetKeyPair,
            curve: EllipticCurve::Ed25519,
            x: URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
        }),
    };
    Keys {
        encoding: EncodingKey::from_ed_der(der.as_bytes()),
        jwks: JwkSet { keys: vec![jwk] },
    }
}

fn token(keys: &Keys, user: Uuid, session: Uuid, roles: Vec<Role>) -> String {
    token_expiring(keys, user, session, roles, Utc::now().timestamp() + 600)
}

fn token_expiring(keys: &Keys, user: Uuid, session: Uuid, roles: Vec<Role>, exp: i64) -> String {
    let now = Utc::now().timestamp();
    let claims = AccessClaims {
        sub: user.to_string(),
        email: "ada@example.com".into(),
        roles,
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: now,
        nbf: Some(now),
        exp,
        jti: Uuid::new_v4().to_string(),
        sid: session.to_string(),
        iat_ms: Some(Utc::now().timestamp_millis()),
    };
    let mut header = Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some("k1".into());
    jsonwebtoken::encode(&header, &claims, &keys.encoding).expect("sign")
}

/// Revocations that cannot be read or written (Redis down).
struct Unreachable;

#[async_trait]
impl Revocations for Unreachable {
    async fn revoke_user(&self, _: Uuid, _: DateTime<Utc>) -> anyhow::Result<()> {
        anyhow::bail!("connection refused")
    }
    async fn revoke_session(&self, _: Uuid) -> anyhow::Result<()> {
        anyhow::bail!("connection refused")
    }
    async fn state(&self, _: Uuid, _: Uuid) -> anyhow::Result<RevocationState> {
        anyhow::bail!("connection refused")
    }
}

#[tokio::test]
async fn without_revocations_every_token_is_refused() {
    let keys = keys();
    let verifier = JwtVerifier::fixed(&keys.jwks, ISSUER, AUDIENCE).expect("verifier");
    verifier.use_revocations(Arc::new(Unreachable));
    for roles in [vec![Role::User], vec![Role::User, Role::Admin]] {
        let token = token(&keys, Uuid::new_v4(), Uuid::new_v4(), roles);
        let refused = verifier.verify(&token).await.expect_err("fail closed");
        assert!(matches!(refused, TokenError::RevocationsUnavailable(_)));
        let error = ApiError::from(refused);
        assert_eq!(
            error.code(),
            ErrorCode::ServiceUnavailable,
            "retry, not sign in again"
        );
    }
}

/// Readable until `down` is set, then unreachable.
struct GoesDown {
    inner: Arc<MemoryRevocations>,
    down: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Revocations for GoesDown {
    async fn revoke_user(&self, user: Uuid, at: DateTime<Utc>) -> anyhow::Result<()> {
        self.inner.revoke_user(user, at).await
    }
    async fn revoke_session(&self, session: Uuid) -> anyhow::Result<()> {
        self.inner.revoke_session(session).await
    }
    async fn state(&self, user: Uuid, session: Uuid) -> anyhow::Result<RevocationState> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            anyhow::bail!("connection refused");
        }
        self.inner.state(user, session).await
    }
}

#[tokio::test]
async fn while_revocations_are_unreadable_a_recent_local_copy_answers() {
    let keys = keys();
    let verifier = JwtVerifier::fixed(&keys.jwks, ISSUER, AUDIENCE).expect("verifier");
    let store = Arc::new(GoesDown {
        inner: Arc::new(MemoryRevocations::default()),
        down: false.into(),
    });
    // No caching of fresh answers (ttl 0): only the outage copy is tested.
    let cached =
        fittrack_kit::revocation::CachedRevocations::new(store.clone(), std::time::Duration::ZERO)
            .with_local_copy_for(std::time::Duration::from_secs(60));
    verifier.use_revocations(Arc::new(cached));

    let (user, live, ended) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let live_token = token(&keys, user, live, vec![Role::User]);
    let ended_token = token(&keys, user, ended, vec![Role::User]);
    verifier
        .verify(&live_token)
        .await
        .expect("seen while readable");
    store.revoke_session(ended).await.expect("revoke");
    verifier.verify(&ended_token).await.expect_err("revoked");

    store.down.store(true, std::sync::atomic::Ordering::SeqCst);
    verifier
        .verify(&live_token)
        .await
        .expect("answered from the local copy");
    assert!(matches!(
        verifier.verify(&ended_token).await,
        Err(TokenError::Revoked)
    ));
    let unseen = token(&keys, user, Uuid::new_v4(), vec![Role::User]);
    assert!(matches!(
        verifier.verify(&unseen).await,
        Err(TokenError::RevocationsUnavailable(_))
    ));
}

#[tokio::test]
async fn a_revoked_session_is_refused_and_the_other_sessions_work() {
    let keys = keys();
    let verifier = JwtVerifier::fixed(&keys.jwks, ISSUER, AUDIENCE).expect("verifier");
    let revocations = Arc::new(MemoryRevocations::default());
    verifier.use_revocations(revocations.clone());
    let (ada, laptop, phone) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let on_laptop = token(&keys, ada, laptop, vec![Role::User]);
    let on_phone = token(&keys, ada, phone, vec![Role::User]);
    let user = verifier.verify(&on_laptop).await.expect("valid");
    assert_eq!(user.session_id, laptop);

    revocations.revoke_session(laptop).await.expect("revoked");
    assert!(matches!(
        verifier.verify(&on_laptop).await,
        Err(TokenError::Revoked)
    ));
    assert_eq!(
        verifier.still_valid(&user).await,
        Err(fittrack_kit::auth::SessionEnded::Revoked)
    );
    verifier
        .verify(&on_phone)
        .await
        .expect("the other session works");
}

/// A verified token is remembered (its signature is not checked again), but
/// its expiry and revocations are, on every use.
#[tokio::test]
async fn a_remembered_token_still_expires() {
    use fittrack_kit::auth::LEEWAY_SECS;
    let keys = keys();
    let verifier = JwtVerifier::fixed(&keys.jwks, ISSUER, AUDIENCE).expect("verifier");
    verifier.use_revocations(Arc::new(MemoryRevocations::default()));
    // Past its expiry and the leeway two seconds from now.
    let exp = Utc::now().timestamp() - LEEWAY_SECS as i64 + 2;
    let short = token_expiring(&keys, Uuid::new_v4(), Uuid::new_v4(), vec![Role::User], exp);
    verifier.verify(&short).await.expect("valid now");
    verifier
        .verify(&short)
        .await
        .expect("valid again, remembered");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(
        matches!(verifier.verify(&short).await, Err(TokenError::BadClaims(why)) if why == "expired"),
        "an expired token is refused even though it was verified before"
    );
}

#[test]
fn time_claims_are_checked_with_the_leeway() {
    use fittrack_kit::auth::{check_times, TokenTimes, LEEWAY_SECS};
    let now = 1_800_000_000;
    let leeway = LEEWAY_SECS as i64;
    let ok = TokenTimes {
        iat: now,
        nbf: Some(now),
        exp: now + 900,
    };
    check_times(ok, now, 900).expect("valid");
    for (case, times) in [
        (
            "expired",
            TokenTimes {
                exp: now - leeway - 1,
                ..ok
            },
        ),
        (
            "nbf ahead",
            TokenTimes {
                nbf: Some(now + leeway + 1),
                ..ok
            },
        ),
        (
            "iat ahead",
            TokenTimes {
                iat: now + leeway + 1,
                exp: now + 900,
                ..ok
            },
        ),
        (
            "too long",
            TokenTimes {
                exp: now + 901,
                ..ok
            },
        ),
    ] {
        assert!(check_times(times, now, 900).is_err(), "{case} accepted");
    }
    // Within the leeway: a clock slightly ahead or behind.
    check_times(
        TokenTimes {
            iat: now + leeway,
            nbf: Some(now + leeway),
            exp: now + leeway + 900,
        },
        now,
        900,
    )
    .expect("skew tolerated");
}
