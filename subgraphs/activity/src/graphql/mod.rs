//! The activity subgraph's GraphQL API, one module per domain area, merged.

mod activities;
pub mod admin;
mod changes;
pub mod cursor;
mod federation;
mod gear;
mod goals;
mod imports;
pub mod loaders;
mod profile;
mod recording;
mod records;
mod types;

use std::{sync::Arc, time::Duration};

use async_graphql::{dataloader::DataLoader, MergedObject, MergedSubscription, Schema, ID};
use fittrack_kit::ApiError;

use crate::domain::{activities::Activities, error::ActivityError};
use loaders::{ActivityLoader, FirstPageLoader, RecordsSetLoader, StatsLoader};

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    activities::ActivityQuery,
    admin::AdminActivityQuery,
    federation::EntityQuery,
    imports::ImportQuery,
    records::RecordQuery,
    changes::ChangeQuery,
    goals::GoalQuery,
    gear::GearQuery,
    profile::ProfileQuery,
);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    activities::ActivityMutation,
    imports::ImportMutation,
    goals::GoalMutation,
    gear::GearMutation,
    profile::ProfileMutation,
);

#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(imports::ImportSubscription, records::RecordSubscription);

pub type ActivitySchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

fn builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    fittrack_kit::schema::federated(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
        // Lists multiply by `first` (kit::schema::page_complexity): a full 100-item page of activities with every field is ~2 600.
        10_000,
    )
    .enable_subscription_in_federation()
}

pub use crate::config::DEFAULT_LOADER_DELAY;

fn loader<T: Send + Sync + 'static>(inner: T, delay: Duration) -> DataLoader<T> {
    DataLoader::new(inner, tokio::spawn).delay(delay)
}

/// The per-user quotas of this subgraph's writes and aggregations, each
/// aliased field one (`kit::ratelimit::UserQuota`).
#[derive(Clone)]
pub struct Quotas {
    writes: fittrack_kit::ratelimit::UserQuota,
    stats: fittrack_kit::ratelimit::UserQuota,
    import_chunks: fittrack_kit::ratelimit::UserQuota,
}

impl Quotas {
    pub fn new(
        limiter: Arc<dyn fittrack_kit::ratelimit::RateLimiter>,
        limits: &crate::config::ActivityLimits,
    ) -> Self {
        use fittrack_kit::ratelimit::UserQuota;
        Self {
            writes: UserQuota::new(
                limiter.clone(),
                "activity-writes",
                [limits.writes_per_minute, limits.writes_per_day],
            ),
            stats: UserQuota::new(limiter.clone(), "stats-queries", [limits.stats_per_minute]),
            import_chunks: UserQuota::new(
                limiter,
                "import-chunks",
                [
                    limits.import_chunks_per_minute,
                    limits.import_chunks_per_day,
                ],
            ),
        }
    }

    /// The default quotas, counted in this process.
    pub fn in_process() -> Self {
        Self::new(
            Arc::new(fittrack_kit::ratelimit::MemoryRateLimiter::default()),
            &Default::default(),
        )
    }

    pub(crate) async fn admit_write(&self, user: uuid::Uuid) -> Result<(), ApiError> {
        self.writes.admit(user).await
    }

    pub(crate) async fn admit_stats(&self, user: uuid::Uuid) -> Result<(), ApiError> {
        self.stats.admit(user).await
    }

    async fn admit_import_chunk(&self, user: uuid::Uuid) -> Result<(), ApiError> {
        self.import_chunks.admit(user).await
    }
}

/// The domain's use cases, as the API serves them.
pub struct UseCases {
    pub activities: Activities,
    pub imports: crate::domain::imports::Imports,
    pub goals: crate::domain::goals::Goals,
    pub gear: crate::domain::gear::GearList,
    pub profiles: crate::domain::profile::Profiles,
}

pub fn build_schema(
    use_cases: UseCases,
    loader_delay: Duration,
    platform_stats: admin::PlatformStatsCache,
    quotas: Quotas,
) -> ActivitySchema {
    let UseCases {
        activities,
        imports,
        goals,
        gear,
        profiles,
    } = use_cases;
    let store = activities.store().clone();
    builder()
        .data(loader(ActivityLoader(store.clone()), loader_delay))
        .data(loader(FirstPageLoader(store.clone()), loader_delay))
        .data(loader(recording::RecordingLoader(store), loader_delay))
        .data(loader(StatsLoader(activities.clone()), loader_delay))
        .data(loader(RecordsSetLoader(activities.clone()), loader_delay))
        .data(platform_stats)
        .data(quotas)
        .data(activities)
        .data(imports)
        .data(goals)
        .data(loader(gear::ActivityGearLoader(gear.clone()), loader_delay))
        .data(gear)
        .data(loader(
            profile::ProfileLoader(profiles.clone()),
            loader_delay,
        ))
        .data(profiles)
        .finish()
}

/// Federation 2 SDL, exported without any storage behind it.
pub fn sdl() -> String {
    fittrack_kit::schema::federation_sdl(&builder().finish())
}

fn parse_id(id: &ID, field: &'static str) -> Result<uuid::Uuid, ActivityError> {
    // A malformed id cannot name an existing activity.
    uuid::Uuid::parse_str(id).map_err(|_| match field {
        "id" => ActivityError::NotFound,
        _ => ActivityError::invalid(field, "is not a valid id"),
    })
}

/// Minutes east of UTC, as real zones have them (UTC−14:00 … UTC+14:00).
/// Where the caller's days begin: `timeZone` (an IANA name) when given,
/// else `utcOffsetMinutes`.
fn day_boundary(
    utc_offset_minutes: i32,
    time_zone: Option<&str>,
) -> Result<crate::domain::stats::DayBoundary, ActivityError> {
    use crate::domain::stats::DayBoundary;
    match time_zone {
        Some(name) => {
            let zone = crate::domain::validation::time_zone(name)?
                .parse()
                .map_err(|_| ActivityError::invalid("timeZone", "not an IANA time zone"))?;
            Ok(DayBoundary::Zone(zone))
        }
        None => {
            let seconds = parse_offset(utc_offset_minutes)?;
            chrono::FixedOffset::east_opt(seconds)
                .map(DayBoundary::Offset)
                .ok_or_else(|| ActivityError::invalid("utcOffsetMinutes", "out of range"))
        }
    }
}

fn parse_offset(minutes: i32) -> Result<i32, ActivityError> {
    if (-14 * 60..=14 * 60).contains(&minutes) {
        Ok(minutes * 60)
    } else {
        Err(ActivityError::invalid(
            "utcOffsetMinutes",
            "must be between -840 and 840",
        ))
    }
}

fn internal(error: Arc<anyhow::Error>) -> ApiError {
    ApiError::from_shared(&error)
}
