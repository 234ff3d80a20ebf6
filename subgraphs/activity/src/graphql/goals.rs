//! Goals (`domain::goals`): weekly or monthly targets with their progress.

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use fittrack_kit::auth::{Authenticated, ContextAuthExt};

use super::{parse_id, Quotas};
use crate::domain::{
    goals::{Goal, GoalInput as DomainGoalInput, GoalMetric, GoalPeriod, GoalProgress, Goals},
    model::ActivityType,
};

/// A target for every week or month.
#[derive(SimpleObject)]
#[graphql(name = "Goal")]
pub struct GoalObject {
    pub id: ID,
    pub period: GoalPeriod,
    pub metric: GoalMetric,
    /// In the metric's unit: metres, seconds, workouts or kilocalories.
    pub target: f64,
    /// The activity types it counts; empty for every type.
    pub types: Vec<ActivityType>,
    /// Where its weeks and months begin and end (IANA name).
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
    /// The current week or month.
    pub progress: GoalProgressObject,
}

/// How far a goal is in its current week or month.
#[derive(SimpleObject)]
#[graphql(name = "GoalProgress")]
pub struct GoalProgressObject {
    /// Monday (or the 1st) at midnight in the goal's time zone.
    pub period_start: DateTime<Utc>,
    /// When the next period starts.
    pub period_end: DateTime<Utc>,
    /// Done so far, in the metric's unit.
    pub value: f64,
    /// `value / target`: 1 is reached, more is over.
    pub fraction: f64,
    pub achieved: bool,
}

impl From<(Goal, GoalProgress)> for GoalObject {
    fn from((goal, progress): (Goal, GoalProgress)) -> Self {
        Self {
            id: ID(goal.id.to_string()),
            period: goal.period,
            metric: goal.metric,
            target: goal.target,
            types: goal.activity_types,
            time_zone: goal.time_zone,
            created_at: goal.created_at,
            progress: GoalProgressObject {
                period_start: progress.period_start,
                period_end: progress.period_end,
                value: progress.value,
                fraction: progress.fraction,
                achieved: progress.fraction >= 1.0,
            },
        }
    }
}

#[derive(InputObject)]
pub struct GoalInput {
    pub period: GoalPeriod,
    pub metric: GoalMetric,
    /// Above 0, in the metric's unit: metres, seconds, workouts (whole) or
    /// kilocalories.
    pub target: f64,
    /// The activity types it counts; empty or omitted for every type.
    #[graphql(default)]
    pub types: Vec<ActivityType>,
    /// An IANA time zone (`Europe/Paris`): where weeks and months begin.
    pub time_zone: String,
}

impl From<GoalInput> for DomainGoalInput {
    fn from(input: GoalInput) -> Self {
        Self {
            period: input.period,
            metric: input.metric,
            target: input.target,
            activity_types: input.types,
            time_zone: input.time_zone,
        }
    }
}

/// A goal as it is now: its progress read again.
async fn with_progress(
    goals: &Goals,
    owner: uuid::Uuid,
    id: uuid::Uuid,
) -> async_graphql::Result<GoalObject> {
    goals
        .with_progress(owner)
        .await?
        .into_iter()
        .find(|(goal, _)| goal.id == id)
        .map(Into::into)
        .ok_or_else(|| crate::domain::error::ActivityError::GoalNotFound.into())
}

#[derive(Default)]
pub struct GoalQuery;

#[Object]
impl GoalQuery {
    /// Your goals, oldest first, each with its progress this week or month.
    #[graphql(
        guard = "Authenticated",
        directive = fittrack_kit::schema::list_size::apply(Some(20), None, None, None),
        directive = fittrack_kit::schema::cost::apply(20),
        complexity = 20
    )]
    async fn my_goals(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GoalObject>> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_stats(viewer.id).await?;
        let goals = ctx.data::<Goals>()?.with_progress(viewer.id).await?;
        Ok(goals.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct GoalMutation;

#[Object]
impl GoalMutation {
    /// Sets a goal (at most 20).
    #[graphql(guard = "Authenticated")]
    async fn create_goal(
        &self,
        ctx: &Context<'_>,
        input: GoalInput,
    ) -> async_graphql::Result<GoalObject> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_write(viewer.id).await?;
        let goals = ctx.data::<Goals>()?;
        let goal = goals.create(viewer.id, input.into()).await?;
        with_progress(goals, viewer.id, goal.id).await
    }

    /// Changes one of your goals.
    #[graphql(guard = "Authenticated")]
    async fn update_goal(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: GoalInput,
    ) -> async_graphql::Result<GoalObject> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_write(viewer.id).await?;
        let id = parse_id(&id, "id")?;
        let goals = ctx.data::<Goals>()?;
        goals.update(viewer.id, id, input.into()).await?;
        with_progress(goals, viewer.id, id).await
    }

    /// Deletes one of your goals; returns its id.
    #[graphql(guard = "Authenticated")]
    async fn delete_goal(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_write(viewer.id).await?;
        let parsed = parse_id(&id, "id")?;
        ctx.data::<Goals>()?.delete(viewer.id, parsed).await?;
        Ok(id)
    }
}
