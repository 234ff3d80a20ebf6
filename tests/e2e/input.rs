//! Bad input is the client's error on every path: a value that does not
//! coerce to its type (a day that does not exist, text where a date belongs),
//! inline or in a variable, over HTTP and over the WebSocket, through the
//! router, is `BAD_USER_INPUT` with a message that names the field and the
//! form expected; never a masked `INTERNAL_SERVER_ERROR`.

use fittrack_testkit as support;

use serde_json::{json, Value};
use support::{gql, Stack};

/// Dates that look plausible but are not (30 November is the last), and text.
const MALFORMED_DATE_TIMES: [&str; 3] = ["2026-11-31T07:00:00Z", "not a date", "2026-11-30"];
const MALFORMED_DAYS: [&str; 3] = ["2026-02-30", "not a date", "2026-11-30T07:00:00Z"];

/// (operation, variables, field named in the message, admin only)
fn operations(bad_time: &str, bad_day: &str) -> Vec<(String, Value, &'static str, bool)> {
    vec![
        (
            format!(
                r#"mutation {{ logActivity(input: {{type: RUNNING, durationMinutes: 30, caloriesBurned: 300, startTime: "{bad_time}"}}) {{ id }} }}"#
            ),
            json!({}),
            "logActivity",
            false,
        ),
        (
            "mutation($input: LogActivityInput!) { logActivity(input: $input) { id } }".into(),
            json!({"input": {"type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300, "startTime": bad_time}}),
            "logActivity",
            false,
        ),
        (
            "query($filter: ActivityFilterInput) { myActivities(filter: $filter) { edges { node { id } } } }".into(),
            json!({"filter": {"from": bad_time}}),
            "myActivities",
            false,
        ),
        (
            "query($range: StatsRangeInput) { myActivityStats(range: $range) { count } }".into(),
            json!({"range": {"to": bad_time}}),
            "myActivityStats",
            false,
        ),
        (
            "query($date: NaiveDate!) { dailyPlan(date: $date) { date } }".into(),
            json!({"date": bad_day}),
            "dailyPlan",
            false,
        ),
        (
            format!(r#"mutation {{ generateDailyPlan(date: "{bad_day}") {{ date }} }}"#),
            json!({}),
            "generateDailyPlan",
            false,
        ),
        (
            "query($filter: AuditLogFilter) { auditLogs(filter: $filter) { edges { node { id } } } }".into(),
            json!({"filter": {"from": bad_time}}),
            "auditLogs",
            true,
        ),
        (
            "mutation($until: DateTime!) { suspendUser(userId: \"00000000-0000-0000-0000-000000000000\", until: $until) { user { id } } }".into(),
            json!({"until": bad_time}),
            "suspendUser",
            true,
        ),
    ]
}

fn assert_bad_input(body: &Value, field: &str, what: &str) {
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no errors: {body}"));
    let error = &errors[0];
    assert_eq!(
        error["extensions"]["code"], "BAD_USER_INPUT",
        "{what}: {body}"
    );
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains(field), "{what}: names no field: {message}");
    assert!(
        message.contains("Expected"),
        "{what}: says no expected form: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_dates_are_bad_user_input_over_http_and_websocket() {
    let stack = Stack::start().await;
    let (_, user) = stack.register("dates").await;
    let user = user["accessToken"].as_str().expect("token").to_owned();
    let (_, admin) = stack.register_admin("dates-admin").await;

    for (bad_time, bad_day) in MALFORMED_DATE_TIMES.into_iter().zip(MALFORMED_DAYS) {
        for (query, variables, field, admin_only) in operations(bad_time, bad_day) {
            let token = if admin_only { &admin } else { &user };
            let what = format!("{field} with {bad_time:?} / {bad_day:?}");

            let over_http = gql(&stack.router, &query, variables.clone(), Some(token)).await;
            assert_bad_input(&over_http.body, field, &format!("HTTP: {what}"));

            let over_ws = support::ws_operation(
                &stack.router_ws(),
                json!({"Authorization": format!("Bearer {token}")}),
                &query,
                variables,
            )
            .await;
            let payloads = match over_ws {
                Ok(payloads) => payloads,
                Err(error) => panic!("WebSocket: {what}: {error}"),
            };
            assert_bad_input(&payloads[0], field, &format!("WebSocket: {what}"));
        }
    }

    // Nothing was written by any of them.
    let mine = gql(
        &stack.router,
        "{ myActivities { edges { node { id } } } }",
        json!({}),
        Some(&user),
    )
    .await;
    mine.assert_ok();
    assert_eq!(mine.data("myActivities")["edges"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subgraphs_own_websocket_answers_bad_input_as_its_http_endpoint_does() {
    let stack = Stack::start().await;
    let (_, user) = stack.register("ws-subgraph").await;
    let token = user["accessToken"].as_str().expect("token");
    let query = "mutation($input: LogActivityInput!) { logActivity(input: $input) { id } }";
    let variables = json!({"input": {"type": "RUNNING", "durationMinutes": 30,
                                     "caloriesBurned": 300, "startTime": "2026-11-31T07:00:00Z"}});

    let over_http = gql(&stack.activity, query, variables.clone(), Some(token)).await;
    assert_bad_input(&over_http.body, "logActivity", "subgraph HTTP");

    let payloads = support::ws_operation(
        &stack.activity.replacen("http", "ws", 1),
        json!({"Authorization": format!("Bearer {token}")}),
        query,
        variables,
    )
    .await
    .expect("operation over the subgraph's WebSocket");
    assert_eq!(payloads[0], over_http.body, "WebSocket and HTTP differ");
}

/// Text with U+0000 in it, for every kind of text argument: PostgreSQL cannot
/// store it, so it must be refused as the caller's error before any use case
/// starts (the fuzzer found `deactivateUser` answering INTERNAL_SERVER_ERROR).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_with_a_nul_character_is_bad_user_input_and_writes_nothing() {
    let stack = Stack::start().await;
    let (_, user) = stack.register("nul").await;
    let user_id = user["user"]["id"].as_str().expect("id").to_owned();
    let user = user["accessToken"].as_str().expect("token").to_owned();
    let (_, admin) = stack.register_admin("nul-admin").await;

    // (operation, variables, argument named in the message, token)
    let operations: Vec<(String, Value, &str, Option<&str>)> = vec![
        (
            // Inline, with the escape the fuzzer sent.
            format!(
                r#"mutation {{ deactivateUser(userId: "{user_id}", reason: "q\u0000t") {{ accountStatus }} }}"#
            ),
            json!({}),
            "deactivateUser",
            Some(&admin),
        ),
        (
            "mutation($id: ID!, $reason: String) { banUser(userId: $id, reason: $reason) { accountStatus } }".into(),
            json!({"id": user_id, "reason": "spam\u{0}"}),
            "banUser",
            Some(&admin),
        ),
        (
            "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { firstName } }".into(),
            json!({"input": {"firstName": "A\u{0}da"}}),
            "updateProfile",
            Some(&user),
        ),
        (
            "mutation($input: LogActivityInput!) { logActivity(input: $input) { id } }".into(),
            json!({"input": {"type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300,
                             "startTime": "2026-11-30T07:00:00Z", "notes": "easy\u{0}"}}),
            "logActivity",
            Some(&user),
        ),
        (
            "mutation($input: ContactMessageInput!) { submitContactMessage(input: $input) }".into(),
            json!({"input": {"name": "Ada", "email": "ada@example.com", "subject": "Hi",
                             "message": "\u{0}"}}),
            "submitContactMessage",
            None,
        ),
        (
            "mutation($input: RegisterInput!) { register(input: $input) { accessToken } }".into(),
            json!({"input": {"email": "nul\u{0}@example.com", "password": "a long enough password"}}),
            "register",
            None,
        ),
    ];

    for (query, variables, field, token) in operations {
        let over_http = gql(&stack.router, &query, variables.clone(), token).await;
        assert_refused_nul(&over_http.body, field, "HTTP");

        let init = token.map_or(
            json!({}),
            |t| json!({"Authorization": format!("Bearer {t}")}),
        );
        let payloads = support::ws_operation(&stack.router_ws(), init, &query, variables)
            .await
            .unwrap_or_else(|error| panic!("WebSocket: {field}: {error}"));
        assert_refused_nul(&payloads[0], field, "WebSocket");
    }

    // Nothing was written: the account is active and unchanged, with no
    // activity, and the audit log holds no moderation of it.
    let me = gql(
        &stack.router,
        "{ me { accountStatus firstName activities { edges { node { id } } } } }",
        json!({}),
        Some(&user),
    )
    .await;
    me.assert_ok();
    assert_eq!(me.data("me")["accountStatus"], "ACTIVE", "{:?}", me.body);
    assert_eq!(me.data("me")["firstName"], Value::Null);
    assert_eq!(me.data("me")["activities"]["edges"], json!([]));
    let audit = gql(
        &stack.router,
        "query($f: AuditLogFilter) { auditLogs(filter: $f) { edges { node { action } } } }",
        json!({"f": {"targetUserId": user_id}}),
        Some(&admin),
    )
    .await;
    audit.assert_ok();
    assert_eq!(
        audit.data("auditLogs")["edges"],
        json!([]),
        "{:?}",
        audit.body
    );
}

fn assert_refused_nul(body: &Value, field: &str, over: &str) {
    let error = &body["errors"][0];
    assert_eq!(
        error["extensions"]["code"], "BAD_USER_INPUT",
        "{over}: {field}: {body}"
    );
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("NUL") && message.contains(field),
        "{over}: {field}: says neither what nor where: {message}"
    );
}
