//! `recommendationAdded`: new recommendations pushed live, bounded per user,
//! ended when the session ends or the bus may have lost something.

use std::sync::Arc;

use async_graphql::{Context, Subscription};
use fittrack_kit::{auth::ContextAuthExt, ApiError};
use futures_util::{Stream, StreamExt};

use super::{AiContext, RecommendationObject};

#[derive(Default)]
pub struct RecommendationSubscription;

#[Subscription(name = "Subscription")]
impl RecommendationSubscription {
    /// Your new recommendations, as the worker writes them. At most
    /// 10 open at once per user (`RATE_LIMITED` past that).
    async fn recommendation_added(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<RecommendationObject>>>
    {
        let viewer = ctx.current_user()?.clone();
        let context = ctx.data::<AiContext>()?;
        let max = context.coach.limits().live_subscriptions_per_user;
        // Held by the stream: given back however the subscription ends.
        let slot = open_subscriptions()
            .try_open(viewer.id, max)
            .ok_or_else(|| {
                ApiError::rate_limited(
                    format!("At most {max} live subscriptions per user; close one first"),
                    5,
                )
            })?;
        let bus = context.bus.clone();
        let verifier = ctx.data_opt::<Arc<fittrack_kit::JwtVerifier>>().cloned();
        let items = bus
            .subscribe(viewer.id)
            .map(move |recommendation| {
                let _held = &slot;
                Ok(RecommendationObject::from(recommendation))
            })
            // The bus ends its stream when it may have lost something (its
            // Redis connection dropped): say so; the client subscribes again.
            .chain(futures_util::stream::once(async {
                Err(ApiError::unavailable(
                    "Live updates were interrupted; subscribe again (missed recommendations are in myRecommendations)",
                    1,
                )
                .into())
            }));
        // Ends with an error the client acts on when the token expires or
        // the session is revoked (logout, ban, password change …).
        Ok(fittrack_kit::auth::until_session_ends(
            items, verifier, viewer,
        ))
    }
}

/// `recommendationAdded` streams open in this process.
pub fn live_subscriptions() -> usize {
    open_subscriptions().total()
}

fn open_subscriptions() -> &'static fittrack_kit::ratelimit::OpenSlots<uuid::Uuid> {
    static OPEN: std::sync::OnceLock<fittrack_kit::ratelimit::OpenSlots<uuid::Uuid>> =
        std::sync::OnceLock::new();
    OPEN.get_or_init(Default::default)
}
