//! MongoDB backend: database `ai_db`, collections `recommendations` (unique
//! `activityId`), `daily_plans` (unique `userId` + `date`) and
//! `activity_projection`. Times are stored as epoch milliseconds next to BSON
//! dates, and documents are replaced whole rather than `$set`: both keep the
//! queries portable to wire-compatible servers (see the activity store).

use std::collections::HashMap;

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::TryStreamExt;
use mongodb::{
    bson::{self, doc, Bson, Document},
    error::{ErrorKind, WriteFailure},
    options::IndexOptions,
    Collection, IndexModel,
};
use uuid::Uuid;

use super::{AiStore, Intake, RecommendationCursor, Saved, RECENT_ACTIVITIES_KEPT};
use crate::domain::model::{ActivitySummary, DailyPlan, Recommendation, Source};

const DUPLICATE_KEY: i32 = 11000;

pub struct MongoAiStore {
    recommendations: Collection<Document>,
    plans: Collection<Document>,
    projection: Collection<Document>,
    deleted: Collection<Document>,
}

fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    matches!(
        error.kind.as_ref(),
        ErrorKind::Write(WriteFailure::WriteError(e)) if e.code == DUPLICATE_KEY
    )
}

fn unique(keys: Document, name: &str) -> IndexModel {
    IndexModel::builder()
        .keys(keys)
        .options(
            IndexOptions::builder()
                .unique(true)
                .name(name.to_owned())
                .build(),
        )
        .build()
}

fn millis(document: &Document, key: &str) -> anyhow::Result<DateTime<Utc>> {
    let ms = match document.get(key) {
        Some(Bson::Int64(v)) => *v,
        Some(Bson::Int32(v)) => i64::from(*v),
        Some(Bson::Double(v)) => *v as i64,
        other => anyhow::bail!("field {key} is not a number: {other:?}"),
    };
    DateTime::from_timestamp_millis(ms).context("timestamp out of range")
}

fn recommendation_document(r: &Recommendation) -> anyhow::Result<Document> {
    Ok(doc! {
        "_id": r.id.to_string(),
        "activityId": r.activity_id.to_string(),
        "userId": r.user_id.to_string(),
        "source": r.source.as_str(),
        "advice": bson::to_bson(&r.advice)?,
        "createdAt": bson::DateTime::from_millis(r.created_at.timestamp_millis()),
        "createdMillis": r.created_at.timestamp_millis(),
    })
}

fn recommendation_from(d: &Document) -> anyhow::Result<Recommendation> {
    Ok(Recommendation {
        id: d.get_str("_id")?.parse()?,
        activity_id: d.get_str("activityId")?.parse()?,
        user_id: d.get_str("userId")?.parse()?,
        source: Source::parse(d.get_str("source")?)?,
        advice: bson::from_bson(d.get("advice").cloned().context("advice missing")?)?,
        created_at: millis(d, "createdMillis")?,
    })
}

fn plan_document(p: &DailyPlan) -> anyhow::Result<Document> {
    let mut document = doc! {
        "_id": p.id.to_string(),
        "userId": p.user_id.to_string(),
        "date": p.date.to_string(),
        "source": p.source.as_str(),
        "content": bson::to_bson(&p.content)?,
        "createdMillis": p.created_at.timestamp_millis(),
    };
    if let Some(goal) = &p.goal {
        document.insert("goal", goal);
    }
    Ok(document)
}

fn plan_from(d: &Document) -> anyhow::Result<DailyPlan> {
    Ok(DailyPlan {
        id: d.get_str("_id")?.parse()?,
        user_id: d.get_str("userId")?.parse()?,
        date: d.get_str("date")?.parse()?,
        goal: d.get_str("goal").ok().map(str::to_owned),
        source: Source::parse(d.get_str("source")?)?,
        content: bson::from_bson(d.get("content").cloned().context("content missing")?)?,
        created_at: millis(d, "createdMillis")?,
    })
}

