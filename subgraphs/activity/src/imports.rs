//! The importer: import jobs on the queue (`ImportJobs` for the domain) and
//! the consumer that runs them ([`run_importer`]).

use std::{future::Future, sync::Arc, time::Duration};

use async_trait::async_trait;
use fittrack_kit::queue::{ConsumerOptions, JobQueue, Permanent, QueueOptions};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::imports::{ImportJobs, Imports};

pub const IMPORT_QUEUE: &str = "activity-imports";
pub const IMPORT_GROUP: &str = "importer";

/// An import reads up to 20 files of 25 MB: give it minutes before another
/// importer takes it over (which is safe: files read are not read again,
/// workouts stored are found as duplicates).
pub fn queue_options() -> QueueOptions {
    QueueOptions {
        visibility_timeout: Duration::from_secs(600),
        max_deliveries: 5,
    }
}

/// Two imports at once per process: parsing is CPU work, and the API
/// shares the cores.
pub fn importer_options() -> ConsumerOptions {
    ConsumerOptions::new("activity-importer", 2)
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportJob {
    import_id: Uuid,
}

/// Import jobs as messages on the import queue.
pub struct QueuedImports(pub Arc<dyn JobQueue>);

#[async_trait]
impl ImportJobs for QueuedImports {
    async fn enqueue(&self, import_id: Uuid) -> anyhow::Result<()> {
        self.0
            .enqueue(&serde_json::to_string(&ImportJob { import_id })?)
            .await?;
        Ok(())
    }
}

/// Runs import jobs until `shutdown`.
pub async fn run_importer(
    imports: Imports,
    queue: Arc<dyn JobQueue>,
    options: ConsumerOptions,
    shutdown: impl Future<Output = ()> + Send,
) {
    fittrack_kit::queue::run_consumer(
        queue,
        options,
        move |job| {
            let imports = imports.clone();
            async move {
                let ImportJob { import_id } = serde_json::from_str(&job.payload)
                    .map_err(|e| Permanent(format!("unreadable import job: {e}")))?;
                imports.run(import_id).await?;
                tracing::info!(%import_id, "import read");
                Ok(())
            }
        },
        shutdown,
    )
    .await;
}

/// How often abandoned uploads are looked for.
pub const EXPIRY_INTERVAL: Duration = Duration::from_secs(600);

/// Ends abandoned uploads every [`EXPIRY_INTERVAL`] until `shutdown`
/// (`Imports::expire_abandoned`).
pub async fn run_expiry(imports: Imports, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut ticks = tokio::time::interval(EXPIRY_INTERVAL);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = ticks.tick() => match imports.expire_abandoned(chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(ended) => tracing::info!(ended, "ended abandoned uploads"),
                Err(error) => tracing::warn!(error = format!("{error:#}"), "ending abandoned uploads failed"),
            },
        }
    }
}
