//! The embedded backend: one SQLite file in the data directory, metrics as a JSON
//! column. Aggregations are SQL `GROUP BY`s, batched pages a window function, so
//! it behaves like the MongoDB backend without loading every row.

use std::collections::HashMap;

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement, TransactionTrait, Value,
};
use uuid::Uuid;

use super::stream_codec;
use super::{ActivityStore, Inserted, PageQuery};
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
    records::{Effort, RecordKind},
    stats::{DailyTotals, QuarterHourTotals},
};

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS activities (
        id TEXT PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL,
        type TEXT NOT NULL,
        duration_minutes INTEGER NOT NULL,
        calories_burned INTEGER NOT NULL,
        start_ms INTEGER NOT NULL,
        notes TEXT,
        metrics TEXT NOT NULL,
        idempotency_key TEXT,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        event_enqueued INTEGER NOT NULL DEFAULT 0,
        time_zone TEXT
    )",
    "CREATE INDEX IF NOT EXISTS activities_user_start ON activities (user_id, start_ms DESC, id DESC)",
    "CREATE INDEX IF NOT EXISTS activities_type_start ON activities (type, start_ms DESC)",
    "CREATE UNIQUE INDEX IF NOT EXISTS activities_user_idempotency
        ON activities (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS activities_pending_events
        ON activities (created_ms) WHERE event_enqueued = 0",
    // What a file recorded for an activity: its summary as JSON, its points
    // as packed compressed chunks (`stream_codec`), timed from `start_ms`.
    "CREATE TABLE IF NOT EXISTS activity_recordings (
        activity_id TEXT PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        summary TEXT NOT NULL,
        points BLOB NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS activity_recordings_user ON activity_recordings (user_id)",
    // The change feed: activities by when they were last saved, and what
    // was deleted (tombstones, written in the deleting transaction).
    "CREATE INDEX IF NOT EXISTS activities_user_updated ON activities (user_id, updated_ms, id)",
    "CREATE TABLE IF NOT EXISTS activity_tombstones (
        id TEXT PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL,
        deleted_ms INTEGER NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS activity_tombstones_user ON activity_tombstones (user_id, deleted_ms, id)",
    // Each recorded activity's best efforts (domain::records).
    "CREATE TABLE IF NOT EXISTS activity_efforts (
        activity_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        user_id TEXT NOT NULL,
        type TEXT NOT NULL,
        value REAL NOT NULL,
        achieved_ms INTEGER NOT NULL,
        PRIMARY KEY (activity_id, kind)
    )",
    // A user's efforts by kind, and each kind's holder by value
    // (`workout_reads`). It replaced an index on (user_id, kind) alone.
    "CREATE INDEX IF NOT EXISTS activity_efforts_best ON activity_efforts (user_id, kind, value, achieved_ms)",
    "DROP INDEX IF EXISTS activity_efforts_user_kind",
    // Goals (domain::goals): the activity types as a JSON array.
    "CREATE TABLE IF NOT EXISTS goals (
        id TEXT PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL,
        period TEXT NOT NULL,
        metric TEXT NOT NULL,
        target REAL NOT NULL,
        types TEXT NOT NULL,
        time_zone TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS goals_user ON goals (user_id, created_ms, id)",
    // Gear (domain::gear), and which workout used which.
    "CREATE TABLE IF NOT EXISTS gear (
        id TEXT PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        default_for TEXT NOT NULL,
        warn_at_metres REAL,
        retired_ms INTEGER,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS gear_user ON gear (user_id, created_ms, id)",
    "CREATE TABLE IF NOT EXISTS activity_gear (
        activity_id TEXT PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL,
        gear_id TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS activity_gear_gear ON activity_gear (gear_id)",
    "CREATE INDEX IF NOT EXISTS activity_gear_user ON activity_gear (user_id)",
    // The files imported workouts came from (gzip; `size` unpacked).
    "CREATE TABLE IF NOT EXISTS activity_originals (
        activity_id TEXT PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL,
        name TEXT NOT NULL,
        format TEXT NOT NULL,
        size INTEGER NOT NULL,
        content BLOB NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS activity_originals_user ON activity_originals (user_id, activity_id)",
    // Training profiles (domain::profile); zone_floors is a JSON array.
    "CREATE TABLE IF NOT EXISTS training_profiles (
        user_id TEXT PRIMARY KEY NOT NULL,
        max_heart_rate INTEGER,
        resting_heart_rate INTEGER,
        zone_floors TEXT,
        units TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    )",
    // Imports: the report as JSON, and the uploaded bytes until they are read.
    "CREATE TABLE IF NOT EXISTS imports (
        id TEXT PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL,
        state TEXT NOT NULL,
        updated_ms INTEGER NOT NULL,
        report TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS imports_user_state ON imports (user_id, state)",
    "CREATE INDEX IF NOT EXISTS imports_uploading ON imports (updated_ms) WHERE state = 'UPLOADING'",
    "CREATE TABLE IF NOT EXISTS import_chunks (
        import_id TEXT NOT NULL,
        file INTEGER NOT NULL,
        at_byte INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (import_id, file, at_byte)
    )",
];

/// A quarter hour, in milliseconds (`quarter_hour_totals`).
const QUARTER_HOUR_MS: i64 = 15 * 60 * 1000;

const COLUMNS: &str = "id, user_id, type, duration_minutes, calories_burned, start_ms, notes, \
                       metrics, idempotency_key, created_ms, updated_ms, event_enqueued, time_zone";

pub struct EmbeddedActivityStore {
    db: DatabaseConnection,
}

/// Columns added after their table first shipped: `(table, column, type)`,
/// also in [`SCHEMA`] for new data directories.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("activities", "time_zone", "TEXT"),
    ("training_profiles", "zone_floors", "TEXT"),
];

