//! The MongoDB backend: database `activity_db`, collection `activities`.
//!
//! Queries stick to operators that both MongoDB and nx-27017 (the wire-protocol
//! server CI uses) understand: local days are computed by shifting `startTime`
//! with `$add` rather than `$dateToString`'s `timezone`, for instance.

use std::collections::HashMap;

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use futures_util::{future::try_join_all, TryStreamExt};
use mongodb::{
    bson::{self, doc, Bson, Document},
    error::{ErrorKind, WriteFailure},
    options::IndexOptions,
    Collection, IndexModel,
};
use uuid::Uuid;

use super::{stream_codec, ActivityStore, Inserted, PageQuery};
use crate::domain::imports::{Import, ImportState, ImportStore};
use crate::domain::{
    gear::{Gear, GearKind, GearUse},
    goals::{Goal, GoalMetric, GoalPeriod},
    model::{
        Activity, ActivityFields, ActivityFilter, ActivityType, Change, ChangePosition, Metrics,
        TypeTotals,
    },
    ports::{GearStore, GoalStore, OriginalStore, ProfileStore, WorkoutReads, WorkoutReadsQuery},
    profile::{TrainingProfile, Units},
    recording::{FileFormat, OriginalFile, RecordingSummary, StoredRecording},
    records::{Effort, RecordKey, RecordKind},
    stats::{DailyTotals, QuarterHourTotals},
};

pub const COLLECTION: &str = "activities";
/// What a file recorded, one document per activity (`_id` is the
/// activity's): the summary and the points as compressed chunks, at most
/// a few MB for the longest workout an import takes.
pub const RECORDINGS: &str = "recordings";
const DUPLICATE_KEY: i32 = 11000;
const MILLIS_PER_DAY: i64 = 24 * 60 * 60 * 1000;
const QUARTER_HOUR_MS: i64 = 15 * 60 * 1000;

pub struct MongoActivityStore {
    activities: Collection<Document>,
    recordings: Collection<Document>,
    /// `{_id: "<activity>:<kind>", activityId, userId, type, kind, value, achievedAt}`.
    efforts: Collection<Document>,
    /// `{_id: <activity>, userId, deletedAt}`: deletions, for the change feed.
    tombstones: Collection<Document>,
    /// `{_id, userId, state, report}`: the report as JSON, as the embedded
    /// store keeps it.
    imports: Collection<Document>,
    /// `{_id: "<import>:<file>:<offset>", importId, file, offset, data}`.
    import_chunks: Collection<Document>,
    /// `{_id, userId, period, metric, target, types, timeZone, createdAt, updatedAt}`.
    goals: Collection<Document>,
    /// `{_id, userId, kind, name, defaultFor, warnAtMetres, retiredAt, createdAt, updatedAt}`.
    gear: Collection<Document>,
    /// `{_id: <activity>, userId, gearId}`: which workout used which gear.
    activity_gear: Collection<Document>,
    /// `{_id: <user>, maxHeartRate, restingHeartRate, units, updatedAt}`.
    profiles: Collection<Document>,
    /// `{_id: "<activity>:<n>", activityId, userId, n, of, name, format,
    /// size, data}`: an imported workout's file, gzip, in chunks of
    /// [`ORIGINAL_CHUNK_BYTES`] (a document holds 16 MB at most).
    originals: Collection<Document>,
}

/// Bytes of one chunk of an original file, packed.
const ORIGINAL_CHUNK_BYTES: usize = 4 * 1024 * 1024;

impl MongoActivityStore {
    /// The holder of one record among the owner's efforts other than
    /// `activity`'s (`WorkoutReads::holders`). Two walks of the (userId,
    /// kind, value, achievedAt) index, not one sort on (value, achievedAt)
    /// in opposite directions, which no single index serves: the best
    /// value, then the earliest to reach it. A holder deleted between the
    /// two walks means walking again.
    async fn record_holder(
        &self,
        activity: &Activity,
        (kind, activity_type): &RecordKey,
    ) -> anyhow::Result<Option<Effort>> {
        let mut filter = doc! {
            "userId": activity.user_id.to_string(),
            "kind": kind.as_str(),
            "activityId": {"$ne": activity.id.to_string()},
        };
        if let Some(activity_type) = activity_type {
            filter.insert("type", activity_type.as_str());
        }
        let direction = if kind.lower_is_better() { 1 } else { -1 };
        for _ in 0..3 {
            let Some(best) = self
                .efforts
                .find_one(filter.clone())
                .sort(doc! {"value": direction})
                .projection(doc! {"value": 1})
                .await
                .context("finding a record")?
            else {
                return Ok(None);
            };
            let mut holding = filter.clone();
            holding.insert("value", best.get("value").cloned().unwrap_or(Bson::Null));
            if let Some(holder) = self
                .efforts
                .find_one(holding)
                .sort(doc! {"achievedAt": 1})
                .await
                .context("finding a record's holder")?
            {
                return effort_of_document(&holder).map(Some);
            }
        }
        anyhow::bail!("a record's holder kept going away")
    }

    /// Connects to `uri` and makes sure the indexes exist. `database` is normally
    /// [`DATABASE`]; tests pass their own to stay isolated.
    pub async fn connect(uri: &str, database: &str) -> anyhow::Result<Self> {
        let client = fittrack_kit::mongo::client(uri).await?;
        let activities = client.database(database).collection::<Document>(COLLECTION);
        let indexes = [
            IndexModel::builder()
                .keys(doc! {"userId": 1, "startTime": -1})
                .build(),
            IndexModel::builder()
                .keys(doc! {"type": 1, "startTime": -1})
                .build(),
            // Unique per user only where a key was given: the "sparse" index of the
            // design, written as a partial index because a sparse compound index
            // still indexes keyless documents under userId (and MongoDB refuses
            // `sparse` together with a partial filter).
            IndexModel::builder()
                .keys(doc! {"userId": 1, "idempotencyKey": 1})
                .options(
                    IndexOptions::builder()
                        .unique(true)
                        .partial_filter_expression(doc! {"idempotencyKey": {"$type": "string"}})
                        .name("userId_idempotencyKey_unique".to_owned())
                        .build(),
                )
                .build(),
            IndexModel::builder()
                .keys(doc! {"eventEnqueued": 1, "createdAt": 1})
                .build(),
        ];
        activities
            .create_indexes(indexes)
            .await
            .context("creating activity indexes")?;
        let db = client.database(database);
        // The change feed reads a user's activities by when they were saved.
        activities
            .create_index(
                IndexModel::builder()
                    .keys(doc! {"userId": 1, "updatedAt": 1})
                    .build(),
            )
            .await
            .context("creating activity indexes")?;
        let recordings = indexed(&db, RECORDINGS, doc! {"userId": 1}).await?;
        let imports = indexed(&db, "imports", doc! {"userId": 1, "state": 1}).await?;
        let import_chunks = indexed(
            &db,
            "import_chunks",
            doc! {"importId": 1, "file": 1, "offset": 1},
        )
        .await?;
        // A user's efforts by kind, and each kind's holder by value
        // (`workout_reads`).
        let efforts = indexed(
            &db,
            "activity_efforts",
            doc! {"userId": 1, "kind": 1, "value": 1, "achievedAt": 1},
        )
        .await?;
        drop_retired_indexes(&db).await?;
        let goals = indexed(&db, "goals", doc! {"userId": 1, "createdAt": 1}).await?;
        let gear = indexed(&db, "gear", doc! {"userId": 1, "createdAt": 1}).await?;
        let activity_gear = indexed(&db, "activity_gear", doc! {"userId": 1, "gearId": 1}).await?;
        let profiles = db.collection::<Document>("training_profiles");
        let originals = indexed(
            &db,
            "activity_originals",
            doc! {"userId": 1, "n": 1, "activityId": 1},
        )
        .await?;
        originals
            .create_index(
                IndexModel::builder()
                    .keys(doc! {"activityId": 1, "n": 1})
                    .build(),
            )
            .await
            .context("creating original file indexes")?;
        let tombstones = indexed(
            &db,
            "activity_tombstones",
            doc! {"userId": 1, "deletedAt": 1},
        )
        .await?;
        Ok(Self {
            activities,
            recordings,
            efforts,
            tombstones,
            imports,
            import_chunks,
            goals,
            gear,
            activity_gear,
            profiles,
            originals,
        })
    }

