//! One contract, every import store: the embedded store always, MongoDB when
//! `MONGODB_URI` is set (CI points it at nx-27017).

use std::sync::Arc;

use chrono::Utc;
use fittrack_activity::{
    domain::imports::{Import, ImportFile, ImportFileState, ImportState, ImportStore},
    storage::{embedded::EmbeddedActivityStore, mongo::MongoActivityStore},
};
use uuid::Uuid;

type StoreUnderTest = (
    &'static str,
    Arc<dyn ImportStore>,
    Option<tempfile::TempDir>,
);

async fn store_under_test(backend: &'static str) -> Option<StoreUnderTest> {
    if backend == "embedded" {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
        let embedded = EmbeddedActivityStore::open(&url).await.expect("embedded");
        return Some((backend, Arc::new(embedded), Some(dir)));
    }
    let uri = std::env::var("MONGODB_URI")
        .ok()
        .filter(|u| !u.is_empty())?;
    let database = format!("contract_{}", Uuid::new_v4().simple());
    let mongo = MongoActivityStore::connect(&uri, &database)
        .await
        .expect("mongodb");
    Some((backend, Arc::new(mongo), None))
}

fn import(user: Uuid) -> Import {
    let now = Utc::now();
    Import {
        id: Uuid::now_v7(),
        user_id: user,
        state: ImportState::Uploading,
        created_at: now,
        updated_at: now,
        time_zone: Some("Europe/Paris".into()),
        files: vec![ImportFile {
            name: "export.zip".into(),
            size_bytes: 10,
            sha256: "ab".repeat(32),
            state: ImportFileState::Uploading,
            reason: None,
            skipped_entries: 0,
            workouts: vec![],
        }],
    }
}

async fn imports_are_kept_counted_and_replaced((backend, store, _dir): StoreUnderTest) {
    let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let mut first = import(ada);
    store.create_import(&first).await.expect("create");
    store.create_import(&import(ada)).await.expect("create");
    store.create_import(&import(bob)).await.expect("create");
    assert_eq!(
        store.open_imports(ada).await.expect("count"),
        2,
        "{backend}"
    );
    assert_eq!(
        store.import(first.id).await.expect("get"),
        Some(first.clone()),
        "{backend}"
    );
    assert_eq!(
        store.import(Uuid::new_v4()).await.expect("get"),
        None,
        "{backend}"
    );
    first.state = ImportState::Done;
    first.files[0].state = ImportFileState::Refused;
    first.files[0].reason = Some("damaged".into());
    store.save_import(&first).await.expect("save");
    assert_eq!(
        store.import(first.id).await.expect("get"),
        Some(first.clone()),
        "{backend}"
    );
    assert_eq!(
        store.open_imports(ada).await.expect("count"),
        1,
        "{backend}"
    );
    // A conditional save: only from the state named.
    let mut queued = store.import(first.id).await.expect("get").expect("kept");
    queued.state = ImportState::Queued;
    let saved = |from| {
        let (store, queued) = (store.clone(), queued.clone());
        async move { store.save_import_if(&queued, from).await.expect("save") }
    };
    assert!(!saved(ImportState::Uploading).await, "{backend}");
    assert!(saved(ImportState::Done).await, "{backend}");
    assert!(!saved(ImportState::Done).await, "{backend}");
    assert_eq!(
        store.import(first.id).await.expect("get"),
        Some(queued.clone()),
        "{backend}"
    );
    store.delete_user_imports(ada).await.expect("erase");
    assert_eq!(
        store.import(first.id).await.expect("get"),
        None,
        "{backend}"
    );
    assert_eq!(
        store.open_imports(ada).await.expect("count"),
        0,
        "{backend}"
    );
    assert_eq!(
        store.open_imports(bob).await.expect("count"),
        1,
        "{backend}"
    );
}

async fn chunks_come_back_in_order_and_the_first_copy_is_kept(
    (backend, store, _dir): StoreUnderTest,
) {
    let ada = Uuid::new_v4();
    let upload = import(ada);
    store.create_import(&upload).await.expect("create");
    let id = upload.id;
    store.put_chunk(id, 0, 8, b"ij").await.expect("put");
    store.put_chunk(id, 0, 0, b"abcdefgh").await.expect("put");
    store.put_chunk(id, 1, 0, b"other file").await.expect("put");
    // A retry of a chunk keeps the first copy.
    store.put_chunk(id, 0, 8, b"XX").await.expect("put");
    assert_eq!(
        store.chunk_sizes(id, 0).await.expect("sizes"),
        vec![(0, 8), (8, 2)],
        "{backend}"
    );
    let chunks = store.chunks(id, 0).await.expect("chunks");
    let bytes: Vec<u8> = chunks.into_iter().flat_map(|(_, c)| c).collect();
    assert_eq!(bytes, b"abcdefghij", "{backend}");
    store.delete_chunks(id).await.expect("delete");
    assert!(
        store.chunks(id, 0).await.expect("chunks").is_empty(),
        "{backend}"
    );
    assert!(
        store.chunks(id, 1).await.expect("chunks").is_empty(),
        "{backend}"
    );
    // Erasing a user takes their staged bytes too.
    store.put_chunk(id, 0, 0, b"abc").await.expect("put");
    store.delete_user_imports(ada).await.expect("erase");
    assert!(
        store.chunks(id, 0).await.expect("chunks").is_empty(),
        "{backend}"
    );
}

async fn uploads_left_waiting_are_found_oldest_first((backend, store, _dir): StoreUnderTest) {
    let ada = Uuid::new_v4();
    let now = Utc::now();
    let mut old = import(ada);
    old.updated_at = now - chrono::Duration::hours(30);
    let mut older = import(ada);
    older.updated_at = now - chrono::Duration::hours(40);
    let mut finished = import(ada);
    finished.updated_at = now - chrono::Duration::hours(50);
    finished.state = ImportState::Queued;
    let fresh = import(ada);
    for upload in [&old, &older, &finished, &fresh] {
        store.create_import(upload).await.expect("create");
    }
    let cutoff = now - chrono::Duration::hours(24);
    assert_eq!(
        store.stale_uploads(cutoff, 10).await.expect("stale"),
        vec![older.id, old.id],
        "{backend}"
    );
    assert_eq!(
        store.stale_uploads(cutoff, 1).await.expect("stale"),
        vec![older.id],
        "{backend}"
    );
    // Saving moves it on.
    old.updated_at = now;
    store.save_import(&old).await.expect("save");
    assert_eq!(
        store.stale_uploads(cutoff, 10).await.expect("stale"),
        vec![older.id],
        "{backend}"
    );
}

fittrack_kit::backend_contracts! {
    setup: store_under_test,
    backends: [embedded, mongodb],
    contracts: [
        imports_are_kept_counted_and_replaced,
        chunks_come_back_in_order_and_the_first_copy_is_kept,
        uploads_left_waiting_are_found_oldest_first,
    ],
}
