//! Store outages between writes. A user's erasure outlives an outage longer
//! than the queue's whole delivery budget: the `UserDeleted` event is
//! retried until the store is back, never dead-lettered, and the activities
//! go. A `logActivity` cut off between its writes is finished by its retry.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, Utc};
use fittrack_activity::{
    domain::{
        model::{Activity, ActivityFields, ActivityFilter, ActivityType, TypeTotals},
        stats::DailyTotals,
    },
    storage::{embedded::EmbeddedActivityStore, ActivityStore, Inserted, PageQuery},
};
use fittrack_kit::{
    erasure::ErasedUsers,
    queue::{memory::MemoryJobQueue, ConsumerOptions, JobQueue, QueueOptions},
};
use uuid::Uuid;

mod support;

/// The embedded store, whose `delete_user` fails as an unreachable database
/// does for the first `down_for` calls, and `save_efforts` for the first
/// `efforts_down_for`.
struct StoreDownFor {
    inner: EmbeddedActivityStore,
    down_for: AtomicU32,
    efforts_down_for: AtomicU32,
}

/// Whether a call finds the store down, counting down `left`.
fn finds_it_down(left: &AtomicU32) -> bool {
    left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
        left.checked_sub(1)
    })
    .is_ok()
}

#[async_trait]
impl ActivityStore for StoreDownFor {
    async fn insert(&self, activity: Activity) -> anyhow::Result<Inserted> {
        self.inner.insert(activity).await
    }
    async fn get_many(&self, ids: &[Uuid]) -> anyhow::Result<Vec<Activity>> {
        self.inner.get_many(ids).await
    }
    async fn update(
        &self,
        owner: Uuid,
        id: Uuid,
        fields: &ActivityFields,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Activity>> {
        self.inner.update(owner, id, fields, now).await
    }
    async fn save_recording(
        &self,
        activity: &Activity,
        recording: &fittrack_activity::domain::recording::StoredRecording,
    ) -> anyhow::Result<bool> {
        self.inner.save_recording(activity, recording).await
    }
    async fn save_efforts(
        &self,
        efforts: &[fittrack_activity::domain::records::Effort],
    ) -> anyhow::Result<()> {
        if finds_it_down(&self.efforts_down_for) {
            return Err(anyhow::Error::new(sea_orm::sqlx::Error::PoolTimedOut)
                .context("saving best efforts"));
        }
        self.inner.save_efforts(efforts).await
    }
    async fn replace_efforts(
        &self,
        activity_id: Uuid,
        efforts: &[fittrack_activity::domain::records::Effort],
    ) -> anyhow::Result<()> {
        self.inner.replace_efforts(activity_id, efforts).await
    }
    async fn efforts(
        &self,
        user_id: Uuid,
        kinds: &[fittrack_activity::domain::records::RecordKind],
    ) -> anyhow::Result<Vec<fittrack_activity::domain::records::Effort>> {
        self.inner.efforts(user_id, kinds).await
    }
    async fn workout_reads(
        &self,
        activity: &Activity,
        query: &fittrack_activity::storage::WorkoutReadsQuery<'_>,
    ) -> anyhow::Result<fittrack_activity::storage::WorkoutReads> {
        self.inner.workout_reads(activity, query).await
    }
    async fn changes(
        &self,
        user_id: Uuid,
        after: Option<fittrack_activity::domain::model::ChangePosition>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> anyhow::Result<Vec<fittrack_activity::domain::model::Change>> {
        self.inner.changes(user_id, after, until, limit).await
    }
    async fn recordings(
        &self,
        ids: &[Uuid],
    ) -> anyhow::Result<HashMap<Uuid, fittrack_activity::domain::recording::StoredRecording>> {
        self.inner.recordings(ids).await
    }
    async fn delete(&self, owner: Uuid, id: Uuid) -> anyhow::Result<Option<Activity>> {
        self.inner.delete(owner, id).await
    }
    async fn page(&self, query: &PageQuery) -> anyhow::Result<Vec<Activity>> {
        self.inner.page(query).await
    }
    async fn first_pages(
        &self,
        user_ids: &[Uuid],
        filter: &ActivityFilter,
        limit: u32,
    ) -> anyhow::Result<HashMap<Uuid, Vec<Activity>>> {
        self.inner.first_pages(user_ids, filter, limit).await
    }
    async fn type_totals(
        &self,
        user_ids: Option<&[Uuid]>,
        filter: &ActivityFilter,
    ) -> anyhow::Result<Vec<TypeTotals>> {
        self.inner.type_totals(user_ids, filter).await
    }
    async fn daily_totals(
        &self,
        user_ids: &[Uuid],
        offset: FixedOffset,
    ) -> anyhow::Result<HashMap<Uuid, Vec<DailyTotals>>> {
        self.inner.daily_totals(user_ids, offset).await
    }
    async fn quarter_hour_totals(
        &self,
        user_ids: &[Uuid],
    ) -> anyhow::Result<HashMap<Uuid, Vec<fittrack_activity::domain::stats::QuarterHourTotals>>>
    {
        self.inner.quarter_hour_totals(user_ids).await
    }
    async fn mark_events_enqueued(&self, ids: &[Uuid]) -> anyhow::Result<()> {
        self.inner.mark_events_enqueued(ids).await
    }
    async fn pending_events(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> anyhow::Result<Vec<Activity>> {
        self.inner.pending_events(before, limit).await
    }
    async fn delete_user(&self, user_id: Uuid) -> anyhow::Result<u64> {
        if finds_it_down(&self.down_for) {
            return Err(anyhow::Error::new(sea_orm::sqlx::Error::PoolTimedOut)
                .context("erasing a user's activities"));
        }
        self.inner.delete_user(user_id).await
    }
    async fn ping(&self) -> anyhow::Result<()> {
        self.inner.ping().await
    }
}

fn activity(user_id: Uuid) -> Activity {
    support::workout(user_id, ActivityType::Running, Utc::now(), 30)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_outlives_a_store_outage_longer_than_the_delivery_budget() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("activity.db").display()
    );
    // Three deliveries allowed; the store is away for eight attempts.
    let store = Arc::new(StoreDownFor {
        inner: EmbeddedActivityStore::open(&url).await.expect("store"),
        down_for: AtomicU32::new(8),
        efforts_down_for: AtomicU32::new(0),
    });
    let user = Uuid::new_v4();
    let other = Uuid::new_v4();
    for owner in [user, user, other] {
        store.insert(activity(owner)).await.expect("inserted");
    }
    let options = QueueOptions {
        visibility_timeout: Duration::from_millis(200),
        max_deliveries: 3,
    };
    let erasure: Arc<dyn JobQueue> = Arc::new(MemoryJobQueue::new("user-events", options.clone()));
    let events: Arc<dyn JobQueue> = Arc::new(MemoryJobQueue::new("activity-events", options));
    erasure
        .enqueue(
            &serde_json::to_string(&fittrack_kit::events::UserEvent::UserDeleted { user_id: user })
                .expect("json"),
        )
        .await
        .expect("enqueued");

    // The user subgraph records the erasure as owed when it asks for it.
    let ledger = Arc::new(fittrack_kit::erasure::MemoryErasedUsers::default());
    let eraser_name = fittrack_kit::events::USER_DELETED_ACTIVITY_QUEUE;
    ledger
        .owe(user, &[eraser_name], Utc::now())
        .await
        .expect("owed");

    let imports_dir = tempfile::tempdir().expect("temp dir");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let imports = Arc::new(
        EmbeddedActivityStore::open(&format!(
            "sqlite://{}?mode=rwc",
            imports_dir.path().join("imports.db").display()
        ))
        .await
        .expect("import store"),
    );
    let eraser = tokio::spawn(fittrack_activity::events::run_eraser(
        store.clone(),
        imports,
        erasure.clone(),
        events,
        ledger.clone(),
        ConsumerOptions {
            poll_wait: Duration::from_millis(50),
            max_outage_backoff: Duration::from_millis(50),
            ..fittrack_activity::events::eraser_options()
        },
        async {
            let _ = stopped.await;
        },
    ));
    // While the store is away the erasure stays owed, for the dashboard and
    // an alert to see (the first of eight failures is at hand).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let owed = ledger.outstanding(eraser_name, 10).await.expect("ledger");
    assert_eq!(
        owed.oldest.iter().map(|(u, _)| *u).collect::<Vec<_>>(),
        [user]
    );

    let filter = ActivityFilter::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = store.first_pages(&[user], &filter, 10).await.expect("page");
        if left.get(&user).is_none_or(Vec::is_empty) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the user's activities are still there"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        store.down_for.load(Ordering::SeqCst),
        0,
        "the outage outlasted the budget"
    );
    assert!(erasure
        .dead_letters(10)
        .await
        .expect("dead letters")
        .is_empty());
    let kept = store
        .first_pages(&[other], &filter, 10)
        .await
        .expect("page");
    assert_eq!(
        kept.get(&other).map(Vec::len),
        Some(1),
        "another user's activity stays"
    );
    assert_eq!(
        ledger
            .outstanding(eraser_name, 10)
            .await
            .expect("ledger")
            .count,
        0,
        "the erasure is settled"
    );
    let _ = stop.send(());
    eraser.await.expect("eraser stops");
}

/// Announces nothing (this test is about the store).
struct Unannounced;

#[async_trait]
impl fittrack_activity::domain::ports::ActivityEvents for Unannounced {
    async fn logged(
        &self,
        _activity: &Activity,
        _insights: Option<fittrack_kit::events::WorkoutInsights>,
    ) -> bool {
        true
    }
    async fn deleted(&self, _activity: &Activity) {}
}

#[tokio::test]
async fn a_retried_log_finishes_what_a_store_outage_cut_short() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("activity.db").display()
    );
    // The workout is written, then the store goes away before its efforts.
    let store = Arc::new(StoreDownFor {
        inner: EmbeddedActivityStore::open(&url).await.expect("store"),
        down_for: AtomicU32::new(0),
        efforts_down_for: AtomicU32::new(1),
    });
    let activities = fittrack_activity::domain::activities::Activities::new(
        store.clone(),
        Arc::new(Unannounced),
        Arc::new(fittrack_kit::erasure::MemoryErasedUsers::default()),
    );
    let user = Uuid::new_v4();
    let raw = || fittrack_activity::domain::validation::RawActivity {
        activity_type: ActivityType::Running,
        duration_minutes: 42,
        calories_burned: 400,
        start_time: Utc::now() - chrono::Duration::hours(1),
        notes: None,
        metrics: None,
        time_zone: None,
    };
    let failed = activities
        .log(user, raw(), Some("run-1".into()))
        .await
        .expect_err("the store was down");
    assert_eq!(
        fittrack_kit::error::ApiError::from(failed).code(),
        fittrack_kit::error::ErrorCode::ServiceUnavailable,
        "told as an outage"
    );
    assert!(
        activities.records(user).await.expect("records").is_empty(),
        "cut short before its efforts"
    );

    let retried = activities
        .log(user, raw(), Some("run-1".into()))
        .await
        .expect("the retry is answered");
    let records = activities.records(user).await.expect("records");
    assert_eq!(
        records
            .iter()
            .map(|r| (r.activity_id, r.value))
            .collect::<Vec<_>>(),
        [(retried.id, 42.0 * 60.0)],
        "the retry saved the workout's longest-duration effort"
    );
}
