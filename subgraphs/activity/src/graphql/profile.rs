//! The training profile (`domain::profile`): heart rates and units.

use std::{collections::HashMap, sync::Arc};

use async_graphql::{
    dataloader::Loader, Context, InputObject, MaybeUndefined, Object, SimpleObject,
};
use chrono::{DateTime, Utc};
use fittrack_kit::auth::{Authenticated, ContextAuthExt};
use uuid::Uuid;

use super::Quotas;
use crate::domain::profile::{ProfileChange, Profiles, TrainingProfile, Units};

/// What analysing your workouts needs, and how you read numbers.
#[derive(SimpleObject)]
#[graphql(name = "TrainingProfile")]
pub struct TrainingProfileObject {
    /// Beats per minute; the top of heart-rate zone 5.
    pub max_heart_rate: Option<i32>,
    /// Beats per minute; with it, zones are shares of the reserve (Karvonen).
    pub resting_heart_rate: Option<i32>,
    /// Your own zones, from a lab or field test: the lowest rate (bpm) of
    /// zones 1 to 5; zone 5 runs up to `maxHeartRate`. When set, they are
    /// the zones, whatever the resting rate.
    pub heart_rate_zone_floors: Option<Vec<i32>>,
    /// How clients show distances and paces (the API speaks SI either way).
    pub units: Units,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<TrainingProfile> for TrainingProfileObject {
    fn from(profile: TrainingProfile) -> Self {
        Self {
            max_heart_rate: profile.max_heart_rate.map(i32::from),
            resting_heart_rate: profile.resting_heart_rate.map(i32::from),
            heart_rate_zone_floors: profile
                .zone_floors
                .map(|floors| floors.map(i32::from).to_vec()),
            units: profile.units,
            updated_at: profile.updated_at,
        }
    }
}

/// Omitted fields keep their value; `null` clears a heart rate.
#[derive(InputObject)]
pub struct TrainingProfileInput {
    /// 100–250 bpm.
    pub max_heart_rate: MaybeUndefined<i32>,
    /// 25 bpm up to 20 below the maximum.
    pub resting_heart_rate: MaybeUndefined<i32>,
    /// Five rates rising from at least 25 bpm to below the maximum (which
    /// must be set); `null` goes back to computed zones.
    pub heart_rate_zone_floors: MaybeUndefined<Vec<i32>>,
    pub units: Option<Units>,
}

fn change<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// Profiles by user, per request (an activity's zones use its owner's).
pub struct ProfileLoader(pub Profiles);

impl Loader<Uuid> for ProfileLoader {
    type Value = TrainingProfile;
    type Error = Arc<anyhow::Error>;

    async fn load(&self, users: &[Uuid]) -> Result<HashMap<Uuid, TrainingProfile>, Self::Error> {
        let mut out = HashMap::new();
        for &user in users {
            let profile = self.0.get(user).await.map_err(|error| match error {
                crate::domain::error::ActivityError::Internal(e) => Arc::new(e),
                other => Arc::new(anyhow::anyhow!("{other:?}")),
            })?;
            out.insert(user, profile);
        }
        Ok(out)
    }
}

#[derive(Default)]
pub struct ProfileQuery;

#[Object]
impl ProfileQuery {
    /// Your training profile (empty until you set it).
    #[graphql(guard = "Authenticated")]
    async fn my_training_profile(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<TrainingProfileObject> {
        let viewer = ctx.current_user()?;
        Ok(ctx.data::<Profiles>()?.get(viewer.id).await?.into())
    }
}

#[derive(Default)]
pub struct ProfileMutation;

#[Object]
impl ProfileMutation {
    /// Changes your training profile.
    #[graphql(guard = "Authenticated")]
    async fn update_training_profile(
        &self,
        ctx: &Context<'_>,
        input: TrainingProfileInput,
    ) -> async_graphql::Result<TrainingProfileObject> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_write(viewer.id).await?;
        let profile = ctx
            .data::<Profiles>()?
            .update(
                viewer.id,
                ProfileChange {
                    max_heart_rate: change(input.max_heart_rate),
                    resting_heart_rate: change(input.resting_heart_rate),
                    zone_floors: change(input.heart_rate_zone_floors),
                    units: input.units,
                },
            )
            .await?;
        Ok(profile.into())
    }
}
