//! What the activity crate's store tests share: the stores on each backend
//! and a workout to put in them.

#![allow(dead_code)] // each test binary uses a part

use std::sync::Arc;

use chrono::{DateTime, Utc};
use fittrack_activity::{
    domain::{
        model::{Activity, ActivityType, Metrics},
        ports::{GearStore, GoalStore, OriginalStore, ProfileStore},
    },
    storage::{embedded::EmbeddedActivityStore, mongo::MongoActivityStore, ActivityStore},
};
use uuid::Uuid;

/// One backend, seen through each of its ports.
pub struct OpenStores {
    pub activities: Arc<dyn ActivityStore>,
    pub goals: Arc<dyn GoalStore>,
    pub gear: Arc<dyn GearStore>,
    pub profiles: Arc<dyn ProfileStore>,
    pub originals: Arc<dyn OriginalStore>,
    /// The embedded store's directory, kept for the test's life.
    pub dir: Option<tempfile::TempDir>,
}

/// The embedded store in a fresh directory, or MongoDB in a fresh database
/// named after `prefix` when `MONGODB_URI` is set (`None` without it).
pub async fn open(backend: &str, prefix: &str) -> Option<OpenStores> {
    if backend == "embedded" {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
        let store = Arc::new(EmbeddedActivityStore::open(&url).await.expect("embedded"));
        return Some(OpenStores {
            activities: store.clone(),
            goals: store.clone(),
            gear: store.clone(),
            profiles: store.clone(),
            originals: store,
            dir: Some(dir),
        });
    }
    let uri = std::env::var("MONGODB_URI")
        .ok()
        .filter(|u| !u.is_empty())?;
    let database = format!("{prefix}_{}", Uuid::new_v4().simple());
    let store = Arc::new(
        MongoActivityStore::connect(&uri, &database)
            .await
            .expect("mongodb"),
    );
    Some(OpenStores {
        activities: store.clone(),
        goals: store.clone(),
        gear: store.clone(),
        profiles: store.clone(),
        originals: store,
        dir: None,
    })
}

/// `user`'s workout of `kind` for `minutes` from `start`, its event sent.
pub fn workout(user: Uuid, kind: ActivityType, start: DateTime<Utc>, minutes: i32) -> Activity {
    Activity {
        id: Uuid::now_v7(),
        user_id: user,
        activity_type: kind,
        duration_minutes: minutes,
        calories_burned: minutes * 10,
        start_time: start,
        notes: None,
        metrics: Metrics::default(),
        idempotency_key: None,
        created_at: start,
        updated_at: start,
        event_enqueued: true,
        time_zone: None,
    }
}
