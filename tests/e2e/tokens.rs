//! Every bad-token case is refused, at the router and directly at every
//! subgraph; sessions end when they should (logout, refresh-token reuse) at
//! every subgraph within seconds.

use fittrack_testkit as support;

use std::time::Duration;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use support::{decode_unverified, gql, refused_within, Stack, LOGOUT, ME, REFRESH};

const MY_ACTIVITIES: &str = "{ myActivities(first: 1) { edges { node { id } } } }";
const MY_RECOMMENDATIONS: &str = "{ myRecommendations(first: 1) { edges { node { id } } } }";
const AUDIT_LOGS: &str = "{ auditLogs(first: 1) { edges { node { id } } } }";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Re-signs `claims` with the stack's real key, changing whatever the case needs.
fn sign(stack: &Stack, kid: &str, claims: &Value) -> String {
    let key = EncodingKey::from_ed_pem(stack.signing_key_pem().as_bytes()).expect("key");
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

fn with(claims: &Value, key: &str, value: Value) -> Value {
    let mut claims = claims.clone();
    claims[key] = value;
    claims
}

async fn bad_tokens(stack: &Stack) -> Vec<(&'static str, String)> {
    let (_, auth) = stack.register("tok").await;
    let valid = auth["accessToken"].as_str().expect("token").to_owned();
    let (header, claims) = decode_unverified(&valid);
    let kid = header["kid"].as_str().expect("kid").to_owned();
    let segments: Vec<&str> = valid.split('.').collect();

    // alg: none, no signature.
    let none_header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": kid}).to_string());
    let alg_none = format!("{none_header}.{}.", segments[1]);

    // HS256 keyed with the public key (the classic algorithm-confusion attack).
    let jwks: Value = reqwest::get(stack.user.replace("/graphql", "/.well-known/jwks.json"))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    let public_x = jwks["keys"][0]["x"].as_str().expect("x").to_owned();
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some(kid.clone());
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &claims,
        &EncodingKey::from_secret(public_x.as_bytes()),
    )
    .expect("hs256");

    // Payload changed after signing.
    let mut tampered_claims = claims.clone();
    tampered_claims["roles"] = json!(["ADMIN"]);
    let tampered = format!(
        "{}.{}.{}",
        segments[0],
        URL_SAFE_NO_PAD.encode(tampered_claims.to_string()),
        segments[2]
    );

    // A key nobody published.
    let stranger = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let stranger_pem = {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        stranger
            .to_pkcs8_pem(Default::default())
            .expect("pem")
            .to_string()
    };
    let mut unknown_header = Header::new(Algorithm::EdDSA);
    unknown_header.kid = Some("someone-else".into());
    let unknown_key = jsonwebtoken::encode(
        &unknown_header,
        &claims,
        &EncodingKey::from_ed_pem(stranger_pem.as_bytes()).expect("key"),
    )
    .expect("sign");
    let mut same_kid_header = unknown_header.clone();
    same_kid_header.kid = Some(kid.clone());
    let wrong_key_same_kid = jsonwebtoken::encode(
        &same_kid_header,
        &claims,
        &EncodingKey::from_ed_pem(stranger_pem.as_bytes()).expect("key"),
    )
    .expect("sign");

    vec![
        ("alg none", alg_none),
        ("HS256 with the public key", hs256),
        ("tampered payload", tampered),
        ("unknown kid", unknown_key),
        ("wrong key, real kid", wrong_key_same_kid),
        (
            "wrong issuer",
            sign(
                stack,
                &kid,
                &with(&claims, "iss", json!("https://evil.example")),
            ),
        ),
        (
            "wrong audience",
            sign(stack, &kid, &with(&claims, "aud", json!("someone-else"))),
        ),
        (
            "expired beyond leeway",
            sign(
                stack,
                &kid,
                &with(
                    &with(&claims, "exp", json!(now() - 120)),
                    "iat",
                    json!(now() - 1000),
                ),
            ),
        ),
        ("no exp", {
            let mut c = claims.clone();
            c.as_object_mut().expect("object").remove("exp");
            sign(stack, &kid, &c)
        }),
        (
            "not valid yet (nbf in 2 minutes)",
            sign(stack, &kid, &with(&claims, "nbf", json!(now() + 120))),
        ),
        (
            "issued in the future (iat in 2 minutes)",
            sign(
                stack,
                &kid,
                &with(
                    &with(&claims, "iat", json!(now() + 120)),
                    "exp",
                    json!(now() + 600),
                ),
            ),
        ),
        (
            "lifetime over the maximum (a day)",
            sign(
                stack,
                &kid,
                &with(
                    &with(&claims, "iat", json!(now())),
                    "exp",
                    json!(now() + 86_400),
                ),
            ),
        ),
        ("no session id", {
            let mut c = claims.clone();
            c.as_object_mut().expect("object").remove("sid");
            sign(stack, &kid, &c)
        }),
        ("no subject", {
            let mut c = claims.clone();
            c.as_object_mut().expect("object").remove("sub");
            sign(stack, &kid, &c)
        }),
        ("garbage", "not.a.jwt".to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_at_the_router_and_the_subgraph() {
    let stack = Stack::start().await;
    for (case, token) in bad_tokens(&stack).await {
        let at_router = gql(&stack.router, ME, json!({}), Some(&token)).await;
        assert_eq!(
            at_router.code(),
            Some("UNAUTHENTICATED"),
            "router accepted {case}: {:#}",
            at_router.body
        );
        assert!(at_router.body["data"]["me"].is_null(), "{case}");
        // Even a public field is refused when a bad token is presented.
        let public = gql(&stack.router, "{ __typename }", json!({}), Some(&token)).await;
        assert_eq!(
            public.code(),
            Some("UNAUTHENTICATED"),
            "router let {case} through: {:#}",
            public.body
        );

        for (name, subgraph) in [
            ("user", &stack.user),
            ("activity", &stack.activity),
            ("ai", &stack.ai),
            ("admin", &stack.admin),
        ] {
            let at_subgraph = gql(subgraph, "{ __typename }", json!({}), Some(&token)).await;
            assert_eq!(
                at_subgraph.code(),
                Some("UNAUTHENTICATED"),
                "{name} subgraph accepted {case}: {:#}",
                at_subgraph.body
            );
        }
    }
}

fn token_of(auth: &Value) -> String {
    auth["accessToken"].as_str().expect("token").to_owned()
}

fn refresh_of(auth: &Value) -> String {
    auth["refreshToken"]
        .as_str()
        .expect("refresh token")
        .to_owned()
}

/// Within a few seconds of the session ending, `token` is refused at every
/// subgraph (through the router), while `other` (another session) works.
async fn refused_everywhere(stack: &Stack, token: &str, other: &str) {
    let within = Duration::from_secs(5);
    for query in [ME, MY_ACTIVITIES, MY_RECOMMENDATIONS] {
        let took = refused_within(&stack.router, query, token, within).await;
        eprintln!("{query}: refused {took:?} after the session ended");
        gql(&stack.router, query, json!({}), Some(other))
            .await
            .assert_ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_and_its_access_tokens_everywhere() {
    let stack = Stack::start().await;
    let (email, laptop) = stack.register("logout").await;
    let phone = stack.login(&email, support::PASSWORD).await;
    let phone = phone.data("login").clone();
    let (laptop_token, phone_token) = (token_of(&laptop), token_of(&phone));
    // The two sign-ins are two sessions.
    let (_, laptop_claims) = decode_unverified(&laptop_token);
    let (_, phone_claims) = decode_unverified(&phone_token);
    assert_ne!(laptop_claims["sid"], phone_claims["sid"]);

    // An admin's session ends at the admin subgraph too.
    let (admin_auth, admin_token) = stack.register_admin("logout-admin").await;
    gql(&stack.router, AUDIT_LOGS, json!({}), Some(&admin_token))
        .await
        .assert_ok();

    gql(
        &stack.router,
        LOGOUT,
        json!({"token": refresh_of(&laptop)}),
        Some(&laptop_token),
    )
    .await
    .assert_ok();
    refused_everywhere(&stack, &laptop_token, &phone_token).await;
    // The refresh token is gone with it.
    gql(
        &stack.router,
        REFRESH,
        json!({"token": refresh_of(&laptop)}),
        None,
    )
    .await
    .assert_code("UNAUTHENTICATED");

    // Logging out with the refresh token alone ends the session too.
    gql(
        &stack.router,
        LOGOUT,
        json!({"token": refresh_of(&admin_auth)}),
        None,
    )
    .await
    .assert_ok();
    refused_within(
        &stack.router,
        AUDIT_LOGS,
        &admin_token,
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_token_reuse_ends_the_session_for_thief_and_owner() {
    let stack = Stack::start().await;
    let (email, first) = stack.register("reuse").await;
    let other = stack
        .login(&email, support::PASSWORD)
        .await
        .data("login")
        .clone();
    // The owner rotates; the thief then replays the old refresh token.
    let rotated = gql(
        &stack.router,
        REFRESH,
        json!({"token": refresh_of(&first)}),
        None,
    )
    .await;
    rotated.assert_ok();
    let rotated = rotated.data("refreshToken").clone();
    gql(&stack.router, ME, json!({}), Some(&token_of(&rotated)))
        .await
        .assert_ok();
    gql(
        &stack.router,
        REFRESH,
        json!({"token": refresh_of(&first)}),
        None,
    )
    .await
    .assert_code("UNAUTHENTICATED");
    // Every access token of that session dies, the rotated one included; the
    // account's other session is untouched.
    refused_everywhere(&stack, &token_of(&rotated), &token_of(&other)).await;
    refused_everywhere(&stack, &token_of(&first), &token_of(&other)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_token_within_leeway_is_accepted() {
    let stack = Stack::start().await;
    let (_, auth) = stack.register("leeway").await;
    let (header, claims) = decode_unverified(auth["accessToken"].as_str().expect("token"));
    let kid = header["kid"].as_str().expect("kid");
    // Re-signed with the real key: the control case for the forgeries above.
    let resigned = sign(&stack, kid, &claims);
    gql(&stack.router, ME, json!({}), Some(&resigned))
        .await
        .assert_ok();
    gql(&stack.user, ME, json!({}), Some(&resigned))
        .await
        .assert_ok();
    // Expired 10 s ago: inside the subgraph's 30 s leeway.
    let just_expired = sign(&stack, kid, &with(&claims, "exp", json!(now() - 10)));
    gql(&stack.user, ME, json!({}), Some(&just_expired))
        .await
        .assert_ok();
}

/// With revocations shared through Redis, the router reads them too: a token
/// of an ended session is refused at the edge (HTTP 401, no subgraph named
/// in the error), before any subgraph works on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_stops_at_the_router() {
    if std::env::var("REDIS_URL").map_or(true, |url| url.is_empty()) {
        eprintln!("redis: REDIS_URL not set; revocations live in the subgraphs' process; skipped");
        return;
    }
    let stack = Stack::start().await;
    let (_, laptop) = stack.register("edge-revocation").await;
    let token = token_of(&laptop);
    gql(&stack.router, ME, json!({}), Some(&token))
        .await
        .assert_ok();
    gql(
        &stack.router,
        LOGOUT,
        json!({"token": refresh_of(&laptop)}),
        Some(&token),
    )
    .await
    .assert_ok();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let refused = gql(&stack.router, ME, json!({}), Some(&token)).await;
        let error = &refused.body["errors"][0];
        if refused.status == 401 && error["extensions"]["service"].is_null() {
            assert_eq!(
                error["extensions"]["code"], "UNAUTHENTICATED",
                "{:#}",
                refused.body
            );
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not refused at the router within 5 s: {} {:#}",
            refused.status,
            refused.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
