//! Account flows through the real router: register, login, me, profile, refresh
//! rotation, reuse detection, logout, validation, changing and resetting a
//! password by mail (outbox and a real SMTP server); sign-in limits:
//! tests/abuse.rs.

use fittrack_testkit as support;

use std::{path::Path, time::Duration};

use serde_json::{json, Value};
use support::{
    decode_unverified, gql, refused_within, unique_email, Stack, CHANGE_PASSWORD, ME, PASSWORD,
    REFRESH, REGISTER, REQUEST_RESET, RESET_PASSWORD,
};

const NEW_PASSWORD: &str = "velvet otter marmalade";

fn token_of(auth: &Value) -> String {
    auth["accessToken"].as_str().expect("token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_password_ends_every_other_session() {
    let stack = Stack::start().await;
    let (email, laptop) = stack.register("change").await;
    let phone = stack.login(&email, PASSWORD).await.data("login").clone();
    let laptop_token = token_of(&laptop);
    let change = |current: &str, new: &str| json!({"current": current, "new": new});

    let wrong = gql(
        &stack.router,
        CHANGE_PASSWORD,
        change("not my password", NEW_PASSWORD),
        Some(&laptop_token),
    )
    .await;
    wrong.assert_code("BAD_USER_INPUT");
    assert_eq!(wrong.field(), Some("currentPassword"));
    let weak = gql(
        &stack.router,
        CHANGE_PASSWORD,
        change(PASSWORD, "password2024!"),
        Some(&laptop_token),
    )
    .await;
    weak.assert_code("BAD_USER_INPUT");
    assert_eq!(weak.field(), Some("newPassword"));
    gql(
        &stack.router,
        CHANGE_PASSWORD,
        change(PASSWORD, NEW_PASSWORD),
        None,
    )
    .await
    .assert_code("UNAUTHENTICATED");
    // Nothing changed so far: the phone still works.
    gql(&stack.router, ME, json!({}), Some(&token_of(&phone)))
        .await
        .assert_ok();

    let changed = gql(
        &stack.router,
        CHANGE_PASSWORD,
        change(PASSWORD, NEW_PASSWORD),
        Some(&laptop_token),
    )
    .await;
    changed.assert_ok();
    let renewed = changed.data("changePassword").clone();
    // The phone's session is over: its access token within seconds, its
    // refresh token at once; the laptop's old token too, its new one works.
    refused_within(&stack.router, ME, &token_of(&phone), Duration::from_secs(5)).await;
    refused_within(&stack.router, ME, &laptop_token, Duration::from_secs(5)).await;
    gql(
        &stack.router,
        REFRESH,
        json!({"token": phone["refreshToken"]}),
        None,
    )
    .await
    .assert_code("UNAUTHENTICATED");
    gql(&stack.router, ME, json!({}), Some(&token_of(&renewed)))
        .await
        .assert_ok();
    // The same session goes on (same sid), with a working refresh token.
    assert_eq!(
        decode_unverified(&token_of(&renewed)).1["sid"],
        decode_unverified(&laptop_token).1["sid"]
    );
    gql(
        &stack.router,
        REFRESH,
        json!({"token": renewed["refreshToken"]}),
        None,
    )
    .await
    .assert_ok();
    stack
        .login(&email, PASSWORD)
        .await
        .assert_code("UNAUTHENTICATED");
    stack.login(&email, NEW_PASSWORD).await.assert_ok();
}

/// The reset link in a mail: `…#reset-password=<token>`.
fn reset_token_in(mail: &str) -> String {
    let decoded = reset_token_decoded(mail);
    let start = decoded.find("#reset-password=").expect("a reset link") + "#reset-password=".len();
    decoded[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The body is quoted-printable (the link line is long): soft line breaks
/// ("=" at the end of a line) go, and "=3D" is "=" (tokens hold no other "=").
fn reset_token_decoded(mail: &str) -> String {
    mail.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

async fn mails_in(dir: &Path, count: usize) -> Vec<String> {
    for _ in 0..100 {
        let mut mails: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok())
                    .filter(|entry| entry.path().is_file())
                    .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        if mails.len() >= count {
            mails.sort();
            return mails;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {count} mails in {} after 10 s", dir.display());
}

/// The whole reset flow with the mail read from `mailbox` (a folder of
/// messages, one file each).
async fn reset_by_mail(stack: &Stack, mailbox: &Path) {
    let (email, laptop) = stack.register("forgot").await;
    let phone = stack.login(&email, PASSWORD).await.data("login").clone();

    // The same answer for a stranger's email; only the real account gets mail.
    let ghost = gql(
        &stack.router,
        REQUEST_RESET,
        json!({"email": unique_email("ghost")}),
        None,
    )
    .await;
    let real = gql(&stack.router, REQUEST_RESET, json!({"email": email}), None).await;
    assert_eq!(ghost.body, real.body);
    assert_eq!(real.data("requestPasswordReset"), true);
    let mails = mails_in(mailbox, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        mails_in(mailbox, 1).await.len(),
        1,
        "no mail for the unknown email"
    );
    let mail = &mails[0];
    assert!(mail.contains(&format!("To: {email}")), "{mail}");
    assert!(
        mail.contains("Subject: Reset your FitTrack password"),
        "{mail}"
    );
    assert!(mail.contains("30 minutes"), "{mail}");
    let token = reset_token_in(mail);
    assert_eq!(token.len(), 43, "256 random bits: {token}");
    let link = format!("http://127.0.0.1:4080/#reset-password={token}");
    let decoded = reset_token_decoded(mail).replace("\r\n", "\n");
    assert!(
        decoded.contains(&format!("{link}\n")),
        "the link, whole: {mail}"
    );

    // The new password follows the policy; a refused attempt leaves the link usable.
    gql(
        &stack.router,
        RESET_PASSWORD,
        json!({"token": token, "new": "password1234"}),
        None,
    )
    .await
    .assert_code("BAD_USER_INPUT");
    gql(
        &stack.router,
        RESET_PASSWORD,
        json!({"token": token, "new": NEW_PASSWORD}),
        None,
    )
    .await
    .assert_ok();
    // Single use.
    let again = gql(
        &stack.router,
        RESET_PASSWORD,
        json!({"token": token, "new": "another fine passphrase"}),
        None,
    )
    .await;
    again.assert_code("BAD_USER_INPUT");
    assert_eq!(again.field(), Some("token"));
    gql(
        &stack.router,
        RESET_PASSWORD,
        json!({"token": "made-up", "new": NEW_PASSWORD}),
        None,
    )
    .await
    .assert_code("BAD_USER_INPUT");

    // Every session ended; the new password signs in, the old one does not.
    for session in [&laptop, &phone] {
        refused_within(
            &stack.router,
            ME,
            &token_of(session),
            Duration::from_secs(5),
        )
        .await;
        gql(
            &stack.router,
            REFRESH,
            json!({"token": session["refreshToken"]}),
            None,
        )
        .await
        .assert_code("UNAUTHENTICATED");
    }
    stack
        .login(&email, PASSWORD)
        .await
        .assert_code("UNAUTHENTICATED");
    stack.login(&email, NEW_PASSWORD).await.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_is_reset_with_a_single_use_link_from_the_outbox() {
    let stack = Stack::start().await;
    let outbox = stack.data_dir.path().join("outbox");
    reset_by_mail(&stack, &outbox).await;
    // The outbox holds secrets: owner-only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for entry in std::fs::read_dir(&outbox).expect("outbox") {
            let mode = entry
                .expect("entry")
                .metadata()
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

/// A real SMTP server: aiosmtpd (PyPI) writing each message into a maildir.
struct SmtpServer {
    process: std::process::Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn start_smtp_server() -> Option<SmtpServer> {
    let available = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|status| status.success());
    if !available {
        assert!(
            std::env::var_os("FITTRACK_REQUIRE_SMTP").is_none(),
            "SMTP test required but aiosmtpd is missing (python3 -m pip install aiosmtpd)"
        );
        eprintln!("SMTP test skipped: python3 -m pip install aiosmtpd");
        return None;
    }
    let maildir = tempfile::tempdir().expect("maildir");
    let port = support::free_port();
    let process = std::process::Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        // A maildir it creates (with its tmp/, new/ and cur/).
        .arg(maildir.path().join("mail"))
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("aiosmtpd starts");
    Some(SmtpServer {
        process,
        port,
        maildir,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_is_reset_with_a_link_mailed_over_smtp() {
    let Some(smtp) = start_smtp_server() else {
        return;
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", smtp.port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stack = Stack::start_with_smtp(&format!("smtp://127.0.0.1:{}", smtp.port)).await;
    reset_by_mail(&stack, &smtp.maildir.path().join("mail/new")).await;
    assert!(
        !stack.data_dir.path().join("outbox").exists(),
        "with SMTP_URL nothing is written to the outbox"
    );
}

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
        // 11 characters: under the minimum of 12.
        (
            json!({"email": email, "password": "eleven char"}),
            "password",
        ),
        (
            json!({"email": email, "password": "xyzw".repeat(33)}),
            "password",
        ),
        // Common passwords, also with digits or punctuation around them.
        (
            json!({"email": email, "password": "password1234"}),
            "password",
        ),
        (
            json!({"email": email, "password": "Football2026!"}),
            "password",
        ),
        (
            json!({"email": email, "password": "aaaaaaaaaaaaaaa"}),
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
        "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { id username } } }";
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_entity_lookups_see_only_the_public_profile() {
    let stack = Stack::start().await;
    let email = unique_email("public");
    let registered = gql(
        &stack.router,
        REGISTER,
        json!({"input": {"email": email, "password": PASSWORD, "username": format!("ada{}", &uuid_suffix()), "firstName": "Ada", "lastName": "Lovelace"}}),
        None,
    )
    .await;
    registered.assert_ok();
    let id = registered.data("register")["user"]["id"].clone();
    let lookup = |fields: &str| {
        format!("query($reps: [_Any!]!) {{ _entities(representations: $reps) {{ ... on User {{ {fields} }} }} }}")
    };
    let reps = json!({"reps": [{"__typename": "User", "id": id}]});

    // Straight at the user subgraph, with no token: the public profile.
    let public = gql(
        &stack.user,
        &lookup("id username firstName lastName createdAt"),
        reps.clone(),
        None,
    )
    .await;
    public.assert_ok();
    let profile = &public.body["data"]["_entities"][0];
    assert_eq!(profile["id"], id);
    assert_eq!(profile["firstName"], "Ada");
    assert_eq!(profile["lastName"], "Lovelace");
    assert!(profile["username"].is_string() && profile["createdAt"].is_string());

    // Everything else is refused, field by field.
    for private in [
        "email",
        "role",
        "accountStatus",
        "emailVerified",
        "onboardingCompleted",
        "gender",
        "fitnessGoal",
        "lastLoginAt",
        "updatedAt",
    ] {
        let refused = gql(&stack.user, &lookup(private), reps.clone(), None).await;
        refused.assert_code("FORBIDDEN");
        assert!(
            !refused.body.to_string().contains(&email),
            "{private} leaked: {:#}",
            refused.body
        );
    }
}

fn uuid_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}
