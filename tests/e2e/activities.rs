//! Activities end to end: through the router, with the user subgraph for auth
//! and federation joins, on whichever backends the environment selects.

use fittrack_testkit as support;

use std::time::Duration;

use chrono::{Duration as Span, SecondsFormat, Utc};
use serde_json::{json, Value};
use support::{gql, Stack};

const LOG: &str = "mutation($input: LogActivityInput!) { logActivity(input: $input) { id type durationMinutes caloriesBurned startTime notes metrics { distanceKm averageHeartRate maxHeartRate steps custom } user { id email } } }";
const MINE: &str = "query($first: Int, $after: String, $filter: ActivityFilterInput) { myActivities(first: $first, after: $after, filter: $filter) { edges { cursor node { id type startTime } } pageInfo { hasNextPage endCursor } } }";

fn ago(span: Span) -> String {
    (Utc::now() - span).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn run(start: &str) -> Value {
    json!({"type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300, "startTime": start})
}

fn token(auth: &Value) -> &str {
    auth["accessToken"].as_str().expect("token")
}

async fn log(stack: &Stack, token: &str, input: Value) -> Value {
    let response = gql(&stack.router, LOG, json!({"input": input}), Some(token)).await;
    response.assert_ok();
    response.data("logActivity").clone()
}

async fn my_ids(stack: &Stack, token: &str) -> Vec<String> {
    let response = gql(&stack.router, MINE, json!({"first": 100}), Some(token)).await;
    response.assert_ok();
    response.data("myActivities")["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Events the activity subgraph put on the queue, as JSON.
async fn queued_events(stack: &Stack) -> Vec<Value> {
    let jobs = stack
        .activity_queue
        .receive("test", 100, Duration::from_millis(200))
        .await
        .expect("receive");
    for job in &jobs {
        stack.activity_queue.ack(&job.id).await.expect("ack");
    }
    jobs.iter()
        .map(|j| serde_json::from_str(&j.payload).expect("event json"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_an_activity_with_metrics_and_get_it_back_joined_to_its_user() {
    let stack = Stack::start_with(None, false).await;
    let (email, ada) = stack.register("ada").await;
    let start = ago(Span::hours(2));
    let logged = log(
        &stack,
        token(&ada),
        json!({
            "type": "RUNNING", "durationMinutes": 42, "caloriesBurned": 480, "startTime": start,
            "notes": "  tempo run  ",
            "metrics": {"distanceKm": 8.4, "averageHeartRate": 151, "maxHeartRate": 178, "steps": 9100,
                        "custom": {"shoes": "pegasus", "splits": [5.1, 4.9]}}
        }),
    )
    .await;
    assert_eq!(logged["type"], "RUNNING");
    assert_eq!(logged["durationMinutes"], 42);
    assert_eq!(logged["notes"], "tempo run");
    assert_eq!(logged["metrics"]["maxHeartRate"], 178);
    assert_eq!(logged["metrics"]["custom"]["shoes"], "pegasus");
    // `user` is resolved by the user subgraph through the router.
    assert_eq!(logged["user"]["email"], email.as_str());

    let events = queued_events(&stack).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "ActivityLogged");
    assert_eq!(events[0]["activityId"], logged["id"]);
    assert_eq!(events[0]["userId"], ada["user"]["id"]);
    assert_eq!(events[0]["durationMinutes"], 42);
    assert_eq!(events[0]["metrics"]["distanceKm"], 8.4);

    let fetched = gql(
        &stack.router,
        "query($id: ID!) { activity(id: $id) { id durationMinutes user { id } } }",
        json!({"id": logged["id"]}),
        Some(token(&ada)),
    )
    .await;
    fetched.assert_ok();
    assert_eq!(fetched.data("activity")["durationMinutes"], 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invalid_field_is_named_and_nothing_is_stored() {
    let stack = Stack::start_with(None, false).await;
    let (_, ada) = stack.register("ada").await;
    let start = ago(Span::hours(1));
    let deep = json!({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}});
    let huge = json!({"blob": "x".repeat(17 * 1024)});
    let cases = [
        ("durationMinutes", json!({"durationMinutes": 0})),
        ("durationMinutes", json!({"durationMinutes": 1441})),
        ("caloriesBurned", json!({"caloriesBurned": -1})),
        ("caloriesBurned", json!({"caloriesBurned": 20001})),
        (
            "startTime",
            json!({"startTime": (Utc::now() + Span::minutes(10)).to_rfc3339()}),
        ),
        ("notes", json!({"notes": "n".repeat(1001)})),
        (
            "metrics.averageHeartRate",
            json!({"metrics": {"averageHeartRate": 29}}),
        ),
        (
            "metrics.maxHeartRate",
            json!({"metrics": {"maxHeartRate": 251}}),
        ),
        (
            "metrics.averageHeartRate",
            json!({"metrics": {"averageHeartRate": 170, "maxHeartRate": 160}}),
        ),
        (
            "metrics.distanceKm",
            json!({"metrics": {"distanceKm": -2.0}}),
        ),
        ("metrics.steps", json!({"metrics": {"steps": -5}})),
        ("metrics.custom", json!({"metrics": {"custom": deep}})),
        ("metrics.custom", json!({"metrics": {"custom": huge}})),
        ("metrics.custom", json!({"metrics": {"custom": [1, 2]}})),
        ("idempotencyKey", json!({"idempotencyKey": ""})),
    ];
    for (field, overrides) in cases {
        let mut input = run(&start);
        for (k, v) in overrides.as_object().expect("object") {
            input[k] = v.clone();
        }
        let response = gql(
            &stack.router,
            LOG,
            json!({"input": input}),
            Some(token(&ada)),
        )
        .await;
        response.assert_code("BAD_USER_INPUT");
        assert_eq!(response.field(), Some(field), "{:#}", response.body);
    }
    // A type outside the enum is refused by the schema itself.
    let mut bad_type = run(&start);
    bad_type["type"] = json!("SKYDIVING");
    let response = gql(
        &stack.router,
        LOG,
        json!({"input": bad_type}),
        Some(token(&ada)),
    )
    .await;
    assert!(!response.errors().is_empty(), "{:#}", response.body);

    assert!(
        my_ids(&stack, token(&ada)).await.is_empty(),
        "something was stored"
    );
    assert!(queued_events(&stack).await.is_empty(), "an event was sent");
    gql(&stack.router, LOG, json!({"input": run(&start)}), None)
        .await
        .assert_code("UNAUTHENTICATED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_returns_the_first_activity() {
    let stack = Stack::start_with(None, false).await;
    let (_, ada) = stack.register("ada").await;
    let (_, bob) = stack.register("bob").await;
    let mut input = run(&ago(Span::hours(1)));
    input["idempotencyKey"] = json!("watch-sync-42");
    let first = log(&stack, token(&ada), input.clone()).await;
    input["durationMinutes"] = json!(99);
    let retry = log(&stack, token(&ada), input.clone()).await;
    assert_eq!(retry["id"], first["id"]);
    assert_eq!(
        retry["durationMinutes"], 30,
        "the first activity, unchanged"
    );
    assert_eq!(my_ids(&stack, token(&ada)).await.len(), 1);
    assert_eq!(
        queued_events(&stack).await.len(),
        1,
        "one event for one activity"
    );
    // Keys are per user.
    let bobs = log(&stack, token(&bob), input).await;
    assert_ne!(bobs["id"], first["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_updates_or_deletes_and_others_see_not_found() {
    let stack = Stack::start_with(None, false).await;
    let (_, ada) = stack.register("ada").await;
    let (_, bob) = stack.register("bob").await;
    let (_, admin) = stack.register_admin("root").await;
    let activity = log(&stack, token(&ada), run(&ago(Span::hours(3)))).await;
    let id = activity["id"].clone();
    let update = "mutation($id: ID!, $input: UpdateActivityInput!) { updateActivity(id: $id, input: $input) { id type durationMinutes caloriesBurned notes } }";
    let delete = "mutation($id: ID!) { deleteActivity(id: $id) }";
    let get = "query($id: ID!) { activity(id: $id) { id } }";

    let missing = gql(
        &stack.router,
        get,
        json!({"id": uuid::Uuid::new_v4()}),
        Some(token(&bob)),
    )
    .await;
    missing.assert_code("NOT_FOUND");
    for response in [
        gql(&stack.router, get, json!({"id": id}), Some(token(&bob))).await,
        gql(
            &stack.router,
            update,
            json!({"id": id, "input": {"durationMinutes": 5}}),
            Some(token(&bob)),
        )
        .await,
        gql(&stack.router, delete, json!({"id": id}), Some(token(&bob))).await,
    ] {
        response.assert_code("NOT_FOUND");
        assert_eq!(
            response.errors()[0]["message"],
            missing.errors()[0]["message"]
        );
    }
    // Admins may read anyone's activity.
    gql(&stack.router, get, json!({"id": id}), Some(&admin))
        .await
        .assert_ok();

    let updated = gql(
        &stack.router,
        update,
        json!({"id": id, "input": {"type": "HIKING", "durationMinutes": 95, "notes": "ridge"}}),
        Some(token(&ada)),
    )
    .await;
    updated.assert_ok();
    let updated = updated.data("updateActivity");
    assert_eq!(updated["type"], "HIKING");
    assert_eq!(updated["durationMinutes"], 95);
    assert_eq!(
        updated["caloriesBurned"], 300,
        "omitted fields keep their value"
    );
    assert_eq!(updated["notes"], "ridge");
    let invalid = gql(
        &stack.router,
        update,
        json!({"id": id, "input": {"durationMinutes": 0}}),
        Some(token(&ada)),
    )
    .await;
    invalid.assert_code("BAD_USER_INPUT");

    queued_events(&stack).await; // drain the ActivityLogged event
    let deleted = gql(&stack.router, delete, json!({"id": id}), Some(token(&ada))).await;
    deleted.assert_ok();
    assert_eq!(deleted.data("deleteActivity"), &id);
    let events = queued_events(&stack).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event"], "ActivityDeleted");
    assert_eq!(events[0]["activityId"], id);
    gql(&stack.router, get, json!({"id": id}), Some(token(&ada)))
        .await
        .assert_code("NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_activities_pages_newest_first_with_stable_cursors_and_filters() {
    let stack = Stack::start_with(None, false).await;
    let (_, ada) = stack.register("ada").await;
    let (_, bob) = stack.register("bob").await;
    let mut expected = Vec::new();
    for hours in 1..=5 {
        let mut input = run(&ago(Span::hours(hours)));
        if hours % 2 == 0 {
            input["type"] = json!("YOGA");
        }
        expected.push(log(&stack, token(&ada), input).await["id"].clone());
    }
    log(&stack, token(&bob), run(&ago(Span::minutes(5)))).await;

    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = gql(
            &stack.router,
            MINE,
            json!({"first": 2, "after": after}),
            Some(token(&ada)),
        )
        .await;
        page.assert_ok();
        let connection = page.data("myActivities");
        for edge in connection["edges"].as_array().expect("edges") {
            seen.push(edge["node"]["id"].clone());
        }
        if !connection["pageInfo"]["hasNextPage"]
            .as_bool()
            .expect("bool")
        {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
        // Logging something newer does not disturb a cursor already handed out.
        if seen.len() == 2 {
            log(&stack, token(&ada), run(&ago(Span::seconds(10)))).await;
        }
    }
    assert_eq!(seen, expected, "newest first, each once, only ada's");

    let yoga = gql(
        &stack.router,
        MINE,
        json!({"filter": {"types": ["YOGA"], "from": ago(Span::minutes(150))}}),
        Some(token(&ada)),
    )
    .await;
    yoga.assert_ok();
    let yoga_ids: Vec<Value> = yoga.data("myActivities")["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].clone())
        .collect();
    assert_eq!(yoga_ids, vec![expected[1].clone()]);

    let capped = gql(
        &stack.router,
        MINE,
        json!({"first": 5000}),
        Some(token(&ada)),
    )
    .await;
    capped.assert_ok();
    let bad_cursor = gql(
        &stack.router,
        MINE,
        json!({"after": "not-a-cursor"}),
        Some(token(&ada)),
    )
    .await;
    bad_cursor.assert_code("BAD_USER_INPUT");
    assert_eq!(bad_cursor.field(), Some("after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_totals_types_streaks_and_weeks() {
    let stack = Stack::start_with(None, false).await;
    let (_, ada) = stack.register("ada").await;
    // Today, yesterday and the day before (a 3-day streak), and one 10 days ago.
    for (days, kind, minutes) in [
        (0, "RUNNING", 30),
        (1, "RUNNING", 50),
        (2, "YOGA", 60),
        (10, "CYCLING", 90),
    ] {
        let start = (Utc::now() - Span::days(days) - Span::minutes(1)).to_rfc3339();
        let input = json!({"type": kind, "durationMinutes": minutes, "caloriesBurned": minutes * 10, "startTime": start});
        log(&stack, token(&ada), input).await;
    }
    let query = "query($range: StatsRangeInput) { myActivityStats(range: $range) { count totalDurationMinutes totalCaloriesBurned averageDurationMinutes averageCaloriesBurned byType { type count totalDurationMinutes } currentStreakDays longestStreakDays weeklyTrend { weekStart count totalDurationMinutes } } }";
    let response = gql(&stack.router, query, json!({}), Some(token(&ada))).await;
    response.assert_ok();
    let stats = response.data("myActivityStats");
    assert_eq!(stats["count"], 4);
    assert_eq!(stats["totalDurationMinutes"], 230);
    assert_eq!(stats["totalCaloriesBurned"], 2300);
    assert_eq!(stats["averageDurationMinutes"], 57.5);
    assert_eq!(
        stats["byType"],
        json!([
            {"type": "RUNNING", "count": 2, "totalDurationMinutes": 80},
            {"type": "CYCLING", "count": 1, "totalDurationMinutes": 90},
            {"type": "YOGA", "count": 1, "totalDurationMinutes": 60},
        ])
    );
    assert_eq!(stats["currentStreakDays"], 3);
    assert_eq!(stats["longestStreakDays"], 3);
    let weeks = stats["weeklyTrend"].as_array().expect("weeks");
    assert_eq!(weeks.len(), 12);
    let week_total: i64 = weeks
        .iter()
        .map(|w| w["count"].as_i64().expect("count"))
        .sum();
    assert_eq!(week_total, 4);

    let ranged = gql(
        &stack.router,
        query,
        json!({"range": {"from": ago(Span::days(5))}}),
        Some(token(&ada)),
    )
    .await;
    ranged.assert_ok();
    assert_eq!(ranged.data("myActivityStats")["count"], 3);
    // Streaks look at the whole history, not just the range.
    assert_eq!(ranged.data("myActivityStats")["currentStreakDays"], 3);

    let bad_offset = gql(
        &stack.router,
        "{ myActivityStats(utcOffsetMinutes: 5000) { count } }",
        json!({}),
        Some(token(&ada)),
    )
    .await;
    bad_offset.assert_code("BAD_USER_INPUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_carry_their_activities_and_stats_across_subgraphs() {
    let stack = Stack::start_with(None, false).await;
    let (_, ada) = stack.register("ada").await;
    let (_, bob) = stack.register("bob").await;
    let (_, admin) = stack.register_admin("root").await;
    for hours in 1..=3 {
        log(&stack, token(&ada), run(&ago(Span::hours(hours)))).await;
    }
    log(&stack, token(&bob), run(&ago(Span::hours(1)))).await;

    // `me` comes from the user subgraph; its activity fields from this one.
    let me = gql(
        &stack.router,
        "{ me { email activities(first: 2) { edges { node { id type } } pageInfo { hasNextPage } } activityStats { count } } }",
        json!({}),
        Some(token(&ada)),
    )
    .await;
    me.assert_ok();
    let me = me.data("me");
    assert_eq!(me["activities"]["edges"].as_array().map(Vec::len), Some(2));
    assert_eq!(me["activities"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(me["activityStats"]["count"], 3);

    // Admins see anyone's; others are refused.
    let by_id = "query($id: ID!) { user(id: $id) { activityStats { count } } }";
    let as_admin = gql(
        &stack.router,
        by_id,
        json!({"id": bob["user"]["id"]}),
        Some(&admin),
    )
    .await;
    as_admin.assert_ok();
    assert_eq!(as_admin.data("user")["activityStats"]["count"], 1);

    let all = gql(
        &stack.router,
        "{ activities(first: 100) { edges { node { id user { id } } } } platformActivityStats { totalActivities activitiesLast24Hours averageCaloriesBurned byType { type count } } }",
        json!({}),
        Some(&admin),
    )
    .await;
    all.assert_ok();
    assert_eq!(
        all.data("activities")["edges"].as_array().map(Vec::len),
        Some(4)
    );
    let platform = all.data("platformActivityStats");
    assert_eq!(platform["totalActivities"], 4);
    assert_eq!(platform["activitiesLast24Hours"], 4);
    assert_eq!(platform["averageCaloriesBurned"], 300.0);
    assert_eq!(platform["byType"], json!([{"type": "RUNNING", "count": 4}]));

    for query in [
        "{ activities { edges { node { id } } } }",
        "{ platformActivityStats { totalActivities } }",
    ] {
        gql(&stack.router, query, json!({}), Some(token(&ada)))
            .await
            .assert_code("FORBIDDEN");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_variables_and_refusals_reach_the_client_with_their_code_and_message() {
    let stack = Stack::start_with(None, false).await;
    let (email, auth) = stack.register("vars").await;
    let token = auth["accessToken"].as_str().expect("token");
    // The router does not check variable values; the subgraph's refusal must
    // still arrive as BAD_USER_INPUT with a message that says what is wrong.
    let unknown_type = gql(
        &stack.router,
        LOG,
        json!({"input": {"type": "POGO", "durationMinutes": 5, "caloriesBurned": 1,
                         "startTime": Utc::now().to_rfc3339()}}),
        Some(token),
    )
    .await;
    unknown_type.assert_code("BAD_USER_INPUT");
    let message = unknown_type.errors()[0]["message"]
        .as_str()
        .expect("message");
    assert!(message.contains("POGO"), "{message}");

    // Messages written for users are not replaced by the router.
    let wrong = stack.login(&email, "not my password").await;
    wrong.assert_code("UNAUTHENTICATED");
    assert_eq!(wrong.errors()[0]["message"], "Invalid email or password");
}

const CHANGES: &str = "query($since: String, $first: Int) { activityChanges(since: $since, first: $first) { changes { kind activityId activity { id notes } } cursor hasMore } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_syncs_from_the_change_feed_with_tombstones() {
    let stack = Stack::start_with(None, false).await;
    let (_, ada) = stack.register("sync").await;
    let (_, bob) = stack.register("other").await;
    let ada = token(&ada);
    let kept = log(&stack, ada, run(&ago(Span::hours(3)))).await;
    let gone = log(&stack, ada, run(&ago(Span::hours(2)))).await;
    log(&stack, token(&bob), run(&ago(Span::hours(1)))).await;
    gql(
        &stack.router,
        "mutation($id: ID!) { updateActivity(id: $id, input: { notes: \"edited\" }) { id } }",
        json!({"id": kept["id"]}),
        Some(ada),
    )
    .await
    .assert_ok();
    gql(
        &stack.router,
        "mutation($id: ID!) { deleteActivity(id: $id) }",
        json!({"id": gone["id"]}),
        Some(ada),
    )
    .await
    .assert_ok();
    // The feed runs a few seconds behind (CHANGES_SETTLE_SECONDS).
    tokio::time::sleep(Duration::from_secs(6)).await;
    let page = |since: Value, first: u32| {
        let router = stack.router.clone();
        async move {
            let answer = gql(
                &router,
                CHANGES,
                json!({"since": since, "first": first}),
                Some(ada),
            )
            .await;
            answer.assert_ok();
            answer.data("activityChanges").clone()
        }
    };
    let first = page(Value::Null, 1).await;
    assert_eq!(first["hasMore"], true);
    assert_eq!(first["changes"][0]["kind"], "UPDATED");
    assert_eq!(first["changes"][0]["activity"]["notes"], "edited");
    let second = page(first["cursor"].clone(), 10).await;
    assert_eq!(second["hasMore"], false);
    assert_eq!(
        second["changes"],
        json!([{"kind": "DELETED", "activityId": gone["id"], "activity": null}])
    );
    // Nothing new: the same cursor back, no changes.
    let idle = page(second["cursor"].clone(), 10).await;
    assert_eq!(idle["changes"], json!([]));
    assert_eq!(idle["cursor"], second["cursor"]);
    let forged = gql(
        &stack.router,
        CHANGES,
        json!({"since": "not-a-cursor"}),
        Some(ada),
    )
    .await;
    forged.assert_code("BAD_USER_INPUT");
    assert_eq!(forged.field(), Some("since"));
}

const GOAL: &str = "mutation($input: GoalInput!) { createGoal(input: $input) { id period metric target types timeZone progress { periodStart periodEnd value fraction achieved } } }";
const GOALS: &str =
    "query { myGoals { id metric target progress { periodStart value fraction achieved } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_goals_week_is_local_to_its_time_zone_and_bad_goals_are_refused() {
    let stack = Stack::start().await;
    let (_, ada) = stack.register("goalie").await;
    let (_, eve) = stack.register("meddler").await;
    // This week in Auckland: from Monday 00:00 there, whatever UTC says.
    let zone: chrono_tz::Tz = "Pacific/Auckland".parse().expect("zone");
    let local_today = Utc::now().with_timezone(&zone).date_naive();
    let monday = local_today
        - Span::days(i64::from(
            chrono::Datelike::weekday(&local_today).num_days_from_monday(),
        ));
    let week_start = chrono::TimeZone::from_local_datetime(
        &zone,
        &monday.and_hms_opt(0, 0, 0).expect("midnight"),
    )
    .earliest()
    .expect("Auckland has midnight")
    .with_timezone(&Utc);
    let at = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let ran = |start: String, km: f64| {
        json!({"type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300,
               "startTime": start, "metrics": {"distanceKm": km}})
    };
    // A minute into the week, and a minute before it began.
    log(
        &stack,
        token(&ada),
        ran(at(week_start + Span::minutes(1)), 6.0),
    )
    .await;
    log(
        &stack,
        token(&ada),
        ran(at(week_start - Span::minutes(1)), 10.0),
    )
    .await;
    let yoga = json!({"type": "YOGA", "durationMinutes": 60, "caloriesBurned": 200,
                      "startTime": at(week_start + Span::minutes(5))});
    log(&stack, token(&ada), yoga).await;

    let created = gql(
        &stack.router,
        GOAL,
        json!({"input": {"period": "WEEK", "metric": "DISTANCE", "target": 10000.0,
                         "types": ["RUNNING"], "timeZone": "Pacific/Auckland"}}),
        Some(token(&ada)),
    )
    .await;
    created.assert_ok();
    let goal = created.data("createGoal").clone();
    let start: chrono::DateTime<Utc> = goal["progress"]["periodStart"]
        .as_str()
        .expect("start")
        .parse()
        .expect("a time");
    assert_eq!(start, week_start, "{goal:#}");
    assert_eq!(
        goal["progress"]["value"], 6000.0,
        "only this week's run: {goal:#}"
    );
    assert_eq!(goal["progress"]["fraction"], 0.6);
    assert_eq!(goal["progress"]["achieved"], false);
    let count = gql(
        &stack.router,
        GOAL,
        json!({"input": {"period": "WEEK", "metric": "COUNT", "target": 2, "timeZone": "Pacific/Auckland"}}),
        Some(token(&ada)),
    )
    .await;
    count.assert_ok();
    assert_eq!(
        count.data("createGoal")["progress"]["achieved"],
        true,
        "{:#}",
        count.data("createGoal")
    );
    let mine = gql(&stack.router, GOALS, json!({}), Some(token(&ada))).await;
    mine.assert_ok();
    assert_eq!(mine.data("myGoals").as_array().map(Vec::len), Some(2));

    // Bad goals get clear errors; nothing is kept.
    for (input, field) in [
        (
            json!({"period": "WEEK", "metric": "DISTANCE", "target": 5000, "timeZone": "Mars/Olympus_Mons"}),
            "Mars/Olympus_Mons",
        ),
        (
            json!({"period": "WEEK", "metric": "DISTANCE", "target": -1, "timeZone": "UTC"}),
            "target",
        ),
        (
            json!({"period": "MONTH", "metric": "COUNT", "target": 2.5, "timeZone": "UTC"}),
            "whole number",
        ),
    ] {
        let refused = gql(
            &stack.router,
            GOAL,
            json!({"input": input}),
            Some(token(&ada)),
        )
        .await;
        refused.assert_code("BAD_USER_INPUT");
        assert!(
            refused.errors()[0]["message"]
                .as_str()
                .unwrap_or("")
                .contains(field),
            "{:#?}",
            refused.errors()
        );
    }
    let mine = gql(&stack.router, GOALS, json!({}), Some(token(&ada))).await;
    assert_eq!(mine.data("myGoals").as_array().map(Vec::len), Some(2));
    // Someone else's goal is not found, whatever they try.
    let id = goal["id"].clone();
    gql(
        &stack.router,
        "mutation($id: ID!) { deleteGoal(id: $id) }",
        json!({"id": id}),
        Some(token(&eve)),
    )
    .await
    .assert_code("NOT_FOUND");
    gql(
        &stack.router,
        "mutation($id: ID!, $input: GoalInput!) { updateGoal(id: $id, input: $input) { id } }",
        json!({"id": id, "input": {"period": "WEEK", "metric": "COUNT", "target": 1, "timeZone": "UTC"}}),
        Some(token(&eve)),
    )
    .await
    .assert_code("NOT_FOUND");
    // The owner changes it: progress follows the new target.
    let updated = gql(
        &stack.router,
        "mutation($id: ID!, $input: GoalInput!) { updateGoal(id: $id, input: $input) { target progress { fraction achieved } } }",
        json!({"id": id, "input": {"period": "WEEK", "metric": "DISTANCE", "target": 5000, "types": ["RUNNING"], "timeZone": "Pacific/Auckland"}}),
        Some(token(&ada)),
    )
    .await;
    updated.assert_ok();
    assert_eq!(updated.data("updateGoal")["progress"]["achieved"], true);
    // At most 20 goals.
    for n in 2..20 {
        gql(
            &stack.router,
            GOAL,
            json!({"input": {"period": "MONTH", "metric": "CALORIES", "target": 1000 + n, "timeZone": "UTC"}}),
            Some(token(&ada)),
        )
        .await
        .assert_ok();
    }
    let over = gql(
        &stack.router,
        GOAL,
        json!({"input": {"period": "MONTH", "metric": "CALORIES", "target": 1, "timeZone": "UTC"}}),
        Some(token(&ada)),
    )
    .await;
    over.assert_code("BAD_USER_INPUT");
    assert!(over.errors()[0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("At most 20 goals"));
}

const GEAR: &str = "mutation($input: GearInput!) { createGear(input: $input) { id name defaultFor activityCount distanceMetres durationSeconds needsReplacing retired } }";
const MY_GEAR: &str = "query { myGear { id name activityCount distanceMetres durationSeconds needsReplacing retired } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gear_takes_its_workouts_distance_and_warns_when_worn() {
    let stack = Stack::start().await;
    let (_, ada) = stack.register("runner").await;
    let (_, eve) = stack.register("borrower").await;
    let shoes = gql(
        &stack.router,
        GEAR,
        json!({"input": {"kind": "SHOES", "name": "  Pegasus 41 ", "defaultFor": ["RUNNING"], "warnAtMetres": 10000}}),
        Some(token(&ada)),
    )
    .await;
    shoes.assert_ok();
    let shoes = shoes.data("createGear").clone();
    assert_eq!(shoes["name"], "Pegasus 41");
    assert_eq!(shoes["activityCount"], 0);
    // Logged runs take the default shoes.
    let mut runs = Vec::new();
    for km in [6.0, 5.0] {
        let input = json!({"type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300,
                           "startTime": ago(Span::hours(2)), "metrics": {"distanceKm": km}});
        runs.push(log(&stack, token(&ada), input).await["id"].clone());
    }
    let mine = gql(&stack.router, MY_GEAR, json!({}), Some(token(&ada))).await;
    mine.assert_ok();
    let worn = &mine.data("myGear")[0];
    assert_eq!(
        (
            &worn["activityCount"],
            &worn["distanceMetres"],
            &worn["durationSeconds"],
            &worn["needsReplacing"]
        ),
        (&json!(2), &json!(11000.0), &json!(3600), &json!(true)),
        "{worn:#}"
    );
    let page = gql(
        &stack.router,
        "query($id: ID!) { activity(id: $id) { gearId } }",
        json!({"id": runs[0]}),
        Some(token(&ada)),
    )
    .await;
    page.assert_ok();
    assert_eq!(page.data("activity")["gearId"], shoes["id"]);
    // Cleared by hand, the run no longer counts.
    let cleared = gql(
        &stack.router,
        "mutation($a: ID!) { setActivityGear(activityId: $a) { id gearId } }",
        json!({"a": runs[0]}),
        Some(token(&ada)),
    )
    .await;
    cleared.assert_ok();
    assert!(cleared.data("setActivityGear")["gearId"].is_null());
    let mine = gql(&stack.router, MY_GEAR, json!({}), Some(token(&ada))).await;
    assert_eq!(mine.data("myGear")[0]["distanceMetres"], 5000.0);
    assert_eq!(mine.data("myGear")[0]["needsReplacing"], false);
    // Someone else can neither put their gear on it nor use these shoes.
    let theirs = gql(
        &stack.router,
        GEAR,
        json!({"input": {"kind": "BIKE", "name": "Allez"}}),
        Some(token(&eve)),
    )
    .await;
    theirs.assert_ok();
    let theirs = theirs.data("createGear")["id"].clone();
    for (who, activity, gear) in [(&ada, &runs[0], &theirs), (&eve, &runs[0], &theirs)] {
        gql(
            &stack.router,
            "mutation($a: ID!, $g: ID) { setActivityGear(activityId: $a, gearId: $g) { id } }",
            json!({"a": activity, "g": gear}),
            Some(token(who)),
        )
        .await
        .assert_code("NOT_FOUND");
    }
    // Bad gear gets clear errors.
    for input in [
        json!({"kind": "SHOES", "name": "   "}),
        json!({"kind": "SHOES", "name": "x".repeat(101)}),
        json!({"kind": "SHOES", "name": "ok", "warnAtMetres": -5}),
    ] {
        gql(
            &stack.router,
            GEAR,
            json!({"input": input}),
            Some(token(&ada)),
        )
        .await
        .assert_code("BAD_USER_INPUT");
    }
    // Retired shoes keep their history and stop being the default.
    let retired = gql(
        &stack.router,
        "mutation($id: ID!) { retireGear(id: $id) { retired activityCount } }",
        json!({"id": shoes["id"]}),
        Some(token(&ada)),
    )
    .await;
    retired.assert_ok();
    assert_eq!(
        retired.data("retireGear"),
        &json!({"retired": true, "activityCount": 1})
    );
    let later = json!({"type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300, "startTime": ago(Span::hours(1))});
    let later = log(&stack, token(&ada), later).await;
    let page = gql(
        &stack.router,
        "query($id: ID!) { activity(id: $id) { gearId } }",
        json!({"id": later["id"]}),
        Some(token(&ada)),
    )
    .await;
    assert!(page.data("activity")["gearId"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workout_logged_by_hand_holds_the_longest_duration_until_beaten_or_changed() {
    let stack = Stack::start().await;
    let (_, ada) = stack.register("stayer").await;
    let records = "query { myRecords { kind type value activityId } }";
    let longest = |response: &support::GqlResponse| {
        response
            .data("myRecords")
            .as_array()
            .expect("records")
            .iter()
            .filter(|r| r["kind"] == "LONGEST_DURATION" && r["type"] == "RUNNING")
            .map(|r| (r["value"].as_f64().unwrap_or(0.0), r["activityId"].clone()))
            .collect::<Vec<_>>()
    };
    let first = log(&stack, token(&ada), run(&ago(Span::days(2)))).await;
    let longer = json!({"type": "RUNNING", "durationMinutes": 45, "caloriesBurned": 400, "startTime": ago(Span::days(1))});
    let second = log(&stack, token(&ada), longer).await;
    let now = gql(&stack.router, records, json!({}), Some(token(&ada))).await;
    now.assert_ok();
    assert_eq!(longest(&now), [(2700.0, second["id"].clone())]);
    // Shortened, the second run gives the record back to the first.
    gql(
        &stack.router,
        "mutation($id: ID!) { updateActivity(id: $id, input: {durationMinutes: 20}) { id } }",
        json!({"id": second["id"]}),
        Some(token(&ada)),
    )
    .await
    .assert_ok();
    let now = gql(&stack.router, records, json!({}), Some(token(&ada))).await;
    assert_eq!(longest(&now), [(1800.0, first["id"].clone())]);
    // Deleted, the first hands it on again.
    gql(
        &stack.router,
        "mutation($id: ID!) { deleteActivity(id: $id) }",
        json!({"id": first["id"]}),
        Some(token(&ada)),
    )
    .await
    .assert_ok();
    let now = gql(&stack.router, records, json!({}), Some(token(&ada))).await;
    assert_eq!(longest(&now), [(1200.0, second["id"].clone())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workout_keeps_where_it_was_done_and_shows_its_local_time() {
    let stack = Stack::start().await;
    let (_, ada) = stack.register("traveller").await;
    let fields = "id timeZone localStartTime startTime";
    let logged = gql(
        &stack.router,
        &format!(
            "mutation($input: LogActivityInput!) {{ logActivity(input: $input) {{ {fields} }} }}"
        ),
        json!({"input": {"type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300,
                         "startTime": "2026-07-01T22:30:00Z", "timeZone": " Asia/Tokyo"}}),
        Some(token(&ada)),
    )
    .await;
    logged.assert_ok();
    let run = logged.data("logActivity").clone();
    assert_eq!(run["timeZone"], "Asia/Tokyo");
    assert_eq!(run["localStartTime"], "2026-07-02T07:30:00", "{run:#}");
    // A zone that is not one is refused, and nothing is stored.
    let refused = gql(
        &stack.router,
        LOG,
        json!({"input": {"type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300,
                         "startTime": ago(Span::hours(1)), "timeZone": "GMT+25"}}),
        Some(token(&ada)),
    )
    .await;
    refused.assert_code("BAD_USER_INPUT");
    assert_eq!(
        refused.errors()[0]["extensions"]["field"],
        "timeZone",
        "{:#?}",
        refused.errors()
    );
    assert_eq!(my_ids(&stack, token(&ada)).await.len(), 1);
    // Moved, then forgotten.
    let update = format!(
        "mutation($id: ID!, $zone: String) {{ updateActivity(id: $id, input: {{timeZone: $zone}}) {{ {fields} }} }}"
    );
    let moved = gql(
        &stack.router,
        &update,
        json!({"id": run["id"], "zone": "America/New_York"}),
        Some(token(&ada)),
    )
    .await;
    moved.assert_ok();
    assert_eq!(
        moved.data("updateActivity")["localStartTime"],
        "2026-07-01T18:30:00"
    );
    let forgotten = gql(
        &stack.router,
        &update,
        json!({"id": run["id"], "zone": ""}),
        Some(token(&ada)),
    )
    .await;
    forgotten.assert_ok();
    assert!(forgotten.data("updateActivity")["timeZone"].is_null());
    assert!(forgotten.data("updateActivity")["localStartTime"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_local_days_in_a_time_zone_across_a_clock_change() {
    let stack = Stack::start().await;
    let (_, ada) = stack.register("dst").await;
    // Paris moved to summer time on 2026-03-29: these are 00:30 on the 29th
    // (UTC+1) and 00:30 on the 30th (UTC+2), two days in a row there, but
    // one day at a fixed UTC+1.
    for start in ["2026-03-28T23:30:00Z", "2026-03-29T22:30:00Z"] {
        log(&stack, token(&ada), run(start)).await;
    }
    let stats = "query($offset: Int!, $zone: String) { myActivityStats(utcOffsetMinutes: $offset, timeZone: $zone) { count longestStreakDays } }";
    let zoned = gql(
        &stack.router,
        stats,
        json!({"offset": 0, "zone": "Europe/Paris"}),
        Some(token(&ada)),
    )
    .await;
    zoned.assert_ok();
    assert_eq!(
        zoned.data("myActivityStats"),
        &json!({"count": 2, "longestStreakDays": 2})
    );
    let fixed = gql(
        &stack.router,
        stats,
        json!({"offset": 60, "zone": null}),
        Some(token(&ada)),
    )
    .await;
    fixed.assert_ok();
    assert_eq!(
        fixed.data("myActivityStats"),
        &json!({"count": 2, "longestStreakDays": 1})
    );
    let bad = gql(
        &stack.router,
        stats,
        json!({"offset": 0, "zone": "Europe/Atlantis"}),
        Some(token(&ada)),
    )
    .await;
    bad.assert_code("BAD_USER_INPUT");
    assert_eq!(bad.field(), Some("timeZone"));
}