impl EmbeddedActivityStore {
    /// Opens (creating) `url`, a `sqlite://…` URL, and its schema.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let db = fittrack_kit::sqlite::open(url, SCHEMA, "embedded activity store").await?;
        let store = Self { db };
        store.add_missing_columns().await?;
        Ok(store)
    }

    /// Columns added since a data directory was first made: added in place
    /// (SQLite has no `ADD COLUMN IF NOT EXISTS`).
    async fn add_missing_columns(&self) -> anyhow::Result<()> {
        for (table, column, kind) in ADDED_COLUMNS {
            let present = self
                .query(
                    "SELECT COUNT(*) AS n FROM pragma_table_info(?) WHERE name = ?",
                    vec![(*table).into(), (*column).into()],
                )
                .await?;
            let has: i64 = present
                .first()
                .map(|row| row.try_get("", "n"))
                .transpose()?
                .unwrap_or(0);
            if has == 0 {
                self.execute(
                    &format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"),
                    Vec::new(),
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn query(&self, sql: &str, values: Vec<Value>) -> anyhow::Result<Vec<QueryResult>> {
        self.db
            .query_all(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                sql,
                values,
            ))
            .await
            .context("querying the activity store")
    }

    async fn activities(&self, sql: &str, values: Vec<Value>) -> anyhow::Result<Vec<Activity>> {
        self.query(sql, values)
            .await?
            .iter()
            .map(row_to_activity)
            .collect()
    }
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> anyhow::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).context("timestamp out of range")
}

const EFFORT_COLUMNS: &str = "activity_id, kind, user_id, type, value, achieved_ms";
const GEAR_COLUMNS: &str =
    "id, user_id, kind, name, default_for, warn_at_metres, retired_ms, created_ms, updated_ms";
const GOAL_COLUMNS: &str =
    "id, user_id, period, metric, target, types, time_zone, created_ms, updated_ms";

/// The select list of one part of `workout_reads`' one statement: its
/// `part`, then every column any part has, its own by name and the others
/// NULL, so that the parts make one `UNION ALL` and each row is read by its
/// table's own decoder (`effort_of_row`, `row_to_gear`, `row_to_goal`).
fn workout_read_columns(part: &str, own: &str) -> String {
    let own: Vec<&str> = own.split(", ").collect();
    let every = [EFFORT_COLUMNS, GEAR_COLUMNS, GOAL_COLUMNS]
        .iter()
        .flat_map(|columns| columns.split(", "))
        .fold(Vec::new(), |mut every: Vec<&str>, column| {
            if !every.contains(&column) {
                every.push(column);
            }
            every
        });
    std::iter::once(format!("'{part}' AS part"))
        .chain(every.into_iter().map(|column| {
            if own.contains(&column) {
                column.to_owned()
            } else {
                format!("NULL AS {column}")
            }
        }))
        .collect::<Vec<_>>()
        .join(", ")
}

fn effort_of_row(row: &QueryResult) -> anyhow::Result<Effort> {
    Ok(Effort {
        activity_id: row.try_get::<String>("", "activity_id")?.parse()?,
        user_id: row.try_get::<String>("", "user_id")?.parse()?,
        activity_type: ActivityType::parse(&row.try_get::<String>("", "type")?)?,
        kind: RecordKind::parse(&row.try_get::<String>("", "kind")?)?,
        value: row.try_get("", "value")?,
        achieved_at: from_millis(row.try_get("", "achieved_ms")?)?,
    })
}

fn row_to_activity(row: &QueryResult) -> anyhow::Result<Activity> {
    let get_str = |column: &str| -> anyhow::Result<String> {
        row.try_get::<String>("", column)
            .with_context(|| format!("reading column {column}"))
    };
    let get_i64 = |column: &str| -> anyhow::Result<i64> {
        row.try_get::<i64>("", column)
            .with_context(|| format!("reading column {column}"))
    };
    let metrics: Metrics =
        serde_json::from_str(&get_str("metrics")?).context("decoding stored metrics")?;
    Ok(Activity {
        id: get_str("id")?.parse().context("stored id")?,
        user_id: get_str("user_id")?.parse().context("stored user_id")?,
        activity_type: ActivityType::parse(&get_str("type")?)?,
        duration_minutes: i32::try_from(get_i64("duration_minutes")?)?,
        calories_burned: i32::try_from(get_i64("calories_burned")?)?,
        start_time: from_millis(get_i64("start_ms")?)?,
        notes: row.try_get::<Option<String>>("", "notes")?,
        metrics,
        idempotency_key: row.try_get::<Option<String>>("", "idempotency_key")?,
        created_at: from_millis(get_i64("created_ms")?)?,
        updated_at: from_millis(get_i64("updated_ms")?)?,
        event_enqueued: get_i64("event_enqueued")? != 0,
        time_zone: row.try_get::<Option<String>>("", "time_zone")?,
    })
}

/// `WHERE` clauses (joined with AND) and their values for a filter.
fn filter_sql(filter: &ActivityFilter, clauses: &mut Vec<String>, values: &mut Vec<Value>) {
    if !filter.types.is_empty() {
        let marks = vec!["?"; filter.types.len()].join(", ");
        clauses.push(format!("type IN ({marks})"));
        values.extend(filter.types.iter().map(|t| Value::from(t.as_str())));
    }
    if let Some(from) = filter.from {
        clauses.push("start_ms >= ?".into());
        values.push(millis(from).into());
    }
    if let Some(to) = filter.to {
        clauses.push("start_ms < ?".into());
        values.push(millis(to).into());
    }
}

fn users_sql(user_ids: &[Uuid], clauses: &mut Vec<String>, values: &mut Vec<Value>) {
    let marks = vec!["?"; user_ids.len()].join(", ");
    clauses.push(format!("user_id IN ({marks})"));
    values.extend(user_ids.iter().map(|id| Value::from(id.to_string())));
}

fn where_sql(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    }
}

