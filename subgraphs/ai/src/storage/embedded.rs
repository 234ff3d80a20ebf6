//! The embedded backend: SQLite in the data directory, documents as JSON text.

use std::collections::HashMap;

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement, Value};
use uuid::Uuid;

use super::{AiStore, Intake, RecommendationCursor, Saved, RECENT_ACTIVITIES_KEPT};
use crate::domain::model::{ActivitySummary, DailyPlan, Recommendation, Source};

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS ai_activities (
        activity_id TEXT PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        summary TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS ai_activities_user ON ai_activities (user_id, start_ms DESC)",
    // Trims the projection inside the insert's own statement (one round trip
    // per activity, `take_in_activity`); 20 is RECENT_ACTIVITIES_KEPT.
    "CREATE TRIGGER IF NOT EXISTS ai_activities_keep_newest AFTER INSERT ON ai_activities
     BEGIN
        DELETE FROM ai_activities WHERE user_id = NEW.user_id AND activity_id NOT IN (
            SELECT activity_id FROM ai_activities WHERE user_id = NEW.user_id
            ORDER BY start_ms DESC LIMIT 20);
     END",
    "CREATE TABLE IF NOT EXISTS ai_deleted_activities (
        activity_id TEXT PRIMARY KEY NOT NULL,
        deleted_ms INTEGER NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS recommendations (
        id TEXT PRIMARY KEY NOT NULL,
        activity_id TEXT NOT NULL UNIQUE,
        user_id TEXT NOT NULL,
        source TEXT NOT NULL,
        advice TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS recommendations_user
        ON recommendations (user_id, created_ms DESC, id DESC)",
    "CREATE TABLE IF NOT EXISTS daily_plans (
        id TEXT PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL,
        day TEXT NOT NULL,
        goal TEXT,
        source TEXT NOT NULL,
        content TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        UNIQUE (user_id, day)
    )",
];

const _: () = assert!(
    RECENT_ACTIVITIES_KEPT == 20,
    "the trigger in SCHEMA keeps 20"
);

const RECOMMENDATION_COLUMNS: &str = "id, activity_id, user_id, source, advice, created_ms";
const PLAN_COLUMNS: &str = "id, user_id, day, goal, source, content, created_ms";

pub struct EmbeddedAiStore {
    db: DatabaseConnection,
}

fn statement(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}

fn from_millis(ms: i64) -> anyhow::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).context("timestamp out of range")
}

fn text(row: &QueryResult, column: &str) -> anyhow::Result<String> {
    row.try_get::<String>("", column)
        .with_context(|| format!("reading column {column}"))
}

fn number(row: &QueryResult, column: &str) -> anyhow::Result<i64> {
    row.try_get::<i64>("", column)
        .with_context(|| format!("reading column {column}"))
}

fn row_to_recommendation(row: &QueryResult) -> anyhow::Result<Recommendation> {
    Ok(Recommendation {
        id: text(row, "id")?.parse()?,
        activity_id: text(row, "activity_id")?.parse()?,
        user_id: text(row, "user_id")?.parse()?,
        source: Source::parse(&text(row, "source")?)?,
        advice: serde_json::from_str(&text(row, "advice")?).context("stored advice")?,
        created_at: from_millis(number(row, "created_ms")?)?,
    })
}

fn row_to_plan(row: &QueryResult) -> anyhow::Result<DailyPlan> {
    Ok(DailyPlan {
        id: text(row, "id")?.parse()?,
        user_id: text(row, "user_id")?.parse()?,
        date: text(row, "day")?.parse().context("stored day")?,
        goal: row.try_get::<Option<String>>("", "goal")?,
        source: Source::parse(&text(row, "source")?)?,
        content: serde_json::from_str(&text(row, "content")?).context("stored plan")?,
        created_at: from_millis(number(row, "created_ms")?)?,
    })
}

fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

fn ids(values: &[Uuid]) -> Vec<Value> {
    values
        .iter()
        .map(|id| Value::from(id.to_string()))
        .collect()
}

