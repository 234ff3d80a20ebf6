//! Where activities live: the domain's [`ActivityStore`] port, two backends
//! that pass the same contract suite (`tests/store_contract.rs`):
//! - [`mongo::MongoActivityStore`]: MongoDB, when `MONGODB_URI` is set;
//! - [`embedded::EmbeddedActivityStore`]: SQLite in the data directory, the default.

pub mod embedded;
pub mod mongo;
pub mod stream_codec;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, Utc};
use uuid::Uuid;

pub use crate::domain::ports::{
    ActivityStore, Inserted, PageQuery, WorkoutReads, WorkoutReadsQuery,
};
use crate::domain::ports::{GearStore, GoalStore};
use crate::domain::{
    gear::{Gear, GearUse},
    goals::Goal,
    model::{Activity, ActivityFields, ActivityFilter, Change, ChangePosition, TypeTotals},
    recording::StoredRecording,
    records::{Effort, RecordKind},
    stats::{DailyTotals, QuarterHourTotals},
};

/// Wraps a store and counts calls, so tests (and benchmarks) can prove that
/// batched resolvers cost a constant number of store queries.
pub struct CountingStore<S> {
    inner: S,
    calls: Arc<AtomicU64>,
}

impl<S> CountingStore<S> {
    pub fn new(inner: S) -> (Self, Arc<AtomicU64>) {
        let calls = Arc::new(AtomicU64::new(0));
        (
            Self {
                inner,
                calls: calls.clone(),
            },
            calls,
        )
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl<S: ActivityStore> ActivityStore for CountingStore<S> {
    async fn insert(&self, activity: Activity) -> anyhow::Result<Inserted> {
        self.count();
        self.inner.insert(activity).await
    }
    async fn get_many(&self, ids: &[Uuid]) -> anyhow::Result<Vec<Activity>> {
        self.count();
        self.inner.get_many(ids).await
    }
    async fn update(
        &self,
        owner: Uuid,
        id: Uuid,
        fields: &ActivityFields,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Activity>> {
        self.count();
        self.inner.update(owner, id, fields, now).await
    }
    async fn save_recording(
        &self,
        activity: &Activity,
        recording: &StoredRecording,
    ) -> anyhow::Result<bool> {
        self.count();
        self.inner.save_recording(activity, recording).await
    }
    async fn save_efforts(&self, efforts: &[Effort]) -> anyhow::Result<()> {
        self.count();
        self.inner.save_efforts(efforts).await
    }

    async fn replace_efforts(&self, activity_id: Uuid, efforts: &[Effort]) -> anyhow::Result<()> {
        self.count();
        self.inner.replace_efforts(activity_id, efforts).await
    }
    async fn efforts(&self, user_id: Uuid, kinds: &[RecordKind]) -> anyhow::Result<Vec<Effort>> {
        self.count();
        self.inner.efforts(user_id, kinds).await
    }
    async fn workout_reads(
        &self,
        activity: &Activity,
        query: &WorkoutReadsQuery<'_>,
    ) -> anyhow::Result<WorkoutReads> {
        self.count();
        self.inner.workout_reads(activity, query).await
    }
    async fn recordings(&self, ids: &[Uuid]) -> anyhow::Result<HashMap<Uuid, StoredRecording>> {
        self.count();
        self.inner.recordings(ids).await
    }
    async fn has_recording(&self, id: Uuid) -> anyhow::Result<bool> {
        self.count();
        self.inner.has_recording(id).await
    }
    async fn delete(&self, owner: Uuid, id: Uuid) -> anyhow::Result<Option<Activity>> {
        self.count();
        self.inner.delete(owner, id).await
    }
    async fn page(&self, query: &PageQuery) -> anyhow::Result<Vec<Activity>> {
        self.count();
        self.inner.page(query).await
    }
    async fn first_pages(
        &self,
        user_ids: &[Uuid],
        filter: &ActivityFilter,
        limit: u32,
    ) -> anyhow::Result<HashMap<Uuid, Vec<Activity>>> {
        self.count();
        self.inner.first_pages(user_ids, filter, limit).await
    }
    async fn type_totals(
        &self,
        user_ids: Option<&[Uuid]>,
        filter: &ActivityFilter,
    ) -> anyhow::Result<Vec<TypeTotals>> {
        self.count();
        self.inner.type_totals(user_ids, filter).await
    }
    async fn daily_totals(
        &self,
        user_ids: &[Uuid],
        offset: FixedOffset,
    ) -> anyhow::Result<HashMap<Uuid, Vec<DailyTotals>>> {
        self.count();
        self.inner.daily_totals(user_ids, offset).await
    }
    async fn quarter_hour_totals(
        &self,
        user_ids: &[Uuid],
    ) -> anyhow::Result<HashMap<Uuid, Vec<QuarterHourTotals>>> {
        self.count();
        self.inner.quarter_hour_totals(user_ids).await
    }
    async fn mark_events_enqueued(&self, ids: &[Uuid]) -> anyhow::Result<()> {
        self.count();
        self.inner.mark_events_enqueued(ids).await
    }
    async fn pending_events(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> anyhow::Result<Vec<Activity>> {
        self.count();
        self.inner.pending_events(before, limit).await
    }
    async fn changes(
        &self,
        user_id: Uuid,
        after: Option<ChangePosition>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> anyhow::Result<Vec<Change>> {
        self.count();
        self.inner.changes(user_id, after, until, limit).await
    }
    async fn delete_user(&self, user_id: Uuid) -> anyhow::Result<u64> {
        self.count();
        self.inner.delete_user(user_id).await
    }
    async fn ping(&self) -> anyhow::Result<()> {
        self.inner.ping().await
    }
}

/// Gear calls count too: what a new workout reads of its owner's gear is
/// part of what it costs.
#[async_trait]
impl<S: GearStore> GearStore for CountingStore<S> {
    async fn insert_gear(&self, gear: &Gear, max: usize) -> anyhow::Result<bool> {
        self.count();
        self.inner.insert_gear(gear, max).await
    }
    async fn replace_gear(&self, gear: &Gear) -> anyhow::Result<bool> {
        self.count();
        self.inner.replace_gear(gear).await
    }
    async fn delete_gear(&self, user_id: Uuid, id: Uuid) -> anyhow::Result<bool> {
        self.count();
        self.inner.delete_gear(user_id, id).await
    }
    async fn gear(&self, user_id: Uuid) -> anyhow::Result<Vec<Gear>> {
        self.count();
        self.inner.gear(user_id).await
    }
    async fn link_gear(
        &self,
        user_id: Uuid,
        activity_id: Uuid,
        gear_id: Option<Uuid>,
    ) -> anyhow::Result<()> {
        self.count();
        self.inner.link_gear(user_id, activity_id, gear_id).await
    }
    async fn gear_use(&self, user_id: Uuid) -> anyhow::Result<HashMap<Uuid, GearUse>> {
        self.count();
        self.inner.gear_use(user_id).await
    }
    async fn activity_gear(&self, activity_ids: &[Uuid]) -> anyhow::Result<HashMap<Uuid, Uuid>> {
        self.count();
        self.inner.activity_gear(activity_ids).await
    }
}

/// And goal calls, for the same reason.
#[async_trait]
impl<S: GoalStore> GoalStore for CountingStore<S> {
    async fn insert_goal(&self, goal: &Goal, max: usize) -> anyhow::Result<bool> {
        self.count();
        self.inner.insert_goal(goal, max).await
    }
    async fn replace_goal(&self, goal: &Goal) -> anyhow::Result<bool> {
        self.count();
        self.inner.replace_goal(goal).await
    }
    async fn delete_goal(&self, user_id: Uuid, id: Uuid) -> anyhow::Result<bool> {
        self.count();
        self.inner.delete_goal(user_id, id).await
    }
    async fn goals(&self, user_id: Uuid) -> anyhow::Result<Vec<Goal>> {
        self.count();
        self.inner.goals(user_id).await
    }
}

/// Wraps the service's store: each call timed in `fittrack_store_call_duration_seconds`
/// and traced as a `store.<operation>` span (`kit::metrics::StoreTimings`).
pub struct TimedStore {
    inner: Arc<dyn ActivityStore>,
    timings: fittrack_kit::metrics::StoreTimings,
}

impl TimedStore {
    pub fn new(
        inner: Arc<dyn ActivityStore>,
        timings: fittrack_kit::metrics::StoreTimings,
    ) -> Self {
        Self { inner, timings }
    }
}

#[async_trait]
impl ActivityStore for TimedStore {
    async fn insert(&self, activity: Activity) -> anyhow::Result<Inserted> {
        self.timings
            .time("insert", self.inner.insert(activity))
            .await
    }
    async fn get_many(&self, ids: &[Uuid]) -> anyhow::Result<Vec<Activity>> {
        self.timings
            .time_batch("get_many", "activity", ids.len(), self.inner.get_many(ids))
            .await
    }
    async fn update(
        &self,
        owner: Uuid,
        id: Uuid,
        fields: &ActivityFields,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Activity>> {
        self.timings
            .time("update", self.inner.update(owner, id, fields, now))
            .await
    }
    async fn save_recording(
        &self,
        activity: &Activity,
        recording: &StoredRecording,
    ) -> anyhow::Result<bool> {
        self.timings
            .time(
                "save_recording",
                self.inner.save_recording(activity, recording),
            )
            .await
    }
    async fn save_efforts(&self, efforts: &[Effort]) -> anyhow::Result<()> {
        self.timings
            .time("save_efforts", self.inner.save_efforts(efforts))
            .await
    }

    async fn replace_efforts(&self, activity_id: Uuid, efforts: &[Effort]) -> anyhow::Result<()> {
        self.timings
            .time(
                "replace_efforts",
                self.inner.replace_efforts(activity_id, efforts),
            )
            .await
    }
    async fn efforts(&self, user_id: Uuid, kinds: &[RecordKind]) -> anyhow::Result<Vec<Effort>> {
        self.timings
            .time("efforts", self.inner.efforts(user_id, kinds))
            .await
    }
    async fn workout_reads(
        &self,
        activity: &Activity,
        query: &WorkoutReadsQuery<'_>,
    ) -> anyhow::Result<WorkoutReads> {
        self.timings
            .time("workout_reads", self.inner.workout_reads(activity, query))
            .await
    }
    async fn recordings(&self, ids: &[Uuid]) -> anyhow::Result<HashMap<Uuid, StoredRecording>> {
        self.timings
            .time_batch(
                "recordings",
                "recording",
                ids.len(),
                self.inner.recordings(ids),
            )
            .await
    }
    async fn has_recording(&self, id: Uuid) -> anyhow::Result<bool> {
        self.timings
            .time("has_recording", self.inner.has_recording(id))
            .await
    }
    async fn delete(&self, owner: Uuid, id: Uuid) -> anyhow::Result<Option<Activity>> {
        self.timings
            .time("delete", self.inner.delete(owner, id))
            .await
    }
    async fn page(&self, query: &PageQuery) -> anyhow::Result<Vec<Activity>> {
        self.timings.time("page", self.inner.page(query)).await
    }
    async fn first_pages(
        &self,
        user_ids: &[Uuid],
        filter: &ActivityFilter,
        limit: u32,
    ) -> anyhow::Result<HashMap<Uuid, Vec<Activity>>> {
        self.timings
            .time_batch(
                "first_pages",
                "activities_first_page",
                user_ids.len(),
                self.inner.first_pages(user_ids, filter, limit),
            )
            .await
    }
    async fn type_totals(
        &self,
        user_ids: Option<&[Uuid]>,
        filter: &ActivityFilter,
    ) -> anyhow::Result<Vec<TypeTotals>> {
        self.timings
            .time("type_totals", self.inner.type_totals(user_ids, filter))
            .await
    }
    async fn daily_totals(
        &self,
        user_ids: &[Uuid],
        offset: FixedOffset,
    ) -> anyhow::Result<HashMap<Uuid, Vec<DailyTotals>>> {
        self.timings
            .time_batch(
                "daily_totals",
                "stats",
                user_ids.len(),
                self.inner.daily_totals(user_ids, offset),
            )
            .await
    }
    async fn quarter_hour_totals(
        &self,
        user_ids: &[Uuid],
    ) -> anyhow::Result<HashMap<Uuid, Vec<QuarterHourTotals>>> {
        self.timings
            .time_batch(
                "quarter_hour_totals",
                "stats",
                user_ids.len(),
                self.inner.quarter_hour_totals(user_ids),
            )
            .await
    }
    async fn mark_events_enqueued(&self, ids: &[Uuid]) -> anyhow::Result<()> {
        self.timings
            .time("mark_events_enqueued", self.inner.mark_events_enqueued(ids))
            .await
    }
    async fn pending_events(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> anyhow::Result<Vec<Activity>> {
        self.timings
            .time("pending_events", self.inner.pending_events(before, limit))
            .await
    }
    async fn changes(
        &self,
        user_id: Uuid,
        after: Option<ChangePosition>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> anyhow::Result<Vec<Change>> {
        self.timings
            .time("changes", self.inner.changes(user_id, after, until, limit))
            .await
    }
    async fn delete_user(&self, user_id: Uuid) -> anyhow::Result<u64> {
        self.timings
            .time("delete_user", self.inner.delete_user(user_id))
            .await
    }
    async fn ping(&self) -> anyhow::Result<()> {
        self.inner.ping().await
    }
}

/// An original file as stored: gzip at its fastest level, which an import
/// pays for every file (XML still shrinks several times over, FIT by half).
pub(crate) fn pack_original(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

/// An original file from storage; `size` (kept beside it) bounds what is
/// unpacked, so a damaged row cannot inflate without end.
pub(crate) fn unpack_original(packed: &[u8], size: u64) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(packed)
        .take(size + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| anyhow::anyhow!("unpacking an original file: {error}"))?;
    anyhow::ensure!(
        bytes.len() as u64 == size,
        "an original file unpacked to {} bytes, not {size}",
        bytes.len()
    );
    Ok(bytes)
}