#[async_trait]
impl ActivityStore for EmbeddedActivityStore {
    async fn insert(&self, activity: Activity) -> anyhow::Result<Inserted> {
        let metrics = serde_json::to_string(&activity.metrics).context("encoding metrics")?;
        let sql = format!(
            "INSERT INTO activities ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
        );
        let result = self
            .db
            .execute(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                sql,
                [
                    activity.id.to_string().into(),
                    activity.user_id.to_string().into(),
                    activity.activity_type.as_str().into(),
                    activity.duration_minutes.into(),
                    activity.calories_burned.into(),
                    millis(activity.start_time).into(),
                    activity.notes.clone().into(),
                    metrics.into(),
                    activity.idempotency_key.clone().into(),
                    millis(activity.created_at).into(),
                    millis(activity.updated_at).into(),
                    i64::from(activity.event_enqueued).into(),
                    activity.time_zone.clone().into(),
                ],
            ))
            .await
            .context("inserting an activity")?;
        if result.rows_affected() == 1 {
            return Ok(Inserted::New(activity));
        }
        let existing = self
            .activities(
                &format!(
                    "SELECT {COLUMNS} FROM activities WHERE user_id = ? AND idempotency_key = ?"
                ),
                vec![
                    activity.user_id.to_string().into(),
                    activity.idempotency_key.clone().into(),
                ],
            )
            .await?
            .into_iter()
            .next()
            .context("idempotency conflict without a stored activity")?;
        Ok(Inserted::Existing(existing))
    }

    async fn get_many(&self, ids: &[Uuid]) -> anyhow::Result<Vec<Activity>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; ids.len()].join(", ");
        self.activities(
            &format!("SELECT {COLUMNS} FROM activities WHERE id IN ({marks})"),
            ids.iter().map(|id| Value::from(id.to_string())).collect(),
        )
        .await
    }

    async fn update(
        &self,
        owner: Uuid,
        id: Uuid,
        fields: &ActivityFields,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Activity>> {
        let metrics = serde_json::to_string(&fields.metrics).context("encoding metrics")?;
        let updated = self
            .activities(
                &format!(
                    "UPDATE activities SET type = ?, duration_minutes = ?, calories_burned = ?,
                     start_ms = ?, notes = ?, metrics = ?, updated_ms = ?, time_zone = ?
                     WHERE id = ? AND user_id = ? RETURNING {COLUMNS}"
                ),
                vec![
                    fields.activity_type.as_str().into(),
                    fields.duration_minutes.into(),
                    fields.calories_burned.into(),
                    millis(fields.start_time).into(),
                    fields.notes.clone().into(),
                    metrics.into(),
                    millis(now).into(),
                    fields.time_zone.clone().into(),
                    id.to_string().into(),
                    owner.to_string().into(),
                ],
            )
            .await?;
        Ok(updated.into_iter().next())
    }

    async fn save_recording(
        &self,
        activity: &Activity,
        recording: &StoredRecording,
    ) -> anyhow::Result<bool> {
        let summary = serde_json::to_string(&recording.summary).context("encoding a recording")?;
        let points = stream_codec::pack(&stream_codec::encode(
            &recording.samples,
            activity.start_time,
        ));
        let saved = self
            .db
            .execute(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "INSERT INTO activity_recordings (activity_id, user_id, start_ms, summary, points)
                 VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (activity_id) DO NOTHING",
                [
                    activity.id.to_string().into(),
                    activity.user_id.to_string().into(),
                    millis(activity.start_time).into(),
                    summary.into(),
                    points.into(),
                ],
            ))
            .await
            .context("saving a recording")?;
        Ok(saved.rows_affected() == 1)
    }

    async fn save_efforts(&self, efforts: &[Effort]) -> anyhow::Result<()> {
        for effort in efforts {
            self.db
                .execute(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "INSERT INTO activity_efforts (activity_id, kind, user_id, type, value, achieved_ms)
                     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (activity_id, kind) DO NOTHING",
                    [
                        effort.activity_id.to_string().into(),
                        effort.kind.as_str().into(),
                        effort.user_id.to_string().into(),
                        effort.activity_type.as_str().into(),
                        effort.value.into(),
                        millis(effort.achieved_at).into(),
                    ],
                ))
                .await
                .context("saving best efforts")?;
        }
        Ok(())
    }

    async fn replace_efforts(&self, activity_id: Uuid, efforts: &[Effort]) -> anyhow::Result<()> {
        let transaction = self.db.begin().await.context("replacing best efforts")?;
        transaction
            .execute(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "DELETE FROM activity_efforts WHERE activity_id = ?",
                [activity_id.to_string().into()],
            ))
            .await
            .context("replacing best efforts")?;
        for effort in efforts {
            transaction
                .execute(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "INSERT INTO activity_efforts (activity_id, kind, user_id, type, value, achieved_ms)
                     VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        effort.activity_id.to_string().into(),
                        effort.kind.as_str().into(),
                        effort.user_id.to_string().into(),
                        effort.activity_type.as_str().into(),
                        effort.value.into(),
                        millis(effort.achieved_at).into(),
                    ],
                ))
                .await
                .context("replacing best efforts")?;
        }
        transaction.commit().await.context("replacing best efforts")
    }

    async fn efforts(&self, user_id: Uuid, kinds: &[RecordKind]) -> anyhow::Result<Vec<Effort>> {
        let mut sql = String::from(
            "SELECT activity_id, kind, user_id, type, value, achieved_ms FROM activity_efforts
             WHERE user_id = ?",
        );
        let mut values: Vec<Value> = vec![user_id.to_string().into()];
        if !kinds.is_empty() {
            sql.push_str(&format!(
                " AND kind IN ({})",
                vec!["?"; kinds.len()].join(", ")
            ));
            values.extend(kinds.iter().map(|k| Value::from(k.as_str())));
        }
        let rows = self.query(&sql, values).await?;
        rows.iter().map(effort_of_row).collect()
    }

    async fn workout_reads(
        &self,
        activity: &Activity,
        query: &WorkoutReadsQuery<'_>,
    ) -> anyhow::Result<WorkoutReads> {
        let user_id = activity.user_id.to_string();
        let mut parts = Vec::with_capacity(query.record_keys.len() + 2);
        let mut values: Vec<Value> = Vec::new();
        for (kind, activity_type) in query.record_keys {
            // Two walks of activity_efforts_best, as on MongoDB: the best
            // value (SQLite reads a MIN or MAX straight off the index), then
            // the earliest to reach it. One ORDER BY value DESC, achieved_ms
            // ASC cannot be served by one index, and on ties (whole minutes
            // of a workout logged by hand) sorted every row: 340 µs against
            // 4 µs at 750 equal durations.
            let best = if kind.lower_is_better() { "MIN" } else { "MAX" };
            let mut among = String::from("user_id = ? AND kind = ? AND activity_id <> ?");
            let mut among_values: Vec<Value> = vec![
                user_id.clone().into(),
                kind.as_str().into(),
                activity.id.to_string().into(),
            ];
            if let Some(activity_type) = activity_type {
                among.push_str(" AND type = ?");
                among_values.push(activity_type.as_str().into());
            }
            parts.push(format!(
                "SELECT {} FROM (SELECT {EFFORT_COLUMNS} FROM activity_efforts
                 WHERE {among} AND value = (SELECT {best}(value) FROM activity_efforts WHERE {among})
                 ORDER BY achieved_ms ASC LIMIT 1)",
                workout_read_columns("holder", EFFORT_COLUMNS)
            ));
            values.extend(among_values.clone());
            values.extend(among_values);
        }
        if query.gear {
            parts.push(format!(
                "SELECT {} FROM gear WHERE user_id = ?",
                workout_read_columns("gear", GEAR_COLUMNS)
            ));
            values.push(user_id.clone().into());
        }
        if query.goals {
            parts.push(format!(
                "SELECT {} FROM goals WHERE user_id = ?",
                workout_read_columns("goal", GOAL_COLUMNS)
            ));
            values.push(user_id.into());
        }
        let mut reads = WorkoutReads::default();
        if parts.is_empty() {
            return Ok(reads);
        }
        for row in self.query(&parts.join(" UNION ALL "), values).await? {
            match row.try_get::<String>("", "part")?.as_str() {
                "holder" => reads.holders.push(effort_of_row(&row)?),
                "gear" => reads.gear.push(row_to_gear(&row)?),
                _ => reads.goals.push(row_to_goal(&row)?),
            }
        }
        reads.gear.sort_by_key(|gear| (gear.created_at, gear.id));
        reads.goals.sort_by_key(|goal| (goal.created_at, goal.id));
        Ok(reads)
    }

    async fn has_recording(&self, id: Uuid) -> anyhow::Result<bool> {
        Ok(!self
            .query(
                "SELECT 1 FROM activity_recordings WHERE activity_id = ?",
                vec![id.to_string().into()],
            )
            .await?
            .is_empty())
    }

    async fn recordings(&self, ids: &[Uuid]) -> anyhow::Result<HashMap<Uuid, StoredRecording>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let marks = vec!["?"; ids.len()].join(", ");
        let rows = self
            .query(
                &format!(
                    "SELECT activity_id, start_ms, summary, points FROM activity_recordings
                     WHERE activity_id IN ({marks})"
                ),
                ids.iter().map(|id| Value::from(id.to_string())).collect(),
            )
            .await?;
        rows.iter()
            .map(|row| {
                let id: Uuid = row
                    .try_get::<String>("", "activity_id")?
                    .parse()
                    .context("stored activity_id")?;
                let start = from_millis(row.try_get::<i64>("", "start_ms")?)?;
                let summary: RecordingSummary =
                    serde_json::from_str(&row.try_get::<String>("", "summary")?)
                        .context("decoding a stored recording")?;
                let points = row.try_get::<Vec<u8>>("", "points")?;
                let samples = stream_codec::decode(&stream_codec::unpack(&points)?, start)?;
                Ok((id, StoredRecording { summary, samples }))
            })
            .collect()
    }

    async fn delete(&self, owner: Uuid, id: Uuid) -> anyhow::Result<Option<Activity>> {
        let transaction = self.db.begin().await.context("deleting an activity")?;
        let deleted = transaction
            .query_all(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                format!("DELETE FROM activities WHERE id = ? AND user_id = ? RETURNING {COLUMNS}"),
                [id.to_string().into(), owner.to_string().into()],
            ))
            .await
            .context("deleting an activity")?;
        let Some(row) = deleted.first() else {
            return Ok(None);
        };
        transaction
            .execute(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "DELETE FROM activity_recordings WHERE activity_id = ?",
                [id.to_string().into()],
            ))
            .await
            .context("deleting a recording")?;
        transaction
            .execute(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "DELETE FROM activity_efforts WHERE activity_id = ?",
                [id.to_string().into()],
            ))
            .await
            .context("deleting best efforts")?;
        transaction
            .execute(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "DELETE FROM activity_gear WHERE activity_id = ?",
                [id.to_string().into()],
            ))
            .await
            .context("deleting the gear a workout used")?;
        transaction
            .execute(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "DELETE FROM activity_originals WHERE activity_id = ?",
                [id.to_string().into()],
            ))
            .await
            .context("deleting a workout's original file")?;
        transaction
            .execute(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "INSERT INTO activity_tombstones (id, user_id, deleted_ms) VALUES (?, ?, ?)
                 ON CONFLICT (id) DO NOTHING",
                [
                    id.to_string().into(),
                    owner.to_string().into(),
                    millis(Utc::now()).into(),
                ],
            ))
            .await
            .context("leaving a tombstone")?;
        transaction.commit().await.context("deleting an activity")?;
        row_to_activity(row).map(Some)
    }

    async fn page(&self, query: &PageQuery) -> anyhow::Result<Vec<Activity>> {
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        if let Some(user) = query.user_id {
            clauses.push("user_id = ?".into());
            values.push(user.to_string().into());
        }
        filter_sql(&query.filter, &mut clauses, &mut values);
        if let Some(after) = query.after {
            clauses.push("(start_ms < ? OR (start_ms = ? AND id < ?))".into());
            values.push(millis(after.start_time).into());
            values.push(millis(after.start_time).into());
            values.push(after.id.to_string().into());
        }
        values.push(i64::from(query.limit).into());
        self.activities(
            &format!(
                "SELECT {COLUMNS} FROM activities {} ORDER BY start_ms DESC, id DESC LIMIT ?",
                where_sql(&clauses)
            ),
            values,
        )
        .await
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
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        users_sql(user_ids, &mut clauses, &mut values);
        filter_sql(filter, &mut clauses, &mut values);
        values.push(i64::from(limit).into());
        let rows = self
            .activities(
                &format!(
                    "SELECT {COLUMNS} FROM (
                        SELECT *, ROW_NUMBER() OVER (
                            PARTITION BY user_id ORDER BY start_ms DESC, id DESC) AS position
                        FROM activities {}
                     ) WHERE position <= ? ORDER BY user_id, start_ms DESC, id DESC",
                    where_sql(&clauses)
                ),
                values,
            )
            .await?;
        for activity in rows {
            pages.entry(activity.user_id).or_default().push(activity);
        }
        Ok(pages)
    }

    async fn type_totals(
        &self,
        user_ids: Option<&[Uuid]>,
        filter: &ActivityFilter,
    ) -> anyhow::Result<Vec<TypeTotals>> {
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        if let Some(ids) = user_ids {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            users_sql(ids, &mut clauses, &mut values);
        }
        filter_sql(filter, &mut clauses, &mut values);
        // Platform-wide totals do not need the per-user split.
        let user_column = if user_ids.is_some() { "user_id" } else { "''" };
        let rows = self
            .query(
                &format!(
                    "SELECT {user_column} AS user_id, type, COUNT(*) AS count,
                            SUM(duration_minutes) AS duration, SUM(calories_burned) AS calories,
                            TOTAL(json_extract(metrics, '$.distanceKm')) AS distance
                     FROM activities {} GROUP BY 1, type",
                    where_sql(&clauses)
                ),
                values,
            )
            .await?;
        rows.iter()
            .map(|row| {
                let user: String = row.try_get("", "user_id")?;
                Ok(TypeTotals {
                    user_id: if user.is_empty() {
                        Uuid::nil()
                    } else {
                        user.parse()?
                    },
                    activity_type: ActivityType::parse(&row.try_get::<String>("", "type")?)?,
                    count: row.try_get("", "count")?,
                    duration_minutes: row.try_get("", "duration")?,
                    calories_burned: row.try_get("", "calories")?,
                    distance_km: row.try_get("", "distance")?,
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
        let mut clauses = Vec::new();
        let mut values: Vec<Value> = vec![i64::from(offset.local_minus_utc()).into()];
        users_sql(user_ids, &mut clauses, &mut values);
        let rows = self
            .query(
                &format!(
                    "SELECT user_id, date(start_ms / 1000 + ?, 'unixepoch') AS day,
                            COUNT(*) AS count, SUM(duration_minutes) AS duration,
                            SUM(calories_burned) AS calories
                     FROM activities {} GROUP BY user_id, day ORDER BY user_id, day",
                    where_sql(&clauses)
                ),
                values,
            )
            .await?;
        for row in &rows {
            let user: Uuid = row.try_get::<String>("", "user_id")?.parse()?;
            let day: NaiveDate = row.try_get::<String>("", "day")?.parse()?;
            days.entry(user).or_default().push(DailyTotals {
                day,
                count: row.try_get("", "count")?,
                duration_minutes: row.try_get("", "duration")?,
                calories_burned: row.try_get("", "calories")?,
            });
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
        let mut clauses = Vec::new();
        let mut values: Vec<Value> = vec![QUARTER_HOUR_MS.into()];
        users_sql(user_ids, &mut clauses, &mut values);
        let rows = self
            .query(
                &format!(
                    "SELECT user_id, start_ms / ? AS quarter, time_zone,
                            COUNT(*) AS count, SUM(duration_minutes) AS duration,
                            SUM(calories_burned) AS calories
                     FROM activities {} GROUP BY user_id, quarter, time_zone
                     ORDER BY user_id, quarter",
                    where_sql(&clauses)
                ),
                values,
            )
            .await?;
        for row in &rows {
            let user: Uuid = row.try_get::<String>("", "user_id")?.parse()?;
            let quarter: i64 = row.try_get("", "quarter")?;
            quarters.entry(user).or_default().push(QuarterHourTotals {
                start: from_millis(quarter * QUARTER_HOUR_MS)?,
                time_zone: row.try_get("", "time_zone")?,
                count: row.try_get("", "count")?,
                duration_minutes: row.try_get("", "duration")?,
                calories_burned: row.try_get("", "calories")?,
            });
        }
        Ok(quarters)
    }

    async fn mark_events_enqueued(&self, ids: &[Uuid]) -> anyhow::Result<()> {
        // SQLite allows 32 766 variables a statement.
        for chunk in ids.chunks(1000) {
            let marks = vec!["?"; chunk.len()].join(", ");
            self.db
                .execute(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    format!("UPDATE activities SET event_enqueued = 1 WHERE id IN ({marks})"),
                    chunk.iter().map(|id| Value::from(id.to_string())),
                ))
                .await
                .context("marking activity events as enqueued")?;
        }
        Ok(())
    }

    async fn pending_events(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> anyhow::Result<Vec<Activity>> {
        self.activities(
            &format!(
                "SELECT {COLUMNS} FROM activities WHERE event_enqueued = 0 AND created_ms <= ?
                 ORDER BY created_ms LIMIT ?"
            ),
            vec![millis(before).into(), i64::from(limit).into()],
        )
        .await
    }

    async fn changes(
        &self,
        user_id: Uuid,
        after: Option<ChangePosition>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> anyhow::Result<Vec<Change>> {
        let (after_ms, after_id) = after.map_or((i64::MIN, String::new()), |p| {
            (millis(p.at), p.id.to_string())
        });
        let window = |time: &str| {
            format!(
                "user_id = ? AND ({time} > ? OR ({time} = ? AND id > ?)) AND {time} <= ?
                 ORDER BY {time}, id LIMIT ?"
            )
        };
        let values = || -> Vec<Value> {
            vec![
                user_id.to_string().into(),
                after_ms.into(),
                after_ms.into(),
                after_id.clone().into(),
                millis(until).into(),
                i64::from(limit).into(),
            ]
        };
        let saved = self
            .activities(
                &format!(
                    "SELECT {COLUMNS} FROM activities WHERE {}",
                    window("updated_ms")
                ),
                values(),
            )
            .await?;
        let deleted = self
            .query(
                &format!(
                    "SELECT id, deleted_ms FROM activity_tombstones WHERE {}",
                    window("deleted_ms")
                ),
                values(),
            )
            .await?;
        let mut changes: Vec<Change> = saved
            .into_iter()
            .map(|a| Change::Saved(Box::new(a)))
            .collect();
        for row in &deleted {
            changes.push(Change::Deleted {
                id: row.try_get::<String>("", "id")?.parse()?,
                at: from_millis(row.try_get("", "deleted_ms")?)?,
            });
        }
        changes.sort_by_key(Change::position);
        changes.truncate(limit as usize);
        Ok(changes)
    }

    async fn delete_user(&self, user_id: Uuid) -> anyhow::Result<u64> {
        let transaction = self
            .db
            .begin()
            .await
            .context("erasing a user's activities")?;
        // What hangs off the user's activities first, then the activities.
        for table in [
            "activity_recordings",
            "activity_originals",
            "activity_efforts",
            "activity_tombstones",
            "goals",
            "activity_gear",
            "gear",
            "training_profiles",
        ] {
            transaction
                .execute(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    format!("DELETE FROM {table} WHERE user_id = ?"),
                    [user_id.to_string().into()],
                ))
                .await
                .with_context(|| format!("erasing a user's rows of {table}"))?;
        }
        let done = transaction
            .execute(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "DELETE FROM activities WHERE user_id = ?",
                [user_id.to_string().into()],
            ))
            .await
            .context("erasing a user's activities")?;
        transaction
            .commit()
            .await
            .context("erasing a user's activities")?;
        Ok(done.rows_affected())
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.db.ping().await.context("pinging the activity store")
    }
}

fn state_name(state: ImportState) -> &'static str {
    match state {
        ImportState::Uploading => "UPLOADING",
        ImportState::Queued => "QUEUED",
        ImportState::Running => "RUNNING",
        ImportState::Done => "DONE",
    }
}

impl EmbeddedActivityStore {
    async fn execute(&self, sql: &str, values: Vec<Value>) -> anyhow::Result<u64> {
        Ok(self
            .db
            .execute(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                sql,
                values,
            ))
            .await
            .context("writing to the activity store")?
            .rows_affected())
    }
}

#[async_trait]
impl ImportStore for EmbeddedActivityStore {
    async fn create_import(&self, import: &Import) -> anyhow::Result<()> {
        self.execute(
            "INSERT INTO imports (id, user_id, state, updated_ms, report) VALUES (?, ?, ?, ?, ?)",
            vec![
                import.id.to_string().into(),
                import.user_id.to_string().into(),
                state_name(import.state).into(),
                millis(import.updated_at).into(),
                serde_json::to_string(import)?.into(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn import(&self, id: Uuid) -> anyhow::Result<Option<Import>> {
        let rows = self
            .query(
                "SELECT report FROM imports WHERE id = ?",
                vec![id.to_string().into()],
            )
            .await?;
        rows.first()
            .map(|row| {
                let report: String = row.try_get("", "report")?;
                serde_json::from_str(&report).context("decoding an import")
            })
            .transpose()
    }

    async fn save_import(&self, import: &Import) -> anyhow::Result<()> {
        self.execute(
            "UPDATE imports SET state = ?, updated_ms = ?, report = ? WHERE id = ?",
            vec![
                state_name(import.state).into(),
                millis(import.updated_at).into(),
                serde_json::to_string(import)?.into(),
                import.id.to_string().into(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn save_import_if(&self, import: &Import, from: ImportState) -> anyhow::Result<bool> {
        let changed = self
            .execute(
                "UPDATE imports SET state = ?, updated_ms = ?, report = ? WHERE id = ? AND state = ?",
                vec![
                    state_name(import.state).into(),
                    millis(import.updated_at).into(),
                    serde_json::to_string(import)?.into(),
                    import.id.to_string().into(),
                    state_name(from).into(),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn open_imports(&self, user_id: Uuid) -> anyhow::Result<u32> {
        let rows = self
            .query(
                "SELECT COUNT(*) AS open FROM imports WHERE user_id = ? AND state <> 'DONE'",
                vec![user_id.to_string().into()],
            )
            .await?;
        let open: i64 = rows.first().map_or(Ok(0), |row| row.try_get("", "open"))?;
        Ok(u32::try_from(open).unwrap_or(u32::MAX))
    }

    async fn put_chunk(
        &self,
        import_id: Uuid,
        file: u32,
        offset: u64,
        bytes: &[u8],
    ) -> anyhow::Result<()> {
        self.execute(
            "INSERT INTO import_chunks (import_id, file, at_byte, data) VALUES (?, ?, ?, ?)
             ON CONFLICT (import_id, file, at_byte) DO NOTHING",
            vec![
                import_id.to_string().into(),
                i64::from(file).into(),
                i64::try_from(offset)?.into(),
                bytes.to_vec().into(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn chunk_sizes(&self, import_id: Uuid, file: u32) -> anyhow::Result<Vec<(u64, u64)>> {
        let rows = self
            .query(
                "SELECT at_byte, length(data) AS size FROM import_chunks
                 WHERE import_id = ? AND file = ? ORDER BY at_byte",
                vec![import_id.to_string().into(), i64::from(file).into()],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let at: i64 = row.try_get("", "at_byte")?;
                let size: i64 = row.try_get("", "size")?;
                Ok((u64::try_from(at)?, u64::try_from(size)?))
            })
            .collect()
    }

    async fn chunks(&self, import_id: Uuid, file: u32) -> anyhow::Result<Vec<(u64, Vec<u8>)>> {
        let rows = self
            .query(
                "SELECT at_byte, data FROM import_chunks
                 WHERE import_id = ? AND file = ? ORDER BY at_byte",
                vec![import_id.to_string().into(), i64::from(file).into()],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let at: i64 = row.try_get("", "at_byte")?;
                Ok((u64::try_from(at)?, row.try_get::<Vec<u8>>("", "data")?))
            })
            .collect()
    }

    async fn delete_chunks(&self, import_id: Uuid) -> anyhow::Result<()> {
        self.execute(
            "DELETE FROM import_chunks WHERE import_id = ?",
            vec![import_id.to_string().into()],
        )
        .await?;
        Ok(())
    }

    async fn stale_uploads(&self, before: DateTime<Utc>, limit: u32) -> anyhow::Result<Vec<Uuid>> {
        let rows = self
            .query(
                "SELECT id FROM imports WHERE state = 'UPLOADING' AND updated_ms < ?
                 ORDER BY updated_ms LIMIT ?",
                vec![millis(before).into(), i64::from(limit).into()],
            )
            .await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<String>("", "id")?.parse()?))
            .collect()
    }

    async fn delete_user_imports(&self, user_id: Uuid) -> anyhow::Result<()> {
        self.execute(
            "DELETE FROM import_chunks WHERE import_id IN (SELECT id FROM imports WHERE user_id = ?)",
            vec![user_id.to_string().into()],
        )
        .await?;
        self.execute(
            "DELETE FROM imports WHERE user_id = ?",
            vec![user_id.to_string().into()],
        )
        .await?;
        Ok(())
    }
}

fn row_to_goal(row: &QueryResult) -> anyhow::Result<Goal> {
    let types: Vec<String> = serde_json::from_str(&row.try_get::<String>("", "types")?)
        .context("decoding a goal's types")?;
    Ok(Goal {
        id: row.try_get::<String>("", "id")?.parse()?,
        user_id: row.try_get::<String>("", "user_id")?.parse()?,
        period: GoalPeriod::parse(&row.try_get::<String>("", "period")?)?,
        metric: GoalMetric::parse(&row.try_get::<String>("", "metric")?)?,
        target: row.try_get("", "target")?,
        activity_types: types
            .iter()
            .map(|t| ActivityType::parse(t))
            .collect::<anyhow::Result<_>>()?,
        time_zone: row.try_get("", "time_zone")?,
        created_at: from_millis(row.try_get("", "created_ms")?)?,
        updated_at: from_millis(row.try_get("", "updated_ms")?)?,
    })
}

#[async_trait]
impl GoalStore for EmbeddedActivityStore {
    async fn insert_goal(&self, goal: &Goal, max: usize) -> anyhow::Result<bool> {
        // One statement: the count and the insert see the same snapshot.
        let inserted = self
            .execute(
                "INSERT INTO goals (id, user_id, period, metric, target, types, time_zone, created_ms, updated_ms)
                 SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?
                 WHERE (SELECT COUNT(*) FROM goals WHERE user_id = ?) < ?",
                vec![
                    goal.id.to_string().into(),
                    goal.user_id.to_string().into(),
                    goal.period.as_str().into(),
                    goal.metric.as_str().into(),
                    goal.target.into(),
                    type_names(&goal.activity_types)?.into(),
                    goal.time_zone.clone().into(),
                    millis(goal.created_at).into(),
                    millis(goal.updated_at).into(),
                    goal.user_id.to_string().into(),
                    (max as i64).into(),
                ],
            )
            .await?;
        Ok(inserted == 1)
    }

    async fn replace_goal(&self, goal: &Goal) -> anyhow::Result<bool> {
        let replaced = self
            .execute(
                "UPDATE goals SET period = ?, metric = ?, target = ?, types = ?, time_zone = ?, updated_ms = ?
                 WHERE id = ? AND user_id = ?",
                vec![
                    goal.period.as_str().into(),
                    goal.metric.as_str().into(),
                    goal.target.into(),
                    type_names(&goal.activity_types)?.into(),
                    goal.time_zone.clone().into(),
                    millis(goal.updated_at).into(),
                    goal.id.to_string().into(),
                    goal.user_id.to_string().into(),
                ],
            )
            .await?;
        Ok(replaced == 1)
    }

    async fn delete_goal(&self, user_id: Uuid, id: Uuid) -> anyhow::Result<bool> {
        let deleted = self
            .execute(
                "DELETE FROM goals WHERE id = ? AND user_id = ?",
                vec![id.to_string().into(), user_id.to_string().into()],
            )
            .await?;
        Ok(deleted == 1)
    }

    async fn goals(&self, user_id: Uuid) -> anyhow::Result<Vec<Goal>> {
        self.query(
            "SELECT * FROM goals WHERE user_id = ? ORDER BY created_ms, id",
            vec![user_id.to_string().into()],
        )
        .await?
        .iter()
        .map(row_to_goal)
        .collect()
    }
}

fn type_names(types: &[ActivityType]) -> anyhow::Result<String> {
    let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    Ok(serde_json::to_string(&names)?)
}

fn row_to_gear(row: &QueryResult) -> anyhow::Result<Gear> {
    let types: Vec<String> = serde_json::from_str(&row.try_get::<String>("", "default_for")?)
        .context("decoding a gear's default types")?;
    Ok(Gear {
        id: row.try_get::<String>("", "id")?.parse()?,
        user_id: row.try_get::<String>("", "user_id")?.parse()?,
        kind: GearKind::parse(&row.try_get::<String>("", "kind")?)?,
        name: row.try_get("", "name")?,
        default_for: types
            .iter()
            .map(|t| ActivityType::parse(t))
            .collect::<anyhow::Result<_>>()?,
        warn_at_metres: row.try_get("", "warn_at_metres")?,
        retired_at: row
            .try_get::<Option<i64>>("", "retired_ms")?
            .map(from_millis)
            .transpose()?,
        created_at: from_millis(row.try_get("", "created_ms")?)?,
        updated_at: from_millis(row.try_get("", "updated_ms")?)?,
    })
}

#[async_trait]
impl GearStore for EmbeddedActivityStore {
    async fn insert_gear(&self, gear: &Gear, max: usize) -> anyhow::Result<bool> {
        let inserted = self
            .execute(
                "INSERT INTO gear (id, user_id, kind, name, default_for, warn_at_metres, retired_ms, created_ms, updated_ms)
                 SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?
                 WHERE (SELECT COUNT(*) FROM gear WHERE user_id = ?) < ?",
                vec![
                    gear.id.to_string().into(),
                    gear.user_id.to_string().into(),
                    gear.kind.as_str().into(),
                    gear.name.clone().into(),
                    type_names(&gear.default_for)?.into(),
                    gear.warn_at_metres.into(),
                    gear.retired_at.map(millis).into(),
                    millis(gear.created_at).into(),
                    millis(gear.updated_at).into(),
                    gear.user_id.to_string().into(),
                    (max as i64).into(),
                ],
            )
            .await?;
        Ok(inserted == 1)
    }

    async fn replace_gear(&self, gear: &Gear) -> anyhow::Result<bool> {
        let replaced = self
            .execute(
                "UPDATE gear SET kind = ?, name = ?, default_for = ?, warn_at_metres = ?, retired_ms = ?, updated_ms = ?
                 WHERE id = ? AND user_id = ?",
                vec![
                    gear.kind.as_str().into(),
                    gear.name.clone().into(),
                    type_names(&gear.default_for)?.into(),
                    gear.warn_at_metres.into(),
                    gear.retired_at.map(millis).into(),
                    millis(gear.updated_at).into(),
                    gear.id.to_string().into(),
                    gear.user_id.to_string().into(),
                ],
            )
            .await?;
        Ok(replaced == 1)
    }

    async fn delete_gear(&self, user_id: Uuid, id: Uuid) -> anyhow::Result<bool> {
        let deleted = self
            .execute(
                "DELETE FROM gear WHERE id = ? AND user_id = ?",
                vec![id.to_string().into(), user_id.to_string().into()],
            )
            .await?;
        if deleted == 1 {
            self.execute(
                "DELETE FROM activity_gear WHERE gear_id = ? AND user_id = ?",
                vec![id.to_string().into(), user_id.to_string().into()],
            )
            .await?;
        }
        Ok(deleted == 1)
    }

    async fn gear(&self, user_id: Uuid) -> anyhow::Result<Vec<Gear>> {
        self.query(
            "SELECT * FROM gear WHERE user_id = ? ORDER BY created_ms, id",
            vec![user_id.to_string().into()],
        )
        .await?
        .iter()
        .map(row_to_gear)
        .collect()
    }

    async fn link_gear(
        &self,
        user_id: Uuid,
        activity_id: Uuid,
        gear_id: Option<Uuid>,
    ) -> anyhow::Result<()> {
        match gear_id {
            Some(gear) => self.execute(
                "INSERT INTO activity_gear (activity_id, user_id, gear_id) VALUES (?, ?, ?)
                 ON CONFLICT (activity_id) DO UPDATE SET gear_id = excluded.gear_id",
                vec![
                    activity_id.to_string().into(),
                    user_id.to_string().into(),
                    gear.to_string().into(),
                ],
            ),
            None => self.execute(
                "DELETE FROM activity_gear WHERE activity_id = ? AND user_id = ?",
                vec![activity_id.to_string().into(), user_id.to_string().into()],
            ),
        }
        .await?;
        Ok(())
    }

    async fn gear_use(&self, user_id: Uuid) -> anyhow::Result<HashMap<Uuid, GearUse>> {
        self.query(
            "SELECT g.gear_id AS gear_id, COUNT(*) AS count, SUM(a.duration_minutes) AS duration,
                    TOTAL(json_extract(a.metrics, '$.distanceKm')) AS distance
             FROM activity_gear g JOIN activities a ON a.id = g.activity_id
             WHERE g.user_id = ? GROUP BY g.gear_id",
            vec![user_id.to_string().into()],
        )
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get::<String>("", "gear_id")?.parse()?,
                GearUse {
                    activities: row.try_get("", "count")?,
                    duration_minutes: row.try_get("", "duration")?,
                    distance_km: row.try_get("", "distance")?,
                },
            ))
        })
        .collect()
    }

    async fn activity_gear(&self, activity_ids: &[Uuid]) -> anyhow::Result<HashMap<Uuid, Uuid>> {
        if activity_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let marks = vec!["?"; activity_ids.len()].join(", ");
        self.query(
            &format!(
                "SELECT activity_id, gear_id FROM activity_gear WHERE activity_id IN ({marks})"
            ),
            activity_ids
                .iter()
                .map(|id| id.to_string().into())
                .collect(),
        )
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get::<String>("", "activity_id")?.parse()?,
                row.try_get::<String>("", "gear_id")?.parse()?,
            ))
        })
        .collect()
    }
}

#[async_trait]
impl ProfileStore for EmbeddedActivityStore {
    async fn profile(&self, user_id: Uuid) -> anyhow::Result<Option<TrainingProfile>> {
        self.query(
            "SELECT * FROM training_profiles WHERE user_id = ?",
            vec![user_id.to_string().into()],
        )
        .await?
        .first()
        .map(|row| {
            Ok(TrainingProfile {
                user_id,
                max_heart_rate: row
                    .try_get::<Option<i64>>("", "max_heart_rate")?
                    .map(u16::try_from)
                    .transpose()?,
                resting_heart_rate: row
                    .try_get::<Option<i64>>("", "resting_heart_rate")?
                    .map(u16::try_from)
                    .transpose()?,
                zone_floors: row
                    .try_get::<Option<String>>("", "zone_floors")?
                    .map(|floors| serde_json::from_str(&floors))
                    .transpose()?,
                units: Units::parse(&row.try_get::<String>("", "units")?)?,
                updated_at: Some(from_millis(row.try_get("", "updated_ms")?)?),
            })
        })
        .transpose()
    }

    async fn save_profile(&self, profile: &TrainingProfile) -> anyhow::Result<()> {
        self.execute(
            "INSERT INTO training_profiles
                (user_id, max_heart_rate, resting_heart_rate, zone_floors, units, updated_ms)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (user_id) DO UPDATE SET max_heart_rate = excluded.max_heart_rate,
                resting_heart_rate = excluded.resting_heart_rate,
                zone_floors = excluded.zone_floors, units = excluded.units,
                updated_ms = excluded.updated_ms",
            vec![
                profile.user_id.to_string().into(),
                profile.max_heart_rate.map(i64::from).into(),
                profile.resting_heart_rate.map(i64::from).into(),
                profile
                    .zone_floors
                    .map(|floors| serde_json::to_string(&floors))
                    .transpose()?
                    .into(),
                profile.units.as_str().into(),
                millis(profile.updated_at.unwrap_or_else(Utc::now)).into(),
            ],
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl OriginalStore for EmbeddedActivityStore {
    async fn keep_original(
        &self,
        activity: &Activity,
        original: &OriginalFile,
    ) -> anyhow::Result<()> {
        self.execute(
            "INSERT INTO activity_originals (activity_id, user_id, name, format, size, content)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (activity_id) DO NOTHING",
            vec![
                activity.id.to_string().into(),
                activity.user_id.to_string().into(),
                original.name.clone().into(),
                original.format.as_str().into(),
                (original.bytes.len() as i64).into(),
                super::pack_original(&original.bytes)?.into(),
            ],
        )
        .await
        .context("keeping an original file")?;
        Ok(())
    }

    async fn original(&self, activity_id: Uuid) -> anyhow::Result<Option<OriginalFile>> {
        self.query(
            "SELECT name, format, size, content FROM activity_originals WHERE activity_id = ?",
            vec![activity_id.to_string().into()],
        )
        .await?
        .first()
        .map(|row| {
            let size: i64 = row.try_get("", "size")?;
            Ok(OriginalFile {
                name: row.try_get("", "name")?,
                format: FileFormat::parse(&row.try_get::<String>("", "format")?)?,
                bytes: super::unpack_original(
                    &row.try_get::<Vec<u8>>("", "content")?,
                    u64::try_from(size)?,
                )?,
            })
        })
        .transpose()
    }

    async fn originals(
        &self,
        user_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> anyhow::Result<Vec<Uuid>> {
        self.query(
            "SELECT activity_id FROM activity_originals WHERE user_id = ? AND activity_id > ?
             ORDER BY activity_id LIMIT ?",
            vec![
                user_id.to_string().into(),
                after.map(|a| a.to_string()).unwrap_or_default().into(),
                i64::from(limit).into(),
            ],
        )
        .await?
        .iter()
        .map(|row| Ok(row.try_get::<String>("", "activity_id")?.parse()?))
        .collect()
    }
}
