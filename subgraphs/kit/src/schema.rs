//! What every subgraph's GraphQL schema shares: Federation 2, one depth limit,
//! and the SDL that composition reads.

use async_graphql::{ObjectType, SDLExportOptions, Schema, SchemaBuilder, SubscriptionType};

/// The deepest selection any subgraph accepts.
pub const MAX_DEPTH: usize = 16;

/// A federated schema builder with the shared limits; `max_complexity` is the
/// subgraph's own (it depends on how wide its lists are).
pub fn federated<Q, M, S>(
    query: Q,
    mutation: M,
    subscription: S,
    max_complexity: usize,
) -> SchemaBuilder<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    Schema::build(query, mutation, subscription)
        .enable_federation()
        .limit_depth(MAX_DEPTH)
        .limit_complexity(max_complexity)
}

/// The Federation 2 SDL of `schema`, as `fittrack compose` exports it.
pub fn federation_sdl<Q, M, S>(schema: &Schema<Q, M, S>) -> String
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    schema.sdl_with_options(SDLExportOptions::new().federation().compose_directive())
}
