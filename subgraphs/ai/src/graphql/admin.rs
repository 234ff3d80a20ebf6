//! Dead letters: the jobs the worker gave up on, and replaying them. Admins only.

use async_graphql::{Context, Object, ID};
use fittrack_kit::{auth::RoleGuard, ApiError, Role};

use super::{page_size, AiContext, DeadLetter};

#[derive(Default)]
pub struct DeadLetterQuery;

#[Object]
impl DeadLetterQuery {
    /// Jobs the worker gave up on, oldest first. Admins only.
    #[graphql(
        guard = "RoleGuard(Role::Admin)",
        complexity = "fittrack_kit::schema::page_complexity(first, child_complexity)",
        directive = fittrack_kit::schema::list_size::apply(
            None,
            Some(vec!["first".into()]),
            None,
            Some(false)
        )
    )]
    async fn dead_letters(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<DeadLetter>> {
        let limit = page_size(first)?;
        let letters = ctx
            .data::<AiContext>()?
            .queue
            .dead_letters(limit)
            .await
            .map_err(ApiError::from)?;
        Ok(letters.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct DeadLetterMutation;

#[Object]
impl DeadLetterMutation {
    /// Puts dead letters back on the queue; the ids that were found. Admins only.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn replay_dead_letters(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
    ) -> async_graphql::Result<Vec<ID>> {
        let queue = &ctx.data::<AiContext>()?.queue;
        let mut replayed = Vec::new();
        for id in ids {
            if queue.replay(&id).await.map_err(ApiError::from)?.is_some() {
                replayed.push(id);
            }
        }
        Ok(replayed)
    }
}
