//! Federation joins cost a constant number of store queries, whatever the
//! number of users or activities in the request (no N+1), logged activities
//! are marked as announced in batches, and the sweeper re-publishes events
//! that never reached the queue.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use async_trait::async_trait;
use chrono::Utc;
use fittrack_activity::{
    config::EventsConfig,
    domain::{
        activities::Activities,
        gear::{GearInput, GearKind, GearList},
        goals::{GoalInput, GoalMetric, GoalPeriod, Goals},
        model::{Activity, ActivityType, Metrics},
        profile::Profiles,
    },
    events::EventPublisher,
    graphql::build_schema,
    storage::{embedded::EmbeddedActivityStore, ActivityStore, CountingStore},
};
use fittrack_kit::{
    queue::{memory::MemoryJobQueue, DeadLetter, Delivery, JobQueue, QueueOptions},
    CurrentUser, Role,
};
use serde_json::json;
use uuid::Uuid;

async fn embedded(dir: &tempfile::TempDir) -> EmbeddedActivityStore {
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
    EmbeddedActivityStore::open(&url).await.expect("store")
}

fn admin() -> CurrentUser {
    CurrentUser {
        id: Uuid::new_v4(),
        email: "root@example.com".into(),
        roles: vec![Role::User, Role::Admin],
        issued_at_ms: 0,
        session_id: Uuid::new_v4(),
        expires_at: i64::MAX,
    }
}

fn activity(user: Uuid, hours_ago: i64) -> Activity {
    let start = Utc::now() - chrono::Duration::hours(hours_ago);
    Activity {
        id: Uuid::now_v7(),
        user_id: user,
        activity_type: ActivityType::Walking,
        duration_minutes: 20,
        calories_burned: 100,
        start_time: start,
        notes: None,
        metrics: Metrics::default(),
        idempotency_key: None,
        created_at: start,
        updated_at: start,
        event_enqueued: true,
        time_zone: None,
    }
}

#[tokio::test]
async fn user_joins_cost_the_same_store_queries_for_1_10_and_100_users() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, calls) = CountingStore::new(embedded(&dir).await);
    let store: Arc<dyn ActivityStore> = Arc::new(store);
    let queue: Arc<dyn JobQueue> =
        Arc::new(MemoryJobQueue::new("batching", QueueOptions::default()));
    // A generous window: this test is about batching, not about how fast a
    // debug build resolves 100 entities.
    let activities = Activities::new(
        store.clone(),
        Arc::new(EventPublisher::new(queue.clone(), store.clone())),
        fittrack_kit::erasure::MemoryErasedUsers::shared(),
    );
    let imports = fittrack_activity::domain::imports::Imports::new(
        Arc::new(embedded(&dir).await),
        Arc::new(fittrack_activity::imports::QueuedImports(queue)),
        Arc::new(fittrack_activity::files::Reader),
        activities.clone(),
    );
    let goals =
        fittrack_activity::domain::goals::Goals::new(Arc::new(embedded(&dir).await), store.clone());
    let gear = fittrack_activity::domain::gear::GearList::new(
        Arc::new(embedded(&dir).await),
        store.clone(),
    );
    let schema = build_schema(
        fittrack_activity::graphql::UseCases {
            activities,
            imports,
            goals,
            gear,
            profiles: fittrack_activity::domain::profile::Profiles::new(Arc::new(
                embedded(&dir).await,
            )),
        },
        Duration::from_millis(50),
        fittrack_kit::cache::local_dashboard(),
        fittrack_activity::graphql::Quotas::in_process(),
    );

    let users: Vec<Uuid> = (0..100).map(|_| Uuid::new_v4()).collect();
    let mut activity_ids = Vec::new();
    for (n, user) in users.iter().enumerate() {
        for hours in 0..(n % 3 + 1) as i64 {
            let a = activity(*user, hours + 1);
            activity_ids.push(a.id);
            store.insert(a).await.expect("insert");
        }
    }

    let query = "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { id activities(first: 5) { edges { node { id } } } activityStats { count currentStreakDays } } } }";
    let mut per_request = Vec::new();
    for n in [1usize, 10, 100] {
        let reps: Vec<_> = users[..n]
            .iter()
            .map(|id| json!({"__typename": "User", "id": id}))
            .collect();
        let request = async_graphql::Request::new(query)
            .variables(async_graphql::Variables::from_json(json!({"reps": reps})))
            .data(admin());
        calls.store(0, Ordering::SeqCst);
        let response = schema.execute(request).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let data = response.data.into_json().expect("json");
        let entities = data["_entities"].as_array().expect("entities");
        assert_eq!(entities.len(), n);
        for (i, entity) in entities.iter().enumerate() {
            let expected = (i % 3 + 1) as i64;
            assert_eq!(entity["activityStats"]["count"], expected);
            assert_eq!(
                entity["activities"]["edges"].as_array().map(Vec::len),
                Some(expected as usize)
            );
        }
        per_request.push(calls.load(Ordering::SeqCst));
    }
    // first page + per-type totals + per-day totals, whatever the number of users.
    assert_eq!(
        per_request,
        vec![3, 3, 3],
        "store queries for 1/10/100 users"
    );

    let reps: Vec<_> = activity_ids
        .iter()
        .map(|id| json!({"__typename": "Activity", "id": id}))
        .collect();
    calls.store(0, Ordering::SeqCst);
    let response = schema
        .execute(
            async_graphql::Request::new(
                "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Activity { id durationMinutes } } }",
            )
            .variables(async_graphql::Variables::from_json(json!({"reps": reps})))
            .data(admin()),
        )
        .await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one get_many for {} activities",
        activity_ids.len()
    );
}