    async fn find_all(&self, pipeline: Vec<Document>) -> anyhow::Result<Vec<Document>> {
        let cursor = self
            .activities
            .aggregate(pipeline)
            .await
            .context("running an activity aggregation")?;
        cursor
            .try_collect()
            .await
            .context("reading an activity aggregation")
    }
}

/// Indexes earlier versions made that nothing reads any more: the
/// collection and the fields, each ascending. Known by their keys, not their
/// names, which differ between servers. `indexed` only ever adds, so an
/// upgraded deployment would go on writing these on every insert.
const RETIRED_INDEXES: &[(&str, &[&str])] = &[
    // Replaced by (userId, kind, value, achievedAt), which the record
    // holders are read from (issue 17).
    ("activity_efforts", &["userId", "kind"]),
];

/// MongoDB's `IndexNotFound`: another replica dropped it first.
const INDEX_NOT_FOUND: i32 = 27;

/// Drops each of [`RETIRED_INDEXES`] that is there.
async fn drop_retired_indexes(db: &mongodb::Database) -> anyhow::Result<()> {
    for (name, fields) in RETIRED_INDEXES {
        let collection = db.collection::<Document>(name);
        let indexes: Vec<IndexModel> = collection
            .list_indexes()
            .await
            .with_context(|| format!("listing the indexes of {name}"))?
            .try_collect()
            .await
            .with_context(|| format!("listing the indexes of {name}"))?;
        for index in indexes
            .iter()
            .filter(|i| has_ascending_keys(&i.keys, fields))
        {
            let Some(index_name) = index.options.as_ref().and_then(|o| o.name.clone()) else {
                continue;
            };
            match collection.drop_index(&index_name).await {
                Ok(()) => tracing::info!(
                    collection = name,
                    index = index_name,
                    "dropped a retired index"
                ),
                Err(error) if matches!(*error.kind, ErrorKind::Command(ref c) if c.code == INDEX_NOT_FOUND) =>
                    {}
                Err(error) => {
                    return Err(error).with_context(|| format!("dropping {index_name} of {name}"));
                }
            }
        }
    }
    Ok(())
}

/// Whether `keys` are exactly `fields`, in order, each ascending.
fn has_ascending_keys(keys: &Document, fields: &[&str]) -> bool {
    let ascending = |order: &Bson| match order {
        Bson::Int32(o) => *o == 1,
        Bson::Int64(o) => *o == 1,
        Bson::Double(o) => *o == 1.0,
        _ => false,
    };
    keys.len() == fields.len()
        && keys
            .iter()
            .zip(fields)
            .all(|((key, order), field)| key == field && ascending(order))
}

/// A collection, with the index its reads need.
async fn indexed(
    db: &mongodb::Database,
    name: &str,
    keys: Document,
) -> anyhow::Result<Collection<Document>> {
    let collection = db.collection::<Document>(name);
    collection
        .create_index(IndexModel::builder().keys(keys).build())
        .await
        .with_context(|| format!("creating the index of {name}"))?;
    Ok(collection)
}

fn effort_of_document(d: &Document) -> anyhow::Result<Effort> {
    let value = match d.get("value") {
        Some(Bson::Double(v)) => *v,
        Some(Bson::Int32(v)) => f64::from(*v),
        Some(Bson::Int64(v)) => *v as f64,
        other => anyhow::bail!("an effort's value stored as {other:?}"),
    };
    Ok(Effort {
        activity_id: d.get_str("activityId")?.parse()?,
        user_id: d.get_str("userId")?.parse()?,
        activity_type: ActivityType::parse(d.get_str("type")?)?,
        kind: RecordKind::parse(d.get_str("kind")?)?,
        value,
        achieved_at: chrono_time(*d.get_datetime("achievedAt")?)?,
    })
}

fn bson_time(at: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(at.timestamp_millis())
}

fn chrono_time(at: bson::DateTime) -> anyhow::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).context("timestamp out of range")
}

fn to_document(activity: &Activity) -> anyhow::Result<Document> {
    let mut document = doc! {
        "_id": activity.id.to_string(),
        "userId": activity.user_id.to_string(),
        "type": activity.activity_type.as_str(),
        "durationMinutes": activity.duration_minutes,
        "caloriesBurned": activity.calories_burned,
        "startTime": bson_time(activity.start_time),
        // Day bucketing in the stats pipeline is integer arithmetic on this copy
        // of startTime: date arithmetic is not portable to every wire-compatible
        // server (nx-27017 mis-adds milliseconds to dates).
        "startMillis": activity.start_time.timestamp_millis(),
        "metrics": bson::to_bson(&activity.metrics).context("encoding metrics")?,
        "createdAt": bson_time(activity.created_at),
        "updatedAt": bson_time(activity.updated_at),
        "eventEnqueued": activity.event_enqueued,
    };
    if let Some(notes) = &activity.notes {
        document.insert("notes", notes);
    }
    if let Some(key) = &activity.idempotency_key {
        document.insert("idempotencyKey", key);
    }
    if let Some(zone) = &activity.time_zone {
        document.insert("timeZone", zone);
    }
    Ok(document)
}

fn from_document(document: &Document) -> anyhow::Result<Activity> {
    let text = |key: &str| {
        document
            .get_str(key)
            .with_context(|| format!("reading field {key}"))
    };
    let int = |key: &str| -> anyhow::Result<i64> {
        match document.get(key) {
            Some(Bson::Int32(v)) => Ok(i64::from(*v)),
            Some(Bson::Int64(v)) => Ok(*v),
            Some(Bson::Double(v)) if v.fract() == 0.0 => Ok(*v as i64),
            other => anyhow::bail!("field {key} is not an integer: {other:?}"),
        }
    };
    let time = |key: &str| -> anyhow::Result<DateTime<Utc>> {
        chrono_time(
            *document
                .get_datetime(key)
                .with_context(|| format!("reading field {key}"))?,
        )
    };
    let metrics: Metrics = match document.get("metrics") {
        Some(value) => bson::from_bson(value.clone()).context("decoding stored metrics")?,
        None => Metrics::default(),
    };
    Ok(Activity {
        id: text("_id")?.parse().context("stored id")?,
        user_id: text("userId")?.parse().context("stored userId")?,
        activity_type: ActivityType::parse(text("type")?)?,
        duration_minutes: i32::try_from(int("durationMinutes")?)?,
        calories_burned: i32::try_from(int("caloriesBurned")?)?,
        start_time: time("startTime")?,
        notes: document.get_str("notes").ok().map(str::to_owned),
        metrics,
        idempotency_key: document.get_str("idempotencyKey").ok().map(str::to_owned),
        created_at: time("createdAt")?,
        updated_at: time("updatedAt")?,
        // Some wire-compatible servers store a `$set` boolean as 1.
        event_enqueued: match document.get("eventEnqueued") {
            Some(Bson::Boolean(b)) => *b,
            Some(Bson::Int32(n)) => *n != 0,
            Some(Bson::Int64(n)) => *n != 0,
            _ => false,
        },
        time_zone: document.get_str("timeZone").ok().map(str::to_owned),
    })
}

