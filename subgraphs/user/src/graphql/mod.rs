//! The user subgraph's GraphQL API, one module per domain area, merged.

mod auth;
mod devices;
mod lifecycle;
mod loader;
pub mod platform;
mod profile;
mod types;

use async_graphql::{dataloader::DataLoader, EmptySubscription, MergedObject, Schema};

use crate::domain::accounts::Accounts;
pub use loader::UserLoader;

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    profile::ProfileQuery,
    lifecycle::LifecycleQuery,
    platform::PlatformQuery,
    devices::DevicesQuery,
);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    auth::AuthMutation,
    profile::ProfileMutation,
    lifecycle::LifecycleMutation,
    devices::DevicesMutation,
);

pub type UserSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

fn builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    fittrack_kit::schema::federated(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
        1_000,
    )
}

pub fn build_schema(
    accounts: Accounts,
    user_stats: platform::UserStatsCache,
    metrics: &fittrack_kit::metrics::Metrics,
) -> UserSchema {
    let loader = DataLoader::new(
        UserLoader::new(accounts.store().clone()).with_metrics(metrics),
        tokio::spawn,
    );
    builder()
        .data(accounts)
        .data(loader)
        .data(user_stats)
        .finish()
}

/// Federation 2 SDL, exported without any storage behind it.
pub fn sdl() -> String {
    fittrack_kit::schema::federation_sdl(&builder().finish())
}
