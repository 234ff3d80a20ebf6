//! Personal records (`domain::records`): the current ones and how each was
//! set over time.

use async_graphql::{Context, Object, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use fittrack_kit::{
    auth::{Authenticated, ContextAuthExt},
    ApiError,
};
use futures_util::{Stream, StreamExt};

use super::Quotas;
use crate::domain::{
    activities::Activities,
    model::ActivityType,
    records::{Effort, NewRecord, RecordKind},
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

/// A personal record you just set.
#[derive(SimpleObject)]
pub struct PersonalRecordSet {
    pub record: PersonalRecord,
    /// The record it beat, in the same unit; `null` for the first of its
    /// kind.
    pub previous_value: Option<f64>,
}

/// Live subscribers per user, as for `recommendationAdded`.
const MAX_LIVE_PER_USER: usize = 10;

#[derive(Default)]
pub struct RecordSubscription;

#[Subscription]
impl RecordSubscription {
    /// Your new personal records, as soon as an imported workout from the
    /// last 48 hours sets them (older workouts are history: their records
    /// count, quietly). At most 10 open at once per user (`RATE_LIMITED`
    /// past that).
    #[graphql(guard = "Authenticated")]
    async fn personal_record_set(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<PersonalRecordSet>>> {
        let viewer = ctx.current_user()?.clone();
        // Held by the stream: given back however the subscription ends.
        let slot = listeners()
            .try_open(viewer.id, MAX_LIVE_PER_USER)
            .ok_or_else(|| {
                ApiError::rate_limited(
                    format!(
                        "At most {MAX_LIVE_PER_USER} live subscriptions per user; close one first"
                    ),
                    5,
                )
            })?;
        let bus = ctx.data::<Activities>()?.records_bus().clone();
        let items = bus
            .subscribe(viewer.id)
            .map(move |new: NewRecord| {
                let _held = &slot;
                Ok(PersonalRecordSet {
                    record: new.record.into(),
                    previous_value: new.previous,
                })
            })
            // The bus ends its stream when it may have lost something (its
            // Redis connection dropped): say so; the client subscribes again.
            .chain(futures_util::stream::once(async {
                Err(ApiError::unavailable(
                    "Live updates were interrupted; subscribe again (your records are in myRecords)",
                    1,
                )
                .into())
            }));
        let verifier = ctx
            .data_opt::<std::sync::Arc<fittrack_kit::JwtVerifier>>()
            .cloned();
        Ok(fittrack_kit::auth::until_session_ends(
            items, verifier, viewer,
        ))
    }
}

fn listeners() -> &'static fittrack_kit::ratelimit::OpenSlots<uuid::Uuid> {
    static OPEN: std::sync::OnceLock<fittrack_kit::ratelimit::OpenSlots<uuid::Uuid>> =
        std::sync::OnceLock::new();
    OPEN.get_or_init(Default::default)
}