fn filter_document(filter: &ActivityFilter, into: &mut Document) {
    if !filter.types.is_empty() {
        let types: Vec<&str> = filter.types.iter().map(|t| t.as_str()).collect();
        into.insert("type", doc! {"$in": types});
    }
    let mut range = Document::new();
    if let Some(from) = filter.from {
        range.insert("$gte", bson_time(from));
    }
    if let Some(to) = filter.to {
        range.insert("$lt", bson_time(to));
    }
    if !range.is_empty() {
        into.insert("startTime", range);
    }
}

fn id_strings(ids: &[Uuid]) -> Vec<String> {
    ids.iter().map(Uuid::to_string).collect()
}

fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        _ => false,
    }
}

fn number(document: &Document, key: &str) -> anyhow::Result<i64> {
    match document.get(key) {
        Some(Bson::Int32(v)) => Ok(i64::from(*v)),
        Some(Bson::Int64(v)) => Ok(*v),
        Some(Bson::Double(v)) => Ok(*v as i64),
        other => anyhow::bail!("aggregate field {key} is not a number: {other:?}"),
    }
}

#[async_trait]
impl ActivityStore for MongoActivityStore {
    async fn insert(&self, activity: Activity) -> anyhow::Result<Inserted> {
        let document = to_document(&activity)?;
        match self.activities.insert_one(document).await {
            Ok(_) => Ok(Inserted::New(activity)),
            Err(error) if is_duplicate_key(&error) && activity.idempotency_key.is_some() => {
                let existing = self
                    .activities
                    .find_one(doc! {
                        "userId": activity.user_id.to_string(),
                        "idempotencyKey": activity.idempotency_key.clone(),
                    })
                    .await
                    .context("reading the activity an idempotency key points at")?
                    .context("idempotency conflict without a stored activity")?;
                Ok(Inserted::Existing(from_document(&existing)?))
            }
            Err(error) => Err(error).context("inserting an activity"),
        }
    }

