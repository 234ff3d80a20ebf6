//! The devices that signed in to your account (`domain::devices`).

use async_graphql::{Context, Object, ID};
use fittrack_kit::auth::{Authenticated, ContextAuthExt};

use super::types::{parse_user_id, Device};
use crate::domain::accounts::Accounts;

#[derive(Default)]
pub struct DevicesQuery;

#[Object]
impl DevicesQuery {
    /// The browsers and apps that signed in to your account, most recently
    /// used first (at most 20: older ones are forgotten).
    #[graphql(guard = "Authenticated")]
    async fn my_devices(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Device>> {
        let viewer = ctx.current_user()?;
        let devices = ctx.data::<Accounts>()?.devices(viewer.id).await?;
        Ok(devices.into_iter().map(Device::from).collect())
    }
}

#[derive(Default)]
pub struct DevicesMutation;

#[Object]
impl DevicesMutation {
    /// Forgets one of your devices: its device token counts as unknown from
    /// now on (its sessions go on until they end; `logout` ends them).
    /// `NOT_FOUND` if it is not one of yours.
    #[graphql(guard = "Authenticated")]
    async fn revoke_device(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let viewer = ctx.current_user()?;
        let id = parse_user_id(&id, "id")?;
        ctx.data::<Accounts>()?.revoke_device(viewer.id, id).await?;
        Ok(true)
    }
}
