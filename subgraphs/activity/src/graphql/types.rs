//! GraphQL shapes of activities. Separate from the domain/storage models on
//! purpose: the API can evolve without touching documents or rows.

use async_graphql::{ComplexObject, InputObject, Json, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};

use super::recording;
use crate::domain::{
    activities::ActivityPatch,
    model::{Activity as ActivityModel, ActivityFilter, ActivityType, Metrics},
    stats::{ActivityStats as StatsModel, TypeBreakdown, WeekTotals},
    validation::RawActivity,
};
use fittrack_kit::auth::ContextAuthExt as _;

/// A logged workout.
#[derive(SimpleObject, Clone)]
#[graphql(name = "Activity", complex)]
pub struct ActivityObject {
    pub id: ID,
    #[graphql(name = "type")]
    pub activity_type: ActivityType,
    pub duration_minutes: i32,
    pub calories_burned: i32,
    pub start_time: DateTime<Utc>,
    pub notes: Option<String>,
    pub metrics: ActivityMetrics,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Where it was done (IANA name), when known: from the client that
    /// logged it, or from the device's UTC offset in an imported file.
    pub time_zone: Option<String>,
    #[graphql(skip)]
    pub user_id: uuid::Uuid,
    #[graphql(skip)]
    pub activity_id: uuid::Uuid,
}

#[ComplexObject]
impl ActivityObject {
    /// Who logged it (resolved by the user subgraph).
    async fn user(&self) -> UserRef {
        UserRef {
            id: ID(self.user_id.to_string()),
        }
    }

    /// Where an imported workout came from; `null` for one logged by hand.
    async fn source(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<Option<recording::ActivitySource>> {
        Ok(self
            .recording(ctx)
            .await?
            .map(|r| recording::ActivitySource::of(&r)))
    }

    /// The route as an encoded polyline (Google's format, precision 5, at
    /// most 2 000 points); `null` without GPS.
    #[graphql(directive = fittrack_kit::schema::cost::apply(20), complexity = 20)]
    async fn route(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<Option<String>> {
        let found = self.recording(ctx).await?;
        Ok(found.and_then(|r| crate::domain::analysis::route_polyline(&r.samples)))
    }

    /// The laps the device recorded.
    #[graphql(directive = fittrack_kit::schema::list_size::apply(Some(20), None, None, None))]
    async fn laps(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<Vec<recording::Lap>> {
        Ok(self
            .recording(ctx)
            .await?
            .map(|r| recording::laps(&r))
            .unwrap_or_default())
    }

    /// Splits per kilometre or mile, from the recorded distance.
    #[graphql(
        directive = fittrack_kit::schema::list_size::apply(Some(50), None, None, None),
        directive = fittrack_kit::schema::cost::apply(10),
        complexity = 10
    )]
    async fn splits(
        &self,
        ctx: &async_graphql::Context<'_>,
        #[graphql(default)] unit: recording::SplitUnit,
    ) -> async_graphql::Result<Vec<recording::Split>> {
        Ok(self
            .recording(ctx)
            .await?
            .map(|r| recording::splits(&r, unit))
            .unwrap_or_default())
    }

    /// When it started on the clock where it was done (`timeZone`); `null`
    /// when the zone is not known.
    async fn local_start_time(&self) -> Option<chrono::NaiveDateTime> {
        let zone: chrono_tz::Tz = self.time_zone.as_deref()?.parse().ok()?;
        Some(self.start_time.with_timezone(&zone).naive_local())
    }

    /// The gear it used (see `myGear`), if any.
    async fn gear_id(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<Option<ID>> {
        let gear = ctx
            .data::<async_graphql::dataloader::DataLoader<super::gear::ActivityGearLoader>>()?
            .load_one(self.activity_id)
            .await
            .map_err(super::internal)?;
        Ok(gear.map(|id| ID(id.to_string())))
    }

    /// The personal records this workout set when it was recorded (beaten
    /// since or not): what it added to `myRecordHistory`.
    #[graphql(
        directive = fittrack_kit::schema::list_size::apply(Some(20), None, None, None),
        directive = fittrack_kit::schema::cost::apply(10),
        complexity = 10
    )]
    async fn records_set(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<Vec<super::records::PersonalRecord>> {
        let set = ctx
            .data::<async_graphql::dataloader::DataLoader<super::loaders::RecordsSetLoader>>()?
            .load_one(self.user_id)
            .await
            .map_err(super::internal)?;
        Ok(set
            .and_then(|by_activity| by_activity.get(&self.activity_id).cloned())
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Metres climbed (changes under 3 m are GPS noise, not counted).
    async fn elevation_gain_metres(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<Option<f64>> {
        let found = self.recording(ctx).await?;
        Ok(found.and_then(|r| {
            let all: Vec<_> = r.samples.iter().collect();
            crate::domain::analysis::elevation(&all).map(|(gain, _)| gain)
        }))
    }

    /// The recorded channels asked for, thinned to `resolution` (at most
    /// 100, 1 000 or 10 000 points), for charts. A channel the device did
    /// not record is left out. Heavy: one activity's streams cost as much
    /// as a page of activities.
    #[graphql(
        directive = fittrack_kit::schema::list_size::apply(Some(9), None, None, None),
        directive = fittrack_kit::schema::cost::apply(1000),
        complexity = 1000
    )]
    async fn streams(
        &self,
        ctx: &async_graphql::Context<'_>,
        types: Vec<crate::domain::analysis::StreamType>,
        #[graphql(default)] resolution: crate::domain::analysis::StreamResolution,
    ) -> async_graphql::Result<Vec<recording::ActivityStream>> {
        Ok(self
            .recording(ctx)
            .await?
            .map(|r| recording::streams(&r, &types, resolution))
            .unwrap_or_default())
    }

    /// Seconds in each of five heart-rate zones (50–60, 60–70, 70–80,
    /// 80–90, 90–100 % of the maximum heart rate, or of the reserve above
    /// the resting one when known); empty without heart rate. Without
    /// arguments, the owner's training profile says: its own zones when it
    /// has them. Rates given here win over the profile's, and what is
    /// omitted comes from it (`BAD_USER_INPUT` when there is no maximum
    /// either way).
    #[graphql(
        directive = fittrack_kit::schema::list_size::apply(Some(5), None, None, None),
        directive = fittrack_kit::schema::cost::apply(10),
        complexity = 10
    )]
    async fn heart_rate_zones(
        &self,
        ctx: &async_graphql::Context<'_>,
        max_heart_rate: Option<i32>,
        resting_heart_rate: Option<i32>,
    ) -> async_graphql::Result<Vec<recording::HeartRateZone>> {
        use crate::domain::{analysis, error::ActivityError, profile};
        let saved = if max_heart_rate.is_some() {
            None
        } else {
            ctx.data::<async_graphql::dataloader::DataLoader<super::profile::ProfileLoader>>()?
                .load_one(self.user_id)
                .await
                .map_err(super::internal)?
        };
        let zones = match (max_heart_rate, resting_heart_rate, &saved) {
            // Nothing given: the profile's zones, its own if it has them.
            (None, None, saved) => saved.as_ref().and_then(profile::TrainingProfile::zones),
            (max, resting, saved) => {
                let max = max.or(saved.as_ref().and_then(|p| p.max_heart_rate).map(i32::from));
                let (max, resting) = profile::heart_rates(max, resting)?;
                max.map(|max| analysis::heart_rate_zones(max, resting))
            }
        };
        let zones = zones.ok_or_else(|| {
            ActivityError::invalid(
                "maxHeartRate",
                "give maxHeartRate, or set it in your training profile",
            )
        })?;
        let found = self.recording(ctx).await?;
        Ok(found
            .filter(|r| r.samples.iter().any(|s| s.heart_rate.is_some()))
            .map(|r| recording::heart_rate_zones(&r, &zones))
            .unwrap_or_default())
    }

