//! The activity use cases: what resolvers call. Access rules live here.

use std::sync::Arc;

use chrono::Utc;
use fittrack_kit::{
    events::{GoalStatus, RecordSet, WorkoutInsights, MAX_INSIGHT_SPLITS},
    CurrentUser,
};
use uuid::Uuid;

use super::{
    analysis,
    error::{ActivityError, ActivityResult},
    gear::Gear,
    model::{Activity, ActivityFilter, Cursor, Metrics},
    ports::{ActivityEvents, ActivityStore, Inserted, PageQuery, WorkoutReads, WorkoutReadsQuery},
    recording::Recording,
    records,
    stats::{self, ActivityStats},
    validation::{self, RawActivity},
};

/// What importing one recorded workout did.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportedWorkout {
    New(Activity),
    /// The user has this workout already (same type, same start): the one
    /// stored, nothing stored twice.
    Duplicate(Activity),
}

/// Imported workouts that started longer ago than this are history: they
/// are not announced to the coach (a bulk export of years would ask
/// Gemini about each).
pub const ANNOUNCE_IMPORTS_WITHIN_HOURS: i64 = 48;

/// The idempotency key of an imported workout: its type and start, so the
/// store's unique key refuses a second copy however it arrives (another
/// format, another export, two imports at once).
pub fn import_key(
    activity_type: super::model::ActivityType,
    start: chrono::DateTime<Utc>,
) -> String {
    format!(
        "import:{}:{}",
        activity_type.as_str(),
        start.timestamp_millis()
    )
}

/// The zone of a device that gave only its UTC offset: a whole number of
/// hours is an `Etc/GMT` zone (POSIX signs: `Etc/GMT-2` is UTC+2); anything
/// else says no zone.
pub fn zone_of_offset(seconds: i32) -> Option<String> {
    if seconds == 0 {
        return Some("UTC".into());
    }
    (seconds % 3600 == 0 && (-12..=14).contains(&(seconds / 3600)))
        .then(|| format!("Etc/GMT{:+}", -(seconds / 3600)))
}

/// Where a recorded workout was done: the importer's zone when the file
/// gives no offset or one that zone had then; else the device's offset as
/// an `Etc/GMT` zone.
fn zone_of_recording(recording: &Recording, default_zone: Option<&str>) -> Option<String> {
    let given = default_zone.and_then(|name| name.parse::<chrono_tz::Tz>().ok());
    match (recording.utc_offset_seconds, given) {
        (None, Some(zone)) => Some(zone.name().to_owned()),
        (Some(offset), Some(zone)) => {
            use chrono::Offset as _;
            let then = recording
                .start_time
                .with_timezone(&zone)
                .offset()
                .fix()
                .local_minus_utc();
            if then == offset {
                Some(zone.name().to_owned())
            } else {
                zone_of_offset(offset)
            }
        }
        (Some(offset), None) => zone_of_offset(offset),
        (None, None) => None,
    }
}

/// What a workout logged by hand can hold: its duration, the longest of
/// its type.
fn hand_logged_efforts(activity: &Activity) -> Vec<records::Effort> {
    efforts_of(
        activity,
        &[(
            records::RecordKind::LongestDuration,
            f64::from(activity.duration_minutes) * 60.0,
        )],
    )
}

/// `(kind, value)` pairs as the efforts of `activity`.
fn efforts_of(activity: &Activity, efforts: &[(records::RecordKind, f64)]) -> Vec<records::Effort> {
    efforts
        .iter()
        .map(|(kind, value)| records::Effort {
            activity_id: activity.id,
            user_id: activity.user_id,
            activity_type: activity.activity_type,
            kind: *kind,
            value: *value,
            achieved_at: activity.start_time,
        })
        .collect()
}

/// How far behind now the change feed reads. A write is timed before it
/// commits; store calls give up within seconds (`kit::sqlite`,
/// `kit::mongo`), so after this long every write timed before the feed's
/// horizon is visible, and a client that has read up to a position never
/// sees an earlier change appear later.
pub const CHANGES_SETTLE_SECONDS: i64 = 5;

