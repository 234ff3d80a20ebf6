//! What replicas must agree on, checked on a [`Topology::Replicated`] stack
//! after its load: each request below goes to one router replica directly,
//! and from there through HAProxy to whichever subgraph replica is next.
//!
//! [`Topology::Replicated`]: super::stack::Topology::Replicated

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{
    load::{call, call_ok, Outcome},
    stack::FaultStack,
    support::{unique_email, WsSubscription, PASSWORD},
};

const REGISTER: &str =
    "mutation($input: RegisterInput!) { register(input: $input) { accessToken refreshToken } }";
const ME: &str = "{ me { id } }";
const LOGOUT: &str = "mutation($token: String!) { logout(refreshToken: $token) }";
const DASHBOARD: &str = "{ adminDashboard { users { total } } }";
const LOG_ACTIVITY: &str =
    "mutation($input: LogActivityInput!) { logActivity(input: $input) { id } }";
const RECOMMENDATION_ADDED: &str = "subscription { recommendationAdded { activityId } }";

/// How long a revocation may take to reach every replica: each keeps what
/// it read for `kit::config::DEFAULT_REVOCATION_CACHE_MS` (2 s).
const REVOCATION_REACHES_ALL: Duration = Duration::from_secs(4);

async fn register(http: &reqwest::Client, stack: &FaultStack, prefix: &str) -> (String, String) {
    let data = call_ok(
        http,
        &stack.router(),
        REGISTER,
        json!({"input": {"email": unique_email(prefix), "password": PASSWORD}}),
        None,
    )
    .await;
    let text = |field: &str| {
        data["register"][field]
            .as_str()
            .expect("a token")
            .to_owned()
    };
    (text("accessToken"), text("refreshToken"))
}

