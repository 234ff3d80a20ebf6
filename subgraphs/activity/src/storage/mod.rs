//! Where activities live. One interface, [`ActivityStore`], two backends that
//! pass the same contract suite (`tests/store_contract.rs`):
//! - [`mongo::MongoActivityStore`]: MongoDB, when `MONGODB_URI` is set;
//! - [`embedded::EmbeddedActivityStore`]: SQLite in the data directory, the default.

pub mod embedded;
pub mod mongo;

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

use crate::domain::{
    model::{Activity, ActivityFields, ActivityFilter, Cursor, TypeTotals},
    stats::DailyTotals,
};

/// Outcome of an insert carrying an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    New(Activity),
    /// The key was used before by this user: the first activity, nothing stored.
    Existing(Activity),
}

impl Inserted {
    pub fn activity(&self) -> &Activity {
        match self {
            Self::New(a) | Self::Existing(a) => a,
        }
    }
}

/// A page request: newest `start_time` first, strictly after `after`.
#[derive(Debug, Clone, Default)]
pub struct PageQuery {
    /// `None`: every user (admin listings).
    pub user_id: Option<Uuid>,
    pub filter: ActivityFilter,
    pub after: Option<Cursor>,
    pub limit: u32,
}

#[async_trait]
pub trait ActivityStore: Send + Sync + 'static {
    /// Stores a new activity, unless `(user_id, idempotency_key)` already exists.
    async fn insert(&self, activity: Activity) -> anyhow::Result<Inserted>;
    /// Activities by id (any owner; callers check access), in no particular order.
    async fn get_many(&self, ids: &[Uuid]) -> anyhow::Result<Vec<Activity>>;
    /// Replaces the editable fields if `owner` owns it; the updated activity.
    async fn update(
        &self,
        owner: Uuid,
        id: Uuid,
        fields: &ActivityFields,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Activity>>;
    /// Deletes if `owner` owns it; the deleted activity.
    async fn delete(&self, owner: Uuid, id: Uuid) -> anyhow::Result<Option<Activity>>;
    /// One page (at most `limit` items).
    async fn page(&self, query: &PageQuery) -> anyhow::Result<Vec<Activity>>;
    /// The first `limit` activities of each user (filtered), in one round trip.
    async fn first_pages(
        &self,
        user_ids: &[Uuid],
        filter: &ActivityFilter,
        limit: u32,
    ) -> anyhow::Result<HashMap<Uuid, Vec<Activity>>>;
    /// Per (user, type) totals within `filter`; `None` users means everyone.
    async fn type_totals(
        &self,
        user_ids: Option<&[Uuid]>,
        filter: &ActivityFilter,
    ) -> anyhow::Result<Vec<TypeTotals>>;
    /// Per (user, local day) totals over all history, days in `offset`.
    async fn daily_totals(
        &self,
        user_ids: &[Uuid],
        offset: FixedOffset,
    ) -> anyhow::Result<HashMap<Uuid, Vec<DailyTotals>>>;
    /// Records that the activity's `ActivityLogged` event is on the queue.
    async fn mark_event_enqueued(&self, id: Uuid) -> anyhow::Result<()>;
    /// Activities whose event was never confirmed, created at or before `before`
    /// (inclusive, so a zero grace period also finds this millisecond's activity).
    async fn pending_events(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> anyhow::Result<Vec<Activity>>;
    /// Erases every activity of a user (account deletion); how many.
    async fn delete_user(&self, user_id: Uuid) -> anyhow::Result<u64>;
    /// Cheap liveness probe of the backend, for `/ready`.
    async fn ping(&self) -> anyhow::Result<()>;
}

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
    async fn mark_event_enqueued(&self, id: Uuid) -> anyhow::Result<()> {
        self.count();
        self.inner.mark_event_enqueued(id).await
    }
    async fn pending_events(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> anyhow::Result<Vec<Activity>> {
        self.count();
        self.inner.pending_events(before, limit).await
    }
    async fn delete_user(&self, user_id: Uuid) -> anyhow::Result<u64> {
        self.count();
        self.inner.delete_user(user_id).await
    }
    async fn ping(&self) -> anyhow::Result<()> {
        self.inner.ping().await
    }
}