    async fn get_many(&self, ids: &[Uuid]) -> anyhow::Result<Vec<Activity>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let cursor = self
            .activities
            .find(doc! {"_id": {"$in": id_strings(ids)}})
            .await
            .context("finding activities by id")?;
        let documents: Vec<Document> = cursor.try_collect().await.context("reading activities")?;
        documents.iter().map(from_document).collect()
    }

    async fn update(
        &self,
        owner: Uuid,
        id: Uuid,
        fields: &ActivityFields,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Activity>> {
        // Read, then replace the whole document: `$set` of dates is not stored
        // faithfully by every wire-compatible server, a replacement is.
        let filter = doc! {"_id": id.to_string(), "userId": owner.to_string()};
        let Some(current) = self
            .activities
            .find_one(filter.clone())
            .await
            .context("reading an activity to update")?
        else {
            return Ok(None);
        };
        let mut activity = from_document(&current)?;
        activity.activity_type = fields.activity_type;
        activity.duration_minutes = fields.duration_minutes;
        activity.calories_burned = fields.calories_burned;
        activity.start_time = fields.start_time;
        activity.notes = fields.notes.clone();
        activity.metrics = fields.metrics.clone();
        activity.time_zone = fields.time_zone.clone();
        activity.updated_at = now;
        let replaced = self
            .activities
            .replace_one(filter, to_document(&activity)?)
            .await
            .context("updating an activity")?;
        Ok((replaced.matched_count == 1).then_some(activity))
    }

    async fn save_recording(
        &self,
        activity: &Activity,
        recording: &StoredRecording,
    ) -> anyhow::Result<bool> {
        let chunks: Vec<Bson> = stream_codec::encode(&recording.samples, activity.start_time)
            .into_iter()
            .map(|bytes| {
                Bson::Binary(bson::Binary {
                    subtype: bson::spec::BinarySubtype::Generic,
                    bytes,
                })
            })
            .collect();
        let document = doc! {
            "_id": activity.id.to_string(),
            "userId": activity.user_id.to_string(),
            "startTime": bson_time(activity.start_time),
            "summary": bson::to_bson(&recording.summary).context("encoding a recording")?,
            "chunks": chunks,
        };
        match self.recordings.insert_one(document).await {
            Ok(_) => Ok(true),
            Err(error) if is_duplicate_key(&error) => Ok(false),
            Err(error) => Err(error).context("saving a recording"),
        }
    }

    async fn save_efforts(&self, efforts: &[Effort]) -> anyhow::Result<()> {
        for effort in efforts {
            let document = doc! {
                "_id": format!("{}:{}", effort.activity_id, effort.kind.as_str()),
                "activityId": effort.activity_id.to_string(),
                "userId": effort.user_id.to_string(),
                "type": effort.activity_type.as_str(),
                "kind": effort.kind.as_str(),
                "value": effort.value,
                "achievedAt": bson_time(effort.achieved_at),
            };
            match self.efforts.insert_one(document).await {
                Ok(_) => {}
                Err(error) if is_duplicate_key(&error) => {}
                Err(error) => return Err(error).context("saving best efforts"),
            }
        }
        Ok(())
    }

    async fn replace_efforts(&self, activity_id: Uuid, efforts: &[Effort]) -> anyhow::Result<()> {
        // Not atomic here: a reader between the two sees the activity
        // without efforts for a moment, never a stale one beside a new one.
        self.efforts
            .delete_many(doc! {"activityId": activity_id.to_string()})
            .await
            .context("replacing best efforts")?;
        self.save_efforts(efforts).await
    }

    async fn efforts(&self, user_id: Uuid, kinds: &[RecordKind]) -> anyhow::Result<Vec<Effort>> {
        let mut filter = doc! {"userId": user_id.to_string()};
        if !kinds.is_empty() {
            let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            filter.insert("kind", doc! {"$in": names});
        }
        let documents: Vec<Document> = self
            .efforts
            .find(filter)
            .await
            .context("finding best efforts")?
            .try_collect()
            .await
            .context("reading best efforts")?;
        documents.iter().map(effort_of_document).collect()
    }

    async fn workout_reads(
        &self,
        activity: &Activity,
        query: &WorkoutReadsQuery<'_>,
    ) -> anyhow::Result<WorkoutReads> {
        // Every read at once: their round trips overlap, so a workout
        // competing for eight records waits for two walks, not for eighteen
        // reads one after another.
        let holders = try_join_all(
            query
                .record_keys
                .iter()
                .map(|key| self.record_holder(activity, key)),
        );
        let gear = async {
            if query.gear {
                GearStore::gear(self, activity.user_id).await
            } else {
                Ok(Vec::new())
            }
        };
        let goals = async {
            if query.goals {
                GoalStore::goals(self, activity.user_id).await
            } else {
                Ok(Vec::new())
            }
        };
        let (holders, gear, goals) = futures_util::try_join!(holders, gear, goals)?;
        Ok(WorkoutReads {
            holders: holders.into_iter().flatten().collect(),
            gear,
            goals,
        })
    }

    async fn has_recording(&self, id: Uuid) -> anyhow::Result<bool> {
        Ok(self
            .recordings
            .find_one(doc! {"_id": id.to_string()})
            .projection(doc! {"_id": 1})
            .await
            .context("finding a recording")?
            .is_some())
    }

    async fn recordings(&self, ids: &[Uuid]) -> anyhow::Result<HashMap<Uuid, StoredRecording>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let keys: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let documents: Vec<Document> = self
            .recordings
            .find(doc! {"_id": {"$in": keys}})
            .await
            .context("finding recordings")?
            .try_collect()
            .await
            .context("reading recordings")?;
        documents
            .iter()
            .map(|document| {
                let id: Uuid = document.get_str("_id")?.parse()?;
                let start = chrono_time(*document.get_datetime("startTime")?)?;
                let summary: RecordingSummary =
                    bson::from_bson(document.get("summary").cloned().unwrap_or(Bson::Null))
                        .context("decoding a stored recording")?;
                let chunks: Vec<Vec<u8>> = document
                    .get_array("chunks")?
                    .iter()
                    .map(|chunk| match chunk {
                        Bson::Binary(binary) => Ok(binary.bytes.clone()),
                        other => anyhow::bail!("a stream chunk stored as {other:?}"),
                    })
                    .collect::<anyhow::Result<_>>()?;
                let samples = stream_codec::decode(&chunks, start)?;
                Ok((id, StoredRecording { summary, samples }))
            })
            .collect()
    }

    async fn delete(&self, owner: Uuid, id: Uuid) -> anyhow::Result<Option<Activity>> {
        // The tombstone first: a failure after it leaves a tombstone for an
        // activity that still exists, which `changes` ignores; the other
        // order could lose the deletion from the feed.
        let tombstone = doc! {
            "_id": id.to_string(),
            "userId": owner.to_string(),
            "deletedAt": bson_time(Utc::now()),
        };
        match self.tombstones.insert_one(tombstone).await {
            Ok(_) => {}
            Err(error) if is_duplicate_key(&error) => {}
            Err(error) => return Err(error).context("leaving a tombstone"),
        }
        let deleted = self
            .activities
            .find_one_and_delete(doc! {"_id": id.to_string(), "userId": owner.to_string()})
            .await
            .context("deleting an activity")?;
        if deleted.is_none() {
            // Nothing of the caller's was there: no deletion to announce.
            self.tombstones
                .delete_one(doc! {"_id": id.to_string(), "userId": owner.to_string()})
                .await
                .context("removing a tombstone")?;
        }
        if deleted.is_some() {
            // After the activity: a recording left by a failure here is
            // unreachable, and erasure removes it by user.
            self.recordings
                .delete_one(doc! {"_id": id.to_string(), "userId": owner.to_string()})
                .await
                .context("deleting a recording")?;
            self.efforts
                .delete_many(doc! {"activityId": id.to_string()})
                .await
                .context("deleting best efforts")?;
            self.activity_gear
                .delete_one(doc! {"_id": id.to_string()})
                .await
                .context("deleting the gear a workout used")?;
            self.originals
                .delete_many(doc! {"activityId": id.to_string()})
                .await
                .context("deleting a workout's original file")?;
        }
        deleted.as_ref().map(from_document).transpose()
    }

    async fn page(&self, query: &PageQuery) -> anyhow::Result<Vec<Activity>> {
        let mut filter = Document::new();
        if let Some(user) = query.user_id {
            filter.insert("userId", user.to_string());
        }
        filter_document(&query.filter, &mut filter);
        let mut clauses = vec![filter];
        if let Some(after) = query.after {
            let at = bson_time(after.start_time);
            clauses.push(doc! {"$or": [
                {"startTime": {"$lt": at}},
                {"startTime": at, "_id": {"$lt": after.id.to_string()}},
            ]});
        }
        let cursor = self
            .activities
            .find(doc! {"$and": clauses})
            .sort(doc! {"startTime": -1, "_id": -1})
            .limit(i64::from(query.limit))
            .await
            .context("listing activities")?;
        let documents: Vec<Document> = cursor.try_collect().await.context("reading activities")?;
        documents.iter().map(from_document).collect()
    }

    async fn first_pages(
        &self,
        user_ids: &[Uuid],
        filter: &ActivityFilter,
        limit: u32,
    ) -> anyhow::Result<HashMap<Uuid, Vec<Activity>>> {
        let mut pages: HashMap<Uuid, Vec<Activity>> = HashMap::new();
        if user_ids.is_empty() {
            return Ok(pages);
        }
        let mut matching = doc! {"userId": {"$in": id_strings(user_ids)}};
        filter_document(filter, &mut matching);
        let groups = self
            .find_all(vec![
                doc! {"$match": matching},
                doc! {"$sort": {"userId": 1, "startTime": -1, "_id": -1}},
                doc! {"$group": {"_id": "$userId", "activities": {"$push": "$$ROOT"}}},
                doc! {"$project": {"activities": {"$slice": ["$activities", i64::from(limit)]}}},
            ])
            .await?;
        for group in &groups {
            let user: Uuid = group.get_str("_id").context("group key")?.parse()?;
            let documents = group
                .get_array("activities")
                .context("grouped activities")?;
            let mut activities = documents
                .iter()
                .filter_map(Bson::as_document)
                .map(from_document)
                .collect::<anyhow::Result<Vec<_>>>()?;
            // `$push` keeps the sort order on MongoDB; re-sorting costs nothing and
            // does not rely on it.
            activities.sort_by_key(|a| std::cmp::Reverse((a.start_time, a.id)));
            activities.truncate(limit as usize);
            pages.insert(user, activities);
        }
        Ok(pages)
    }

    async fn type_totals(
        &self,
        user_ids: Option<&[Uuid]>,
        filter: &ActivityFilter,
    ) -> anyhow::Result<Vec<TypeTotals>> {
        let mut matching = Document::new();
        if let Some(ids) = user_ids {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            matching.insert("userId", doc! {"$in": id_strings(ids)});
        }
        filter_document(filter, &mut matching);
        // Grouping keys are flat strings: compound `_id` documents are not
        // evaluated by every wire-compatible server.
        let key = if user_ids.is_some() {
            Bson::Document(doc! {"$concat": ["$userId", "|", "$type"]})
        } else {
            Bson::String("$type".into())
        };
        let groups = self
            .find_all(vec![
                doc! {"$match": matching},
                doc! {"$group": {
                    "_id": key,
                    "count": {"$sum": 1},
                    "duration": {"$sum": "$durationMinutes"},
                    "calories": {"$sum": "$caloriesBurned"},
                    "distance": {"$sum": "$metrics.distanceKm"},
                }},
            ])
            .await?;
        groups
            .iter()
            .map(|group| {
                let key = group.get_str("_id").context("group key")?;
                let (user_id, kind) = match key.split_once('|') {
                    Some((user, kind)) => (user.parse()?, kind),
                    None => (Uuid::nil(), key),
                };
                Ok(TypeTotals {
                    user_id,
                    activity_type: ActivityType::parse(kind)?,
                    count: number(group, "count")?,
                    duration_minutes: number(group, "duration")?,
                    calories_burned: number(group, "calories")?,
                    distance_km: float(group, "distance")?.unwrap_or(0.0),
                })
            })
            .collect()
    }

    async fn daily_totals(
        &self,
        user_ids: &[Uuid],
        offset: FixedOffset,
    ) -> anyhow::Result<HashMap<Uuid, Vec<DailyTotals>>> {
        let mut days: HashMap<Uuid, Vec<DailyTotals>> = HashMap::new();
        if user_ids.is_empty() {
            return Ok(days);
        }
        let offset_ms = i64::from(offset.local_minus_utc()) * 1000;
        let groups = self
            .find_all(vec![
                doc! {"$match": {"userId": {"$in": id_strings(user_ids)}}},
                // Local day number since the epoch, by integer arithmetic, and a flat
                // "<user>|<day>" key (see `type_totals`).
                doc! {"$project": {
                    "durationMinutes": 1,
                    "caloriesBurned": 1,
                    "key": {"$concat": ["$userId", "|", {"$toString": {"$floor": {"$divide": [
                        {"$add": ["$startMillis", offset_ms]},
                        MILLIS_PER_DAY,
                    ]}}}]},
                }},
                doc! {"$group": {
                    "_id": "$key",
                    "count": {"$sum": 1},
                    "duration": {"$sum": "$durationMinutes"},
                    "calories": {"$sum": "$caloriesBurned"},
                }},
            ])
            .await?;
        for group in &groups {
            let key = group.get_str("_id").context("group key")?;
            let (user, day) = key.split_once('|').context("group key shape")?;
            let user: Uuid = user.parse()?;
            let day_number: f64 = day.parse().context("aggregated day")?;
            let day = NaiveDate::default()
                .checked_add_signed(chrono::Duration::days(day_number as i64))
                .context("aggregated day out of range")?;
            days.entry(user).or_default().push(DailyTotals {
                day,
                count: number(group, "count")?,
                duration_minutes: number(group, "duration")?,
                calories_burned: number(group, "calories")?,
            });
        }
        for list in days.values_mut() {
            list.sort_by_key(|d| d.day);
        }
        Ok(days)
    }

    async fn quarter_hour_totals(
        &self,
        user_ids: &[Uuid],
    ) -> anyhow::Result<HashMap<Uuid, Vec<QuarterHourTotals>>> {
        let mut quarters: HashMap<Uuid, Vec<QuarterHourTotals>> = HashMap::new();
        if user_ids.is_empty() {
            return Ok(quarters);
        }
        let groups = self
            .find_all(vec![
                doc! {"$match": {"userId": {"$in": id_strings(user_ids)}}},
                // Integer arithmetic on startMillis, as `daily_totals`.
                doc! {"$project": {
                    "durationMinutes": 1,
                    "caloriesBurned": 1,
                    // One row per zone in a quarter hour ("" for none).
                    "key": {"$concat": ["$userId", "|", {"$toString": {"$floor": {"$divide": [
                        "$startMillis",
                        QUARTER_HOUR_MS,
                    ]}}}, "|", {"$ifNull": ["$timeZone", ""]}]},
                }},
                doc! {"$group": {
                    "_id": "$key",
                    "count": {"$sum": 1},
                    "duration": {"$sum": "$durationMinutes"},
                    "calories": {"$sum": "$caloriesBurned"},
                }},
            ])
            .await?;
        for group in &groups {
            let key = group.get_str("_id").context("group key")?;
            let mut parts = key.splitn(3, '|');
            let (Some(user), Some(quarter), Some(zone)) =
                (parts.next(), parts.next(), parts.next())
            else {
                anyhow::bail!("group key shape: {key}");
            };
            let quarter: f64 = quarter.parse().context("aggregated quarter hour")?;
            quarters
                .entry(user.parse()?)
                .or_default()
                .push(QuarterHourTotals {
                    start: DateTime::from_timestamp_millis(quarter as i64 * QUARTER_HOUR_MS)
                        .context("aggregated quarter hour out of range")?,
                    time_zone: (!zone.is_empty()).then(|| zone.to_owned()),
                    count: number(group, "count")?,
                    duration_minutes: number(group, "duration")?,
                    calories_burned: number(group, "calories")?,
                });
        }
        for list in quarters.values_mut() {
            list.sort_by_key(|q| q.start);
        }
        Ok(quarters)
    }

    async fn mark_events_enqueued(&self, ids: &[Uuid]) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.activities
            .update_many(
                doc! {"_id": {"$in": id_strings(ids)}},
                doc! {"$set": {"eventEnqueued": true}},
            )
            .await
            .context("marking activity events as enqueued")?;
        Ok(())
    }

    async fn pending_events(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> anyhow::Result<Vec<Activity>> {
        let cursor = self
            .activities
            .find(doc! {"eventEnqueued": false, "createdAt": {"$lte": bson_time(before)}})
            .sort(doc! {"createdAt": 1})
            .limit(i64::from(limit))
            .await
            .context("finding activities without their event")?;
        let documents: Vec<Document> = cursor.try_collect().await.context("reading activities")?;
        documents.iter().map(from_document).collect()
    }

    async fn changes(
        &self,
        user_id: Uuid,
        after: Option<ChangePosition>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> anyhow::Result<Vec<Change>> {
        let window = |time: &str| {
            let mut clauses = vec![
                doc! {"userId": user_id.to_string()},
                doc! {time: {"$lte": bson_time(until)}},
            ];
            if let Some(p) = after {
                let at = bson_time(p.at);
                clauses.push(doc! {"$or": [
                    {time: {"$gt": at}},
                    {time: at, "_id": {"$gt": p.id.to_string()}},
                ]});
            }
            doc! {"$and": clauses}
        };
        let saved: Vec<Document> = self
            .activities
            .find(window("updatedAt"))
            .sort(doc! {"updatedAt": 1, "_id": 1})
            .limit(i64::from(limit))
            .await
            .context("finding changed activities")?
            .try_collect()
            .await
            .context("reading changed activities")?;
        let deleted: Vec<Document> = self
            .tombstones
            .find(window("deletedAt"))
            .sort(doc! {"deletedAt": 1, "_id": 1})
            .limit(i64::from(limit))
            .await
            .context("finding tombstones")?
            .try_collect()
            .await
            .context("reading tombstones")?;
        let mut changes: Vec<Change> = saved
            .iter()
            .map(from_document)
            .map(|a| a.map(|a| Change::Saved(Box::new(a))))
            .collect::<anyhow::Result<_>>()?;
        let mut tombstones = Vec::new();
        for document in &deleted {
            tombstones.push((
                document.get_str("_id")?.parse::<Uuid>()?,
                chrono_time(*document.get_datetime("deletedAt")?)?,
            ));
        }
        // A tombstone whose delete failed names an activity that exists.
        let ids: Vec<Uuid> = tombstones.iter().map(|(id, _)| *id).collect();
        let alive: std::collections::HashSet<Uuid> =
            self.get_many(&ids).await?.iter().map(|a| a.id).collect();
        changes.extend(
            tombstones
                .into_iter()
                .filter(|(id, _)| !alive.contains(id))
                .map(|(id, at)| Change::Deleted { id, at }),
        );
        changes.sort_by_key(Change::position);
        changes.truncate(limit as usize);
        Ok(changes)
    }

    async fn delete_user(&self, user_id: Uuid) -> anyhow::Result<u64> {
        self.recordings
            .delete_many(doc! {"userId": user_id.to_string()})
            .await
            .context("erasing a user's recordings")?;
        self.originals
            .delete_many(doc! {"userId": user_id.to_string()})
            .await
            .context("erasing a user's original files")?;
        self.efforts
            .delete_many(doc! {"userId": user_id.to_string()})
            .await
            .context("erasing a user's best efforts")?;
        self.tombstones
            .delete_many(doc! {"userId": user_id.to_string()})
            .await
            .context("erasing a user's tombstones")?;
        self.goals
            .delete_many(doc! {"userId": user_id.to_string()})
            .await
            .context("erasing a user's goals")?;
        self.activity_gear
            .delete_many(doc! {"userId": user_id.to_string()})
            .await
            .context("erasing which workout used which gear")?;
        self.gear
            .delete_many(doc! {"userId": user_id.to_string()})
            .await
            .context("erasing a user's gear")?;
        self.profiles
            .delete_one(doc! {"_id": user_id.to_string()})
            .await
            .context("erasing a user's training profile")?;
        let done = self
            .activities
            .delete_many(doc! {"userId": user_id.to_string()})
            .await
            .context("erasing a user's activities")?;
        Ok(done.deleted_count)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.activities
            .client()
            .database("admin")
            .run_command(doc! {"ping": 1})
            .await
            .context("pinging MongoDB")?;
        Ok(())
    }
}

/// A non-negative integer field (see [`number`]).
fn integer(document: &Document, key: &str) -> anyhow::Result<u64> {
    Ok(u64::try_from(number(document, key)?)?)
}

fn state_name(state: ImportState) -> &'static str {
    match state {
        ImportState::Uploading => "UPLOADING",
        ImportState::Queued => "QUEUED",
        ImportState::Running => "RUNNING",
        ImportState::Done => "DONE",
    }
}

