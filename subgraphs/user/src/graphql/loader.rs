use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use crate::{domain::model::User, storage::UserStore};

/// Batches user look-ups (federation `_entities`, nested fields) into one query.
pub struct UserLoader {
    store: UserStore,
}

impl UserLoader {
    pub fn new(store: UserStore) -> Self {
        Self { store }
    }
}

impl Loader<Uuid> for UserLoader {
    type Value = User;
    type Error = std::sync::Arc<anyhow::Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, User>, Self::Error> {
        let users = self
            .store
            .find_by_ids(keys)
            .await
            .map_err(std::sync::Arc::new)?;
        Ok(users.into_iter().map(|user| (user.id, user)).collect())
    }
}
