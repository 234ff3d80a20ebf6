//! The fault-injection harness: FitTrack as separate processes on real
//! PostgreSQL, Redis and nx-27017 ([`stack`]), a mixed load of sign-ins,
//! `logActivity`, history reads, sign-ups, moderation and live subscriptions
//! ([`load`]), one fault per scenario on a schedule, then the invariants,
//! checked on the data ([`invariants`]).
//!
//! `cargo test --test faults` runs one short round of every scenario;
//! `.ci/run` runs two (`FITTRACK_FAULT_ROUNDS=2`) on its real-services pass.
//! The soak repeats the faults for
//! longer: `FITTRACK_FAULT_ROUNDS=40 cargo test --release --test faults -- --test-threads 1`
//! (about 30 minutes; see RELIABILITY.md). Each scenario prints its line of
//! the table in RELIABILITY.md.
//!
//! Needs redis-server, PostgreSQL's binaries (run as root, for `su postgres`),
//! nx-27017, and HAProxy for the replicated stack; skipped where missing unless `FITTRACK_REQUIRE_FAULT_HARNESS`
//! is set, and skipped on purpose with `FITTRACK_FAULT_HARNESS=off` (the
//! embedded-defaults pass of `.ci/run`, which would only run it twice).

use fittrack_testkit as support;

mod backends;
mod balancer;
mod invariants;
mod load;
mod proxy;
mod replicas;
mod stack;

use std::time::{Duration, Instant};

use load::{Load, Outcome};
use stack::{FaultStack, Service, Topology};

/// Simulated users (each with a request loop and a subscription).
const USERS: usize = 4;
/// Load before the first fault and after the last one heals.
const STEADY: Duration = Duration::from_secs(4);

