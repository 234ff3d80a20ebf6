//! Dataloaders: every per-user or per-id lookup of a request is batched into a
//! constant number of store queries (federation `_entities` sends one batch).

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use crate::domain::{
    activities::{Activities, Page},
    error::ActivityError,
    model::{Activity, ActivityFilter},
    ports::ActivityStore,
    stats::ActivityStats,
};

type LoadError = Arc<anyhow::Error>;

fn load_error(error: impl Into<anyhow::Error>) -> LoadError {
    Arc::new(error.into())
}

fn activity_error(error: ActivityError) -> LoadError {
    match error {
        ActivityError::Internal(e) => Arc::new(e),
        other => Arc::new(anyhow::anyhow!("{other:?}")),
    }
}

/// Activities by id.
pub struct ActivityLoader(pub Arc<dyn ActivityStore>);

impl Loader<Uuid> for ActivityLoader {
    type Value = Activity;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Activity>, Self::Error> {
        let found = self.0.get_many(keys).await.map_err(load_error)?;
        Ok(found.into_iter().map(|a| (a.id, a)).collect())
    }
}

/// The first page of a user's activities under one filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FirstPageKey {
    pub user_id: Uuid,
    pub filter: ActivityFilter,
    pub limit: u32,
}

pub struct FirstPageLoader(pub Arc<dyn ActivityStore>);

impl Loader<FirstPageKey> for FirstPageLoader {
    type Value = Page;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[FirstPageKey],
    ) -> Result<HashMap<FirstPageKey, Page>, Self::Error> {
        // One store query per distinct (filter, limit): normally exactly one.
        let mut groups: HashMap<(&ActivityFilter, u32), Vec<Uuid>> = HashMap::new();
        for key in keys {
            groups
                .entry((&key.filter, key.limit))
                .or_default()
                .push(key.user_id);
        }
        let mut out = HashMap::new();
        for ((filter, limit), users) in groups {
            let users: Vec<Uuid> = users
                .into_iter()
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let mut pages = self
                .0
                .first_pages(&users, filter, limit + 1)
                .await
                .map_err(load_error)?;
            for user_id in users {
                let items = pages.remove(&user_id).unwrap_or_default();
                out.insert(
                    FirstPageKey {
                        user_id,
                        filter: filter.clone(),
                        limit,
                    },
                    Page::from_overfetch(items, limit as usize),
                );
            }
        }
        Ok(out)
    }
}

/// A user's stats for one range and time-zone offset.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatsKey {
    pub user_id: Uuid,
    pub filter: ActivityFilter,
    pub days: crate::domain::stats::DayBoundary,
}

pub struct StatsLoader(pub Activities);

impl Loader<StatsKey> for StatsLoader {
    type Value = ActivityStats;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[StatsKey],
    ) -> Result<HashMap<StatsKey, ActivityStats>, Self::Error> {
        let mut groups: HashMap<(&ActivityFilter, crate::domain::stats::DayBoundary), Vec<Uuid>> =
            HashMap::new();
        for key in keys {
            groups
                .entry((&key.filter, key.days))
                .or_default()
                .push(key.user_id);
        }
        let mut out = HashMap::new();
        for ((filter, days), users) in groups {
            let stats = self
                .0
                .stats_of(&users, filter, days)
                .await
                .map_err(activity_error)?;
            for (user_id, stats) in stats {
                out.insert(
                    StatsKey {
                        user_id,
                        filter: filter.clone(),
                        days,
                    },
                    stats,
                );
            }
        }
        Ok(out)
    }
}

/// The records each activity set, by activity, per user: one read of a
/// user's efforts however many of their activities a response shows.
pub struct RecordsSetLoader(pub Activities);

impl Loader<Uuid> for RecordsSetLoader {
    type Value = Arc<HashMap<Uuid, Vec<crate::domain::records::Effort>>>;
    type Error = LoadError;

    async fn load(&self, users: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let mut out = HashMap::new();
        for &user in users {
            let set = self.0.records_set(user).await.map_err(activity_error)?;
            out.insert(user, Arc::new(set));
        }
        Ok(out)
    }
}
