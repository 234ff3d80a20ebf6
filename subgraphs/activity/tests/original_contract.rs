//! The files imported workouts came from, on every activity store (the
//! embedded store always, MongoDB when `MONGODB_URI` is set): kept whole,
//! once, listed per user, and gone with the workout or the user.

use std::sync::Arc;

use chrono::Utc;
use fittrack_activity::{
    domain::{
        model::{Activity, ActivityType},
        ports::OriginalStore,
        recording::{FileFormat, OriginalFile},
    },
    storage::ActivityStore,
};
use uuid::Uuid;

mod support;

type StoresUnderTest = (
    &'static str,
    Arc<dyn ActivityStore>,
    Arc<dyn OriginalStore>,
    Option<tempfile::TempDir>,
);

async fn stores_under_test(backend: &'static str) -> Option<StoresUnderTest> {
    let stores = support::open(backend, "originals").await?;
    Some((backend, stores.activities, stores.originals, stores.dir))
}

async fn workout(store: &dyn ActivityStore, user: Uuid) -> Activity {
    let activity = support::workout(user, ActivityType::Running, Utc::now(), 30);
    store.insert(activity.clone()).await.expect("insert");
    activity
}

/// What a file is, in a line: its name, format, size and SHA-256.
fn shape(file: Option<OriginalFile>) -> Option<(String, FileFormat, usize, String)> {
    use sha2::Digest as _;
    file.map(|f| {
        let digest = sha2::Sha256::digest(&f.bytes);
        let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
        (f.name, f.format, f.bytes.len(), hex)
    })
}

/// Bytes gzip cannot shrink: 9 MiB of them span several MongoDB chunks.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

async fn an_original_is_kept_whole_once_and_goes_with_its_workout(
    (backend, activities, originals, _dir): StoresUnderTest,
) {
    let (ada, eve) = (Uuid::new_v4(), Uuid::new_v4());
    let big = workout(activities.as_ref(), ada).await;
    let small = workout(activities.as_ref(), ada).await;
    let eves = workout(activities.as_ref(), eve).await;
    let fit = OriginalFile {
        name: "export/Move_2024_05_01.fit".into(),
        format: FileFormat::Fit,
        bytes: noise(9 * 1024 * 1024 + 17),
    };
    let gpx = OriginalFile {
        name: "run.gpx".into(),
        format: FileFormat::Gpx,
        bytes: b"<gpx><trk/></gpx>".repeat(1000),
    };
    originals.keep_original(&big, &fit).await.expect("kept");
    originals.keep_original(&small, &gpx).await.expect("kept");
    originals.keep_original(&eves, &gpx).await.expect("kept");
    // Kept once: a second keep (an import retried) changes nothing.
    originals.keep_original(&small, &fit).await.expect("kept");
    assert_eq!(
        shape(originals.original(big.id).await.expect("read")),
        shape(Some(fit.clone())),
        "{backend}"
    );
    assert_eq!(
        shape(originals.original(small.id).await.expect("read")),
        shape(Some(gpx.clone())),
        "{backend}: kept once"
    );
    assert!(
        originals
            .original(Uuid::now_v7())
            .await
            .expect("read")
            .is_none(),
        "{backend}"
    );

    let mut listed = vec![big.id, small.id];
    listed.sort();
    assert_eq!(
        originals.originals(ada, None, 10).await.expect("list"),
        listed,
        "{backend}: Ada's only"
    );
    assert_eq!(
        originals
            .originals(ada, Some(listed[0]), 10)
            .await
            .expect("list"),
        listed[1..],
        "{backend}: after a cursor"
    );
    assert_eq!(
        originals.originals(ada, None, 1).await.expect("list"),
        listed[..1],
        "{backend}: at most the limit"
    );

    activities.delete(ada, big.id).await.expect("deleted");
    assert!(
        originals.original(big.id).await.expect("read").is_none(),
        "{backend}"
    );
    activities.delete_user(ada).await.expect("erased");
    assert!(
        originals
            .originals(ada, None, 10)
            .await
            .expect("list")
            .is_empty(),
        "{backend}"
    );
    assert_eq!(
        shape(originals.original(eves.id).await.expect("read")),
        shape(Some(gpx)),
        "{backend}: another user's stays"
    );
}

fittrack_kit::backend_contracts! {
    setup: stores_under_test,
    backends: [embedded, mongodb],
    contracts: [an_original_is_kept_whole_once_and_goes_with_its_workout],
}