impl EmbeddedAiStore {
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let db = fittrack_kit::sqlite::open(url, SCHEMA, "embedded AI store").await?;
        Ok(Self { db })
    }

    async fn query(&self, sql: &str, values: Vec<Value>) -> anyhow::Result<Vec<QueryResult>> {
        self.db
            .query_all(statement(sql, values))
            .await
            .context("querying the AI store")
    }

    async fn execute(&self, sql: &str, values: Vec<Value>) -> anyhow::Result<u64> {
        Ok(self
            .db
            .execute(statement(sql, values))
            .await
            .context("writing to the AI store")?
            .rows_affected())
    }

    async fn recommendations(
        &self,
        sql: &str,
        values: Vec<Value>,
    ) -> anyhow::Result<Vec<Recommendation>> {
        self.query(sql, values)
            .await?
            .iter()
            .map(row_to_recommendation)
            .collect()
    }

    /// Whether the activity was deleted.
    async fn is_forgotten(&self, activity_id: Uuid) -> anyhow::Result<bool> {
        Ok(!self
            .query(
                "SELECT activity_id FROM ai_deleted_activities WHERE activity_id = ?",
                vec![activity_id.to_string().into()],
            )
            .await?
            .is_empty())
    }

    async fn plans(&self, sql: &str, values: Vec<Value>) -> anyhow::Result<Vec<DailyPlan>> {
        self.query(sql, values)
            .await?
            .iter()
            .map(row_to_plan)
            .collect()
    }
}

#[async_trait]
impl AiStore for EmbeddedAiStore {
    async fn take_in_activity(
        &self,
        activity: &ActivitySummary,
        history: usize,
    ) -> anyhow::Result<Intake> {
        let id = activity.activity_id.to_string();
        let user = activity.user_id.to_string();
        // Unless deleted, in the same statement; the trigger trims.
        let remembered = self
            .execute(
                "INSERT INTO ai_activities (activity_id, user_id, start_ms, summary)
                 SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (
                    SELECT 1 FROM ai_deleted_activities WHERE activity_id = ?1)
                 ON CONFLICT (activity_id) DO UPDATE
                    SET start_ms = excluded.start_ms, summary = excluded.summary",
                vec![
                    id.clone().into(),
                    user.clone().into(),
                    activity.start_time.timestamp_millis().into(),
                    serde_json::to_string(activity)?.into(),
                ],
            )
            .await?;
        if remembered == 0 {
            return Ok(Intake::Forgotten);
        }
        // Its recommendation, if any, beside each of the user's other recent
        // activities: one read.
        let rows = self
            .query(
                "SELECT r.id, r.activity_id, r.user_id, r.source, r.advice, r.created_ms,
                        h.summary
                 FROM (SELECT 1) AS one
                 LEFT JOIN recommendations AS r ON r.activity_id = ?1
                 LEFT JOIN (
                    SELECT summary, start_ms FROM ai_activities
                    WHERE user_id = ?2 AND activity_id <> ?1
                    ORDER BY start_ms DESC LIMIT ?3
                 ) AS h ON 1
                 ORDER BY h.start_ms DESC",
                vec![id.into(), user.into(), (history as i64).into()],
            )
            .await?;
        if let Some(row) = rows.first() {
            if row.try_get::<Option<String>>("", "id")?.is_some() {
                return Ok(Intake::Recommended(row_to_recommendation(row)?));
            }
        }
        let history = rows
            .iter()
            .filter_map(|row| row.try_get::<Option<String>>("", "summary").transpose())
            .map(|summary| Ok(serde_json::from_str(&summary?)?))
            .collect::<anyhow::Result<_>>()?;
        Ok(Intake::New { history })
    }