/// A page of activities plus whether more follow.
pub type Page = fittrack_kit::pagination::Page<Activity>;

/// Partial update: `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ActivityPatch {
    pub activity_type: Option<super::model::ActivityType>,
    pub duration_minutes: Option<i32>,
    pub calories_burned: Option<i32>,
    pub start_time: Option<chrono::DateTime<Utc>>,
    /// `Some(None)` clears the notes.
    pub notes: Option<Option<String>>,
    pub metrics: Option<super::model::Metrics>,
    /// `Some(None)` forgets the time zone.
    pub time_zone: Option<Option<String>>,
}

/// How long a request waits for the queue and the live bus to take what it
/// tells them (a new workout's event and records, a deletion). They answer
/// within a millisecond; while Redis is away or unanswering, each command
/// would hold the request for its own timeout (2 s), several in turn. Past
/// this the request answers and the telling goes on by itself, bounded by
/// those timeouts; an event it could not confirm is sent again by the
/// sweeper. A Redis outage costs coaching latency, never a logged workout.
pub const TELLING_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// How long `logActivity` waits for the erasure marks before keeping the
/// workout for the sweeper to check: a connection that is up but silent
/// would hold it for the command timeout (2 s). Longer than a busy Redis
/// ever takes, since a workout kept unchecked reaches the coach only on
/// the next sweep.
pub const ERASURE_CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs `telling` apart from the request (in its span, so the job carries
/// its trace on) and waits for it at most [`TELLING_WAIT`].
async fn tell(telling: impl std::future::Future<Output = ()> + Send + 'static) {
    use tracing::Instrument as _;
    let told = tokio::spawn(telling.in_current_span());
    if tokio::time::timeout(TELLING_WAIT, told).await.is_err() {
        tracing::warn!(
            wait_ms = TELLING_WAIT.as_millis() as u64,
            "the queue or the live bus did not answer in time; the request answers without it"
        );
    }
}

/// Where new personal records are announced to live subscribers.
pub type RecordBus = Arc<dyn fittrack_kit::live::LiveBus<records::NewRecord>>;

#[derive(Clone)]
pub struct Activities {
    store: Arc<dyn ActivityStore>,
    events: Arc<dyn ActivityEvents>,
    erased: Arc<dyn fittrack_kit::erasure::ErasedUsers>,
    records_bus: RecordBus,
    /// Gives new workouts their default gear, where the service keeps gear.
    gear: Option<super::gear::GearList>,
    /// What the coach hears about a new workout beyond the workout itself:
    /// the user's goals, and zones from their profile.
    coaching: Option<(super::goals::Goals, super::profile::Profiles)>,
    /// Keeps the files imported workouts came from.
    originals: Option<Arc<dyn super::ports::OriginalStore>>,
}

pub fn page_size(first: Option<i32>) -> ActivityResult<u32> {
    // At most MAX_PAGE_SIZE (100): fits.
    Ok(fittrack_kit::pagination::page_size(first)? as u32)
}

impl Activities {
    pub fn new(
        store: Arc<dyn ActivityStore>,
        events: Arc<dyn ActivityEvents>,
        erased: Arc<dyn fittrack_kit::erasure::ErasedUsers>,
    ) -> Self {
        Self {
            store,
            events,
            erased,
            records_bus: Arc::new(fittrack_kit::live::LocalBus::default()),
            gear: None,
            coaching: None,
            originals: None,
        }
    }

    /// Imported workouts keep the file they came from.
    pub fn with_originals(mut self, originals: Arc<dyn super::ports::OriginalStore>) -> Self {
        self.originals = Some(originals);
        self
    }

    /// The file a workout of `owner`'s was imported from, for its owner
    /// only (anyone else is told there is none).
    pub async fn original_file(
        &self,
        viewer: Uuid,
        owner: Uuid,
        activity_id: Uuid,
    ) -> ActivityResult<Option<super::recording::OriginalFile>> {
        match &self.originals {
            Some(store) if viewer == owner => Ok(store.original(activity_id).await?),
            _ => Ok(None),
        }
    }

    /// Part of storing an imported workout, like its recording: a retried
    /// import keeps it if the first try did not get that far.
    async fn keep_original(
        &self,
        activity: &Activity,
        original: Option<&super::recording::OriginalFile>,
    ) -> ActivityResult<()> {
        if let (Some(store), Some(original)) = (&self.originals, original) {
            store.keep_original(activity, original).await?;
        }
        Ok(())
    }

    /// New workouts' events carry the user's goal progress and time in
    /// their heart-rate zones, for the coach.
    pub fn with_coaching(
        mut self,
        goals: super::goals::Goals,
        profiles: super::profile::Profiles,
    ) -> Self {
        self.coaching = Some((goals, profiles));
        self
    }

    /// New workouts take the gear that is the default for their type.
    pub fn with_gear(mut self, gear: super::gear::GearList) -> Self {
        self.gear = Some(gear);
        self
    }

    /// Part of storing a workout, so a store that fails here fails the
    /// request (`SERVICE_UNAVAILABLE`) and a retry finishes the job
    /// ([`Self::finish_replayed_log`]). Were it best effort, one request
    /// could wait out the store's server selection twice, past the router's
    /// subgraph timeout (the `mongodb_restarted` fault scenario).
    async fn link_default_gear(&self, activity: &Activity, owned: &[Gear]) -> ActivityResult<()> {
        match &self.gear {
            Some(gear) => gear.link_default(activity, owned).await,
            None => Ok(()),
        }
    }

    /// Everything storing a new workout reads, in one store call: its
    /// owner's gear (when gear is kept) and, when it is `judged` (the coach
    /// hears of it), the holders of the records its `efforts` compete for
    /// and its owner's goals. Like the gear link it serves, a failure fails
    /// the request: the store has just gone away, and the retry finishes
    /// ([`Self::finish_replayed_log`]) while the sweeper tells the coach.
    async fn workout_reads(
        &self,
        activity: &Activity,
        efforts: &[records::Effort],
        judged: bool,
    ) -> ActivityResult<WorkoutReads> {
        let record_keys: Vec<records::RecordKey> = if judged {
            efforts.iter().map(records::key_of).collect()
        } else {
            Vec::new()
        };
        let query = WorkoutReadsQuery {
            record_keys: &record_keys,
            gear: self.gear.is_some(),
            goals: judged && self.coaching.is_some(),
        };
        Ok(self.store.workout_reads(activity, &query).await?)
    }

    /// A `logActivity` retried with its idempotency key after the first try
    /// failed between its writes: the workout is there, its efforts and its
    /// default gear may not be. Both writes are idempotent; gear the workout
    /// has (the user's own choice since) is kept.
    async fn finish_replayed_log(&self, activity: &Activity) -> ActivityResult<()> {
        self.store
            .save_efforts(&hand_logged_efforts(activity))
            .await?;
        if let Some(gear) = &self.gear {
            if gear.of_activities(&[activity.id]).await?.is_empty() {
                let reads = self.workout_reads(activity, &[], false).await?;
                gear.link_default(activity, &reads.gear).await?;
            }
        }
        Ok(())
    }

    /// Announces new records on `bus` (in process by default).
    pub fn with_records_bus(mut self, bus: RecordBus) -> Self {
        self.records_bus = bus;
        self
    }

    pub fn records_bus(&self) -> &RecordBus {
        &self.records_bus
    }

    pub fn store(&self) -> &Arc<dyn ActivityStore> {
        &self.store
    }

    /// Tells the coach about a stored workout (`ActivityLogged`, with what
    /// [`Self::insights`] found) and, when `announce`, its owner about the
    /// records it set. Best effort: the workout is stored either way, a
    /// queue that is down is caught up by the sweeper, and the records are
    /// in `myRecords` whether announced or not.
    async fn after_stored(
        &self,
        activity: &Activity,
        efforts: &[records::Effort],
        samples: &[super::recording::Sample],
        announce: bool,
        reads: WorkoutReads,
    ) {
        let (new_records, insights) = match self.insights(activity, efforts, samples, reads).await {
            Ok((new_records, insights)) => (new_records, Some(insights)),
            Err(error) => {
                tracing::warn!(
                    activity_id = %activity.id,
                    error = format!("{error:#}"),
                    "the coach hears of the workout without its records, zones or goals"
                );
                (Vec::new(), None)
            }
        };
        let (events, records_bus, activity) = (
            self.events.clone(),
            self.records_bus.clone(),
            activity.clone(),
        );
        tell(async move {
            events.logged(&activity, insights).await;
            if !announce {
                return;
            }
            for record in &new_records {
                if let Err(error) = records_bus.publish(record).await {
                    tracing::warn!(
                        activity_id = %activity.id,
                        error = format!("{error:#}"),
                        "new records not announced live"
                    );
                    break;
                }
            }
        })
        .await;
    }

    /// The records a new workout set with its `efforts` (against the
    /// holder of each, in `reads`: a user's history is not read on every
    /// write), its kilometre splits, its time in the user's heart-rate
    /// zones and the user's goal progress. What is left to read (the
    /// profile with heart rate, the goals' totals with goals) runs one
    /// after another and the first that fails ends it: a store going away
    /// costs one wait, not one per read.
    async fn insights(
        &self,
        activity: &Activity,
        efforts: &[records::Effort],
        samples: &[super::recording::Sample],
        reads: WorkoutReads,
    ) -> anyhow::Result<(Vec<records::NewRecord>, WorkoutInsights)> {
        let mut contenders = reads.holders;
        contenders.extend_from_slice(efforts);
        let new_records = records::new_records(&contenders, activity.id);
        let mut insights = WorkoutInsights {
            records: new_records
                .iter()
                .map(|new| RecordSet {
                    kind: new.record.kind.as_str().to_owned(),
                    value: new.record.value,
                })
                .collect(),
            kilometre_split_seconds: analysis::splits(samples, 1000.0)
                .into_iter()
                // The last, partial one is not a kilometre.
                .filter(|split| split.distance_m >= 999.0)
                .take(MAX_INSIGHT_SPLITS)
                .map(|split| split.elapsed_seconds)
                .collect(),
            ..WorkoutInsights::default()
        };
        let Some((goals, profiles)) = &self.coaching else {
            return Ok((new_records, insights));
        };
        let internal = |error: ActivityError| anyhow::anyhow!("{error:?}");
        if samples.iter().any(|sample| sample.heart_rate.is_some()) {
            let profile = profiles.get(activity.user_id).await.map_err(internal)?;
            insights.zone_seconds = profile
                .zones()
                .map(|zones| analysis::time_in_zones(samples, &zones).to_vec());
        }
        insights.goals = goals
            .progress_of(activity.user_id, reads.goals)
            .await
            .map_err(internal)?
            .into_iter()
            .map(|(goal, progress)| GoalStatus {
                period: goal.period.as_str().to_owned(),
                metric: goal.metric.as_str().to_owned(),
                activity_types: goal
                    .activity_types
                    .iter()
                    .map(|t| t.as_str().to_owned())
                    .collect(),
                target: goal.target,
                value: progress.value,
                period_end: progress.period_end,
            })
            .collect();
        Ok((new_records, insights))
    }

    pub async fn log(
        &self,
        owner: Uuid,
        raw: RawActivity,
        idempotency_key: Option<String>,
    ) -> ActivityResult<Activity> {
        let now = Utc::now();
        let fields = validation::validate(raw, now)?;
        let idempotency_key = validation::validate_idempotency_key(idempotency_key)?;
        let activity = Activity {
            id: Uuid::now_v7(),
            user_id: owner,
            activity_type: fields.activity_type,
            duration_minutes: fields.duration_minutes,
            calories_burned: fields.calories_burned,
            start_time: fields.start_time,
            notes: fields.notes,
            metrics: fields.metrics,
            idempotency_key,
            created_at: now,
            updated_at: now,
            event_enqueued: false,
            time_zone: fields.time_zone,
        };
        let activity = match self.store.insert(activity).await? {
            Inserted::New(activity) => activity,
            Inserted::Existing(activity) => {
                self.finish_replayed_log(&activity).await?;
                return Ok(activity);
            }
        };
        // Written first, checked after (see kit::erasure): a deletion that
        // raced this request is either seen here or saw the row. Marks that
        // cannot be read (Redis away) do not cost the workout: it is kept
        // unannounced, and the sweeper checks the mark before the coach
        // hears of it (`EventPublisher::sweep_once`).
        let erasure_read = tokio::time::timeout(ERASURE_CHECK_WAIT, self.erased.is_erased(owner))
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {ERASURE_CHECK_WAIT:?}")));
        let erasure_checked = match erasure_read {
            Ok(true) => {
                self.store.delete_user(owner).await?;
                return Err(ActivityError::AccountErased);
            }
            Ok(false) => true,
            Err(error) => {
                tracing::warn!(
                    activity_id = %activity.id,
                    error = format!("{error:#}"),
                    "erasure marks unreadable; the workout is kept and announced once the sweeper has checked them"
                );
                false
            }
        };
        let efforts = hand_logged_efforts(&activity);
        self.store.save_efforts(&efforts).await?;
        let reads = self.workout_reads(&activity, &efforts, true).await?;
        self.link_default_gear(&activity, &reads.gear).await?;
        let fresh =
            now - activity.start_time < chrono::Duration::hours(ANNOUNCE_IMPORTS_WITHIN_HOURS);
        if erasure_checked {
            self.after_stored(&activity, &efforts, &[], fresh, reads)
                .await;
        }
        Ok(activity)
    }

    /// Stores a workout read from a file, with its recording, unless the
    /// user has it already. Its summary fills the activity's fields (what
    /// the file lacks stays empty: calories are 0 when the file has none).
    pub async fn import_recording(
        &self,
        owner: Uuid,
        recording: Recording,
        file_sha256: String,
        default_zone: Option<&str>,
        original: Option<super::recording::OriginalFile>,
    ) -> ActivityResult<ImportedWorkout> {
        let now = Utc::now();
        let heart_rate = recording.heart_rate_summary();
        let raw = RawActivity {
            activity_type: recording.sport,
            // Checked within 1 minute to 24 hours: fits.
            duration_minutes: ((recording.elapsed_seconds / 60.0).round() as i32).clamp(
                *validation::DURATION_MINUTES.start(),
                *validation::DURATION_MINUTES.end(),
            ),
            calories_burned: recording.calories.unwrap_or(0),
            start_time: recording.start_time,
            notes: None,
            metrics: Some(Metrics {
                distance_km: recording.distance_m.map(|m| m / 1000.0),
                average_heart_rate: heart_rate.map(|(mean, _)| i32::from(mean)),
                max_heart_rate: heart_rate.map(|(_, max)| i32::from(max)),
                steps: None,
                custom: None,
            }),
            time_zone: zone_of_recording(&recording, default_zone),
        };
        let fields = validation::validate(raw, now)?;
        let announce =
            now - fields.start_time < chrono::Duration::hours(ANNOUNCE_IMPORTS_WITHIN_HOURS);
        let activity = Activity {
            id: Uuid::now_v7(),
            user_id: owner,
            activity_type: fields.activity_type,
            duration_minutes: fields.duration_minutes,
            calories_burned: fields.calories_burned,
            start_time: fields.start_time,
            notes: fields.notes,
            metrics: fields.metrics,
            idempotency_key: Some(import_key(fields.activity_type, fields.start_time)),
            created_at: now,
            updated_at: now,
            // History has nothing to announce; the sweeper skips it.
            event_enqueued: !announce,
            time_zone: fields.time_zone,
        };
        let efforts = records::best_efforts(
            fields.activity_type,
            &recording.samples,
            recording.elapsed_seconds,
            recording.distance_m,
        );
        let stored = recording.into_stored(file_sha256);
        let activity = match self.store.insert(activity).await? {
            Inserted::New(activity) => activity,
            Inserted::Existing(activity) => {
                // A crash between the writes left it without its points.
                self.store.save_recording(&activity, &stored).await?;
                self.keep_original(&activity, original.as_ref()).await?;
                self.store
                    .save_efforts(&efforts_of(&activity, &efforts))
                    .await?;
                return Ok(ImportedWorkout::Duplicate(activity));
            }
        };
        self.store.save_recording(&activity, &stored).await?;
        self.keep_original(&activity, original.as_ref()).await?;
        let efforts = efforts_of(&activity, &efforts);
        self.store.save_efforts(&efforts).await?;
        if self.erased.is_erased(owner).await? {
            self.store.delete_user(owner).await?;
            return Err(ActivityError::AccountErased);
        }
        // History sets records too, but only a fresh workout's are news,
        // to its owner and to the coach.
        let reads = self.workout_reads(&activity, &efforts, announce).await?;
        self.link_default_gear(&activity, &reads.gear).await?;
        if announce {
            self.after_stored(&activity, &efforts, &stored.samples, true, reads)
                .await;
        }
        Ok(ImportedWorkout::New(activity))
    }

    /// A user's changes after `after` (saved and deleted activities, in
    /// order), up to [`CHANGES_SETTLE_SECONDS`] ago; at most `limit`, and
    /// whether more follow.
    pub async fn changes(
        &self,
        user: Uuid,
        after: Option<super::model::ChangePosition>,
        limit: u32,
    ) -> ActivityResult<(Vec<super::model::Change>, bool)> {
        let until = Utc::now() - chrono::Duration::seconds(CHANGES_SETTLE_SECONDS);
        let mut changes = self.store.changes(user, after, until, limit + 1).await?;
        let more = changes.len() > limit as usize;
        changes.truncate(limit as usize);
        Ok((changes, more))
    }

    /// A user's personal records: the best effort of each kind.
    pub async fn records(&self, user: Uuid) -> ActivityResult<Vec<records::Effort>> {
        Ok(records::records(&self.store.efforts(user, &[]).await?))
    }

    /// The records each of a user's activities set when it was recorded,
    /// by activity.
    pub async fn records_set(
        &self,
        user: Uuid,
    ) -> ActivityResult<std::collections::HashMap<Uuid, Vec<records::Effort>>> {
        Ok(records::set_by_activity(
            &self.store.efforts(user, &[]).await?,
        ))
    }

    /// Each record of `kind` a user set, oldest first (`LONGEST_DURATION`
    /// per `activity_type`).
    pub async fn record_history(
        &self,
        user: Uuid,
        kind: records::RecordKind,
        activity_type: Option<super::model::ActivityType>,
    ) -> ActivityResult<Vec<records::Effort>> {
        let efforts = self.store.efforts(user, &[kind]).await?;
        Ok(records::history(&efforts, kind, activity_type))
    }

    /// The activity if the viewer may see it (owner or admin).
    pub async fn get(&self, viewer: &CurrentUser, id: Uuid) -> ActivityResult<Activity> {
        let found = self.store.get_many(&[id]).await?.into_iter().next();
        match found {
            Some(activity) if viewer.may_access(activity.user_id) => Ok(activity),
            _ => Err(ActivityError::NotFound),
        }
    }

    pub async fn update(
        &self,
        owner: Uuid,
        id: Uuid,
        patch: ActivityPatch,
    ) -> ActivityResult<Activity> {
        let current = self.store.get_many(&[id]).await?.into_iter().next();
        let Some(current) = current.filter(|a| a.user_id == owner) else {
            return Err(ActivityError::NotFound);
        };
        let raw = RawActivity {
            activity_type: patch.activity_type.unwrap_or(current.activity_type),
            duration_minutes: patch.duration_minutes.unwrap_or(current.duration_minutes),
            calories_burned: patch.calories_burned.unwrap_or(current.calories_burned),
            start_time: patch.start_time.unwrap_or(current.start_time),
            notes: patch.notes.unwrap_or(current.notes),
            metrics: Some(patch.metrics.unwrap_or(current.metrics)),
            time_zone: patch.time_zone.unwrap_or(current.time_zone),
        };
        let now = Utc::now();
        let fields = validation::validate(raw, now)?;
        let updated = self
            .store
            .update(owner, id, &fields, now)
            .await?
            .ok_or(ActivityError::NotFound)?;
        // A recorded workout's efforts come from its points; a hand-logged
        // one's from what was typed, so they follow the change.
        if !self.store.has_recording(id).await? {
            self.store
                .replace_efforts(id, &hand_logged_efforts(&updated))
                .await?;
        }
        Ok(updated)
    }

    pub async fn delete(&self, owner: Uuid, id: Uuid) -> ActivityResult<Activity> {
        let deleted = self
            .store
            .delete(owner, id)
            .await?
            .ok_or(ActivityError::NotFound)?;
        let (events, told) = (self.events.clone(), deleted.clone());
        tell(async move { events.deleted(&told).await }).await;
        Ok(deleted)
    }

    /// Newest first; `user_id: None` lists everyone (callers check the role).
    pub async fn page(
        &self,
        user_id: Option<Uuid>,
        filter: ActivityFilter,
        after: Option<Cursor>,
        limit: u32,
    ) -> ActivityResult<Page> {
        let items = self
            .store
            .page(&PageQuery {
                user_id,
                filter,
                after,
                limit: limit + 1,
            })
            .await?;
        Ok(Page::from_overfetch(items, limit as usize))
    }

    /// Stats of several users at once: two store queries whatever their number.
    pub async fn stats_of(
        &self,
        user_ids: &[Uuid],
        filter: &ActivityFilter,
        days: stats::DayBoundary,
    ) -> ActivityResult<std::collections::HashMap<Uuid, ActivityStats>> {
        let totals = self.store.type_totals(Some(user_ids), filter).await?;
        let mut daily = match days {
            stats::DayBoundary::Offset(offset) => self.store.daily_totals(user_ids, offset).await?,
            stats::DayBoundary::Zone(zone) => self
                .store
                .quarter_hour_totals(user_ids)
                .await?
                .into_iter()
                .map(|(user, quarters)| (user, stats::local_days(&quarters, zone)))
                .collect(),
        };
        let today = days.day_of(Utc::now());
        Ok(user_ids
            .iter()
            .map(|user| {
                let mine: Vec<_> = totals
                    .iter()
                    .filter(|t| t.user_id == *user)
                    .copied()
                    .collect();
                let days = daily.remove(user).unwrap_or_default();
                (*user, stats::summarize(&mine, &days, today))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::zone_of_offset;

    #[test]
    fn a_devices_offset_is_a_zone_only_in_whole_hours() {
        assert_eq!(zone_of_offset(3600).as_deref(), Some("Etc/GMT-1"));
        assert_eq!(zone_of_offset(-5 * 3600).as_deref(), Some("Etc/GMT+5"));
        assert_eq!(zone_of_offset(0).as_deref(), Some("UTC"));
        assert_eq!(
            zone_of_offset(19_800),
            None,
            "India's +5:30 has no Etc zone"
        );
        assert_eq!(zone_of_offset(20 * 3600), None);
        for seconds in [3600, -5 * 3600, 14 * 3600, -12 * 3600] {
            let zone = zone_of_offset(seconds).expect("a zone");
            assert!(zone.parse::<chrono_tz::Tz>().is_ok(), "{zone}");
        }
    }
}