fn import_document(import: &Import) -> anyhow::Result<Document> {
    let state = state_name(import.state);
    Ok(doc! {
        "_id": import.id.to_string(),
        "userId": import.user_id.to_string(),
        "state": state,
        "updatedAt": bson_time(import.updated_at),
        "report": serde_json::to_string(import)?,
    })
}

#[async_trait]
impl ImportStore for MongoActivityStore {
    async fn create_import(&self, import: &Import) -> anyhow::Result<()> {
        self.imports
            .insert_one(import_document(import)?)
            .await
            .context("creating an import")?;
        Ok(())
    }

    async fn import(&self, id: Uuid) -> anyhow::Result<Option<Import>> {
        let found = self
            .imports
            .find_one(doc! {"_id": id.to_string()})
            .await
            .context("finding an import")?;
        found
            .map(|document| {
                serde_json::from_str(document.get_str("report")?).context("decoding an import")
            })
            .transpose()
    }

    async fn save_import(&self, import: &Import) -> anyhow::Result<()> {
        self.imports
            .replace_one(
                doc! {"_id": import.id.to_string()},
                import_document(import)?,
            )
            .await
            .context("saving an import")?;
        Ok(())
    }

    async fn save_import_if(&self, import: &Import, from: ImportState) -> anyhow::Result<bool> {
        let replaced = self
            .imports
            .replace_one(
                doc! {"_id": import.id.to_string(), "state": state_name(from)},
                import_document(import)?,
            )
            .await
            .context("saving an import")?;
        Ok(replaced.matched_count == 1)
    }

