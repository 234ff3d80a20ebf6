//! `cargo bench --bench activity`: logActivity through the router vs directly at
//! the activity subgraph vs raw store inserts (embedded backend, one run), and
//! store queries per batched `User` join for 1/10/100 users.
//!
//! Results go to BENCHMARKS.md by hand; this prints a Markdown table.

mod common;
use fittrack_testkit as support;

use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use chrono::Utc;
use common::{drive, log_body, logged, Sample};
use fittrack_activity::{
    domain::{
        activities::Activities,
        model::{Activity, ActivityType, Metrics},
    },
    events::EventPublisher,
    graphql::{build_schema, DEFAULT_LOADER_DELAY},
    storage::{embedded::EmbeddedActivityStore, ActivityStore, CountingStore},
};
use fittrack_kit::{
    queue::{memory::MemoryJobQueue, JobQueue, QueueOptions},
    CurrentUser, Role,
};
use serde_json::json;
use uuid::Uuid;

const REQUESTS: usize = 4_000;
/// As many clients as wrk's 16 connections, each signed in as its own user.
const CLIENTS: usize = 16;

fn activity(user: Uuid) -> Activity {
    let now = Utc::now();
    Activity {
        id: Uuid::now_v7(),
        user_id: user,
        activity_type: ActivityType::Running,
        duration_minutes: 30,
        calories_burned: 300,
        start_time: now,
        notes: None,
        metrics: Metrics::default(),
        idempotency_key: None,
        created_at: now,
        updated_at: now,
        event_enqueued: false,
        time_zone: None,
    }
}

/// Waits until the AI worker has taken every queued event, so that each path
/// is measured without the previous one's backlog competing for the cores.
async fn drained(queue: &dyn JobQueue) {
    loop {
        let stats = queue.stats().await.expect("queue stats");
        if stats.waiting == 0 && stats.in_flight == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn raw_inserts(store: Arc<dyn ActivityStore>) -> Sample {
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CLIENTS {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let user = Uuid::new_v4();
            let mut latencies = Vec::new();
            for _ in 0..REQUESTS / CLIENTS {
                let sent = Instant::now();
                store.insert(activity(user)).await.expect("insert");
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.expect("worker"));
    }
    Sample {
        name: "raw store insert".into(),
        total: started.elapsed(),
        latencies,
    }
}

async fn queries_per_join() -> Vec<(usize, u64)> {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
    let (store, calls) =
        CountingStore::new(EmbeddedActivityStore::open(&url).await.expect("store"));
    let store: Arc<dyn ActivityStore> = Arc::new(store);
    let queue: Arc<dyn JobQueue> = Arc::new(MemoryJobQueue::new("bench", QueueOptions::default()));
    let activities = Activities::new(
        store.clone(),
        Arc::new(EventPublisher::new(queue.clone(), store.clone())),
        fittrack_kit::erasure::MemoryErasedUsers::shared(),
    );
    let imports = fittrack_activity::domain::imports::Imports::new(
        Arc::new(EmbeddedActivityStore::open(&url).await.expect("store")),
        Arc::new(fittrack_activity::imports::QueuedImports(queue)),
        Arc::new(fittrack_activity::files::Reader),
        activities.clone(),
    );
    let goals = fittrack_activity::domain::goals::Goals::new(
        Arc::new(EmbeddedActivityStore::open(&url).await.expect("store")),
        store.clone(),
    );
    let gear = fittrack_activity::domain::gear::GearList::new(
        Arc::new(EmbeddedActivityStore::open(&url).await.expect("store")),
        store.clone(),
    );
    let schema = build_schema(
        fittrack_activity::graphql::UseCases {
            activities,
            imports,
            goals,
            gear,
            profiles: fittrack_activity::domain::profile::Profiles::new(Arc::new(
                EmbeddedActivityStore::open(&url).await.expect("store"),
            )),
        },
        DEFAULT_LOADER_DELAY,
        fittrack_kit::cache::local_dashboard(),
        fittrack_activity::graphql::Quotas::in_process(),
    );
    let users: Vec<Uuid> = (0..100).map(|_| Uuid::new_v4()).collect();
    for user in &users {
        store.insert(activity(*user)).await.expect("insert");
    }
    let admin = CurrentUser {
        id: Uuid::new_v4(),
        email: "bench@example.com".into(),
        roles: vec![Role::Admin],
        issued_at_ms: 0,
        session_id: Uuid::new_v4(),
        expires_at: i64::MAX,
    };
    let query = "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { activities(first: 5) { edges { node { id } } } activityStats { count } } } }";
    let mut out = Vec::new();
    for n in [1, 10, 100] {
        let reps: Vec<_> = users[..n]
            .iter()
            .map(|id| json!({"__typename": "User", "id": id}))
            .collect();
        calls.store(0, Ordering::SeqCst);
        let response = schema
            .execute(
                async_graphql::Request::new(query)
                    .variables(async_graphql::Variables::from_json(json!({"reps": reps})))
                    .data(admin.clone()),
            )
            .await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        out.push((n, calls.load(Ordering::SeqCst)));
    }
    out
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        common::note_embedded_backends_only();
        let stack = support::Stack::start().await;
        let mut tokens = Vec::new();
        for client in 0..CLIENTS {
            let (_, auth) = stack.register(&format!("bench{client}")).await;
            tokens.push(auth["accessToken"].as_str().expect("token").to_owned());
        }
        // Warm up connections, JWKS caches and SQLite.
        drive("warm-up", &stack.router, &tokens, REQUESTS, log_body, logged).await;
        let queue = stack.activity_queue.as_ref();
        drained(queue).await;
        let mut router = drive("through the router", &stack.router, &tokens, REQUESTS, log_body, logged).await;
        drained(queue).await;
        let mut direct = drive("directly at the subgraph", &stack.activity, &tokens, REQUESTS, log_body, logged).await;
        drained(queue).await;
        let mut raw = raw_inserts(stack.activity_store.clone()).await;

        println!("{REQUESTS} requests, {CLIENTS} concurrent clients (one user each), embedded store + in-process queue, AI worker running\n");
        println!("| path | requests | req/s | p50 ms | p99 ms |");
        println!("|---|---|---|---|---|");
        for sample in [&mut router, &mut direct, &mut raw] {
            println!("{}", sample.row());
        }
        println!(
            "\nthrough the router / raw store insert: {:.0} / {:.0} = {:.2}",
            router.rate(),
            raw.rate(),
            router.rate() / raw.rate()
        );
        println!("\n| users in one `_entities` request | store queries |");
        println!("|---|---|");
        for (users, queries) in queries_per_join().await {
            println!("| {users} | {queries} |");
        }
    });
}
