//! The AI subgraph's GraphQL API, one module per area, merged: a user's
//! recommendations, daily plans, the live subscription, federation joins onto
//! `Activity` and `User`, admin dead letters and the dashboard part.

mod admin;
mod federation;
mod loaders;
mod plans;
pub mod platform;
mod recommendations;
pub(crate) mod subscription;
mod types;

use std::{sync::Arc, time::Duration};

use async_graphql::{
    connection::{Connection, EmptyFields},
    dataloader::DataLoader,
    MergedObject, Schema,
};
use fittrack_kit::{queue::JobQueue, ApiError};

use crate::{
    bus::RecommendationBus,
    coach::Coach,
    domain::{error::AiError, plans::Planner, ports::AiStore},
};
use loaders::{RecommendationLoader, UserRecommendationsLoader};
pub use subscription::RecommendationSubscription;
pub use types::*;

/// How long dataloaders gather keys before one batched store query, unless
/// configured.
pub use crate::config::DEFAULT_LOADER_DELAY as LOADER_DELAY;

pub type RecommendationConnection =
    Connection<String, RecommendationObject, EmptyFields, EmptyFields>;
pub type DailyPlanConnection = Connection<String, DailyPlanObject, EmptyFields, EmptyFields>;

/// What resolvers need, shared by the API and the worker.
#[derive(Clone)]
pub struct AiContext {
    /// This service's metrics (`/metrics`): the coach, the worker and the
    /// queue record into it.
    pub metrics: fittrack_kit::metrics::Metrics,
    pub store: Arc<dyn AiStore>,
    pub coach: Arc<Coach>,
    pub bus: Arc<dyn RecommendationBus>,
    /// The activity event queue (dead letters live there).
    pub queue: Arc<dyn JobQueue>,
    /// This subgraph's part of the admin dashboard, cached 60 s.
    pub dashboard: platform::AiStatsCache,
    /// Breaker states reported by every process calling Gemini.
    pub breakers: Arc<crate::breakers::BreakerBoard>,
    /// Deleted users (kit::erasure): the worker undoes work done for them.
    pub erased: Arc<dyn fittrack_kit::erasure::ErasedUsers>,
}

fn page_size(first: Option<i32>) -> Result<usize, AiError> {
    Ok(fittrack_kit::pagination::page_size(first)?)
}

fn internal(error: Arc<anyhow::Error>) -> ApiError {
    ApiError::from_shared(&error)
}

// The order of the parts is the order of the fields in the exported SDL.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    recommendations::RecommendationQuery,
    plans::PlanQuery,
    admin::DeadLetterQuery,
    federation::EntityQuery,
    platform::PlatformQuery,
);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(plans::PlanMutation, admin::DeadLetterMutation);

pub type AiSchema = Schema<QueryRoot, MutationRoot, RecommendationSubscription>;

fn builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, RecommendationSubscription> {
    fittrack_kit::schema::federated(
        QueryRoot::default(),
        MutationRoot::default(),
        RecommendationSubscription,
        // Lists multiply by `first` (kit::schema::page_complexity): a full 100-item page of recommendations with every field is ~2 600.
        10_000,
    )
    .enable_subscription_in_federation()
}

pub fn build_schema(context: AiContext) -> AiSchema {
    build_schema_with(context, LOADER_DELAY)
}

/// As [`build_schema`], with the dataloaders gathering keys for `loader_delay`
/// (the batching test widens it so a slow, cold debug run cannot split a batch).
pub fn build_schema_with(context: AiContext, loader_delay: Duration) -> AiSchema {
    let store = context.store.clone();
    let planner = Planner::new(
        context.store.clone(),
        context.coach.clone(),
        context.erased.clone(),
    );
    builder()
        .data(planner)
        .data(
            DataLoader::new(RecommendationLoader(store.clone()), tokio::spawn).delay(loader_delay),
        )
        .data(DataLoader::new(UserRecommendationsLoader(store), tokio::spawn).delay(loader_delay))
        .data(context)
        .finish()
}

/// Federation 2 SDL, exported without any storage behind it.
pub fn sdl() -> String {
    fittrack_kit::schema::federation_sdl(&builder().finish())
}