    async fn forget_activity(&self, activity_id: Uuid) -> anyhow::Result<bool> {
        let id = activity_id.to_string();
        self.execute(
            "INSERT INTO ai_deleted_activities (activity_id, deleted_ms) VALUES (?, ?)
             ON CONFLICT (activity_id) DO NOTHING",
            vec![id.clone().into(), Utc::now().timestamp_millis().into()],
        )
        .await?;
        self.execute(
            "DELETE FROM ai_activities WHERE activity_id = ?",
            vec![id.clone().into()],
        )
        .await?;
        Ok(self
            .execute(
                "DELETE FROM recommendations WHERE activity_id = ?",
                vec![id.into()],
            )
            .await?
            > 0)
    }

    async fn recent_activities(
        &self,
        user_id: Uuid,
        limit: usize,
    ) -> anyhow::Result<Vec<ActivitySummary>> {
        self.query(
            "SELECT summary FROM ai_activities WHERE user_id = ? ORDER BY start_ms DESC LIMIT ?",
            vec![user_id.to_string().into(), (limit as i64).into()],
        )
        .await?
        .iter()
        .map(|row| Ok(serde_json::from_str(&text(row, "summary")?)?))
        .collect()
    }

    async fn save_recommendation(
        &self,
        recommendation: Recommendation,
    ) -> anyhow::Result<Option<Saved<Recommendation>>> {
        // One statement, so a deletion (`forget_activity`) lands either
        // before it (nothing inserted) or after it (the row is deleted).
        let inserted = self
            .execute(
                &format!(
                    "INSERT INTO recommendations ({RECOMMENDATION_COLUMNS})
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (
                        SELECT 1 FROM ai_deleted_activities WHERE activity_id = ?2)
                     ON CONFLICT (activity_id) DO NOTHING"
                ),
                vec![
                    recommendation.id.to_string().into(),
                    recommendation.activity_id.to_string().into(),
                    recommendation.user_id.to_string().into(),
                    recommendation.source.as_str().into(),
                    serde_json::to_string(&recommendation.advice)?.into(),
                    recommendation.created_at.timestamp_millis().into(),
                ],
            )
            .await?;
        if inserted == 1 {
            return Ok(Some(Saved::New(recommendation)));
        }
        if let Some(existing) = self
            .recommendations_for_activities(&[recommendation.activity_id])
            .await?
            .into_iter()
            .next()
        {
            return Ok(Some(Saved::Existing(existing)));
        }
        anyhow::ensure!(
            self.is_forgotten(recommendation.activity_id).await?,
            "a conflicting recommendation vanished"
        );
        Ok(None)
    }

    async fn recommendations_for_activities(
        &self,
        activity_ids: &[Uuid],
    ) -> anyhow::Result<Vec<Recommendation>> {
        if activity_ids.is_empty() {
            return Ok(vec![]);
        }
        self.recommendations(
            &format!(
                "SELECT {RECOMMENDATION_COLUMNS} FROM recommendations WHERE activity_id IN ({})",
                marks(activity_ids.len())
            ),
            ids(activity_ids),
        )
        .await
    }

    async fn recommendations_page(
        &self,
        user_id: Uuid,
        after: Option<RecommendationCursor>,
        limit: usize,
    ) -> anyhow::Result<Vec<Recommendation>> {
        let mut values: Vec<Value> = vec![user_id.to_string().into()];
        let mut position = String::new();
        if let Some(after) = after {
            let ms = after.created_at.timestamp_millis();
            position = " AND (created_ms < ? OR (created_ms = ? AND id < ?))".into();
            values.extend([ms.into(), ms.into(), after.id.to_string().into()]);
        }
        values.push((limit as i64).into());
        self.recommendations(
            &format!(
                "SELECT {RECOMMENDATION_COLUMNS} FROM recommendations WHERE user_id = ?{position}
                 ORDER BY created_ms DESC, id DESC LIMIT ?"
            ),
            values,
        )
        .await
    }

