//! Devices that signed in to an account (`domain::devices`).

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::{entities::devices, SqlUserStore};
use crate::domain::{devices::Device, ports::DeviceRecords};

fn to_device(row: devices::Model) -> Device {
    Device {
        id: row.id,
        user_id: row.user_id,
        name: row.name,
        created_at: row.created_at,
        last_sign_in_at: row.last_sign_in_at,
    }
}

#[async_trait]
impl DeviceRecords for SqlUserStore {
    async fn find_device(&self, id: Uuid) -> anyhow::Result<Option<Device>> {
        Ok(devices::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .context("looking up a device")?
            .map(to_device))
    }

    async fn insert_device(&self, device: Device, keep: u64) -> anyhow::Result<()> {
        let user_id = device.user_id;
        let tx = self.db.begin().await.context("starting a transaction")?;
        devices::Entity::insert(devices::ActiveModel {
            id: Set(device.id),
            user_id: Set(device.user_id),
            name: Set(device.name),
            created_at: Set(device.created_at),
            last_sign_in_at: Set(device.last_sign_in_at),
        })
        .exec(&tx)
        .await
        .context("remembering a device")?;
        // At most `keep + 1` rows: skipped here, as SQLite has no OFFSET
        // without a LIMIT.
        let ids: Vec<Uuid> = devices::Entity::find()
            .select_only()
            .column(devices::Column::Id)
            .filter(devices::Column::UserId.eq(user_id))
            .order_by_desc(devices::Column::LastSignInAt)
            .order_by_desc(devices::Column::Id)
            .into_tuple()
            .all(&tx)
            .await
            .context("finding devices beyond the limit")?;
        let forgotten: Vec<Uuid> = ids
            .into_iter()
            .skip(usize::try_from(keep).unwrap_or(usize::MAX))
            .collect();
        if !forgotten.is_empty() {
            devices::Entity::delete_many()
                .filter(devices::Column::Id.is_in(forgotten))
                .exec(&tx)
                .await
                .context("forgetting old devices")?;
        }
        tx.commit().await.context("committing a device")?;
        Ok(())
    }

    async fn touch_device(&self, id: Uuid, now: DateTime<Utc>) -> anyhow::Result<()> {
        devices::Entity::update_many()
            .col_expr(devices::Column::LastSignInAt, Expr::value(now))
            .filter(devices::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .context("recording a device's sign-in")?;
        Ok(())
    }

    async fn devices_of(&self, user_id: Uuid) -> anyhow::Result<Vec<Device>> {
        Ok(devices::Entity::find()
            .filter(devices::Column::UserId.eq(user_id))
            .order_by_desc(devices::Column::LastSignInAt)
            .order_by_desc(devices::Column::Id)
            .all(&self.db)
            .await
            .context("listing a user's devices")?
            .into_iter()
            .map(to_device)
            .collect())
    }

    async fn delete_device(&self, user_id: Uuid, id: Uuid) -> anyhow::Result<bool> {
        let deleted = devices::Entity::delete_many()
            .filter(devices::Column::Id.eq(id))
            .filter(devices::Column::UserId.eq(user_id))
            .exec(&self.db)
            .await
            .context("forgetting a device")?;
        Ok(deleted.rows_affected == 1)
    }
}
