//! What the activity domain needs from the outside, as traits it owns: where
//! activities are kept ([`ActivityStore`], implemented in `storage`) and where
//! what happens to them is announced ([`ActivityEvents`], implemented by the
//! queue publisher in `events`).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, Utc};
use uuid::Uuid;

use super::{
    model::{Activity, ActivityFields, ActivityFilter, Change, ChangePosition, Cursor, TypeTotals},
    recording::StoredRecording,
    records::{Effort, RecordKey, RecordKind},
    stats::{DailyTotals, QuarterHourTotals},
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

/// What [`ActivityStore::workout_reads`] reads for a new workout.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkoutReadsQuery<'a> {
    /// The records it competes for.
    pub record_keys: &'a [RecordKey],
    /// Its owner's gear, for the default of its type.
    pub gear: bool,
    /// Its owner's goals, for the coach.
    pub goals: bool,
}

/// What a new workout is judged and equipped with, read together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkoutReads {
    /// The record of each key among the owner's efforts other than this
    /// workout's: the best value, the earliest of equal ones
    /// ([`super::records::records`]'s rule), of the key's activity type
    /// where it has one. Two index walks per key: the best value, then the
    /// earliest to reach it, however long the history.
    pub holders: Vec<Effort>,
    /// The owner's gear, oldest first (empty unless asked for).
    pub gear: Vec<super::gear::Gear>,
    /// The owner's goals, oldest first (empty unless asked for).
    pub goals: Vec<super::goals::Goal>,
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
    /// Keeps what was recorded for an activity, unless it has a recording
    /// already (a re-import reads the same file to the same recording);
    /// whether this one was kept.
    async fn save_recording(
        &self,
        activity: &Activity,
        recording: &StoredRecording,
    ) -> anyhow::Result<bool>;
    /// Keeps an activity's best efforts (one per kind; an effort kept
    /// already stays).
    async fn save_efforts(&self, efforts: &[Effort]) -> anyhow::Result<()>;
    /// Replaces the efforts of `activity_id` with these (a workout logged
    /// by hand and then changed).
    async fn replace_efforts(&self, activity_id: Uuid, efforts: &[Effort]) -> anyhow::Result<()>;
    /// A user's efforts of these kinds (every kind when empty).
    async fn efforts(&self, user_id: Uuid, kinds: &[RecordKind]) -> anyhow::Result<Vec<Effort>>;
    /// What storing a fresh workout reads, in one call (one statement on
    /// SQLite: each is a hand-off to its thread, what a write spends most
    /// on), whatever its owner's history: see [`WorkoutReads`].
    async fn workout_reads(
        &self,
        activity: &Activity,
        query: &WorkoutReadsQuery<'_>,
    ) -> anyhow::Result<WorkoutReads>;
    /// The recordings of these activities, where they have one.
    async fn recordings(&self, ids: &[Uuid]) -> anyhow::Result<HashMap<Uuid, StoredRecording>>;
    /// Whether an activity has a recording, without reading its points
    /// (the stores answer from an index; this default reads it whole).
    async fn has_recording(&self, id: Uuid) -> anyhow::Result<bool> {
        Ok(!self.recordings(&[id]).await?.is_empty())
    }
    /// Deletes if `owner` owns it, with its recording and efforts, leaving
    /// a tombstone for the change feed; the deleted activity.
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
    /// Per (user, quarter hour in UTC) totals over all history: what local
    /// days in a time zone are made of (`stats::local_days`).
    async fn quarter_hour_totals(
        &self,
        user_ids: &[Uuid],
    ) -> anyhow::Result<HashMap<Uuid, Vec<QuarterHourTotals>>>;
    /// Records that these activities' `ActivityLogged` events are on the
    /// queue, in one write.
    async fn mark_events_enqueued(&self, ids: &[Uuid]) -> anyhow::Result<()>;
    /// Activities whose event was never confirmed, created at or before `before`
    /// (inclusive, so a zero grace period also finds this millisecond's activity).
    async fn pending_events(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> anyhow::Result<Vec<Activity>>;
    /// A user's changes after `after` up to and including `until`, in
    /// `(time, id)` order, at most `limit`: activities saved (by
    /// `updated_at`) and deleted (tombstones kept by `delete`).
    async fn changes(
        &self,
        user_id: Uuid,
        after: Option<ChangePosition>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> anyhow::Result<Vec<Change>>;
    /// Erases every activity of a user and their recordings (account
    /// deletion); how many activities.
    async fn delete_user(&self, user_id: Uuid) -> anyhow::Result<u64>;
    /// Cheap liveness probe of the backend, for `/ready`.
    async fn ping(&self) -> anyhow::Result<()>;
}

/// Announces logged and deleted activities to other subgraphs.
#[async_trait]
pub trait ActivityEvents: Send + Sync + 'static {
    /// Announces a new activity, with what was worked out about it;
    /// whether the announcement is confirmed (when it is not, it is
    /// announced again later, without `insights`: delivery is at least once).
    async fn logged(
        &self,
        activity: &Activity,
        insights: Option<fittrack_kit::events::WorkoutInsights>,
    ) -> bool;
    /// Announces a deleted activity.
    async fn deleted(&self, activity: &Activity);
}

