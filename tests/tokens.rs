//! Every bad-token case is refused, at the router and directly at the subgraph.

mod support;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use support::{decode_unverified, gql, Stack, ME};

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

        let at_subgraph = gql(&stack.user, ME, json!({}), Some(&token)).await;
        assert_eq!(
            at_subgraph.code(),
            Some("UNAUTHENTICATED"),
            "subgraph accepted {case}: {:#}",
            at_subgraph.body
        );
    }
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