/// One scenario at a time: each runs a whole stack on two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn rounds() -> u32 {
    std::env::var("FITTRACK_FAULT_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// When one fault began and healed.
struct Window {
    began: Instant,
    healed: Instant,
}

impl Window {
    /// Times `fault`, which breaks something and heals it.
    async fn around(fault: impl std::future::Future<Output = ()>) -> Self {
        let began = Instant::now();
        fault.await;
        Self {
            began,
            healed: Instant::now(),
        }
    }
}

/// The network faults, one after the other on `link`: 1 s of latency, a
/// black hole (bytes vanish, the connection stays open), a reset (connections
/// cut, new ones refused); 3 s each.
async fn latency_black_hole_reset(link: &mut proxy::FaultProxy) {
    link.latency(Duration::from_secs(1)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    link.heal().await;
    link.black_hole().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    link.heal().await;
    link.disable();
    tokio::time::sleep(Duration::from_secs(3)).await;
    link.enable().await;
}

async fn stack_or_skip() -> Option<FaultStack> {
    stack_or_skip_with(Topology::Single).await
}

async fn stack_or_skip_with(topology: Topology) -> Option<FaultStack> {
    if std::env::var("FITTRACK_FAULT_HARNESS").is_ok_and(|v| v == "off") {
        eprintln!("fault harness off (FITTRACK_FAULT_HARNESS=off)");
        return None;
    }
    match FaultStack::start(topology).await {
        Ok(stack) => Some(stack),
        Err(why) => {
            assert!(
                std::env::var_os("FITTRACK_REQUIRE_FAULT_HARNESS").is_none(),
                "fault harness required: {why}"
            );
            eprintln!("fault harness skipped: {why}");
            None
        }
    }
}

/// Runs `fault` `rounds()` times under load and checks everything after.
/// The fault returns its window(s); the report gives, over all rounds, the
/// worst time from a fault to the first failed request (detect), from healing
/// to the last failed request (recover), the requests failed, and the data lost.
async fn scenario<F>(name: &str, fault: F) -> Option<load::Finished>
where
    F: for<'s> FnMut(
        &'s mut FaultStack,
    )
        -> std::pin::Pin<Box<dyn std::future::Future<Output = Window> + Send + 's>>,
{
    scenario_on(Topology::Single, name, fault)
        .await
        .map(|(finished, _)| finished)
}

/// [`scenario`] on a stack of `topology`, which it hands back for more checks.
async fn scenario_on<F>(
    topology: Topology,
    name: &str,
    mut fault: F,
) -> Option<(load::Finished, FaultStack)>
where
    F: for<'s> FnMut(
        &'s mut FaultStack,
    )
        -> std::pin::Pin<Box<dyn std::future::Future<Output = Window> + Send + 's>>,
{
    let _one = ONE_AT_A_TIME.lock().await;
    let mut stack = stack_or_skip_with(topology).await?;
    let admin = stack.create_admin();
    let load = Load::start(&stack.router(), &stack.router_ws(), USERS, admin).await;
    tokio::time::sleep(STEADY).await;
    let mut windows = Vec::new();
    for _ in 0..rounds() {
        windows.push(fault(&mut stack).await);
        stack.assert_all_running();
        tokio::time::sleep(STEADY).await;
    }
    let finished = load.stop().await;
    stack.assert_all_running();
    let broken = invariants::check(&stack, &finished).await;

    let tally = &finished.tally;
    let (mut detect, mut recover) = (None::<Duration>, Duration::ZERO);
    for window in &windows {
        if let Some(first) = tally.failures.iter().find(|t| **t >= window.began) {
            let took = first.duration_since(window.began);
            detect = Some(detect.map_or(took, |d| d.max(took)));
        }
        let next = windows.iter().map(|w| w.began).find(|b| *b > window.healed);
        if let Some(last) = tally
            .failures
            .iter()
            .filter(|t| **t >= window.healed && next.is_none_or(|n| **t < n))
            .max()
        {
            recover = recover.max(last.duration_since(window.healed));
        }
    }
    // Subscribers: the longest any took to be told of the first fault, if it
    // touched them at all.
    let mut told: Option<Duration> = None;
    if let Some(window) = windows.first() {
        let began = chrono::Utc::now()
            - chrono::Duration::from_std(window.began.elapsed()).unwrap_or_default();
        for user in &finished.users {
            let log = user.subscriber.lock().await;
            if let Some(gap) = log.gaps.iter().find(|gap| gap.to > began) {
                let took = (gap.from - began).to_std().unwrap_or_default();
                told = Some(told.map_or(took, |t| t.max(took)));
            }
        }
    }
    eprintln!(
        "| {name} | {} | {:.1} s | {}/{} | {} | {} |",
        detect.map_or("no failure seen".into(), |d| format!(
            "{:.1} s",
            d.as_secs_f64()
        )),
        recover.as_secs_f64(),
        tally.failed(),
        tally.total(),
        told.map_or("not interrupted".into(), |t| format!(
            "told in {:.1} s",
            t.as_secs_f64()
        )),
        if broken.is_empty() {
            "none".to_owned()
        } else {
            format!("{} invariants broken", broken.len())
        },
    );
    eprintln!("outcomes: {:?}", tally.outcomes);
    assert!(
        broken.is_empty(),
        "{name}: invariants broken:\n{}",
        broken.join("\n")
    );
    assert_eq!(
        tally.count("logActivity", |o| *o == Outcome::Hang)
            + tally.count("history", |o| *o == Outcome::Hang)
            + tally.count("login", |o| *o == Outcome::Hang)
            + tally.count("register", |o| *o == Outcome::Hang)
            + tally.count("suspendUser", |o| *o == Outcome::Hang),
        0,
        "{name}: a request got no answer within {:?} (slowest {:?})",
        load::CLIENT_TIMEOUT,
        tally.slowest
    );
    let internal = tally.outcomes.iter().find(|((_, outcome), _)| {
        matches!(outcome, Outcome::Code(code) if code == "INTERNAL_SERVER_ERROR" || code == "NONE")
    });
    assert!(
        internal.is_none(),
        "{name}: an outage must have its own code, not {internal:?}"
    );
    assert!(
        recover < Duration::from_secs(15),
        "{name}: still failing {recover:?} after the fault healed"
    );
    Some((finished, stack))
}