async fn collect(cursor: mongodb::Cursor<Document>) -> anyhow::Result<Vec<Document>> {
    cursor.try_collect().await.context("reading from MongoDB")
}

impl MongoAiStore {
    /// Connects and makes sure the indexes exist. `database` is normally
    /// [`DATABASE`]; tests pass their own to stay isolated.
    pub async fn connect(uri: &str, database: &str) -> anyhow::Result<Self> {
        let client = fittrack_kit::mongo::client(uri).await?;
        let db = client.database(database);
        let store = Self {
            recommendations: db.collection("recommendations"),
            plans: db.collection("daily_plans"),
            projection: db.collection("activity_projection"),
            deleted: db.collection("deleted_activities"),
        };
        store
            .recommendations
            .create_indexes([
                unique(doc! {"activityId": 1}, "activityId_unique"),
                IndexModel::builder()
                    .keys(doc! {"userId": 1, "createdMillis": -1})
                    .build(),
            ])
            .await
            .context("creating recommendation indexes")?;
        store
            .plans
            .create_indexes([unique(doc! {"userId": 1, "date": -1}, "userId_date_unique")])
            .await
            .context("creating daily plan indexes")?;
        store
            .projection
            .create_indexes([IndexModel::builder()
                .keys(doc! {"userId": 1, "startMillis": -1})
                .build()])
            .await
            .context("creating projection indexes")?;
        Ok(store)
    }

    // The steps of `take_in_activity` (MongoDB has no statement that does
    // them at once).

    /// Upserts one activity of the projection; keeps the newest
    /// [`RECENT_ACTIVITIES_KEPT`] per user.
    async fn remember_activity(&self, activity: &ActivitySummary) -> anyhow::Result<()> {
        let user = activity.user_id.to_string();
        let document = doc! {
            "_id": activity.activity_id.to_string(),
            "userId": &user,
            "startMillis": activity.start_time.timestamp_millis(),
            "summary": serde_json::to_string(activity)?,
        };
        self.projection
            .replace_one(doc! {"_id": activity.activity_id.to_string()}, document)
            .upsert(true)
            .await
            .context("remembering an activity")?;
        let beyond = collect(
            self.projection
                .find(doc! {"userId": &user})
                .sort(doc! {"startMillis": -1})
                .skip(RECENT_ACTIVITIES_KEPT as u64)
                .await?,
        )
        .await?;
        let stale: Vec<Bson> = beyond
            .iter()
            .filter_map(|d| d.get("_id").cloned())
            .collect();
        if !stale.is_empty() {
            self.projection
                .delete_many(doc! {"_id": {"$in": stale}})
                .await
                .context("trimming the projection")?;
        }
        Ok(())
    }

    /// Whether the activity was deleted.
    async fn is_forgotten(&self, activity_id: Uuid) -> anyhow::Result<bool> {
        Ok(self
            .deleted
            .find_one(doc! {"_id": activity_id.to_string()})
            .await
            .context("reading deleted activities")?
            .is_some())
    }
}

#[async_trait]
impl AiStore for MongoAiStore {
    async fn take_in_activity(
        &self,
        activity: &ActivitySummary,
        history: usize,
    ) -> anyhow::Result<Intake> {
        if self.is_forgotten(activity.activity_id).await? {
            return Ok(Intake::Forgotten);
        }
        self.remember_activity(activity).await?;
        if let Some(done) = self
            .recommendations_for_activities(&[activity.activity_id])
            .await?
            .into_iter()
            .next()
        {
            return Ok(Intake::Recommended(done));
        }
        let history = self
            .recent_activities(activity.user_id, history + 1)
            .await?
            .into_iter()
            .filter(|a| a.activity_id != activity.activity_id)
            .take(history)
            .collect();
        Ok(Intake::New { history })
    }

