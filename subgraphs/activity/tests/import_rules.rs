//! The rules of an import that a hostile or clumsy client meets: staged
//! bytes are storage it holds (an upload may be left unfinished, but not
//! for ever, and not more than three at a time), and finishing twice queues
//! one job.

use std::sync::Arc;

use chrono::{Duration, Utc};
use fittrack_activity::{
    domain::{
        activities::Activities,
        error::ActivityError,
        imports::{DeclaredFile, ImportFileState, ImportState, ImportStore, Imports},
    },
    events::EventPublisher,
    files::Reader,
    imports::QueuedImports,
    storage::{embedded::EmbeddedActivityStore, ActivityStore},
};
use fittrack_kit::queue::{memory::MemoryJobQueue, JobQueue, QueueOptions};
use uuid::Uuid;

#[tokio::test]
async fn an_abandoned_upload_is_ended_and_its_bytes_dropped() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
    let store = Arc::new(EmbeddedActivityStore::open(&url).await.expect("store"));
    let activities_store: Arc<dyn ActivityStore> = store.clone();
    let import_store: Arc<dyn ImportStore> = store.clone();
    let queue: Arc<dyn JobQueue> =
        Arc::new(MemoryJobQueue::new("imports", QueueOptions::default()));
    let activities = Activities::new(
        activities_store.clone(),
        Arc::new(EventPublisher::new(queue.clone(), activities_store)),
        fittrack_kit::erasure::MemoryErasedUsers::shared(),
    );
    let imports = Imports::new(
        import_store.clone(),
        Arc::new(QueuedImports(queue)),
        Arc::new(Reader),
        activities,
    );
    let ada = Uuid::new_v4();
    let declare = || {
        vec![DeclaredFile {
            name: "run.fit".into(),
            size_bytes: 10,
            sha256: "ab".repeat(32),
        }]
    };
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(imports.start(ada, declare(), None).await.expect("start"));
    }
    imports
        .upload_chunk(ada, open[0].id, 0, 0, b"0123456789")
        .await
        .expect("chunk");
    assert!(matches!(
        imports.start(ada, declare(), None).await,
        Err(ActivityError::TooManyOpenImports)
    ));

    // Nothing is stale yet; a day and a bit later, all three are.
    assert_eq!(
        imports.expire_abandoned(Utc::now()).await.expect("expire"),
        0
    );
    let later = Utc::now() + Duration::hours(25);
    assert_eq!(imports.expire_abandoned(later).await.expect("expire"), 3);
    let ended = imports.get(ada, open[0].id).await.expect("import");
    assert_eq!(ended.state, ImportState::Done);
    assert_eq!(ended.files[0].state, ImportFileState::Refused);
    assert_eq!(
        ended.files[0].reason.as_deref(),
        Some("the upload was not finished within 24 hours")
    );
    assert!(import_store
        .chunks(open[0].id, 0)
        .await
        .expect("chunks")
        .is_empty());
    // The user may start again.
    imports
        .start(ada, declare(), None)
        .await
        .expect("start again");
}

/// Counts the jobs queued.
#[derive(Default)]
struct CountedJobs(std::sync::atomic::AtomicUsize);

#[async_trait::async_trait]
impl fittrack_activity::domain::imports::ImportJobs for CountedJobs {
    async fn enqueue(&self, _: Uuid) -> anyhow::Result<()> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finishing_twice_at_once_queues_one_job() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
    let store = Arc::new(EmbeddedActivityStore::open(&url).await.expect("store"));
    let activities_store: Arc<dyn ActivityStore> = store.clone();
    let queue: Arc<dyn JobQueue> = Arc::new(MemoryJobQueue::new("events", QueueOptions::default()));
    let jobs = Arc::new(CountedJobs::default());
    let imports = Imports::new(
        store.clone(),
        jobs.clone(),
        Arc::new(Reader),
        Activities::new(
            activities_store.clone(),
            Arc::new(EventPublisher::new(queue, activities_store)),
            fittrack_kit::erasure::MemoryErasedUsers::shared(),
        ),
    );
    let ada = Uuid::new_v4();
    let upload = imports
        .start(
            ada,
            vec![DeclaredFile {
                name: "a.gpx".into(),
                size_bytes: 3,
                sha256: "ab".repeat(32),
            }],
            None,
        )
        .await
        .expect("start");
    imports
        .upload_chunk(ada, upload.id, 0, 0, b"abc")
        .await
        .expect("chunk");
    let finishes: Vec<_> = (0..8)
        .map(|_| {
            let imports = imports.clone();
            tokio::spawn(async move { imports.finish(ada, upload.id).await })
        })
        .collect();
    for finish in finishes {
        let import = finish.await.expect("joined").expect("finished");
        assert_ne!(import.state, ImportState::Uploading);
    }
    assert_eq!(jobs.0.load(std::sync::atomic::Ordering::SeqCst), 1);
}
