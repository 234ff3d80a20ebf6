//! Gear (`domain::gear`): shoes, bikes and the rest, with what they have done.

use std::{collections::HashMap, sync::Arc};

use async_graphql::{dataloader::Loader, Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use fittrack_kit::auth::{Authenticated, ContextAuthExt};
use uuid::Uuid;

use super::{parse_id, types::ActivityObject, Quotas};
use crate::domain::{
    gear::{Gear, GearInput as DomainGearInput, GearKind, GearList, GearUse},
    model::ActivityType,
};

/// A pair of shoes, a bike, or other gear.
#[derive(SimpleObject)]
#[graphql(name = "Gear")]
pub struct GearObject {
    pub id: ID,
    pub kind: GearKind,
    pub name: String,
    /// The activity types that take it when logged or imported.
    pub default_for: Vec<ActivityType>,
    /// Distance at which it should be replaced, in metres.
    pub warn_at_metres: Option<f64>,
    pub retired: bool,
    pub retired_at: Option<DateTime<Utc>>,
    /// Workouts that used it.
    pub activity_count: i64,
    /// Their distance, in metres.
    pub distance_metres: f64,
    /// Their time, in seconds.
    pub duration_seconds: i64,
    /// Its distance has reached `warnAtMetres`.
    pub needs_replacing: bool,
    pub created_at: DateTime<Utc>,
}

impl From<(Gear, GearUse)> for GearObject {
    fn from((gear, used): (Gear, GearUse)) -> Self {
        let distance_metres = used.distance_km * 1000.0;
        Self {
            id: ID(gear.id.to_string()),
            kind: gear.kind,
            name: gear.name,
            default_for: gear.default_for,
            warn_at_metres: gear.warn_at_metres,
            retired: gear.retired_at.is_some(),
            retired_at: gear.retired_at,
            activity_count: used.activities,
            distance_metres,
            duration_seconds: used.duration_minutes * 60,
            needs_replacing: gear
                .warn_at_metres
                .is_some_and(|warn| distance_metres >= warn),
            created_at: gear.created_at,
        }
    }
}

#[derive(InputObject)]
pub struct GearInput {
    pub kind: GearKind,
    /// 1 to 100 characters.
    pub name: String,
    /// The activity types that take it when logged or imported; a type
    /// given here stops being the default of your other gear.
    #[graphql(default)]
    pub default_for: Vec<ActivityType>,
    /// Distance at which to replace it, in metres (shoes: 600 000–800 000).
    pub warn_at_metres: Option<f64>,
}

impl From<GearInput> for DomainGearInput {
    fn from(input: GearInput) -> Self {
        Self {
            kind: input.kind,
            name: input.name,
            default_for: input.default_for,
            warn_at_metres: input.warn_at_metres,
        }
    }
}

/// The gear of each workout, per request.
pub struct ActivityGearLoader(pub GearList);

impl Loader<Uuid> for ActivityGearLoader {
    type Value = Uuid;
    type Error = Arc<anyhow::Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Uuid>, Self::Error> {
        self.0
            .of_activities(keys)
            .await
            .map_err(|error| match error {
                crate::domain::error::ActivityError::Internal(e) => Arc::new(e),
                other => Arc::new(anyhow::anyhow!("{other:?}")),
            })
    }
}

/// A piece of gear as it is now, with its use read again.
async fn current(gear: &GearList, owner: Uuid, id: Uuid) -> async_graphql::Result<GearObject> {
    gear.with_use(owner)
        .await?
        .into_iter()
        .find(|(g, _)| g.id == id)
        .map(Into::into)
        .ok_or_else(|| crate::domain::error::ActivityError::GearNotFound.into())
}

#[derive(Default)]
pub struct GearQuery;

#[Object]
impl GearQuery {
    /// Your gear, oldest first, retired included, with what each has done.
    #[graphql(
        guard = "Authenticated",
        directive = fittrack_kit::schema::list_size::apply(Some(50), None, None, None),
        directive = fittrack_kit::schema::cost::apply(20),
        complexity = 20
    )]
    async fn my_gear(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GearObject>> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_stats(viewer.id).await?;
        let gear = ctx.data::<GearList>()?.with_use(viewer.id).await?;
        Ok(gear.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct GearMutation;

#[Object]
impl GearMutation {
    /// Adds a piece of gear (at most 50, retired included).
    #[graphql(guard = "Authenticated")]
    async fn create_gear(
        &self,
        ctx: &Context<'_>,
        input: GearInput,
    ) -> async_graphql::Result<GearObject> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_write(viewer.id).await?;
        let list = ctx.data::<GearList>()?;
        let gear = list.create(viewer.id, input.into()).await?;
        current(list, viewer.id, gear.id).await
    }

    /// Changes a piece of your gear.
    #[graphql(guard = "Authenticated")]
    async fn update_gear(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: GearInput,
    ) -> async_graphql::Result<GearObject> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_write(viewer.id).await?;
        let id = parse_id(&id, "id")?;
        let list = ctx.data::<GearList>()?;
        list.update(viewer.id, id, input.into()).await?;
        current(list, viewer.id, id).await
    }

    /// Retires a piece of gear (it keeps its history and stops being a
    /// default), or with `retired: false` brings it back.
    #[graphql(guard = "Authenticated")]
    async fn retire_gear(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default = true)] retired: bool,
    ) -> async_graphql::Result<GearObject> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_write(viewer.id).await?;
        let id = parse_id(&id, "id")?;
        let list = ctx.data::<GearList>()?;
        list.retire(viewer.id, id, retired).await?;
        current(list, viewer.id, id).await
    }

    /// Deletes a piece of gear; the workouts that used it keep no gear.
    #[graphql(guard = "Authenticated")]
    async fn delete_gear(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_write(viewer.id).await?;
        let parsed = parse_id(&id, "id")?;
        ctx.data::<GearList>()?.delete(viewer.id, parsed).await?;
        Ok(id)
    }

    /// Sets the gear one of your workouts used, or with no `gearId` clears it.
    #[graphql(guard = "Authenticated")]
    async fn set_activity_gear(
        &self,
        ctx: &Context<'_>,
        activity_id: ID,
        gear_id: Option<ID>,
    ) -> async_graphql::Result<ActivityObject> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_write(viewer.id).await?;
        let activity_id = parse_id(&activity_id, "activityId")?;
        let gear_id = gear_id.map(|id| parse_id(&id, "gearId")).transpose()?;
        let activity = ctx
            .data::<GearList>()?
            .set_activity_gear(viewer.id, activity_id, gear_id)
            .await?;
        Ok(activity.into())
    }
}
