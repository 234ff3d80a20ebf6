//! The admin subgraph through the router: moderation applied by the user
//! subgraph, recorded in an append-only audit log; nothing for non-admins.

use fittrack_testkit as support;

use serde_json::{json, Value};
use support::{gql, Stack, PASSWORD};

fn token(auth: &Value) -> &str {
    auth["accessToken"].as_str().expect("token")
}

const BAN: &str = "mutation($id: ID!, $reason: String) { banUser(userId: $id, reason: $reason) { accountStatus user { id email } auditEntry { action target { id } admin { id } details clientIp } } }";
const LOGS: &str = "query($filter: AuditLogFilter) { auditLogs(filter: $filter, first: 10) { edges { node { action target { id } details } } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_admins_get_forbidden_on_every_admin_field() {
    let stack = Stack::start().await;
    let (_, ada) = stack.register("ada").await;
    let (_, bob) = stack.register("bob").await;
    let bob_id = bob["user"]["id"].clone();
    let until = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    for (query, variables) in [
        (LOGS, json!({})),
        (BAN, json!({"id": bob_id})),
        ("mutation($id: ID!, $until: DateTime!) { suspendUser(userId: $id, until: $until) { accountStatus } }", json!({"id": bob_id, "until": until})),
        ("mutation($id: ID!) { deactivateUser(userId: $id) { accountStatus } }", json!({"id": bob_id})),
        ("mutation($id: ID!) { reactivateUser(userId: $id) { accountStatus } }", json!({"id": bob_id})),
        ("mutation($id: ID!) { changeUserRole(userId: $id, role: ADMIN) { role } }", json!({"id": bob_id})),
        ("mutation($id: ID!) { replayErasure(userId: $id) }", json!({"id": bob_id})),
        ("{ adminDashboard { erasures { eraser pending } } }", json!({})),
    ] {
        gql(&stack.router, query, variables, Some(token(&ada)))
            .await
            .assert_code("FORBIDDEN");
    }
    gql(&stack.router, LOGS, json!({}), None)
        .await
        .assert_code("UNAUTHENTICATED");
    // Nothing happened to Bob.
    stack
        .login(bob["user"]["email"].as_str().expect("email"), PASSWORD)
        .await
        .assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_takes_effect_at_once_and_is_audited() {
    let stack = Stack::start().await;
    let (admin_auth, admin) = stack.register_admin("root").await;
    let admin_id = admin_auth["user"]["id"].clone();
    let (bob_email, bob) = stack.register("bob").await;
    let bob_id = bob["user"]["id"].clone();

    let response = reqwest::Client::new()
        .post(&stack.router)
        .bearer_auth(&admin)
        .header("x-forwarded-for", "203.0.113.50")
        .json(&json!({"query": BAN, "variables": {"id": bob_id, "reason": "spam"}}))
        .send()
        .await
        .expect("sent");
    let banned: Value = response.json().await.expect("json");
    assert!(banned["errors"].is_null(), "{banned:#}");
    let result = &banned["data"]["banUser"];
    assert_eq!(result["accountStatus"], "BANNED");
    assert_eq!(
        result["user"]["email"],
        bob_email.as_str(),
        "joined from the user subgraph"
    );
    assert_eq!(result["auditEntry"]["action"], "BAN_USER");
    assert_eq!(result["auditEntry"]["target"]["id"], bob_id);
    assert_eq!(result["auditEntry"]["admin"]["id"], admin_id);
    assert_eq!(result["auditEntry"]["details"]["reason"], "spam");
    assert_eq!(result["auditEntry"]["clientIp"], "203.0.113.50");

    // Bob's next request, and his next sign-in, are refused.
    gql(&stack.router, "{ me { id } }", json!({}), Some(token(&bob)))
        .await
        .assert_code("UNAUTHENTICATED");
    stack
        .login(&bob_email, PASSWORD)
        .await
        .assert_code("ACCOUNT_BANNED");

    gql(
        &stack.router,
        "mutation($id: ID!) { reactivateUser(userId: $id) { accountStatus } }",
        json!({"id": bob_id}),
        Some(&admin),
    )
    .await
    .assert_ok();
    stack.login(&bob_email, PASSWORD).await.assert_ok();

    let logs = gql(
        &stack.router,
        LOGS,
        json!({"filter": {"targetUserId": bob_id}}),
        Some(&admin),
    )
    .await;
    logs.assert_ok();
    let actions: Vec<&str> = logs.data("auditLogs")["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["action"].as_str().expect("action"))
        .collect();
    assert_eq!(actions, vec!["REACTIVATE_USER", "BAN_USER"], "newest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_change_leaves_no_audit_entry_and_the_log_cannot_be_rewritten() {
    use sea_orm::ConnectionTrait as _;

    let stack = Stack::start().await;
    let (_, admin) = stack.register_admin("root").await;
    let (_, bob) = stack.register("bob").await;
    let bob_id = bob["user"]["id"].clone();

    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let refused = gql(
        &stack.router,
        "mutation($id: ID!, $until: DateTime!) { suspendUser(userId: $id, until: $until) { accountStatus } }",
        json!({"id": bob_id, "until": past}),
        Some(&admin),
    )
    .await;
    refused.assert_code("BAD_USER_INPUT");
    assert_eq!(refused.field(), Some("until"));
    gql(
        &stack.router,
        BAN,
        json!({"id": uuid::Uuid::new_v4()}),
        Some(&admin),
    )
    .await
    .assert_code("NOT_FOUND");
    let logs = gql(&stack.router, LOGS, json!({}), Some(&admin)).await;
    logs.assert_ok();
    let mine: Vec<_> = logs.data("auditLogs")["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter(|e| e["node"]["target"]["id"] == bob_id)
        .collect();
    assert!(
        mine.is_empty(),
        "no entry claims a change that did not happen"
    );

    gql(&stack.router, BAN, json!({"id": bob_id}), Some(&admin))
        .await
        .assert_ok();
    // The service's own connection cannot rewrite history: triggers refuse
    // changes, and on PostgreSQL its role may only SELECT and INSERT (the
    // table and its triggers belong to another role).
    let db = stack.admin_store.db();
    let mut refused = vec![
        "UPDATE admin_audit_logs SET action = 'NOTHING'",
        "DELETE FROM admin_audit_logs",
    ];
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        refused.extend([
            "TRUNCATE admin_audit_logs",
            "ALTER TABLE admin_audit_logs DISABLE TRIGGER ALL",
            "DROP TRIGGER admin_audit_logs_no_change ON admin_audit_logs",
            "DROP TABLE admin_audit_logs",
        ]);
    }
    for statement in refused {
        let outcome = db.execute_unprepared(statement).await;
        assert!(outcome.is_err(), "the database allowed: {statement}");
    }
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        // Granting itself more only draws a warning ("no privileges were
        // granted"): the update below is still refused.
        let _ = db
            .execute_unprepared("GRANT UPDATE ON admin_audit_logs TO PUBLIC")
            .await;
        let denied = db
            .execute_unprepared("UPDATE admin_audit_logs SET action = 'NOTHING'")
            .await
            .expect_err("refused");
        assert!(
            denied.to_string().contains("permission denied"),
            "refused by privileges, not only by the trigger: {denied}"
        );
    }
    // And the entry is still there, once.
    let logs = gql(
        &stack.router,
        LOGS,
        json!({"filter": {"targetUserId": bob_id}}),
        Some(&admin),
    )
    .await;
    logs.assert_ok();
    assert_eq!(
        logs.data("auditLogs")["edges"].as_array().map(Vec::len),
        Some(1)
    );
}

/// How many audit entries about `target` admins read now.
async fn audit_entry_count(stack: &Stack, admin: &str, target: &str) -> usize {
    let logged = gql(
        &stack.router,
        "query($t: ID) { auditLogs(first: 10, filter: {targetUserId: $t}) { edges { node { id } } } }",
        json!({"t": target}),
        Some(admin),
    )
    .await;
    logged.data("auditLogs")["edges"]
        .as_array()
        .expect("edges")
        .len()
}

/// Entries about `target`, as admins read them, once the user subgraph's
/// audit delivery had time to run (several of its intervals).
async fn audit_entries_about(
    stack: &Stack,
    admin: &str,
    target: &Value,
    expected: usize,
) -> Vec<Value> {
    let query = "query($filter: AuditLogFilter) { auditLogs(filter: $filter, first: 50) { edges { node { id action admin { id } target { id } details } } } }";
    // Delivery runs every 200 ms; the deadline is for a loaded CI machine
    // (the whole e2e suite's stacks at once on two cores).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut entries = Vec::new();
    while tokio::time::Instant::now() < deadline {
        let logs = gql(
            &stack.router,
            query,
            json!({"filter": {"targetUserId": target}}),
            Some(admin),
        )
        .await;
        logs.assert_ok();
        entries = logs.data("auditLogs")["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|edge| edge["node"].clone())
            .collect();
        if entries.len() >= expected {
            // A few more delivery rounds must not add a second copy.
            tokio::time::sleep(support::AUDIT_DELIVERY_INTERVAL * 3).await;
            let again = gql(
                &stack.router,
                query,
                json!({"filter": {"targetUserId": target}}),
                Some(admin),
            )
            .await;
            assert_eq!(
                again.data("auditLogs")["edges"].as_array().map(Vec::len),
                Some(expected),
                "a later delivery round added a copy: {:#}",
                again.data("auditLogs")
            );
            return entries;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("fewer than {expected} audit entries about {target} after 30 s: {entries:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_admin_subgraph_fails_right_after_is_still_audited() {
    let stack = Stack::start().await;
    let (_, admin) = stack.register_admin("root").await;
    let (_, bob) = stack.register("bob").await;
    let bob_id = bob["user"]["id"].clone();
    // What the admin subgraph sends the user subgraph for a ban, with the
    // admin's own token; here it "fails" right after (nothing records the
    // entry on its side).
    let internal_token = std::fs::read_to_string(stack.data_dir.path().join("internal-token"))
        .expect("internal token");
    let applied = reqwest::Client::new()
        .post(format!(
            "{}/internal/accounts/{}/status",
            stack.user.trim_end_matches("/graphql"),
            bob_id.as_str().expect("id")
        ))
        .header("x-internal-token", internal_token.trim())
        .bearer_auth(&admin)
        .json(&json!({"status": "BANNED", "reason": "spam"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(applied.status().as_u16(), 200);
    let applied: Value = applied.json().await.expect("json");
    let entry_id = applied["audit"]["id"]
        .as_str()
        .expect("entry id")
        .to_owned();
    // The change happened …
    stack
        .login(bob["user"]["email"].as_str().expect("email"), PASSWORD)
        .await
        .assert_code("ACCOUNT_BANNED");
    // … and its entry reaches the log from the outbox, once.
    let entries = audit_entries_about(&stack, &admin, &bob_id, 1).await;
    assert_eq!(entries[0]["id"], entry_id);
    assert_eq!(entries[0]["action"], "BAN_USER");
    assert_eq!(entries[0]["details"]["reason"], "spam");

    // A change through the admin API is recorded by both paths (the
    // mutation and the delivery) and still appears once.
    gql(
        &stack.router,
        "mutation($id: ID!) { reactivateUser(userId: $id) { accountStatus } }",
        json!({"id": bob_id}),
        Some(&admin),
    )
    .await
    .assert_ok();
    audit_entries_about(&stack, &admin, &bob_id, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_created_at_the_console_are_audited() {
    let stack = Stack::start().await;
    let (_, admin) = stack.register_admin("root").await;
    let (email, carol) = stack.register("carol").await;
    let promoted = std::process::Command::new(env!("CARGO_BIN_EXE_fittrack"))
        .args(["admin", "create", "--email", &email])
        .env("FITTRACK_ADMIN_PASSWORD", PASSWORD)
        .env("FITTRACK_DATA_DIR", stack.data_dir.path())
        .env("RUST_LOG", "error")
        .output()
        .expect("fittrack admin create runs");
    assert!(
        promoted.status.success(),
        "fittrack admin create failed: {}\n{}",
        String::from_utf8_lossy(&promoted.stdout),
        String::from_utf8_lossy(&promoted.stderr)
    );
    let entries = audit_entries_about(&stack, &admin, &carol["user"]["id"], 1).await;
    let entry = &entries[0];
    assert_eq!(entry["action"], "CHANGE_USER_ROLE");
    assert!(
        entry["admin"].is_null(),
        "the console has no account: {entry:#}"
    );
    assert_eq!(entry["details"]["role"], "ADMIN");
    assert_eq!(entry["details"]["previousRole"], "USER");
    assert_eq!(entry["details"]["via"], "fittrack admin create");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_federated_and_matches_the_data() {
    let stack = Stack::start().await;
    let (_, admin) = stack.register_admin("root").await;
    let (_, ada) = stack.register("ada").await;
    let (_, bob) = stack.register("bob").await;
    let log = "mutation($input: LogActivityInput!) { logActivity(input: $input) { id } }";
    let mut logged = Vec::new();
    for (user, kind, calories) in [
        (&ada, "RUNNING", 300),
        (&ada, "YOGA", 100),
        (&bob, "RUNNING", 200),
    ] {
        let input = json!({"input": {"type": kind, "durationMinutes": 30, "caloriesBurned": calories,
                                     "startTime": chrono::Utc::now().to_rfc3339()}});
        let response = gql(&stack.router, log, input, Some(token(user))).await;
        response.assert_ok();
        let id = response.data("logActivity")["id"].clone();
        logged.push((token(user).to_owned(), id));
    }
    // The worker has written every recommendation before the dashboard is read.
    let recommendation = "query($id: ID!) { recommendation(activityId: $id) { id } }";
    for (owner, id) in &logged {
        let mut waited = 0;
        while gql(
            &stack.router,
            recommendation,
            json!({"id": id}),
            Some(owner),
        )
        .await
        .data("recommendation")
        .is_null()
        {
            waited += 1;
            assert!(waited < 100, "no recommendation for {id} within 10 s");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    gql(
        &stack.router,
        BAN,
        json!({"id": bob["user"]["id"]}),
        Some(&admin),
    )
    .await
    .assert_ok();

    let dashboard = gql(
        &stack.router,
        "{ adminDashboard { id users { total active newLast7Days byStatus { key count } byRole { key count } } userGrowth(days: 7) { date count } activities { totalActivities activitiesLast24Hours averageCaloriesBurned byType { type count } } ai { recommendationsTotal recommendationsFromRules rulesShare queueWaiting queueInFlight deadLetters breakerState } } }",
        json!({}),
        Some(&admin),
    )
    .await;
    dashboard.assert_ok();
    let d = dashboard.data("adminDashboard");
    // Activities: this stack's own store, so exact.
    assert_eq!(d["activities"]["totalActivities"], 3);
    assert_eq!(d["activities"]["activitiesLast24Hours"], 3);
    assert_eq!(d["activities"]["averageCaloriesBurned"], 200.0);
    assert_eq!(
        d["activities"]["byType"],
        json!([{"type": "RUNNING", "count": 2}, {"type": "YOGA", "count": 1}])
    );
    // AI: this stack's own store and queue; no Gemini key, so all rules.
    let ai = &d["ai"];
    assert_eq!(ai["recommendationsTotal"], 3, "{ai}");
    assert_eq!(ai["recommendationsFromRules"], 3, "{ai}");
    assert_eq!(ai["rulesShare"], 1.0, "{ai}");
    assert_eq!(ai["queueWaiting"], 0, "{ai}");
    assert!(
        ai["queueInFlight"].as_i64().expect("in flight") <= 3,
        "{ai}"
    );
    assert_eq!(ai["deadLetters"], 0, "{ai}");
    assert_eq!(ai["breakerState"], "DISABLED", "{ai}");
    // Users: exact on the embedded database; at least ours on a shared one.
    let growth: i64 = d["userGrowth"]
        .as_array()
        .expect("days")
        .iter()
        .map(|day| day["count"].as_i64().expect("count"))
        .sum();
    assert_eq!(d["userGrowth"].as_array().map(Vec::len), Some(7));
    let banned = d["users"]["byStatus"]
        .as_array()
        .expect("statuses")
        .iter()
        .find(|s| s["key"] == "BANNED")
        .map(|s| s["count"].as_i64().expect("count"))
        .unwrap_or(0);
    if std::env::var("DATABASE_URL").is_err() {
        assert_eq!(d["users"]["total"], 3);
        assert_eq!(d["users"]["active"], 2);
        assert_eq!(d["users"]["newLast7Days"], 3);
        assert_eq!(banned, 1);
        assert_eq!(growth, 3);
    } else {
        assert!(d["users"]["total"].as_i64().expect("total") >= 3);
        assert!(banned >= 1);
        assert!(growth >= 3);
    }

    // Each part is cached for 60 s: a new activity shows up only after that.
    let input = json!({"input": {"type": "CYCLING", "durationMinutes": 10, "caloriesBurned": 50,
                                 "startTime": chrono::Utc::now().to_rfc3339()}});
    gql(&stack.router, log, input, Some(token(&ada)))
        .await
        .assert_ok();
    let again = gql(
        &stack.router,
        "{ adminDashboard { activities { totalActivities } } }",
        json!({}),
        Some(&admin),
    )
    .await;
    assert_eq!(
        again.data("adminDashboard")["activities"]["totalActivities"],
        3
    );

    gql(
        &stack.router,
        "{ adminDashboard { id } }",
        json!({}),
        Some(token(&ada)),
    )
    .await
    .assert_code("FORBIDDEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_internal_token_alone_cannot_change_an_account_or_write_the_audit_log() {
    let stack = Stack::start().await;
    let (admin_auth, admin) = stack.register_admin("root").await;
    let (carol_email, carol) = stack.register("carol").await;
    let carol_id = carol["user"]["id"].as_str().expect("id").to_owned();
    let internal_token = std::fs::read_to_string(stack.data_dir.path().join("internal-token"))
        .expect("internal token");
    let promote = |body: Value, bearer: Option<String>| {
        let mut request = reqwest::Client::new()
            .post(format!(
                "{}/internal/accounts/{carol_id}/role",
                stack.user.trim_end_matches("/graphql")
            ))
            .header("x-internal-token", internal_token.trim())
            .json(&body);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send()
    };
    let forged = json!({
        "id": uuid::Uuid::now_v7(),
        "actor_id": uuid::Uuid::new_v4(),
        "action": "NOTHING_TO_SEE",
        "target_user_id": carol_id,
        "details": {},
        "client_ip": null,
        "created_at": chrono::Utc::now(),
    });

    // With the internal token, a forged record, and no admin: refused (a
    // record is no part of the request any more).
    let alone = promote(json!({"role": "ADMIN", "audit": forged}), None)
        .await
        .expect("sent");
    assert_eq!(alone.status().as_u16(), 422);
    let alone = promote(json!({"role": "ADMIN"}), None).await.expect("sent");
    assert_eq!(alone.status().as_u16(), 401);
    // With a user's own token (carol promoting herself): refused.
    let own = promote(json!({"role": "ADMIN"}), Some(token(&carol).to_owned()))
        .await
        .expect("sent");
    assert_eq!(own.status().as_u16(), 403);
    // With an admin's token, a record still cannot be supplied.
    let supplied = promote(
        json!({"role": "ADMIN", "audit": forged}),
        Some(admin.clone()),
    )
    .await
    .expect("sent");
    assert_eq!(supplied.status().as_u16(), 422);
    // Nothing changed, and nothing was logged.
    let signed_in = stack.login(&carol_email, PASSWORD).await;
    signed_in.assert_ok();
    assert_eq!(signed_in.data("login")["user"]["id"], carol_id.as_str());
    let me = gql(
        &stack.router,
        "{ me { role } }",
        json!({}),
        Some(
            signed_in.data("login")["accessToken"]
                .as_str()
                .expect("token"),
        ),
    )
    .await;
    assert_eq!(me.data("me")["role"], "USER");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(audit_entry_count(&stack, &admin, &carol_id).await, 0);

    // Straight to the audit log, with the internal token: an unsigned
    // entry, one signed with another key, and an access token (signed with
    // the right key, but not an audit record) are all refused.
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"fittrack-audit+jwt"}"#),
        URL_SAFE_NO_PAD.encode(forged.to_string())
    );
    let other_key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = {
        use ed25519_dalek::pkcs8::EncodePrivateKey as _;
        other_key
            .to_pkcs8_pem(Default::default())
            .expect("pem")
            .to_string()
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.typ = Some("fittrack-audit+jwt".into());
    let (kid_header, _) = support::decode_unverified(&admin);
    header.kid = kid_header["kid"].as_str().map(str::to_owned);
    let wrong_key = jsonwebtoken::encode(
        &header,
        &forged,
        &jsonwebtoken::EncodingKey::from_ed_pem(pem.as_bytes()).expect("key"),
    )
    .expect("signed");
    let written = reqwest::Client::new()
        .post(format!(
            "{}/internal/audit-log",
            stack.admin.trim_end_matches("/graphql")
        ))
        .header("x-internal-token", internal_token.trim())
        .json(&json!({"entries": [unsigned, wrong_key, admin.clone()]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(written.status().as_u16(), 200);
    let written: Value = written.json().await.expect("json");
    assert_eq!(written["recorded"], json!([]), "{written}");
    assert_eq!(audit_entry_count(&stack, &admin, &carol_id).await, 0);

    // The admin's own change: the record is built by the user subgraph and
    // names that admin, whatever the caller would have liked it to say.
    let promoted = promote(json!({"role": "ADMIN"}), Some(admin.clone()))
        .await
        .expect("sent");
    assert_eq!(promoted.status().as_u16(), 200);
    let promoted: Value = promoted.json().await.expect("json");
    assert_eq!(promoted["account"]["role"], "ADMIN");
    assert_eq!(promoted["audit"]["action"], "CHANGE_USER_ROLE");
    assert_eq!(promoted["audit"]["actor_id"], admin_auth["user"]["id"]);
    let entries = audit_entries_about(&stack, &admin, &json!(carol_id), 1).await;
    assert_eq!(entries[0]["id"], promoted["audit"]["id"]);
}

const ERASURES: &str =
    "{ adminDashboard { erasures { eraser pending oldestRequestedAt oldestUserIds } } }";

/// The erasers that still owe `user_id`'s erasure, as the dashboard lists them.
async fn owing(stack: &Stack, admin: &str, user_id: &str) -> Vec<String> {
    let dashboard = gql(&stack.router, ERASURES, json!({}), Some(admin)).await;
    dashboard.assert_ok();
    let erasures = dashboard.data("adminDashboard")["erasures"]
        .as_array()
        .expect("erasures")
        .clone();
    assert_eq!(erasures.len(), 2, "one entry per eraser: {erasures:?}");
    erasures
        .iter()
        .filter(|e| {
            e["oldestUserIds"]
                .as_array()
                .expect("ids")
                .iter()
                .any(|id| id == user_id)
        })
        .map(|e| e["eraser"].as_str().expect("eraser").to_owned())
        .collect()
}

/// Waits until no eraser owes `user_id`'s erasure.
async fn settled(stack: &Stack, admin: &str, user_id: &str) {
    for _ in 0..100 {
        if owing(stack, admin, user_id).await.is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("still owed: {:?}", owing(stack, admin, user_id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_accounts_erasure_is_tracked_and_an_admin_can_replay_it() {
    let stack = Stack::start().await;
    let (_, admin) = stack.register_admin("root").await;
    let (_, ada) = stack.register("ada").await;
    let ada_id = ada["user"]["id"].as_str().expect("id").to_owned();
    gql(
        &stack.router,
        "mutation($password: String!) { deleteMyAccount(password: $password) }",
        json!({"password": PASSWORD}),
        Some(token(&ada)),
    )
    .await
    .assert_ok();
    // Owed by both erasers until each has erased her data.
    settled(&stack, &admin, &ada_id).await;

    let replay = "mutation($id: ID!) { replayErasure(userId: $id) }";
    let replayed = gql(&stack.router, replay, json!({"id": ada_id}), Some(&admin)).await;
    replayed.assert_ok();
    assert_eq!(replayed.data("replayErasure"), &json!(2));
    settled(&stack, &admin, &ada_id).await;

    // Audited, with the admin and the target.
    let mut actions = Vec::new();
    for _ in 0..100 {
        let logs = gql(
            &stack.router,
            LOGS,
            json!({"filter": {"targetUserId": ada_id, "action": "REPLAY_ERASURE"}}),
            Some(&admin),
        )
        .await;
        logs.assert_ok();
        actions = logs.data("auditLogs")["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["details"]["erasers"].clone())
            .collect();
        if !actions.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        actions,
        vec![json!(["user-deleted.activity", "user-deleted.ai"])]
    );

    // An account that exists is deleted, not replayed; a malformed id is refused.
    let (_, bob) = stack.register("bob").await;
    gql(
        &stack.router,
        replay,
        json!({"id": bob["user"]["id"]}),
        Some(&admin),
    )
    .await
    .assert_code("BAD_USER_INPUT");
    gql(
        &stack.router,
        replay,
        json!({"id": "not-a-user"}),
        Some(&admin),
    )
    .await
    .assert_code("BAD_USER_INPUT");
}