    async fn open_imports(&self, user_id: Uuid) -> anyhow::Result<u32> {
        let open = self
            .imports
            .count_documents(doc! {"userId": user_id.to_string(), "state": {"$ne": "DONE"}})
            .await
            .context("counting imports")?;
        Ok(u32::try_from(open).unwrap_or(u32::MAX))
    }

    async fn put_chunk(
        &self,
        import_id: Uuid,
        file: u32,
        offset: u64,
        bytes: &[u8],
    ) -> anyhow::Result<()> {
        let document = doc! {
            "_id": format!("{import_id}:{file}:{offset}"),
            "importId": import_id.to_string(),
            "file": i64::from(file),
            "offset": i64::try_from(offset)?,
            "size": i64::try_from(bytes.len())?,
            "data": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: bytes.to_vec() },
        };
        match self.import_chunks.insert_one(document).await {
            Ok(_) => Ok(()),
            Err(error) if is_duplicate_key(&error) => Ok(()),
            Err(error) => Err(error).context("keeping an uploaded chunk"),
        }
    }

    async fn chunk_sizes(&self, import_id: Uuid, file: u32) -> anyhow::Result<Vec<(u64, u64)>> {
        let documents: Vec<Document> = self
            .import_chunks
            .find(doc! {"importId": import_id.to_string(), "file": i64::from(file)})
            .projection(doc! {"offset": 1, "size": 1})
            .sort(doc! {"offset": 1})
            .await
            .context("finding uploaded chunks")?
            .try_collect()
            .await
            .context("reading uploaded chunks")?;
        documents
            .iter()
            .map(|d| Ok((integer(d, "offset")?, integer(d, "size")?)))
            .collect()
    }

    async fn chunks(&self, import_id: Uuid, file: u32) -> anyhow::Result<Vec<(u64, Vec<u8>)>> {
        let documents: Vec<Document> = self
            .import_chunks
            .find(doc! {"importId": import_id.to_string(), "file": i64::from(file)})
            .sort(doc! {"offset": 1})
            .await
            .context("finding uploaded chunks")?
            .try_collect()
            .await
            .context("reading uploaded chunks")?;
        documents
            .iter()
            .map(|d| {
                let offset = integer(d, "offset")?;
                Ok((offset, d.get_binary_generic("data")?.clone()))
            })
            .collect()
    }

    async fn delete_chunks(&self, import_id: Uuid) -> anyhow::Result<()> {
        self.import_chunks
            .delete_many(doc! {"importId": import_id.to_string()})
            .await
            .context("deleting uploaded chunks")?;
        Ok(())
    }

    async fn stale_uploads(&self, before: DateTime<Utc>, limit: u32) -> anyhow::Result<Vec<Uuid>> {
        let documents: Vec<Document> = self
            .imports
            .find(doc! {"state": "UPLOADING", "updatedAt": {"$lt": bson_time(before)}})
            .projection(doc! {"_id": 1})
            .sort(doc! {"updatedAt": 1})
            .limit(i64::from(limit))
            .await
            .context("finding stale uploads")?
            .try_collect()
            .await
            .context("reading stale uploads")?;
        documents
            .iter()
            .map(|d| Ok(d.get_str("_id")?.parse()?))
            .collect()
    }

    async fn delete_user_imports(&self, user_id: Uuid) -> anyhow::Result<()> {
        let ids: Vec<Document> = self
            .imports
            .find(doc! {"userId": user_id.to_string()})
            .projection(doc! {"_id": 1})
            .await
            .context("finding a user's imports")?
            .try_collect()
            .await
            .context("reading a user's imports")?;
        let ids: Vec<String> = ids
            .iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
            .collect();
        self.import_chunks
            .delete_many(doc! {"importId": {"$in": &ids}})
            .await
            .context("erasing a user's uploaded chunks")?;
        self.imports
            .delete_many(doc! {"userId": user_id.to_string()})
            .await
            .context("erasing a user's imports")?;
        Ok(())
    }
}

/// Inserts `document` unless its user keeps `max` in `collection` already:
/// written first, counted after, undone if over, so two inserts at once can
/// both be refused, never both kept past the cap. Whether it was kept.
async fn insert_capped(
    collection: &Collection<Document>,
    document: Document,
    user_id: Uuid,
    max: usize,
    what: &str,
) -> anyhow::Result<bool> {
    let id = document
        .get("_id")
        .cloned()
        .context("a document without _id")?;
    collection
        .insert_one(document)
        .await
        .with_context(|| format!("saving a {what}"))?;
    let kept = collection
        .count_documents(doc! {"userId": user_id.to_string()})
        .await
        .with_context(|| format!("counting a user's {what}"))?;
    if kept as usize > max {
        collection
            .delete_one(doc! {"_id": id})
            .await
            .with_context(|| format!("undoing a {what} over the cap"))?;
        return Ok(false);
    }
    Ok(true)
}

/// The user's documents of `collection`, oldest first.
async fn owned_documents(
    collection: &Collection<Document>,
    user_id: Uuid,
    what: &str,
) -> anyhow::Result<Vec<Document>> {
    collection
        .find(doc! {"userId": user_id.to_string()})
        .sort(doc! {"createdAt": 1, "_id": 1})
        .await
        .with_context(|| format!("reading a user's {what}"))?
        .try_collect()
        .await
        .with_context(|| format!("reading a user's {what}"))
}