    async fn forget_activity(&self, activity_id: Uuid) -> anyhow::Result<bool> {
        let id = activity_id.to_string();
        self.deleted
            .replace_one(
                doc! {"_id": &id},
                doc! {"_id": &id, "deletedMillis": Utc::now().timestamp_millis()},
            )
            .upsert(true)
            .await
            .context("remembering a deleted activity")?;
        self.projection
            .delete_one(doc! {"_id": &id})
            .await
            .context("forgetting an activity")?;
        let removed = self
            .recommendations
            .delete_many(doc! {"activityId": &id})
            .await
            .context("removing a recommendation")?;
        Ok(removed.deleted_count > 0)
    }

    async fn recent_activities(
        &self,
        user_id: Uuid,
        limit: usize,
    ) -> anyhow::Result<Vec<ActivitySummary>> {
        collect(
            self.projection
                .find(doc! {"userId": user_id.to_string()})
                .sort(doc! {"startMillis": -1})
                .limit(limit as i64)
                .await?,
        )
        .await?
        .iter()
        .map(|d| Ok(serde_json::from_str(d.get_str("summary")?)?))
        .collect()
    }

    async fn save_recommendation(
        &self,
        recommendation: Recommendation,
    ) -> anyhow::Result<Option<Saved<Recommendation>>> {
        let saved = match self
            .recommendations
            .insert_one(recommendation_document(&recommendation)?)
            .await
        {
            Ok(_) => Saved::New(recommendation),
            Err(error) if is_duplicate_key(&error) => {
                match self
                    .recommendations_for_activities(&[recommendation.activity_id])
                    .await?
                    .into_iter()
                    .next()
                {
                    Some(existing) => Saved::Existing(existing),
                    None if self.is_forgotten(recommendation.activity_id).await? => {
                        return Ok(None)
                    }
                    None => anyhow::bail!("a conflicting recommendation vanished"),
                }
            }
            Err(error) => return Err(error).context("storing a recommendation"),
        };
        // Deleted while this was written (the tombstone comes first in
        // `forget_activity`): undo rather than leave an orphan.
        if let Saved::New(stored) = &saved {
            if self.is_forgotten(stored.activity_id).await? {
                self.forget_activity(stored.activity_id).await?;
                return Ok(None);
            }
        }
        Ok(Some(saved))
    }

    async fn recommendations_for_activities(
        &self,
        activity_ids: &[Uuid],
    ) -> anyhow::Result<Vec<Recommendation>> {
        if activity_ids.is_empty() {
            return Ok(vec![]);
        }
        let ids: Vec<String> = activity_ids.iter().map(Uuid::to_string).collect();
        collect(
            self.recommendations
                .find(doc! {"activityId": {"$in": ids}})
                .await?,
        )
        .await?
        .iter()
        .map(recommendation_from)
        .collect()
    }

    async fn recommendations_page(
        &self,
        user_id: Uuid,
        after: Option<RecommendationCursor>,
        limit: usize,
    ) -> anyhow::Result<Vec<Recommendation>> {
        let mut clauses = vec![doc! {"userId": user_id.to_string()}];
        if let Some(after) = after {
            let ms = after.created_at.timestamp_millis();
            clauses.push(doc! {"$or": [
                {"createdMillis": {"$lt": ms}},
                {"createdMillis": ms, "_id": {"$lt": after.id.to_string()}},
            ]});
        }
        collect(
            self.recommendations
                .find(doc! {"$and": clauses})
                .sort(doc! {"createdMillis": -1, "_id": -1})
                .limit(limit as i64)
                .await?,
        )
        .await?
        .iter()
        .map(recommendation_from)
        .collect()
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
        let ids: Vec<String> = user_ids.iter().map(Uuid::to_string).collect();
        let groups = collect(
            self.recommendations
                .aggregate(vec![
                    doc! {"$match": {"userId": {"$in": ids}}},
                    doc! {"$sort": {"userId": 1, "createdMillis": -1, "_id": -1}},
                    doc! {"$group": {"_id": "$userId", "items": {"$push": "$$ROOT"}}},
                    doc! {"$project": {"items": {"$slice": ["$items", limit as i64]}}},
                ])
                .await?,
        )
        .await?;
        for group in &groups {
            for item in group.get_array("items")? {
                let document = item.as_document().context("group item")?;
                let recommendation = recommendation_from(document)?;
                pages
                    .entry(recommendation.user_id)
                    .or_default()
                    .push(recommendation);
            }
        }
        for page in pages.values_mut() {
            page.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
        }
        Ok(pages)
    }

