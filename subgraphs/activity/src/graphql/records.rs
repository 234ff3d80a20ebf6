//! Personal records (`domain::records`): the current ones and how each was
//! set over time.

use async_graphql::{Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use fittrack_kit::auth::{Authenticated, ContextAuthExt};

use super::Quotas;
use crate::domain::{
    activities::Activities,
    model::ActivityType,
    records::{Effort, RecordKind},
};

/// A best effort that was a record: the fastest 5 km, the best 20-minute
/// power, the longest ride…
#[derive(SimpleObject)]
pub struct PersonalRecord {
    pub kind: RecordKind,
    /// The activity's type (`LONGEST_DURATION` is kept per type).
    #[graphql(name = "type")]
    pub activity_type: ActivityType,
    /// Seconds (fastest times, longest duration), watts (best power) or
    /// metres (longest ride).
    pub value: f64,
    pub activity_id: ID,
    /// When the activity that set it started.
    pub achieved_at: DateTime<Utc>,
}

impl From<Effort> for PersonalRecord {
    fn from(effort: Effort) -> Self {
        Self {
            kind: effort.kind,
            activity_type: effort.activity_type,
            value: effort.value,
            activity_id: ID(effort.activity_id.to_string()),
            achieved_at: effort.achieved_at,
        }
    }
}

#[derive(Default)]
pub struct RecordQuery;

#[Object]
impl RecordQuery {
    /// Your personal records, from the workouts you imported: one per kind
    /// (and per activity type for `LONGEST_DURATION`).
    #[graphql(
        guard = "Authenticated",
        directive = fittrack_kit::schema::list_size::apply(Some(20), None, None, None)
    )]
    async fn my_records(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PersonalRecord>> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_stats(viewer.id).await?;
        let records = ctx.data::<Activities>()?.records(viewer.id).await?;
        Ok(records.into_iter().map(Into::into).collect())
    }

    /// Each time you set a record of `kind`, oldest first (for
    /// `LONGEST_DURATION`, name the activity `type`).
    #[graphql(
        guard = "Authenticated",
        directive = fittrack_kit::schema::list_size::apply(Some(50), None, None, None)
    )]
    async fn my_record_history(
        &self,
        ctx: &Context<'_>,
        kind: RecordKind,
        #[graphql(name = "type")] activity_type: Option<ActivityType>,
    ) -> async_graphql::Result<Vec<PersonalRecord>> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_stats(viewer.id).await?;
        let history = ctx
            .data::<Activities>()?
            .record_history(viewer.id, kind, activity_type)
            .await?;
        Ok(history.into_iter().map(Into::into).collect())
    }
}