/// The activity types listed under `key`.
fn activity_types(d: &Document, key: &str) -> anyhow::Result<Vec<ActivityType>> {
    d.get_array(key)?
        .iter()
        .map(|t| {
            t.as_str()
                .with_context(|| format!("{key} holds a type that is not a string"))
                .and_then(ActivityType::parse)
        })
        .collect()
}

/// Replaces the user's document `id` whole (nx-27017 keeps a date given to
/// `$set` as text); whether there was one.
async fn replace_owned(
    collection: &Collection<Document>,
    document: Document,
    id: Uuid,
    user_id: Uuid,
    what: &str,
) -> anyhow::Result<bool> {
    let replaced = collection
        .replace_one(
            doc! {"_id": id.to_string(), "userId": user_id.to_string()},
            document,
        )
        .await
        .with_context(|| format!("saving a {what}"))?;
    Ok(replaced.matched_count == 1)
}

fn goal_document(goal: &Goal) -> Document {
    let types: Vec<&str> = goal.activity_types.iter().map(|t| t.as_str()).collect();
    doc! {
        "_id": goal.id.to_string(),
        "userId": goal.user_id.to_string(),
        "period": goal.period.as_str(),
        "metric": goal.metric.as_str(),
        "target": goal.target,
        "types": types,
        "timeZone": &goal.time_zone,
        "createdAt": bson_time(goal.created_at),
        "updatedAt": bson_time(goal.updated_at),
    }
}

fn document_to_goal(d: &Document) -> anyhow::Result<Goal> {
    Ok(Goal {
        id: d.get_str("_id")?.parse()?,
        user_id: d.get_str("userId")?.parse()?,
        period: GoalPeriod::parse(d.get_str("period")?)?,
        metric: GoalMetric::parse(d.get_str("metric")?)?,
        target: float(d, "target")?.context("a goal without a target")?,
        activity_types: activity_types(d, "types")?,
        time_zone: d.get_str("timeZone")?.to_owned(),
        created_at: chrono_time(*d.get_datetime("createdAt")?)?,
        updated_at: chrono_time(*d.get_datetime("updatedAt")?)?,
    })
}

#[async_trait]
impl GoalStore for MongoActivityStore {
    async fn insert_goal(&self, goal: &Goal, max: usize) -> anyhow::Result<bool> {
        insert_capped(&self.goals, goal_document(goal), goal.user_id, max, "goal").await
    }

    async fn replace_goal(&self, goal: &Goal) -> anyhow::Result<bool> {
        replace_owned(
            &self.goals,
            goal_document(goal),
            goal.id,
            goal.user_id,
            "goal",
        )
        .await
    }

    async fn delete_goal(&self, user_id: Uuid, id: Uuid) -> anyhow::Result<bool> {
        let deleted = self
            .goals
            .delete_one(doc! {"_id": id.to_string(), "userId": user_id.to_string()})
            .await
            .context("deleting a goal")?;
        Ok(deleted.deleted_count == 1)
    }

    async fn goals(&self, user_id: Uuid) -> anyhow::Result<Vec<Goal>> {
        owned_documents(&self.goals, user_id, "goals")
            .await?
            .iter()
            .map(|d| document_to_goal(d).with_context(|| format!("reading the goal {d}")))
            .collect()
    }
}

fn gear_document(gear: &Gear) -> Document {
    let types: Vec<&str> = gear.default_for.iter().map(|t| t.as_str()).collect();
    doc! {
        "_id": gear.id.to_string(),
        "userId": gear.user_id.to_string(),
        "kind": gear.kind.as_str(),
        "name": &gear.name,
        "defaultFor": types,
        "warnAtMetres": gear.warn_at_metres.map_or(Bson::Null, Bson::Double),
        "retiredAt": gear.retired_at.map_or(Bson::Null, |at| Bson::DateTime(bson_time(at))),
        "createdAt": bson_time(gear.created_at),
        "updatedAt": bson_time(gear.updated_at),
    }
}

fn float(d: &Document, key: &str) -> anyhow::Result<Option<f64>> {
    Ok(match d.get(key) {
        None | Some(Bson::Null) => None,
        Some(Bson::Double(v)) => Some(*v),
        Some(Bson::Int32(v)) => Some(f64::from(*v)),
        Some(Bson::Int64(v)) => Some(*v as f64),
        other => anyhow::bail!("{key} is not a number: {other:?}"),
    })
}

fn document_to_gear(d: &Document) -> anyhow::Result<Gear> {
    Ok(Gear {
        id: d.get_str("_id")?.parse()?,
        user_id: d.get_str("userId")?.parse()?,
        kind: GearKind::parse(d.get_str("kind")?)?,
        name: d.get_str("name")?.to_owned(),
        default_for: activity_types(d, "defaultFor")?,
        warn_at_metres: float(d, "warnAtMetres")?,
        retired_at: match d.get("retiredAt") {
            Some(Bson::DateTime(at)) => Some(chrono_time(*at)?),
            _ => None,
        },
        created_at: chrono_time(*d.get_datetime("createdAt")?)?,
        updated_at: chrono_time(*d.get_datetime("updatedAt")?)?,
    })
}

#[async_trait]
impl GearStore for MongoActivityStore {
    async fn insert_gear(&self, gear: &Gear, max: usize) -> anyhow::Result<bool> {
        insert_capped(&self.gear, gear_document(gear), gear.user_id, max, "gear").await
    }

    async fn replace_gear(&self, gear: &Gear) -> anyhow::Result<bool> {
        replace_owned(
            &self.gear,
            gear_document(gear),
            gear.id,
            gear.user_id,
            "gear",
        )
        .await
    }

    async fn delete_gear(&self, user_id: Uuid, id: Uuid) -> anyhow::Result<bool> {
        let deleted = self
            .gear
            .delete_one(doc! {"_id": id.to_string(), "userId": user_id.to_string()})
            .await
            .context("deleting gear")?;
        if deleted.deleted_count == 1 {
            self.activity_gear
                .delete_many(doc! {"gearId": id.to_string(), "userId": user_id.to_string()})
                .await
                .context("forgetting which workouts used deleted gear")?;
        }
        Ok(deleted.deleted_count == 1)
    }

    async fn gear(&self, user_id: Uuid) -> anyhow::Result<Vec<Gear>> {
        owned_documents(&self.gear, user_id, "gear")
            .await?
            .iter()
            .map(document_to_gear)
            .collect()
    }

    async fn link_gear(
        &self,
        user_id: Uuid,
        activity_id: Uuid,
        gear_id: Option<Uuid>,
    ) -> anyhow::Result<()> {
        let key = doc! {"_id": activity_id.to_string(), "userId": user_id.to_string()};
        // Delete then insert: nx-27017 upserts are not relied on.
        self.activity_gear
            .delete_one(key.clone())
            .await
            .context("unlinking gear")?;
        if let Some(gear) = gear_id {
            let mut link = key;
            link.insert("gearId", gear.to_string());
            self.activity_gear
                .insert_one(link)
                .await
                .context("linking gear")?;
        }
        Ok(())
    }