    async fn daily_plan(
        &self,
        user_id: Uuid,
        date: NaiveDate,
    ) -> anyhow::Result<Option<DailyPlan>> {
        self.plans
            .find_one(doc! {"userId": user_id.to_string(), "date": date.to_string()})
            .await
            .context("reading a daily plan")?
            .as_ref()
            .map(plan_from)
            .transpose()
    }

    async fn save_daily_plan(
        &self,
        plan: DailyPlan,
        replace: bool,
    ) -> anyhow::Result<Saved<DailyPlan>> {
        let key = doc! {"userId": plan.user_id.to_string(), "date": plan.date.to_string()};
        if replace {
            // Replace whatever is there (keeping its _id), or insert.
            let mut document = plan_document(&plan)?;
            let existing = self.plans.find_one(key.clone()).await?;
            let mut stored = plan.clone();
            if let Some(id) = existing.as_ref().and_then(|d| d.get_str("_id").ok()) {
                document.insert("_id", id);
                stored.id = id.parse()?;
            }
            self.plans
                .replace_one(key, document)
                .upsert(true)
                .await
                .context("replacing a daily plan")?;
            return Ok(Saved::New(stored));
        }
        match self.plans.insert_one(plan_document(&plan)?).await {
            Ok(_) => Ok(Saved::New(plan)),
            Err(error) if is_duplicate_key(&error) => self
                .daily_plan(plan.user_id, plan.date)
                .await?
                .map(Saved::Existing)
                .context("a conflicting plan vanished"),
            Err(error) => Err(error).context("storing a daily plan"),
        }
    }

    async fn daily_plans_page(
        &self,
        user_id: Uuid,
        before: Option<NaiveDate>,
        limit: usize,
    ) -> anyhow::Result<Vec<DailyPlan>> {
        let mut filter = doc! {"userId": user_id.to_string()};
        if let Some(before) = before {
            filter.insert("date", doc! {"$lt": before.to_string()});
        }
        collect(
            self.plans
                .find(filter)
                .sort(doc! {"date": -1})
                .limit(limit as i64)
                .await?,
        )
        .await?
        .iter()
        .map(plan_from)
        .collect()
    }

    async fn forget_user(&self, user_id: Uuid) -> anyhow::Result<()> {
        let filter = doc! {"userId": user_id.to_string()};
        for collection in [&self.recommendations, &self.plans, &self.projection] {
            collection
                .delete_many(filter.clone())
                .await
                .context("erasing a user's AI data")?;
        }
        Ok(())
    }

    async fn recommendation_counts(&self) -> anyhow::Result<HashMap<Source, i64>> {
        let groups = collect(
            self.recommendations
                .aggregate(vec![
                    doc! {"$group": {"_id": "$source", "count": {"$sum": 1}}},
                ])
                .await?,
        )
        .await?;
        let mut counts = HashMap::new();
        for group in &groups {
            let source = Source::parse(group.get_str("_id")?)?;
            let count = match group.get("count") {
                Some(mongodb::bson::Bson::Int32(n)) => i64::from(*n),
                Some(mongodb::bson::Bson::Int64(n)) => *n,
                Some(mongodb::bson::Bson::Double(n)) => *n as i64,
                other => anyhow::bail!("unexpected count {other:?}"),
            };
            counts.insert(source, count);
        }
        Ok(counts)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.recommendations
            .client()
            .database("admin")
            .run_command(doc! {"ping": 1})
            .await
            .context("pinging MongoDB")?;
        Ok(())
    }
}
