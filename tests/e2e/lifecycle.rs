//! The account's own lifecycle through the router: onboarding, deactivation
//! and reactivation, and the admin bootstrap command.

use fittrack_testkit as support;

use std::process::Command;

use serde_json::{json, Value};
use support::{gql, Stack, PASSWORD, REFRESH};

fn token(auth: &Value) -> &str {
    auth["accessToken"].as_str().expect("token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_is_pending_until_completed() {
    let stack = Stack::start().await;
    let (_, ada) = stack.register("ada").await;
    let status = "{ onboardingStatus { completed missing } }";
    let before = gql(&stack.router, status, json!({}), Some(token(&ada))).await;
    before.assert_ok();
    assert_eq!(
        before.data("onboardingStatus"),
        &json!({"completed": false, "missing": ["fitnessGoal"]})
    );

    let done = gql(
        &stack.router,
        "mutation($input: CompleteOnboardingInput!) { completeOnboarding(input: $input) { fitnessGoal gender onboardingCompleted } }",
        json!({"input": {"fitnessGoal": "IMPROVE_ENDURANCE", "gender": "FEMALE"}}),
        Some(token(&ada)),
    )
    .await;
    done.assert_ok();
    assert_eq!(
        done.data("completeOnboarding"),
        &json!({"fitnessGoal": "IMPROVE_ENDURANCE", "gender": "FEMALE", "onboardingCompleted": true})
    );
    let after = gql(&stack.router, status, json!({}), Some(token(&ada))).await;
    assert_eq!(
        after.data("onboardingStatus"),
        &json!({"completed": true, "missing": []})
    );

    let invalid = gql(
        &stack.router,
        "mutation { completeOnboarding(input: {fitnessGoal: FLYING}) { id } }",
        json!({}),
        Some(token(&ada)),
    )
    .await;
    assert!(!invalid.errors().is_empty());
    gql(&stack.router, status, json!({}), None)
        .await
        .assert_code("UNAUTHENTICATED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_account_cannot_sign_in_until_its_owner_reactivates_it() {
    let stack = Stack::start().await;
    let (email, ada) = stack.register("ada").await;
    // Not with the token alone: the password too.
    let deactivate = "mutation($password: String!) { deactivateMyAccount(password: $password, reason: \"taking a break\") { accountStatus } }";
    gql(
        &stack.router,
        deactivate,
        json!({"password": "not my password"}),
        Some(token(&ada)),
    )
    .await
    .assert_code("UNAUTHENTICATED");
    let deactivated = gql(
        &stack.router,
        deactivate,
        json!({"password": PASSWORD}),
        Some(token(&ada)),
    )
    .await;
    deactivated.assert_ok();
    assert_eq!(
        deactivated.data("deactivateMyAccount")["accountStatus"],
        "DEACTIVATED"
    );

    stack
        .login(&email, PASSWORD)
        .await
        .assert_code("ACCOUNT_DEACTIVATED");
    // Its sessions ended: the refresh token no longer works.
    let refresh = gql(
        &stack.router,
        REFRESH,
        json!({"token": ada["refreshToken"]}),
        None,
    )
    .await;
    assert!(refresh.code().is_some(), "{:#}", refresh.body);
    assert_ne!(refresh.code(), Some("INTERNAL_SERVER_ERROR"));

    let reactivate = "mutation($email: String!, $password: String!) { reactivateMyAccount(email: $email, password: $password) { accessToken user { accountStatus } } }";
    gql(
        &stack.router,
        reactivate,
        json!({"email": email, "password": "wrong password!"}),
        None,
    )
    .await
    .assert_code("UNAUTHENTICATED");
    let back = gql(
        &stack.router,
        reactivate,
        json!({"email": email, "password": PASSWORD}),
        None,
    )
    .await;
    back.assert_ok();
    assert_eq!(
        back.data("reactivateMyAccount")["user"]["accountStatus"],
        "ACTIVE"
    );
    stack.login(&email, PASSWORD).await.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_are_created_from_the_command_line_only() {
    let stack = Stack::start().await;
    let email = support::unique_email("root");
    let create = |email: &str, password: &str| {
        Command::new(env!("CARGO_BIN_EXE_fittrack"))
            .args(["admin", "create", "--email", email])
            .env("FITTRACK_ADMIN_PASSWORD", password)
            .env("FITTRACK_DATA_DIR", stack.data_dir.path())
            .env("RUST_LOG", "error")
            .output()
            .expect("fittrack admin create runs")
    };
    let created = create(&email, PASSWORD);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    let login = stack.login(&email, PASSWORD).await;
    login.assert_ok();
    let admin_token = token(login.data("login"));
    gql(
        &stack.router,
        "{ platformActivityStats { totalActivities } }",
        json!({}),
        Some(admin_token),
    )
    .await
    .assert_ok();

    // Promoting an existing account needs its password.
    let (other, _) = stack.register("bob").await;
    let refused = create(&other, "not bob's password");
    assert!(!refused.status.success());
    let promoted = create(&other, PASSWORD);
    assert!(
        promoted.status.success(),
        "{}",
        String::from_utf8_lossy(&promoted.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_account_erases_it_from_every_store() {
    use std::time::Duration;

    use fittrack_activity::storage::PageQuery;

    let stack = Stack::start().await;
    let (email, ada) = stack.register("ada").await;
    let (_, bob) = stack.register("bob").await;
    let ada_id: uuid::Uuid = ada["user"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let bob_id: uuid::Uuid = bob["user"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let log = "mutation($input: LogActivityInput!) { logActivity(input: $input) { id } }";
    let run = || {
        json!({"input": {"type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300,
                                  "startTime": chrono::Utc::now().to_rfc3339()}})
    };
    for user in [&ada, &ada, &bob] {
        gql(&stack.router, log, run(), Some(token(user)))
            .await
            .assert_ok();
    }
    gql(
        &stack.router,
        "mutation($date: NaiveDate!) { generateDailyPlan(date: $date) { id } }",
        json!({"date": chrono::Utc::now().date_naive().to_string()}),
        Some(token(&ada)),
    )
    .await
    .assert_ok();

    let ai = stack.ai_context.store.clone();
    let activities = |user| PageQuery {
        user_id: Some(user),
        limit: 100,
        ..Default::default()
    };
    // Wait for the worker to write the recommendations we want erased.
    for _ in 0..100 {
        if ai
            .recommendations_page(ada_id, None, 10)
            .await
            .expect("page")
            .len()
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        ai.recommendations_page(ada_id, None, 10)
            .await
            .expect("page")
            .len(),
        2
    );

    let delete = "mutation($password: String!) { deleteMyAccount(password: $password) }";
    gql(
        &stack.router,
        delete,
        json!({"password": "not my password"}),
        Some(token(&ada)),
    )
    .await
    .assert_code("UNAUTHENTICATED");
    let deleted = gql(
        &stack.router,
        delete,
        json!({"password": PASSWORD}),
        Some(token(&ada)),
    )
    .await;
    deleted.assert_ok();
    assert_eq!(deleted.data("deleteMyAccount"), &json!(true));
    stack
        .login(&email, PASSWORD)
        .await
        .assert_code("UNAUTHENTICATED");

    let mut erased = false;
    for _ in 0..100 {
        let left = stack
            .activity_store
            .page(&activities(ada_id))
            .await
            .expect("page")
            .len()
            + ai.recommendations_page(ada_id, None, 10)
                .await
                .expect("page")
                .len()
            + ai.daily_plans_page(ada_id, None, 10)
                .await
                .expect("page")
                .len()
            + ai.recent_activities(ada_id, 10)
                .await
                .expect("recent")
                .len();
        if left == 0 {
            erased = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(erased, "something of the deleted user is left");
    // Nobody else's data went with it.
    assert_eq!(
        stack
            .activity_store
            .page(&activities(bob_id))
            .await
            .expect("page")
            .len(),
        1
    );
}

async fn contact(
    stack: &Stack,
    client_ip: &str,
    token: Option<&str>,
    input: Value,
) -> support::GqlResponse {
    let mut request = reqwest::Client::new()
        .post(&stack.router)
        // As the test stack's load balancer (loopback, trusted) would write it.
        .header("x-forwarded-for", client_ip)
        .json(&json!({
            "query": "mutation($input: ContactMessageInput!) { submitContactMessage(input: $input) }",
            "variables": {"input": input},
        }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    support::GqlResponse {
        status,
        body: response.json().await.expect("json"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_messages_are_validated_and_limited_to_five_an_hour_per_sender() {
    let stack = Stack::start().await;
    let message = json!({"name": "Ada", "email": "ada@example.com", "subject": "Hello", "message": "Love the app"});
    // A range no other test uses: on PostgreSQL every test of a run shares
    // the contact table (203.0.113.9, say, is the deletion test's sender).
    let ip = format!("198.18.{}.{}", rand::random::<u8>(), rand::random::<u8>());
    for _ in 0..5 {
        contact(&stack, &ip, None, message.clone())
            .await
            .assert_ok();
    }
    contact(&stack, &ip, None, message.clone())
        .await
        .assert_code("RATE_LIMITED");
    // Another address, and a signed-in user, have their own allowance.
    contact(&stack, "198.51.100.9", None, message.clone())
        .await
        .assert_ok();
    let (_, ada) = stack.register("ada").await;
    contact(&stack, &ip, Some(token(&ada)), message.clone())
        .await
        .assert_ok();

    for (field, value) in [
        ("name", json!("")),
        ("email", json!("not-an-email")),
        ("subject", json!("s".repeat(201))),
        ("message", json!("   ")),
    ] {
        let mut bad = message.clone();
        bad[field] = value;
        let response = contact(&stack, "192.0.2.1", None, bad).await;
        response.assert_code("BAD_USER_INPUT");
        assert_eq!(response.field(), Some(field));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_internal_status_api_bans_and_suspends_and_suspensions_expire() {
    let stack = Stack::start().await;
    let (ada_email, ada) = stack.register("ada").await;
    let (bob_email, bob) = stack.register("bob").await;
    let (_, admin) = stack.register_admin("root").await;
    let token_file = stack.data_dir.path().join("internal-token");
    let internal_token = std::fs::read_to_string(token_file).expect("internal token");
    let base = stack.user.trim_end_matches("/graphql").to_owned();
    let client = reqwest::Client::new();
    let change = |user: &Value, body: Value, with_token: bool| {
        // Every change names the acting admin with their own token.
        let mut request = client
            .post(format!(
                "{base}/internal/accounts/{}/status",
                user["user"]["id"].as_str().expect("id")
            ))
            .bearer_auth(&admin)
            .json(&body);
        if with_token {
            request = request.header("x-internal-token", internal_token.trim());
        }
        request.send()
    };

    let anonymous = change(&ada, json!({"status": "BANNED"}), false)
        .await
        .expect("sent");
    assert_eq!(anonymous.status().as_u16(), 401);
    let no_end = change(&bob, json!({"status": "SUSPENDED"}), true)
        .await
        .expect("sent");
    assert_eq!(no_end.status().as_u16(), 400);

    let banned = change(&ada, json!({"status": "BANNED", "reason": "spam"}), true)
        .await
        .expect("sent");
    assert_eq!(banned.status().as_u16(), 200);
    let view: Value = banned.json().await.expect("json");
    assert_eq!(view["account"]["status"], "BANNED");
    stack
        .login(&ada_email, PASSWORD)
        .await
        .assert_code("ACCOUNT_BANNED");
    gql(
        &stack.router,
        "{ myActivities { edges { cursor } } }",
        json!({}),
        Some(token(&ada)),
    )
    .await
    .assert_code("UNAUTHENTICATED");

    let until = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let suspended = change(&bob, json!({"status": "SUSPENDED", "until": until}), true)
        .await
        .expect("sent");
    assert_eq!(suspended.status().as_u16(), 200);
    stack
        .login(&bob_email, PASSWORD)
        .await
        .assert_code("ACCOUNT_SUSPENDED");
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let back = stack.login(&bob_email, PASSWORD).await;
    back.assert_ok();
}

/// Rows of `table` whose `column` is `value`, straight from the user database.
async fn user_db_count(stack: &Stack, table: &str, column: &str, value: &str) -> i64 {
    use sea_orm::{ConnectionTrait as _, Statement};
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rw",
                stack.data_dir.path().join("user.db").display()
            )
        });
    let db = sea_orm::Database::connect(&url)
        .await
        .expect("user database");
    let backend = db.get_database_backend();
    let placeholder = if backend == sea_orm::DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let row = db
        .query_one(Statement::from_sql_and_values(
            backend,
            format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} = {placeholder}"),
            [value.into()],
        ))
        .await
        .expect("count")
        .expect("a row");
    let _ = db.close().await;
    row.try_get::<i64>("", "n").expect("n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_account_while_it_is_in_use_leaves_nothing_behind() {
    use std::time::Duration;

    use fittrack_activity::storage::PageQuery;
    use support::WsSubscription;

    let stack = Stack::start().await;
    let (email, ada) = stack.register("ada").await;
    let ada_id: uuid::Uuid = ada["user"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let ada_token = token(&ada).to_owned();
    // A message sent anonymously with her address, and one signed in.
    let message =
        json!({"name": "Ada", "email": email, "subject": "Hi", "message": "About my data"});
    contact(&stack, "203.0.113.9", None, message.clone())
        .await
        .assert_ok();
    contact(&stack, "203.0.113.9", Some(&ada_token), message)
        .await
        .assert_ok();
    assert_eq!(
        user_db_count(&stack, "contact_messages", "email", &email).await,
        2
    );
    // A dead letter holding her data (an event the worker cannot read).
    stack
        .activity_queue
        .enqueue(
            &json!({"type": "ActivityLogged", "userId": ada_id, "notes": "Ada's knee"}).to_string(),
        )
        .await
        .expect("enqueued");
    let concerns_ada =
        move |payload: &str| fittrack_kit::erasure::payload_concerns(payload, ada_id);
    for _ in 0..100 {
        let dead = stack
            .activity_queue
            .dead_letters(1000)
            .await
            .expect("dead letters");
        if dead.iter().any(|d| concerns_ada(&d.payload)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Her live feed is open.
    let mut live = WsSubscription::open(
        &stack.router_ws(),
        json!({"Authorization": format!("Bearer {ada_token}")}),
        "subscription { recommendationAdded { activityId } }",
    )
    .await
    .expect("subscribed");

    // Workouts keep coming in while she deletes her account.
    let router = stack.router.clone();
    let logger = tokio::spawn({
        let token = ada_token.clone();
        async move {
            let log = "mutation($input: LogActivityInput!) { logActivity(input: $input) { id } }";
            let mut saved = 0;
            for _ in 0..40 {
                let input = json!({"input": {"type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300,
                                             "startTime": chrono::Utc::now().to_rfc3339(), "notes": "Ada's run"}});
                if gql(&router, log, input, Some(&token))
                    .await
                    .errors()
                    .is_empty()
                {
                    saved += 1;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            saved
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    gql(
        &stack.router,
        "mutation($password: String!) { deleteMyAccount(password: $password) }",
        json!({"password": PASSWORD}),
        Some(&ada_token),
    )
    .await
    .assert_ok();
    let saved = logger.await.expect("logger");
    assert!(saved > 0, "some workouts were logged before the deletion");

    // The feed was told, and ended (recommendations of workouts logged
    // before the deletion may come first).
    loop {
        let next = live
            .next(Duration::from_secs(10))
            .await
            .expect("the feed ends with an error, not silently");
        if next["errors"].is_array() {
            assert_eq!(next["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
            break;
        }
    }

    // Once the erasers ran, and with time for any job in flight to finish:
    // nothing of hers anywhere.
    let ai = stack.ai_context.store.clone();
    let left = || async {
        let activities = stack
            .activity_store
            .page(&PageQuery {
                user_id: Some(ada_id),
                limit: 1000,
                ..Default::default()
            })
            .await
            .expect("page")
            .len();
        let recommendations = ai
            .recommendations_page(ada_id, None, 1000)
            .await
            .expect("page")
            .len();
        let projection = ai
            .recent_activities(ada_id, 1000)
            .await
            .expect("recent")
            .len();
        let dead = stack
            .activity_queue
            .dead_letters(10_000)
            .await
            .expect("dead letters")
            .iter()
            .filter(|d| concerns_ada(&d.payload))
            .count();
        activities + recommendations + projection + dead
    };
    let mut settled = false;
    for _ in 0..100 {
        if left().await == 0 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(settled, "something of the deleted user is left");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(left().await, 0, "work in flight brought something back");
    // No queued job of hers either (purging finds nothing to remove).
    assert_eq!(
        stack
            .activity_queue
            .purge(&concerns_ada)
            .await
            .expect("purge"),
        0
    );
    assert_eq!(user_db_count(&stack, "users", "email", &email).await, 0);
    assert_eq!(
        user_db_count(&stack, "contact_messages", "email", &email).await,
        0
    );
}