    async fn gear_use(&self, user_id: Uuid) -> anyhow::Result<HashMap<Uuid, GearUse>> {
        let links: Vec<Document> = self
            .activity_gear
            .find(doc! {"userId": user_id.to_string()})
            .await
            .context("reading which workouts used gear")?
            .try_collect()
            .await
            .context("reading which workouts used gear")?;
        let gear_of: HashMap<String, Uuid> = links
            .iter()
            .map(|l| Ok((l.get_str("_id")?.to_owned(), l.get_str("gearId")?.parse()?)))
            .collect::<anyhow::Result<_>>()?;
        let ids: Vec<&String> = gear_of.keys().collect();
        let used: Vec<Document> = self
            .activities
            .find(doc! {"_id": {"$in": ids}})
            .projection(doc! {"durationMinutes": 1, "metrics": 1})
            .await
            .context("reading workouts that used gear")?
            .try_collect()
            .await
            .context("reading workouts that used gear")?;
        let mut totals: HashMap<Uuid, GearUse> = HashMap::new();
        for activity in &used {
            let Some(gear) = gear_of.get(activity.get_str("_id")?) else {
                continue;
            };
            let total = totals.entry(*gear).or_default();
            total.activities += 1;
            total.duration_minutes += number(activity, "durationMinutes")?;
            if let Ok(metrics) = activity.get_document("metrics") {
                total.distance_km += float(metrics, "distanceKm")?.unwrap_or(0.0);
            }
        }
        Ok(totals)
    }

    async fn activity_gear(&self, activity_ids: &[Uuid]) -> anyhow::Result<HashMap<Uuid, Uuid>> {
        if activity_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let links: Vec<Document> = self
            .activity_gear
            .find(doc! {"_id": {"$in": id_strings(activity_ids)}})
            .await
            .context("reading the gear of workouts")?
            .try_collect()
            .await
            .context("reading the gear of workouts")?;
        links
            .iter()
            .map(|l| Ok((l.get_str("_id")?.parse()?, l.get_str("gearId")?.parse()?)))
            .collect()
    }
}

#[async_trait]
impl ProfileStore for MongoActivityStore {
    async fn profile(&self, user_id: Uuid) -> anyhow::Result<Option<TrainingProfile>> {
        let Some(d) = self
            .profiles
            .find_one(doc! {"_id": user_id.to_string()})
            .await
            .context("reading a training profile")?
        else {
            return Ok(None);
        };
        let rate = |key: &str| -> anyhow::Result<Option<u16>> {
            Ok(match d.get(key) {
                None | Some(Bson::Null) => None,
                Some(_) => Some(u16::try_from(number(&d, key)?)?),
            })
        };
        Ok(Some(TrainingProfile {
            user_id,
            max_heart_rate: rate("maxHeartRate")?,
            resting_heart_rate: rate("restingHeartRate")?,
            zone_floors: match d.get("zoneFloors") {
                None | Some(Bson::Null) => None,
                Some(_) => {
                    let floors = d
                        .get_array("zoneFloors")?
                        .iter()
                        .map(|floor| {
                            let floor = floor.as_i32().context("a zone floor")?;
                            Ok(u16::try_from(floor)?)
                        })
                        .collect::<anyhow::Result<Vec<u16>>>()?;
                    Some(
                        floors
                            .try_into()
                            .map_err(|_| anyhow::anyhow!("five zone floors expected"))?,
                    )
                }
            },
            units: Units::parse(d.get_str("units")?)?,
            updated_at: Some(chrono_time(*d.get_datetime("updatedAt")?)?),
        }))
    }

    async fn save_profile(&self, profile: &TrainingProfile) -> anyhow::Result<()> {
        let rate = |value: Option<u16>| value.map_or(Bson::Null, |v| Bson::Int32(i32::from(v)));
        let document = doc! {
            "_id": profile.user_id.to_string(),
            "maxHeartRate": rate(profile.max_heart_rate),
            "restingHeartRate": rate(profile.resting_heart_rate),
            "zoneFloors": profile.zone_floors.map_or(Bson::Null, |floors| {
                Bson::Array(floors.iter().map(|f| Bson::Int32(i32::from(*f))).collect())
            }),
            "units": profile.units.as_str(),
            "updatedAt": bson_time(profile.updated_at.unwrap_or_else(Utc::now)),
        };
        // Replaced whole, inserted when missing (nx-27017 upserts are not
        // relied on): a lost race leaves the other writer's whole profile.
        let replaced = self
            .profiles
            .replace_one(doc! {"_id": profile.user_id.to_string()}, document.clone())
            .await
            .context("saving a training profile")?;
        if replaced.matched_count == 0 {
            match self.profiles.insert_one(document).await {
                Ok(_) => {}
                Err(error) if is_duplicate_key(&error) => {}
                Err(error) => return Err(error).context("saving a training profile"),
            }
        }
        Ok(())
    }
}

#[async_trait]
impl OriginalStore for MongoActivityStore {
    async fn keep_original(
        &self,
        activity: &Activity,
        original: &OriginalFile,
    ) -> anyhow::Result<()> {
        let first = format!("{}:0", activity.id);
        if self
            .originals
            .find_one(doc! {"_id": &first})
            .await
            .context("keeping an original file")?
            .is_some()
        {
            return Ok(());
        }
        let packed = super::pack_original(&original.bytes)?;
        let chunks: Vec<&[u8]> = packed.chunks(ORIGINAL_CHUNK_BYTES).collect();
        // Each chunk by its own id, the first last: once it is there the
        // file is whole (and kept once), and a retry after a failure half
        // way adds what is missing.
        for (n, chunk) in chunks.iter().enumerate().rev() {
            let document = doc! {
                "_id": format!("{}:{n}", activity.id),
                "activityId": activity.id.to_string(),
                "userId": activity.user_id.to_string(),
                "n": n as i64,
                "of": chunks.len() as i64,
                "name": &original.name,
                "format": original.format.as_str(),
                "size": original.bytes.len() as i64,
                "data": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: chunk.to_vec() },
            };
            match self.originals.insert_one(document).await {
                Ok(_) => {}
                Err(error) if is_duplicate_key(&error) => {}
                Err(error) => return Err(error).context("keeping an original file"),
            }
        }
        Ok(())
    }

    async fn original(&self, activity_id: Uuid) -> anyhow::Result<Option<OriginalFile>> {
        let chunks: Vec<Document> = self
            .originals
            .find(doc! {"activityId": activity_id.to_string()})
            .sort(doc! {"n": 1})
            .await
            .context("reading an original file")?
            .try_collect()
            .await
            .context("reading an original file")?;
        let Some(first) = chunks.first() else {
            return Ok(None);
        };
        if number(first, "of")? != chunks.len() as i64 {
            // Being kept, or a keep that failed half way and will be retried.
            return Ok(None);
        }
        let mut packed = Vec::new();
        for chunk in &chunks {
            packed.extend_from_slice(&chunk.get_binary_generic("data")?[..]);
        }
        Ok(Some(OriginalFile {
            name: first.get_str("name")?.to_owned(),
            format: FileFormat::parse(first.get_str("format")?)?,
            bytes: super::unpack_original(&packed, u64::try_from(number(first, "size")?)?)?,
        }))
    }

    async fn originals(
        &self,
        user_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> anyhow::Result<Vec<Uuid>> {
        let after = after.map(|a| a.to_string()).unwrap_or_default();
        let firsts: Vec<Document> = self
            .originals
            .find(doc! {"userId": user_id.to_string(), "n": 0_i64, "activityId": {"$gt": after}})
            .sort(doc! {"activityId": 1})
            .limit(i64::from(limit))
            .projection(doc! {"activityId": 1})
            .await
            .context("listing original files")?
            .try_collect()
            .await
            .context("listing original files")?;
        firsts
            .iter()
            .map(|d| Ok(d.get_str("activityId")?.parse()?))
            .collect()
    }
}