/// A queue that refuses every enqueue while `down` is set.
struct FlakyQueue {
    inner: MemoryJobQueue,
    down: AtomicBool,
}

#[async_trait]
impl JobQueue for FlakyQueue {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn options(&self) -> &QueueOptions {
        self.inner.options()
    }
    async fn enqueue(&self, payload: &str) -> anyhow::Result<String> {
        if self.down.load(Ordering::SeqCst) {
            anyhow::bail!("queue unreachable");
        }
        self.inner.enqueue(payload).await
    }
    async fn receive(
        &self,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> anyhow::Result<Vec<Delivery>> {
        self.inner.receive(consumer, max, wait).await
    }
    async fn ack(&self, id: &str) -> anyhow::Result<()> {
        self.inner.ack(id).await
    }
    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> anyhow::Result<()> {
        self.inner.dead_letter(delivery, reason).await
    }
    async fn dead_letters(&self, limit: usize) -> anyhow::Result<Vec<DeadLetter>> {
        self.inner.dead_letters(limit).await
    }
    async fn purge(
        &self,
        matches: &(dyn for<'p> Fn(&'p str) -> bool + Send + Sync),
    ) -> anyhow::Result<usize> {
        self.inner.purge(matches).await
    }
    async fn replay(&self, id: &str) -> anyhow::Result<Option<String>> {
        self.inner.replay(id).await
    }
    async fn stats(&self) -> anyhow::Result<fittrack_kit::queue::QueueStats> {
        self.inner.stats().await
    }
    async fn ping(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

use fittrack_kit::erasure::ErasedUsers as _;

/// Erasure marks that fail to be read while `down` (Redis away).
#[derive(Default)]
struct MarksDown {
    inner: fittrack_kit::erasure::MemoryErasedUsers,
    down: AtomicBool,
}

#[async_trait]
impl fittrack_kit::erasure::ErasedUsers for MarksDown {
    async fn mark(&self, user_id: Uuid) -> anyhow::Result<()> {
        self.inner.mark(user_id).await
    }
    async fn is_erased(&self, user_id: Uuid) -> anyhow::Result<bool> {
        if self.down.load(Ordering::SeqCst) {
            anyhow::bail!("erasure marks unreachable");
        }
        self.inner.is_erased(user_id).await
    }
    async fn owe(
        &self,
        user_id: Uuid,
        erasers: &[&str],
        at: chrono::DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.inner.owe(user_id, erasers, at).await
    }
    async fn settle(&self, user_id: Uuid, eraser: &str) -> anyhow::Result<()> {
        self.inner.settle(user_id, eraser).await
    }
    async fn outstanding(
        &self,
        eraser: &str,
        limit: usize,
    ) -> anyhow::Result<fittrack_kit::erasure::Outstanding> {
        self.inner.outstanding(eraser, limit).await
    }
}

/// A Redis outage costs coaching latency, never a logged workout: with the
/// erasure marks unreadable the workout is kept, unannounced; the sweeper
/// reads the marks before the coach hears of it, and removes the workouts
/// of an owner who was being erased meanwhile.
#[tokio::test]
async fn a_workout_logged_while_erasure_marks_are_unreadable_is_kept_and_checked_by_the_sweeper() {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn ActivityStore> = Arc::new(embedded(&dir).await);
    let queue = Arc::new(MemoryJobQueue::new("marks", QueueOptions::default()));
    let marks = Arc::new(MarksDown::default());
    marks.down.store(true, Ordering::SeqCst);
    let events = EventPublisher::new(queue.clone(), store.clone());
    let activities = Activities::new(store.clone(), Arc::new(events.clone()), marks.clone());
    let (kept, erased) = (Uuid::new_v4(), Uuid::new_v4());

    let logged = activities
        .log(kept, swim(), None)
        .await
        .expect("logged while the marks are unreadable");
    let raced = activities
        .log(erased, swim(), None)
        .await
        .expect("logged while the marks are unreadable");
    assert!(
        queue
            .receive("t", 10, Duration::ZERO)
            .await
            .expect("receive")
            .is_empty(),
        "nothing is announced before the marks are read"
    );
    // The erasure raced the second log: its eraser ran before the row was
    // written, and its mark was set before Redis went away.
    marks.inner.mark(erased).await.expect("mark");

    let config = EventsConfig {
        sweep_grace_secs: 0,
        ..EventsConfig::default()
    };
    assert_eq!(events.sweep_once(&config, &*marks).await.expect("sweep"), 0);
    assert_eq!(
        store
            .get_many(&[logged.id, raced.id])
            .await
            .expect("get")
            .len(),
        2
    );

    marks.down.store(false, Ordering::SeqCst);
    assert_eq!(events.sweep_once(&config, &*marks).await.expect("sweep"), 1);
    let stored = store.get_many(&[logged.id, raced.id]).await.expect("get");
    assert_eq!(
        stored.iter().map(|a| a.id).collect::<Vec<_>>(),
        [logged.id],
        "the erased owner's workout is gone, the other kept"
    );
    let event = only_job(queue.as_ref()).await;
    assert_eq!(event["activityId"], json!(logged.id));
}

/// The one job on `queue`, as JSON.
async fn only_job(queue: &dyn JobQueue) -> serde_json::Value {
    let jobs = queue
        .receive("t", 10, Duration::ZERO)
        .await
        .expect("receive");
    assert_eq!(jobs.len(), 1);
    serde_json::from_str(&jobs[0].payload).expect("json")
}

#[tokio::test]
async fn an_activity_saved_while_the_queue_is_down_gets_its_event_from_the_sweeper() {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn ActivityStore> = Arc::new(embedded(&dir).await);
    let queue = Arc::new(FlakyQueue {
        inner: MemoryJobQueue::new("flaky", QueueOptions::default()),
        down: AtomicBool::new(true),
    });
    let events = EventPublisher::new(queue.clone(), store.clone());
    let activities = Activities::new(
        store.clone(),
        Arc::new(events.clone()),
        fittrack_kit::erasure::MemoryErasedUsers::shared(),
    );
    let owner = Uuid::new_v4();

    let saved = activities
        .log(owner, swim(), None)
        .await
        .expect("saved despite the queue");
    assert!(!store.get_many(&[saved.id]).await.expect("get")[0].event_enqueued);

    let config = EventsConfig {
        sweep_grace_secs: 0,
        ..EventsConfig::default()
    };
    let marks = fittrack_kit::erasure::MemoryErasedUsers::shared();
    // Still down: the sweep finds it but cannot publish; nothing is lost.
    assert_eq!(events.sweep_once(&config, &*marks).await.expect("sweep"), 0);
    queue.down.store(false, Ordering::SeqCst);
    assert_eq!(events.sweep_once(&config, &*marks).await.expect("sweep"), 1);
    assert_eq!(
        events.sweep_once(&config, &*marks).await.expect("sweep"),
        0,
        "published once"
    );

    let event = only_job(queue.as_ref()).await;
    assert_eq!(event["event"], "ActivityLogged");
    assert_eq!(event["activityId"], json!(saved.id));
    assert!(store.get_many(&[saved.id]).await.expect("get")[0].event_enqueued);
}

fn swim() -> fittrack_activity::domain::validation::RawActivity {
    fittrack_activity::domain::validation::RawActivity {
        activity_type: ActivityType::Swimming,
        duration_minutes: 40,
        calories_burned: 350,
        start_time: Utc::now() - chrono::Duration::hours(1),
        notes: None,
        metrics: None,
        time_zone: None,
    }
}

#[tokio::test]
async fn logged_activities_are_marked_announced_in_one_write_and_none_is_left_unmarked() {
    let dir = tempfile::tempdir().expect("dir");
    let (counting, calls) = CountingStore::new(embedded(&dir).await);
    let store: Arc<dyn ActivityStore> = Arc::new(counting);
    let queue: Arc<dyn JobQueue> = Arc::new(MemoryJobQueue::new("events", QueueOptions::default()));
    let (events, confirmations) = EventPublisher::batched(queue.clone(), store.clone());
    let activities = Activities::new(
        store.clone(),
        Arc::new(events),
        fittrack_kit::erasure::MemoryErasedUsers::shared(),
    );
    let owner = Uuid::new_v4();
    for _ in 0..50 {
        activities.log(owner, swim(), None).await.expect("logged");
    }
    assert_eq!(queue.stats().await.expect("stats").waiting, 50);
    // The requests wrote their activities and left the marks to the task.
    let pending = store
        .pending_events(Utc::now(), 100)
        .await
        .expect("pending");
    assert_eq!(pending.len(), 50);

    calls.store(0, Ordering::SeqCst);
    let token = fittrack_kit::service::CancellationToken::new();
    token.cancel();
    // Stopping, it marks what waits, in one write.
    confirmations.run(token.cancelled_owned()).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one write for 50 marks");
    assert!(store
        .pending_events(Utc::now(), 100)
        .await
        .expect("pending")
        .is_empty());

    // With the task gone, a request marks its own activity.
    let late = activities.log(owner, swim(), None).await.expect("logged");
    assert!(store.get_many(&[late.id]).await.expect("get")[0].event_enqueued);
}

/// What one `logActivity` costs its store, counted over every port it uses
/// (activities, gear, goals): the insert, its effort and one read of what
/// judges and equips it (`ActivityStore::workout_reads`); a default gear
/// to link and a goal period to total add one each. Each call is a round
/// trip (on SQLite a hand-off to its thread), what a write spends most on
/// (BENCHMARKS.md, issue 17): the count is not to creep up again.
#[tokio::test]
async fn a_logged_workout_costs_three_store_calls_and_one_per_thing_its_owner_keeps() {
    let dir = tempfile::tempdir().expect("dir");
    let (counting, calls) = CountingStore::new(embedded(&dir).await);
    let counting = Arc::new(counting);
    let queue: Arc<dyn JobQueue> = Arc::new(MemoryJobQueue::new("events", QueueOptions::default()));
    // Marks wait for their task (not run here), as in the service.
    let (events, _confirmations) = EventPublisher::batched(queue.clone(), counting.clone());
    let gear = GearList::new(counting.clone(), counting.clone());
    let goals = Goals::new(counting.clone(), counting.clone());
    let profiles = Profiles::new(Arc::new(embedded(&dir).await));
    let activities = Activities::new(
        counting.clone(),
        Arc::new(events),
        fittrack_kit::erasure::MemoryErasedUsers::shared(),
    )
    .with_gear(gear.clone())
    .with_coaching(goals.clone(), profiles);
    let owner = Uuid::new_v4();
    let log_counted = || async {
        calls.store(0, Ordering::SeqCst);
        activities.log(owner, swim(), None).await.expect("logged");
        calls.load(Ordering::SeqCst)
    };

    assert_eq!(log_counted().await, 3, "insert, effort, reads");
    gear.create(
        owner,
        GearInput {
            kind: GearKind::Other,
            name: "Goggles".into(),
            default_for: vec![ActivityType::Swimming],
            warn_at_metres: None,
        },
    )
    .await
    .expect("gear");
    assert_eq!(log_counted().await, 4, "and the gear's link");
    let weekly = |metric| GoalInput {
        period: GoalPeriod::Week,
        metric,
        target: 10.0,
        activity_types: Vec::new(),
        time_zone: "Europe/Paris".into(),
    };
    goals
        .create(owner, weekly(GoalMetric::Count))
        .await
        .expect("goal");
    assert_eq!(log_counted().await, 5, "and the week's totals");
    goals
        .create(owner, weekly(GoalMetric::Duration))
        .await
        .expect("goal");
    assert_eq!(log_counted().await, 5, "goals of one period share a read");
    assert_eq!(queue.stats().await.expect("stats").waiting, 4, "all told");
}