/// Each user's subscription delivered something after the last fault healed.
async fn subscribers_resumed(finished: &load::Finished, after: chrono::DateTime<chrono::Utc>) {
    for user in &finished.users {
        let log = user.subscriber.lock().await;
        assert!(
            log.received.values().any(|at| *at > after),
            "{}'s subscription went deaf after the fault (gaps {:?}, reasons {:?})",
            user.email,
            log.gaps,
            log.reasons
        );
    }
}

/// Codes seen for `operation` while failing.
fn failure_codes(tally: &load::Tally, operation: &str) -> Vec<String> {
    tally
        .outcomes
        .keys()
        .filter(|(op, outcome)| *op == operation && *outcome != Outcome::Ok)
        .map(|(_, outcome)| format!("{outcome:?}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_and_restarted() {
    let healed_at = std::sync::Arc::new(std::sync::Mutex::new(chrono::Utc::now()));
    let mark = healed_at.clone();
    let Some(finished) = scenario(
        "Redis killed (kill -9), restarted after 4 s",
        move |stack| {
            let mark = mark.clone();
            Box::pin(Window::around(async move {
                stack.backends.redis.kill();
                tokio::time::sleep(Duration::from_secs(4)).await;
                stack.backends.redis.restart().await;
                *mark.lock().expect("mark") = chrono::Utc::now();
            }))
        },
    )
    .await
    else {
        return;
    };
    let healed = *healed_at.lock().expect("mark");
    subscribers_resumed(&finished, healed).await;
    let codes = failure_codes(&finished.tally, "logActivity");
    assert!(
        codes.iter().all(|c| c.contains("SERVICE_UNAVAILABLE")),
        "logActivity failed with {codes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarted() {
    let Some(finished) = scenario(
        "PostgreSQL stopped (immediate), started after 4 s",
        |stack| {
            Box::pin(Window::around(async move {
                stack.backends.postgres.stop();
                tokio::time::sleep(Duration::from_secs(4)).await;
                stack.backends.postgres.start_again().await;
            }))
        },
    )
    .await
    else {
        return;
    };
    // What needs the database failed while it was down, and said why.
    assert!(
        finished.tally.failed() > 0,
        "nothing noticed the outage: {:?}",
        finished.tally.outcomes
    );
    for operation in ["login", "register", "suspendUser", "history"] {
        let codes = failure_codes(&finished.tally, operation);
        assert!(
            codes.iter().all(|c| c.contains("SERVICE_UNAVAILABLE")),
            "{operation} during the outage: {codes:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongodb_restarted() {
    let Some(finished) = scenario("nx-27017 killed (kill -9), restarted after 4 s", |stack| {
        Box::pin(Window::around(async move {
            stack.backends.mongo.kill();
            tokio::time::sleep(Duration::from_secs(4)).await;
            stack.backends.mongo.restart().await;
        }))
    })
    .await
    else {
        return;
    };
    let codes = failure_codes(&finished.tally, "logActivity");
    assert!(
        !codes.is_empty() && codes.iter().all(|c| c.contains("SERVICE_UNAVAILABLE")),
        "logActivity during the outage: {codes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ai_subgraph_crashes_mid_subscription() {
    let healed_at = std::sync::Arc::new(std::sync::Mutex::new(chrono::Utc::now()));
    let mark = healed_at.clone();
    let Some(finished) = scenario(
        "AI subgraph killed (kill -9) mid-subscription, restarted after 3 s",
        move |stack| {
            let mark = mark.clone();
            Box::pin(Window::around(async move {
                stack.kill(Service::Ai(0));
                tokio::time::sleep(Duration::from_secs(3)).await;
                stack.start_service(Service::Ai(0)).await;
                *mark.lock().expect("mark") = chrono::Utc::now();
            }))
        },
    )
    .await
    else {
        return;
    };
    let healed = *healed_at.lock().expect("mark");
    subscribers_resumed(&finished, healed).await;
    // Every subscriber was told: a gap began within seconds of the crash.
    for user in &finished.users {
        let log = user.subscriber.lock().await;
        assert!(
            log.gaps.len() >= 2,
            "{} was never told its subscription ended ({:?})",
            user.email,
            log.reasons
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn router_restarts() {
    let healed_at = std::sync::Arc::new(std::sync::Mutex::new(chrono::Utc::now()));
    let mark = healed_at.clone();
    let Some(finished) = scenario("router killed (kill -9), restarted at once", move |stack| {
        let mark = mark.clone();
        Box::pin(Window::around(async move {
            stack.restart(Service::Router(0)).await;
            *mark.lock().expect("mark") = chrono::Utc::now();
        }))
    })
    .await
    else {
        return;
    };
    // Request/response clients may or may not hit the restart (it takes
    // milliseconds; a request between two connections sees nothing), so the
    // proof that the router went is on the WebSockets it held: every
    // subscriber lost its socket, was told, and resumed on the new router.
    for user in &finished.users {
        let log = user.subscriber.lock().await;
        assert!(
            log.gaps.len() >= 2,
            "{} never noticed the router restart ({:?})",
            user.email,
            log.reasons
        );
    }
    let healed = *healed_at.lock().expect("mark");
    subscribers_resumed(&finished, healed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn network_faults_between_router_and_activity_subgraph() {
    let Some(finished) = scenario(
        "router → activity: 1 s latency, then black hole, then reset (3 s each)",
        |stack| {
            Box::pin(Window::around(async move {
                latency_black_hole_reset(&mut stack.activity_link).await;
            }))
        },
    )
    .await
    else {
        return;
    };
    assert!(
        finished.tally.slowest < stack::SUBGRAPH_TIMEOUT + Duration::from_secs(4),
        "the black hole held a request {:?}",
        finished.tally.slowest
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn network_faults_between_activity_subgraph_and_redis() {
    scenario(
        "activity → Redis: 1 s latency, then black hole, then reset (3 s each)",
        |stack| {
            Box::pin(Window::around(async move {
                latency_black_hole_reset(&mut stack.activity_redis_link).await;
            }))
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn worker_killed_mid_batch() {
    scenario(
        "both workers killed (kill -9) mid-batch, three times",
        |stack| {
            Box::pin(Window::around(async move {
                for _ in 0..3 {
                    // Mid-batch: while the group has jobs handed out and unacknowledged.
                    let queue = stack.queue().await;
                    for _ in 0..200 {
                        if queue.stats().await.is_ok_and(|s| s.in_flight > 0) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    // Every worker, so that the jobs in flight were surely theirs.
                    stack.kill(Service::Worker(0));
                    stack.kill(Service::Worker(1));
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    stack.start_service(Service::Worker(0)).await;
                    stack.start_service(Service::Worker(1)).await;
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                }
            }))
        },
    )
    .await;
}

/// Two replicas of every service, HAProxy in front of each: the load goes
/// through both routers (round robin), and replica 1 of everything (user,
/// activity, AI and admin subgraphs, a worker, a router) is killed at once
/// mid-load and started again 3 s later. The invariants hold as on one
/// replica: no accepted write lost, one recommendation per workout whichever
/// worker took its job, every subscriber told and resubscribed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_replica_of_every_service_killed_mid_load() {
    let Some((finished, stack)) = scenario_on(
        Topology::Replicated,
        "two replicas of everything behind HAProxy; replica 1 of every service killed (kill -9), restarted after 3 s",
        |stack| {
            Box::pin(Window::around(async move {
                for service in Service::every(1) {
                    stack.kill(service);
                }
                tokio::time::sleep(Duration::from_secs(3)).await;
                for service in Service::every(1) {
                    stack.start_service(service).await;
                }
            }))
        },
    )
    .await
    else {
        return;
    };
    // Requests on the surviving replicas went on: most of the load succeeded.
    let tally = &finished.tally;
    assert!(
        tally.failed() * 5 < tally.total(),
        "{} of {} requests failed with a replica of each service still up",
        tally.failed(),
        tally.total()
    );
    // Round robin: both replicas of every subgraph answer requests (replica
    // 1 since its restart). The admin subgraph sees about one request a
    // second of the load, so eight dashboards (each asks every subgraph
    // for its part) go through the balancer first.
    replicas::dashboards(&stack, &finished.admin.token, 8).await;
    for r in 0..2 {
        for service in [
            Service::User(r),
            Service::Activity(r),
            Service::Ai(r),
            Service::Admin(r),
        ] {
            let served = stack.graphql_requests(service).await;
            assert!(served > 0, "{service:?} served no request");
        }
    }
    replicas::a_revoked_session_is_refused_by_every_replica(&stack).await;
    replicas::the_dashboard_cache_is_one_cache(&stack, &finished.admin.token).await;
    replicas::a_subscriber_on_one_router_hears_of_work_done_behind_the_other(&stack).await;
}

/// A rolling update: every replica of every service in turn gets `SIGTERM`
/// (as Kubernetes stops a pod), must exit within the grace period, and is
/// started again before the next one stops. Under load, nothing may fail
/// other than with a code a client retries, and no job may be lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rolling_restart_of_every_service() {
    let exits = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = exits.clone();
    let Some((finished, _stack)) = scenario_on(
        Topology::Replicated,
        "rolling restart: SIGTERM to each replica of every service in turn, started again before the next",
        move |stack| {
            let record = record.clone();
            Box::pin(Window::around(async move {
                for r in 0..2 {
                    for service in Service::every(r) {
                        let took = stack.stop_gracefully(service, Duration::from_secs(30)).await;
                        record.lock().expect("exits").push((service, took));
                        stack.start_service(service).await;
                    }
                }
            }))
        },
    )
    .await
    else {
        return;
    };
    eprintln!("exit after SIGTERM: {:?}", exits.lock().expect("exits"));
    let mut reasons = std::collections::BTreeSet::new();
    for user in &finished.users {
        reasons.extend(user.subscriber.lock().await.reasons.iter().cloned());
    }
    eprintln!("subscriptions ended by: {reasons:?}");
    // A stopping AI replica ends its streams itself, with a code clients
    // act on (`ai::end_live_streams_on_shutdown`), rather than dropping
    // the router's WebSocket under them.
    assert!(
        !reasons
            .iter()
            .any(|reason| reason.contains("SUBGRAPH_WEBSOCKET_CLIENT_FAILURE")),
        "a stopping AI replica dropped its subscribers: {reasons:?}"
    );
    for ((operation, outcome), count) in &finished.tally.outcomes {
        assert!(
            matches!(outcome, Outcome::Ok)
                || matches!(outcome, Outcome::Code(code) if code == "SERVICE_UNAVAILABLE"),
            "{count} × {operation} failed with {outcome:?} during the rolling restart"
        );
    }
}

/// Two routers count one quota: with 20 requests a minute per user, a user
/// alternating between the routers gets 20 answers in all, not 20 from each;
/// with 60 a minute per address, one address gets 60 in all (the counts are
/// in Redis, `router/src/limits.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_routers_grant_one_quota() {
    let _one = ONE_AT_A_TIME.lock().await;
    if std::env::var("FITTRACK_FAULT_HARNESS").is_ok_and(|v| v == "off") {
        return;
    }
    let stack = match FaultStack::start_with_router_env(
        Topology::Replicated,
        &[
            ("FITTRACK_LIMIT_PER_USER", "20/60"),
            ("FITTRACK_LIMIT_PER_ADDRESS", "60/60"),
        ],
    )
    .await
    {
        Ok(stack) => stack,
        Err(why) => {
            assert!(
                std::env::var_os("FITTRACK_REQUIRE_FAULT_HARNESS").is_none(),
                "fault harness required: {why}"
            );
            return;
        }
    };
    replicas::two_routers_grant_one_quota(&stack, 20).await;
    replicas::two_routers_grant_one_address_quota(&stack, 60).await;
}

/// What `fittrack-cli watch` prints, line by line, as it prints it.
struct Lines(tokio::sync::mpsc::UnboundedSender<String>, Vec<u8>);

impl std::io::Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.1.extend_from_slice(bytes);
        while let Some(end) = self.1.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.1.drain(..=end).collect();
            let _ = self
                .0
                .send(String::from_utf8_lossy(&line).trim().to_owned());
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The Rust client (`fittrack-cli watch`, the library's own loop) keeps
/// watching through a subgraph crash and a router restart: it is told, it
/// subscribes again by itself, and the next recommendation arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rust_client_resubscribes_by_itself() {
    use clap::Parser as _;
    use fittrack_client::cli::{run, Cli};

    let _one = ONE_AT_A_TIME.lock().await;
    let Some(mut stack) = stack_or_skip().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let session = dir.path().join("session.json");
    let router = stack.router();
    let cli = move |args: &[&str]| {
        let mut argv = vec!["fittrack-cli", "--endpoint", &router, "--session"];
        argv.push(session.to_str().expect("utf-8 path"));
        argv.extend(args);
        Cli::try_parse_from(argv).expect("valid arguments")
    };
    run(
        cli(&[
            "register",
            "--email",
            &support::unique_email("cli-fault"),
            "--password",
            support::PASSWORD,
        ]),
        &mut Vec::new(),
    )
    .await
    .expect("register");
    let (lines, mut printed) = tokio::sync::mpsc::unbounded_channel();
    let watch = cli(&["watch", "--count", "3"]);
    let watcher = tokio::spawn(async move { run(watch, &mut Lines(lines, Vec::new())).await });
    tokio::time::sleep(Duration::from_millis(800)).await;

    let log_one = |stage: &'static str| {
        let cli = &cli;
        async move {
            for _ in 0..100 {
                let mut out = Vec::new();
                let command = cli(&[
                    "log-activity",
                    "--type",
                    "running",
                    "--minutes",
                    "30",
                    "--calories",
                    "300",
                ]);
                if run(command, &mut out).await.is_ok() {
                    let text = String::from_utf8_lossy(&out).into_owned();
                    return text.trim().rsplit(' ').next().expect("id").to_owned();
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            panic!("{stage}: logActivity kept failing");
        }
    };
    let first = log_one("before").await;
    expect_line(&mut printed, &first, "before").await;

    stack.kill(Service::Ai(0));
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.start_service(Service::Ai(0)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = log_one("after the AI subgraph crash").await;
    expect_line(&mut printed, &second, "after the AI subgraph crash").await;

    stack.restart(Service::Router(0)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let third = log_one("after the router restart").await;
    expect_line(&mut printed, &third, "after the router restart").await;

    tokio::time::timeout(Duration::from_secs(10), watcher)
        .await
        .expect("watch ends after its count")
        .expect("watch task")
        .expect("watch");
}

/// The watcher's next line is the recommendation for `activity`.
async fn expect_line(
    printed: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    activity: &str,
    stage: &str,
) {
    let line = tokio::time::timeout(Duration::from_secs(20), printed.recv())
        .await
        .unwrap_or_else(|_| panic!("{stage}: no recommendation within 20 s"))
        .expect("the watcher is running");
    assert!(line.starts_with(activity), "{stage}: {line}");
}