/// A session ended through one router is refused by both routers, whichever
/// user, activity or AI replica answers, within the revocation cache's
/// lifetime.
pub async fn a_revoked_session_is_refused_by_every_replica(stack: &FaultStack) {
    let http = reqwest::Client::new();
    let (access, refresh) = register(&http, stack, "replica-revoked").await;
    for r in [0, 1, 0, 1] {
        call_ok(
            &http,
            &stack.router_replica(r),
            ME,
            json!({}),
            Some(&access),
        )
        .await;
    }
    let (outcome, _) = call(
        &http,
        &stack.router_replica(0),
        LOGOUT,
        json!({"token": refresh}),
        Some(&access),
    )
    .await;
    assert_eq!(outcome, Outcome::Ok, "logout through router 0");
    let ended = Instant::now();
    // Eight reads in a row, four through each router, all refused.
    let mut refused_in_a_row = 0;
    while refused_in_a_row < 8 {
        let router = stack.router_replica((refused_in_a_row % 2) as u8);
        let (outcome, _) = call(&http, &router, ME, json!({}), Some(&access)).await;
        if outcome == Outcome::Code("UNAUTHENTICATED".into()) {
            refused_in_a_row += 1;
        } else {
            refused_in_a_row = 0;
            assert!(
                ended.elapsed() < REVOCATION_REACHES_ALL,
                "a replica still took the revoked token {:?} after the logout ({outcome:?})",
                ended.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eprintln!(
        "revocation: refused by every replica {:?} after the logout",
        ended.elapsed()
    );
}

/// `count` admin dashboards through the routers' balancer: each asks the
/// user, activity, AI and admin subgraphs for their parts.
pub async fn dashboards(stack: &FaultStack, admin_token: &str, count: usize) {
    let http = reqwest::Client::new();
    for _ in 0..count {
        call_ok(
            &http,
            &stack.router(),
            DASHBOARD,
            json!({}),
            Some(admin_token),
        )
        .await;
    }
}

/// The dashboard's parts are cached once for every replica (in Redis): an
/// account made after the first read is not counted by any replica's read
/// within the cache's 60 s, as it would be by a replica that computed its
/// own.
pub async fn the_dashboard_cache_is_one_cache(stack: &FaultStack, admin_token: &str) {
    let http = reqwest::Client::new();
    let total = |data: Value| data["adminDashboard"]["users"]["total"].as_i64();
    let first = total(
        call_ok(
            &http,
            &stack.router_replica(0),
            DASHBOARD,
            json!({}),
            Some(admin_token),
        )
        .await,
    )
    .expect("a user count");
    register(&http, stack, "replica-dashboard").await;
    for r in [1, 0, 1, 0, 1, 0] {
        let seen = total(
            call_ok(
                &http,
                &stack.router_replica(r),
                DASHBOARD,
                json!({}),
                Some(admin_token),
            )
            .await,
        );
        assert_eq!(
            seen,
            Some(first),
            "router {r} saw a dashboard of its own (first read {first})"
        );
    }
}

/// A subscriber connected through router 0 hears of the recommendation for
/// a workout logged through router 1: its job went to whichever worker took
/// it, which published it on the Redis bus to whichever AI replica holds the
/// subscription.
pub async fn a_subscriber_on_one_router_hears_of_work_done_behind_the_other(stack: &FaultStack) {
    let http = reqwest::Client::new();
    let (access, _) = register(&http, stack, "replica-live").await;
    let mut feed = WsSubscription::open(
        &stack.router_replica_ws(0),
        json!({"Authorization": format!("Bearer {access}")}),
        RECOMMENDATION_ADDED,
    )
    .await
    .expect("subscribes through router 0");
    // Give the subscription time to reach the AI replica before the work.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut logged = Vec::new();
    for n in 0..4 {
        let data = call_ok(
            &http,
            &stack.router_replica(1),
            LOG_ACTIVITY,
            json!({"input": {
                "type": "RUNNING", "durationMinutes": 30 + n, "caloriesBurned": 300,
                "startTime": chrono::Utc::now().to_rfc3339(),
                "idempotencyKey": uuid::Uuid::new_v4().to_string(),
            }}),
            Some(&access),
        )
        .await;
        logged.push(
            data["logActivity"]["id"]
                .as_str()
                .expect("an id")
                .to_owned(),
        );
    }
    let mut heard = Vec::new();
    while heard.len() < logged.len() {
        let event = feed
            .next(Duration::from_secs(20))
            .await
            .unwrap_or_else(|e| panic!("router 0's subscriber heard {heard:?} of {logged:?}: {e}"));
        heard.push(
            event["data"]["recommendationAdded"]["activityId"]
                .as_str()
                .expect("an activity id")
                .to_owned(),
        );
    }
    heard.sort();
    logged.sort();
    assert_eq!(
        heard, logged,
        "one recommendation for each workout, each heard once"
    );
}

/// Sends `query` `count` times, alternating between the two routers: how
/// many each answered and how many each refused with `RATE_LIMITED`. Any
/// other outcome fails the test.
async fn alternate_routers(
    stack: &FaultStack,
    query: &str,
    token: Option<&str>,
    count: usize,
) -> ([usize; 2], [usize; 2]) {
    let http = reqwest::Client::new();
    let mut answered = [0usize; 2];
    let mut refused = [0usize; 2];
    for n in 0..count {
        let r = n % 2;
        let (outcome, _) = call(
            &http,
            &stack.router_replica(r as u8),
            query,
            json!({}),
            token,
        )
        .await;
        match outcome {
            Outcome::Ok => answered[r] += 1,
            Outcome::Code(code) if code == "RATE_LIMITED" => refused[r] += 1,
            other => panic!("router {r}: {other:?}"),
        }
    }
    (answered, refused)
}

/// `quota` requests a minute per user, on two routers: a user alternating
/// between them is answered `quota` times in all, then refused
/// (`RATE_LIMITED`) by both.
pub async fn two_routers_grant_one_quota(stack: &FaultStack, quota: usize) {
    let (access, _) = register(&reqwest::Client::new(), stack, "replica-quota").await;
    let (answered, refused) = alternate_routers(stack, ME, Some(&access), quota * 2).await;
    assert_eq!(
        answered[0] + answered[1],
        quota,
        "answered {answered:?} and refused {refused:?} by routers 0 and 1 for a quota of {quota}"
    );
    assert!(
        refused[0] > 0 && refused[1] > 0,
        "both routers refuse: {refused:?}"
    );
}

/// `quota` requests a minute per address, on two routers: whatever the
/// address already spent (the user quota's requests above count too), it
/// is answered `quota` times in all within the minute, then refused by both.
pub async fn two_routers_grant_one_address_quota(stack: &FaultStack, quota: usize) {
    let (answered, refused) = alternate_routers(stack, "{ __typename }", None, quota * 2).await;
    let answered = answered[0] + answered[1];
    assert!(
        answered < quota,
        "{answered} anonymous requests answered after the user's: one quota of {quota} for both routers"
    );
    assert!(
        refused[0] > 0 && refused[1] > 0,
        "both routers refuse: {refused:?}"
    );
    assert_eq!(answered + refused[0] + refused[1], quota * 2);
}
