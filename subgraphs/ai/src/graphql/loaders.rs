//! Dataloaders: one batched store query per level of a federated query.

use std::{collections::HashMap, sync::Arc};

use async_graphql::{
    dataloader::{DataLoader, Loader},
    Context,
};
use fittrack_kit::auth::CurrentUser;
use uuid::Uuid;

use super::{internal, RecommendationObject};
use crate::domain::{model::Recommendation, ports::AiStore};

/// Recommendations by activity id.
pub struct RecommendationLoader(pub Arc<dyn AiStore>);

impl Loader<Uuid> for RecommendationLoader {
    type Value = Recommendation;
    type Error = Arc<anyhow::Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Recommendation>, Self::Error> {
        let found = self
            .0
            .recommendations_for_activities(keys)
            .await
            .map_err(Arc::new)?;
        Ok(found.into_iter().map(|r| (r.activity_id, r)).collect())
    }
}

/// First pages of recommendations by (user, page size).
pub struct UserRecommendationsLoader(pub Arc<dyn AiStore>);

impl Loader<(Uuid, usize)> for UserRecommendationsLoader {
    type Value = Vec<Recommendation>;
    type Error = Arc<anyhow::Error>;

    async fn load(
        &self,
        keys: &[(Uuid, usize)],
    ) -> Result<HashMap<(Uuid, usize), Vec<Recommendation>>, Self::Error> {
        let mut by_size: HashMap<usize, Vec<Uuid>> = HashMap::new();
        for (user, size) in keys {
            by_size.entry(*size).or_default().push(*user);
        }
        let mut out = HashMap::new();
        for (size, users) in by_size {
            let mut pages = self
                .0
                .first_recommendation_pages(&users, size + 1)
                .await
                .map_err(Arc::new)?;
            for user in users {
                out.insert((user, size), pages.remove(&user).unwrap_or_default());
            }
        }
        Ok(out)
    }
}

/// The recommendation for `activity_id` if `viewer` may see it (the owner
/// or an admin); a malformed id names nothing.
pub(super) async fn recommendation_for(
    ctx: &Context<'_>,
    viewer: &CurrentUser,
    activity_id: &str,
) -> async_graphql::Result<Option<RecommendationObject>> {
    let Ok(activity_id) = Uuid::parse_str(activity_id) else {
        return Ok(None);
    };
    let found = ctx
        .data::<DataLoader<RecommendationLoader>>()?
        .load_one(activity_id)
        .await
        .map_err(internal)?;
    Ok(found
        .filter(|r| viewer.may_access(r.user_id))
        .map(Into::into))
}
