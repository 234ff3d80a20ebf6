use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use std::sync::Arc;

use crate::domain::{model::User, ports::UserStore};

/// Batches user look-ups (federation `_entities`, nested fields) into one query.
pub struct UserLoader {
    store: Arc<dyn UserStore>,
    batches: Option<fittrack_kit::metrics::BatchSizes>,
}

impl UserLoader {
    pub fn new(store: Arc<dyn UserStore>) -> Self {
        Self {
            store,
            batches: None,
        }
    }

    /// Records each batch's size (`fittrack_dataloader_batch_keys{loader="user"}`).
    pub fn with_metrics(mut self, metrics: &fittrack_kit::metrics::Metrics) -> Self {
        self.batches = Some(fittrack_kit::metrics::BatchSizes::new(metrics));
        self
    }
}

impl Loader<Uuid> for UserLoader {
    type Value = User;
    type Error = std::sync::Arc<anyhow::Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, User>, Self::Error> {
        if let Some(batches) = &self.batches {
            batches.record("user", keys.len());
        }
        let users = self
            .store
            .find_by_ids(keys)
            .await
            .map_err(std::sync::Arc::new)?;
        Ok(users.into_iter().map(|user| (user.id, user)).collect())
    }
}
