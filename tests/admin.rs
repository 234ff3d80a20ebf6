//! The admin subgraph through the router: moderation applied by the user
//! subgraph, recorded in an append-only audit log; nothing for non-admins.

mod support;

use serde_json::{json, Value};
use support::{gql, Stack, LOGIN, PASSWORD};

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
    ] {
        gql(&stack.router, query, variables, Some(token(&ada)))
            .await
            .assert_code("FORBIDDEN");
    }
    gql(&stack.router, LOGS, json!({}), None)
        .await
        .assert_code("UNAUTHENTICATED");
    // Nothing happened to Bob.
    gql(
        &stack.router,
        LOGIN,
        json!({"email": bob["user"]["email"], "password": PASSWORD}),
        None,
    )
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
    gql(
        &stack.router,
        LOGIN,
        json!({"email": bob_email, "password": PASSWORD}),
        None,
    )
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
    gql(
        &stack.router,
        LOGIN,
        json!({"email": bob_email, "password": PASSWORD}),
        None,
    )
    .await
    .assert_ok();

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
    let db = stack.admin_store.db();
    for statement in [
        "UPDATE admin_audit_logs SET action = 'NOTHING'",
        "DELETE FROM admin_audit_logs",
    ] {
        assert!(
            db.execute_unprepared(statement).await.is_err(),
            "the database allowed: {statement}"
        );
    }
}