    async fn first_recommendation_pages(
        &self,
        user_ids: &[Uuid],
        limit: usize,
    ) -> anyhow::Result<HashMap<Uuid, Vec<Recommendation>>> {
        let mut pages: HashMap<Uuid, Vec<Recommendation>> = HashMap::new();
        if user_ids.is_empty() {
            return Ok(pages);
        }
        let mut values = ids(user_ids);
        values.push((limit as i64).into());
        let found = self
            .recommendations(
                &format!(
                    "SELECT {RECOMMENDATION_COLUMNS} FROM (
                        SELECT *, ROW_NUMBER() OVER (
                            PARTITION BY user_id ORDER BY created_ms DESC, id DESC) AS position
                        FROM recommendations WHERE user_id IN ({})
                     ) WHERE position <= ? ORDER BY user_id, created_ms DESC, id DESC",
                    marks(user_ids.len())
                ),
                values,
            )
            .await?;
        for recommendation in found {
            pages
                .entry(recommendation.user_id)
                .or_default()
                .push(recommendation);
        }
        Ok(pages)
    }

    async fn daily_plan(
        &self,
        user_id: Uuid,
        date: NaiveDate,
    ) -> anyhow::Result<Option<DailyPlan>> {
        Ok(self
            .plans(
                &format!("SELECT {PLAN_COLUMNS} FROM daily_plans WHERE user_id = ? AND day = ?"),
                vec![user_id.to_string().into(), date.to_string().into()],
            )
            .await?
            .into_iter()
            .next())
    }

    async fn save_daily_plan(
        &self,
        plan: DailyPlan,
        replace: bool,
    ) -> anyhow::Result<Saved<DailyPlan>> {
        let conflict = if replace {
            // The plan keeps its id when regenerated.
            "DO UPDATE SET goal = excluded.goal, source = excluded.source,
                content = excluded.content, created_ms = excluded.created_ms"
        } else {
            "DO NOTHING"
        };
        let written = self
            .execute(
                &format!(
                    "INSERT INTO daily_plans ({PLAN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
                     ON CONFLICT (user_id, day) {conflict}"
                ),
                vec![
                    plan.id.to_string().into(),
                    plan.user_id.to_string().into(),
                    plan.date.to_string().into(),
                    plan.goal.clone().into(),
                    plan.source.as_str().into(),
                    serde_json::to_string(&plan.content)?.into(),
                    plan.created_at.timestamp_millis().into(),
                ],
            )
            .await?;
        let stored = self
            .daily_plan(plan.user_id, plan.date)
            .await?
            .context("a daily plan vanished")?;
        Ok(if written == 1 {
            Saved::New(stored)
        } else {
            Saved::Existing(stored)
        })
    }

    async fn daily_plans_page(
        &self,
        user_id: Uuid,
        before: Option<NaiveDate>,
        limit: usize,
    ) -> anyhow::Result<Vec<DailyPlan>> {
        let mut values: Vec<Value> = vec![user_id.to_string().into()];
        let mut position = "";
        if let Some(before) = before {
            position = " AND day < ?";
            values.push(before.to_string().into());
        }
        values.push((limit as i64).into());
        self.plans(
            &format!(
                "SELECT {PLAN_COLUMNS} FROM daily_plans WHERE user_id = ?{position}
                 ORDER BY day DESC LIMIT ?"
            ),
            values,
        )
        .await
    }

    async fn forget_user(&self, user_id: Uuid) -> anyhow::Result<()> {
        for table in ["recommendations", "daily_plans", "ai_activities"] {
            self.execute(
                &format!("DELETE FROM {table} WHERE user_id = ?"),
                vec![user_id.to_string().into()],
            )
            .await?;
        }
        Ok(())
    }

    async fn recommendation_counts(&self) -> anyhow::Result<HashMap<Source, i64>> {
        let rows = self
            .query(
                "SELECT source, COUNT(*) AS count FROM recommendations GROUP BY source",
                vec![],
            )
            .await?;
        rows.iter()
            .map(|row| Ok((Source::parse(&text(row, "source")?)?, number(row, "count")?)))
            .collect()
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.db.ping().await.context("pinging the AI store")
    }
}