/// Where goals are kept (the activity store's backend; erased with the
/// user by [`ActivityStore::delete_user`]).
#[async_trait]
pub trait GoalStore: Send + Sync + 'static {
    /// Inserts unless the user keeps `max` goals already (counted in the
    /// same write); whether it was inserted.
    async fn insert_goal(&self, goal: &super::goals::Goal, max: usize) -> anyhow::Result<bool>;
    /// Replaces the user's goal with this id; whether there was one.
    async fn replace_goal(&self, goal: &super::goals::Goal) -> anyhow::Result<bool>;
    /// Whether the user had a goal with this id.
    async fn delete_goal(&self, user_id: Uuid, id: Uuid) -> anyhow::Result<bool>;
    /// A user's goals, oldest first.
    async fn goals(&self, user_id: Uuid) -> anyhow::Result<Vec<super::goals::Goal>>;
}

/// Where gear and which workout used it are kept (the activity store's
/// backend; erased with the user, and a workout's link with the workout).
#[async_trait]
pub trait GearStore: Send + Sync + 'static {
    /// Inserts unless the user keeps `max` pieces already; whether it was.
    async fn insert_gear(&self, gear: &super::gear::Gear, max: usize) -> anyhow::Result<bool>;
    /// Replaces the user's gear with this id; whether there was one.
    async fn replace_gear(&self, gear: &super::gear::Gear) -> anyhow::Result<bool>;
    /// Deletes it and its links to workouts; whether there was one.
    async fn delete_gear(&self, user_id: Uuid, id: Uuid) -> anyhow::Result<bool>;
    /// A user's gear, oldest first.
    async fn gear(&self, user_id: Uuid) -> anyhow::Result<Vec<super::gear::Gear>>;
    /// Sets (`Some`) or clears (`None`) the gear a workout used.
    async fn link_gear(
        &self,
        user_id: Uuid,
        activity_id: Uuid,
        gear_id: Option<Uuid>,
    ) -> anyhow::Result<()>;
    /// Per piece of gear, what the workouts that used it add up to.
    async fn gear_use(&self, user_id: Uuid) -> anyhow::Result<HashMap<Uuid, super::gear::GearUse>>;
    /// The gear of each of these workouts, where they have one.
    async fn activity_gear(&self, activity_ids: &[Uuid]) -> anyhow::Result<HashMap<Uuid, Uuid>>;
}

/// Where training profiles are kept (the activity store's backend; erased
/// with the user).
#[async_trait]
pub trait ProfileStore: Send + Sync + 'static {
    async fn profile(
        &self,
        user_id: Uuid,
    ) -> anyhow::Result<Option<super::profile::TrainingProfile>>;
    /// Inserts or replaces the user's profile.
    async fn save_profile(&self, profile: &super::profile::TrainingProfile) -> anyhow::Result<()>;
}

/// Where the files workouts were imported from are kept (the activity
/// store's backend: deleting the workout or erasing the user deletes them,
/// `ActivityStore::delete` and `delete_user`).
#[async_trait]
pub trait OriginalStore: Send + Sync + 'static {
    /// Keeps the file `activity` was read from, unless one is kept for it.
    async fn keep_original(
        &self,
        activity: &Activity,
        original: &super::recording::OriginalFile,
    ) -> anyhow::Result<()>;
    /// The file an activity was read from, if kept.
    async fn original(
        &self,
        activity_id: Uuid,
    ) -> anyhow::Result<Option<super::recording::OriginalFile>>;
    /// Which of a user's activities have their file kept, in id order
    /// after `after`, at most `limit`.
    async fn originals(
        &self,
        user_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> anyhow::Result<Vec<Uuid>>;
}
