//! Account flows through the real router: register, login, me, profile, refresh
//! rotation, reuse detection, logout, validation (sign-in limits: tests/abuse.rs).

mod support;

use serde_json::json;
use support::{decode_unverified, gql, unique_email, Stack, ME, PASSWORD, REFRESH, REGISTER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_then_login_then_me() {
    let stack = Stack::start().await;
    let email = unique_email("Ada");
    let registered = gql(
        &stack.router,
        REGISTER,
        json!({"input": {"email": format!("  {}  ", email.to_uppercase()), "password": PASSWORD, "firstName": "Ada"}}),
        None,
    )
    .await;
    registered.assert_ok();
    let payload = registered.data("register");
    assert_eq!(
        payload["user"]["email"],
        email.to_lowercase(),
        "email is trimmed and lower-cased"
    );
    assert_eq!(payload["user"]["role"], "USER");

    let login = stack.login(&email, PASSWORD).await;
    login.assert_ok();
    let token = login.data("login")["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();

    let (header, claims) = decode_unverified(&token);
    assert_eq!(header["alg"], "EdDSA");
    assert!(header["kid"].is_string());
    assert_eq!(claims["sub"], payload["user"]["id"]);
    assert_eq!(claims["email"], email.to_lowercase());
    assert_eq!(claims["roles"], json!(["USER"]));
    assert_eq!(claims["iss"], "https://fittrack.local/user");
    assert_eq!(claims["aud"], "fittrack-api");
    assert_eq!(
        claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0),
        900
    );
    assert!(claims["jti"].is_string());

    let me = gql(&stack.router, ME, json!({}), Some(&token)).await;
    me.assert_ok();
    assert_eq!(me.data("me")["email"], email.to_lowercase());
    assert_eq!(me.data("me")["firstName"], "Ada");
    assert_eq!(me.data("me")["accountStatus"], "ACTIVE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_requires_a_token() {
    let stack = Stack::start().await;
    gql(&stack.router, ME, json!({}), None)
        .await
        .assert_code("UNAUTHENTICATED");
    // Public fields still work without a token.
    gql(&stack.router, "{ __typename }", json!({}), None)
        .await
        .assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_update_with_validation_and_conflicts() {
    let stack = Stack::start().await;
    let (_, ada) = stack.register("ada").await;
    let (_, bob) = stack.register("bob").await;
    let ada_token = ada["accessToken"].as_str().expect("token");
    let bob_token = bob["accessToken"].as_str().expect("token");
    let update = "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { username firstName lastName gender fitnessGoal } }";
    let handle = format!("Ada_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);

    let updated = gql(
        &stack.router,
        update,
        json!({"input": {"firstName": " Ada ", "lastName": "Lovelace", "username": handle, "gender": "FEMALE", "fitnessGoal": "BUILD_MUSCLE"}}),
        Some(ada_token),
    )
    .await;
    updated.assert_ok();
    let profile = updated.data("updateProfile");
    assert_eq!(profile["firstName"], "Ada");
    assert_eq!(profile["username"], handle.to_lowercase());
    assert_eq!(profile["fitnessGoal"], "BUILD_MUSCLE");

    // Invalid input names the field and changes nothing.
    let invalid = gql(
        &stack.router,
        update,
        json!({"input": {"lastName": "Byron", "username": "x"}}),
        Some(ada_token),
    )
    .await;
    invalid.assert_code("BAD_USER_INPUT");
    assert_eq!(invalid.field(), Some("username"));
    let me = gql(&stack.router, ME, json!({}), Some(ada_token)).await;
    assert_eq!(
        me.data("me")["lastName"],
        "Lovelace",
        "nothing stored from a refused update"
    );

    // Someone else's username, in any case, is a conflict.
    let taken = gql(
        &stack.router,
        update,
        json!({"input": {"username": handle.to_uppercase()}}),
        Some(bob_token),
    )
    .await;
    taken.assert_code("CONFLICT");

    // Unknown enum values are refused by the schema.
    let bad_enum = gql(
        &stack.router,
        update,
        json!({"input": {"gender": "DRAGON"}}),
        Some(ada_token),
    )
    .await;
    assert!(!bad_enum.errors().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let stack = Stack::start().await;
    let (email, _) = stack.register("rot").await;
    let login = stack.login(&email, PASSWORD).await;
    let first = login.data("login")["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_owned();

    let rotated = gql(&stack.router, REFRESH, json!({"token": first}), None).await;
    rotated.assert_ok();
    let second = rotated.data("refreshToken")["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_ne!(first, second, "refresh tokens rotate");
    let access = rotated.data("refreshToken")["accessToken"]
        .as_str()
        .expect("access");
    gql(&stack.router, ME, json!({}), Some(access))
        .await
        .assert_ok();

    // Replaying the used token is refused and kills the whole family…
    gql(&stack.router, REFRESH, json!({"token": first}), None)
        .await
        .assert_code("UNAUTHENTICATED");
    // …so the legitimate newest token dies too.
    gql(&stack.router, REFRESH, json!({"token": second}), None)
        .await
        .assert_code("UNAUTHENTICATED");

    // Another session is unaffected, and logout ends it.
    let other = stack.login(&email, PASSWORD).await;
    let other_refresh = other.data("login")["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let logout = gql(
        &stack.router,
        "mutation($t: String!) { logout(refreshToken: $t) }",
        json!({"t": other_refresh}),
        None,
    )
    .await;
    logout.assert_ok();
    assert_eq!(logout.data("logout"), true);
    gql(
        &stack.router,
        REFRESH,
        json!({"token": other_refresh}),
        None,
    )
    .await
    .assert_code("UNAUTHENTICATED");
    gql(
        &stack.router,
        REFRESH,
        json!({"token": "not-a-token"}),
        None,
    )
    .await
    .assert_code("UNAUTHENTICATED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_email_and_wrong_password_look_the_same() {
    let stack = Stack::start().await;
    let (email, _) = stack.register("same").await;
    let wrong = stack.login(&email, "not the password").await;
    let unknown = stack
        .login(&unique_email("ghost"), "not the password")
        .await;
    assert_eq!(wrong.errors()[0]["message"], unknown.errors()[0]["message"]);
    assert_eq!(wrong.code(), unknown.code());
    assert_eq!(wrong.code(), Some("UNAUTHENTICATED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_registration_input_names_the_field_and_stores_nothing() {
    let stack = Stack::start().await;
    let email = unique_email("valid");
    let cases = [
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (json!({"email": email, "password": "short"}), "password"),
        (
            json!({"email": email, "password": "x".repeat(129)}),
            "password",
        ),
        (
            json!({"email": email, "password": PASSWORD, "username": "a b"}),
            "username",
        ),
        (
            json!({"email": email, "password": PASSWORD, "firstName": "   "}),
            "firstName",
        ),
    ];
    for (input, field) in cases {
        let refused = gql(&stack.router, REGISTER, json!({"input": input}), None).await;
        refused.assert_code("BAD_USER_INPUT");
        assert_eq!(refused.field(), Some(field), "{:#}", refused.body);
        assert!(refused.body["data"].is_null() || refused.data("register").is_null());
    }
    // None of the refused attempts stored the account: the email is still free.
    gql(
        &stack.router,
        REGISTER,
        json!({"input": {"email": email, "password": PASSWORD}}),
        None,
    )
    .await
    .assert_ok();
    // And now it is taken, whatever its case.
    let duplicate = gql(
        &stack.router,
        REGISTER,
        json!({"input": {"email": email.to_uppercase(), "password": PASSWORD}}),
        None,
    )
    .await;
    duplicate.assert_code("CONFLICT");
    assert_eq!(duplicate.field(), Some("email"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_see_themselves_admins_see_anyone_others_nothing() {
    let stack = Stack::start().await;
    let (_, ada) = stack.register("ada").await;
    let (_, bob) = stack.register("bob").await;
    let by_id = "query($id: ID!) { user(id: $id) { id email } }";
    let ada_token = ada["accessToken"].as_str().expect("token");
    let own = gql(
        &stack.router,
        by_id,
        json!({"id": ada["user"]["id"]}),
        Some(ada_token),
    )
    .await;
    own.assert_ok();
    // Someone else's id looks exactly like a missing one.
    let other = gql(
        &stack.router,
        by_id,
        json!({"id": bob["user"]["id"]}),
        Some(ada_token),
    )
    .await;
    other.assert_code("NOT_FOUND");
    let missing = gql(
        &stack.router,
        by_id,
        json!({"id": uuid::Uuid::new_v4()}),
        Some(ada_token),
    )
    .await;
    missing.assert_code("NOT_FOUND");
    assert_eq!(other.errors()[0]["message"], missing.errors()[0]["message"]);
    let malformed = gql(&stack.router, by_id, json!({"id": "nope"}), Some(ada_token)).await;
    malformed.assert_code("BAD_USER_INPUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entity_references_resolve_in_batches_and_hide_private_fields() {
    let stack = Stack::start().await;
    let (_, ada) = stack.register("ada").await;
    let (_, bob) = stack.register("bob").await;
    let entities =
        "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { id role } } }";
    let reps = json!([
        {"__typename": "User", "id": ada["user"]["id"]},
        {"__typename": "User", "id": bob["user"]["id"]},
        {"__typename": "User", "id": uuid::Uuid::new_v4()},
    ]);
    let resolved = gql(&stack.user, entities, json!({"reps": reps}), None).await;
    resolved.assert_ok();
    let list = resolved.data("_entities").as_array().expect("list");
    assert_eq!(list[0]["id"], ada["user"]["id"]);
    assert_eq!(list[1]["id"], bob["user"]["id"]);
    assert!(list[2].is_null(), "unknown ids resolve to null");

    // Private fields of someone else's reference are refused.
    let private =
        "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { email } } }";
    let ada_token = ada["accessToken"].as_str().expect("token");
    let refused = gql(
        &stack.user,
        private,
        json!({"reps": [{"__typename": "User", "id": bob["user"]["id"]}]}),
        Some(ada_token),
    )
    .await;
    refused.assert_code("FORBIDDEN");
    let own = gql(
        &stack.user,
        private,
        json!({"reps": [{"__typename": "User", "id": ada["user"]["id"]}]}),
        Some(ada_token),
    )
    .await;
    own.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_over_graphql_transport_ws_through_the_router() {
    let stack = Stack::start().await;
    let (email, auth) = stack.register("ws").await;
    let token = auth["accessToken"].as_str().expect("token");
    let payloads = support::ws_operation(
        &stack.router_ws(),
        json!({"Authorization": format!("Bearer {token}")}),
        "{ me { email } }",
        json!({}),
    )
    .await
    .expect("operation over WebSocket");
    assert_eq!(payloads.len(), 1);
    assert_eq!(payloads[0]["data"]["me"]["email"], email);
}