    /// The activity as a GPX or TCX file for another app, from what its
    /// file recorded; `null` for an activity logged by hand. A file can be
    /// megabytes: at most two per request (cost 5 000), each counted
    /// against your 60 whole-history queries a minute.
    #[graphql(directive = fittrack_kit::schema::cost::apply(5000), complexity = 5000)]
    async fn export(
        &self,
        ctx: &async_graphql::Context<'_>,
        format: recording::ExportFormat,
    ) -> async_graphql::Result<Option<recording::ExportedFile>> {
        let viewer = ctx.current_user()?;
        ctx.data::<super::Quotas>()?.admit_stats(viewer.id).await?;
        let Some(found) = self.recording(ctx).await? else {
            return Ok(None);
        };
        let activity = ctx
            .data::<async_graphql::dataloader::DataLoader<super::loaders::ActivityLoader>>()?
            .load_one(self.activity_id)
            .await
            .map_err(super::internal)?
            .ok_or(crate::domain::error::ActivityError::NotFound)?;
        let file =
            recording::export(&activity, &found, format).map_err(fittrack_kit::ApiError::from)?;
        Ok(Some(file))
    }

    /// The file this workout was imported from, as uploaded (unpacked from
    /// its zip or gzip); `null` for a workout logged by hand or imported
    /// before files were kept. Up to 25 MB, so it costs like `export`: at
    /// most two per request, each counted against your 60 whole-history
    /// queries a minute.
    #[graphql(directive = fittrack_kit::schema::cost::apply(5000), complexity = 5000)]
    async fn original_file(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<Option<recording::OriginalFileObject>> {
        let viewer = ctx.current_user()?;
        ctx.data::<super::Quotas>()?.admit_stats(viewer.id).await?;
        let original = ctx
            .data::<crate::domain::activities::Activities>()?
            .original_file(viewer.id, self.user_id, self.activity_id)
            .await?;
        Ok(original.map(Into::into))
    }
}

impl ActivityObject {
    async fn recording(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<Option<std::sync::Arc<crate::domain::recording::StoredRecording>>>
    {
        recording::load(ctx, self.activity_id).await
    }
}

impl From<ActivityModel> for ActivityObject {
    fn from(a: ActivityModel) -> Self {
        Self {
            id: ID(a.id.to_string()),
            activity_type: a.activity_type,
            duration_minutes: a.duration_minutes,
            calories_burned: a.calories_burned,
            start_time: a.start_time,
            notes: a.notes,
            metrics: a.metrics.into(),
            created_at: a.created_at,
            updated_at: a.updated_at,
            time_zone: a.time_zone,
            user_id: a.user_id,
            activity_id: a.id,
        }
    }
}

/// A `User` as seen from here: its key, for the router to resolve elsewhere.
#[derive(SimpleObject, Clone)]
#[graphql(name = "User", complex)]
pub struct UserRef {
    pub id: ID,
}

/// Measured values of a workout.
#[derive(SimpleObject, Clone)]
pub struct ActivityMetrics {
    pub distance_km: Option<f64>,
    pub average_heart_rate: Option<i32>,
    pub max_heart_rate: Option<i32>,
    pub steps: Option<i64>,
    /// Free-form JSON object recorded by the client.
    pub custom: Option<Json<serde_json::Value>>,
}

impl From<Metrics> for ActivityMetrics {
    fn from(m: Metrics) -> Self {
        Self {
            distance_km: m.distance_km,
            average_heart_rate: m.average_heart_rate,
            max_heart_rate: m.max_heart_rate,
            steps: m.steps,
            custom: m.custom.map(Json),
        }
    }
}

#[derive(InputObject, Clone, Default)]
pub struct ActivityMetricsInput {
    pub distance_km: Option<f64>,
    /// Beats per minute, 30–250, not above `maxHeartRate`.
    pub average_heart_rate: Option<i32>,
    /// Beats per minute, 30–250.
    pub max_heart_rate: Option<i32>,
    pub steps: Option<i64>,
    /// Any JSON object: at most 16 KB and 5 levels deep.
    pub custom: Option<Json<serde_json::Value>>,
}

impl From<ActivityMetricsInput> for Metrics {
    fn from(m: ActivityMetricsInput) -> Self {
        Self {
            distance_km: m.distance_km,
            average_heart_rate: m.average_heart_rate,
            max_heart_rate: m.max_heart_rate,
            steps: m.steps,
            custom: m.custom.map(|Json(v)| v),
        }
    }
}

#[derive(InputObject, Clone)]
pub struct LogActivityInput {
    #[graphql(name = "type")]
    pub activity_type: ActivityType,
    /// 1–1440.
    pub duration_minutes: i32,
    /// 0–20000.
    pub calories_burned: i32,
    /// When the workout started; at most 5 minutes in the future.
    pub start_time: DateTime<Utc>,
    /// At most 1000 characters.
    pub notes: Option<String>,
    pub metrics: Option<ActivityMetricsInput>,
    /// Where it was done, an IANA name (`Europe/Paris`): its local time.
    pub time_zone: Option<String>,
    /// Retrying with the same key returns the first activity instead of a copy.
    pub idempotency_key: Option<String>,
}

impl LogActivityInput {
    pub fn into_parts(self) -> (RawActivity, Option<String>) {
        (
            RawActivity {
                activity_type: self.activity_type,
                duration_minutes: self.duration_minutes,
                calories_burned: self.calories_burned,
                start_time: self.start_time,
                notes: self.notes,
                metrics: self.metrics.map(Into::into),
                time_zone: self.time_zone,
            },
            self.idempotency_key,
        )
    }
}

/// Fields to change; omitted fields keep their value, `metrics` is replaced whole.
#[derive(InputObject, Clone, Default)]
pub struct UpdateActivityInput {
    #[graphql(name = "type")]
    pub activity_type: Option<ActivityType>,
    pub duration_minutes: Option<i32>,
    pub calories_burned: Option<i32>,
    pub start_time: Option<DateTime<Utc>>,
    /// An empty string clears the notes.
    pub notes: Option<String>,
    pub metrics: Option<ActivityMetricsInput>,
    /// An IANA name; an empty string forgets the zone.
    pub time_zone: Option<String>,
}

impl From<UpdateActivityInput> for ActivityPatch {
    fn from(input: UpdateActivityInput) -> Self {
        Self {
            activity_type: input.activity_type,
            duration_minutes: input.duration_minutes,
            calories_burned: input.calories_burned,
            start_time: input.start_time,
            notes: input.notes.map(Some),
            metrics: input.metrics.map(Into::into),
            time_zone: input
                .time_zone
                .map(|zone| Some(zone).filter(|z| !z.trim().is_empty())),
        }
    }
}

#[derive(InputObject, Clone, Default, PartialEq, Eq, Hash)]
pub struct ActivityFilterInput {
    /// Only these types (all when omitted or empty).
    pub types: Option<Vec<ActivityType>>,
    /// `startTime >= from`.
    pub from: Option<DateTime<Utc>>,
    /// `startTime < to`.
    pub to: Option<DateTime<Utc>>,
}

impl From<ActivityFilterInput> for ActivityFilter {
    fn from(f: ActivityFilterInput) -> Self {
        let mut types = f.types.unwrap_or_default();
        types.sort();
        types.dedup();
        Self {
            types,
            from: f.from,
            to: f.to,
        }
    }
}

/// A time range for stats: `from <= startTime < to`; open ends allowed.
#[derive(InputObject, Clone, Default, PartialEq, Eq, Hash)]
pub struct StatsRangeInput {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl From<StatsRangeInput> for ActivityFilter {
    fn from(r: StatsRangeInput) -> Self {
        Self {
            types: vec![],
            from: r.from,
            to: r.to,
        }
    }
}

/// Totals of one activity type.
#[derive(SimpleObject, Clone, serde::Serialize, serde::Deserialize)]
pub struct ActivityTypeStats {
    #[graphql(name = "type")]
    pub activity_type: ActivityType,
    pub count: i64,
    pub total_duration_minutes: i64,
    pub total_calories_burned: i64,
}

impl From<TypeBreakdown> for ActivityTypeStats {
    fn from(t: TypeBreakdown) -> Self {
        Self {
            activity_type: t.activity_type,
            count: t.count,
            total_duration_minutes: t.duration_minutes,
            total_calories_burned: t.calories_burned,
        }
    }
}

/// Totals of one week (Monday to Sunday, in the requested offset).
#[derive(SimpleObject, Clone)]
pub struct WeeklyActivityTotals {
    pub week_start: NaiveDate,
    pub count: i64,
    pub total_duration_minutes: i64,
    pub total_calories_burned: i64,
}

impl From<WeekTotals> for WeeklyActivityTotals {
    fn from(w: WeekTotals) -> Self {
        Self {
            week_start: w.week_start,
            count: w.count,
            total_duration_minutes: w.duration_minutes,
            total_calories_burned: w.calories_burned,
        }
    }
}

/// A user's workout statistics.
#[derive(SimpleObject, Clone)]
pub struct ActivityStats {
    /// Activities in the range.
    pub count: i64,
    pub total_duration_minutes: i64,
    pub total_calories_burned: i64,
    pub average_duration_minutes: f64,
    pub average_calories_burned: f64,
    // At most one entry per activity type.
    #[graphql(directive = fittrack_kit::schema::list_size::apply(Some(12), None, None, None))]
    pub by_type: Vec<ActivityTypeStats>,
    /// Consecutive active days up to today (or yesterday), whole history.
    pub current_streak_days: i64,
    /// Longest run of consecutive active days, whole history.
    pub longest_streak_days: i64,
    /// The last 12 weeks, oldest first, the current week last.
    // Always 12 weeks.
    #[graphql(directive = fittrack_kit::schema::list_size::apply(Some(12), None, None, None))]
    pub weekly_trend: Vec<WeeklyActivityTotals>,
}

impl From<StatsModel> for ActivityStats {
    fn from(s: StatsModel) -> Self {
        Self {
            count: s.count,
            total_duration_minutes: s.total_duration_minutes,
            total_calories_burned: s.total_calories_burned,
            average_duration_minutes: s.average_duration_minutes,
            average_calories_burned: s.average_calories_burned,
            by_type: s.by_type.into_iter().map(Into::into).collect(),
            current_streak_days: s.current_streak_days,
            longest_streak_days: s.longest_streak_days,
            weekly_trend: s.weekly_trend.into_iter().map(Into::into).collect(),
        }
    }
}

/// Platform-wide activity figures (admins).
#[derive(SimpleObject, Clone, serde::Serialize, serde::Deserialize)]
pub struct PlatformActivityStats {
    pub total_activities: i64,
    pub total_duration_minutes: i64,
    pub total_calories_burned: i64,
    pub average_calories_burned: f64,
    /// Activities that started in the last 24 hours.
    pub activities_last_24_hours: i64,
    // At most one entry per activity type.
    #[graphql(directive = fittrack_kit::schema::list_size::apply(Some(12), None, None, None))]
    pub by_type: Vec<ActivityTypeStats>,
}
