//! One contract, every activity store: the embedded store always, MongoDB when
//! `MONGODB_URI` is set (CI points it at nx-27017).

use std::{collections::HashSet, sync::Arc};

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use fittrack_activity::{
    domain::{
        model::{Activity, ActivityFields, ActivityFilter, ActivityType, Change, Cursor, Metrics},
        recording::{FileFormat, Lap, RecordingSummary, Sample, StoredRecording},
        records::{Effort, RecordKey, RecordKind},
    },
    storage::{
        embedded::EmbeddedActivityStore, mongo::MongoActivityStore, ActivityStore, Inserted,
        PageQuery, WorkoutReadsQuery,
    },
};
use serde_json::json;
use uuid::Uuid;

/// The backend's name, a fresh and empty store, and its files (kept until the end).
type StoreUnderTest = (
    &'static str,
    Arc<dyn ActivityStore>,
    Option<tempfile::TempDir>,
);

/// `mongodb` only where `MONGODB_URI` is set (CI points it at nx-27017).
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

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("valid time")
}

fn activity(user: Uuid, kind: ActivityType, start: DateTime<Utc>, minutes: i32) -> Activity {
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
        event_enqueued: false,
        time_zone: None,
    }
}

async fn insert_new(store: &dyn ActivityStore, a: Activity) -> Activity {
    match store.insert(a).await.expect("insert") {
        Inserted::New(a) => a,
        Inserted::Existing(a) => panic!("unexpected duplicate {a:?}"),
    }
}

async fn insert_and_read_back_every_field((backend, store, _dir): StoreUnderTest) {
    let user = Uuid::new_v4();
    let mut a = activity(user, ActivityType::Running, at(2026, 3, 1, 7, 30), 45);
    a.notes = Some("felt great".into());
    a.metrics = Metrics {
        distance_km: Some(10.5),
        average_heart_rate: Some(150),
        max_heart_rate: Some(180),
        steps: Some(12_000),
        custom: Some(json!({"shoes": "pegasus", "splits": [5.1, 5.0], "weather": {"temp": 12}})),
    };
    a.idempotency_key = Some("k-1".into());
    a.time_zone = Some("America/Sao_Paulo".into());
    let stored = insert_new(store.as_ref(), a.clone()).await;
    assert_eq!(stored, a, "{backend}");
    let read = store.get_many(&[a.id, Uuid::new_v4()]).await.expect("get");
    assert_eq!(read, vec![a], "{backend}");
}

async fn idempotency_keys_are_per_user((backend, store, _dir): StoreUnderTest) {
    let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let start = at(2026, 3, 1, 7, 0);
    let mut first = activity(ada, ActivityType::Yoga, start, 30);
    first.idempotency_key = Some("same".into());
    let first = insert_new(store.as_ref(), first).await;

    let mut retry = activity(ada, ActivityType::Yoga, start, 99);
    retry.idempotency_key = Some("same".into());
    match store.insert(retry).await.expect("insert") {
        Inserted::Existing(existing) => assert_eq!(existing, first, "{backend}"),
        other => panic!("{backend}: retry stored a copy: {other:?}"),
    }

    let mut bobs = activity(bob, ActivityType::Yoga, start, 30);
    bobs.idempotency_key = Some("same".into());
    insert_new(store.as_ref(), bobs).await;
    // Keyless activities never collide.
    insert_new(store.as_ref(), activity(ada, ActivityType::Yoga, start, 30)).await;
    insert_new(store.as_ref(), activity(ada, ActivityType::Yoga, start, 30)).await;

    let page = store
        .page(&PageQuery {
            user_id: Some(ada),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("page");
    assert_eq!(page.len(), 3, "{backend}");
}

async fn update_and_delete_only_touch_the_owners_activity((backend, store, _dir): StoreUnderTest) {
    let (owner, stranger) = (Uuid::new_v4(), Uuid::new_v4());
    let a = insert_new(
        store.as_ref(),
        activity(owner, ActivityType::Cycling, at(2026, 3, 2, 8, 0), 60),
    )
    .await;
    let fields = ActivityFields {
        activity_type: ActivityType::Hiking,
        duration_minutes: 90,
        calories_burned: 700,
        start_time: at(2026, 3, 2, 9, 0),
        notes: Some("changed".into()),
        metrics: Metrics {
            steps: Some(9000),
            ..Default::default()
        },
        time_zone: Some("Asia/Tokyo".into()),
    };
    let now = at(2026, 3, 3, 0, 0);
    assert_eq!(
        store
            .update(stranger, a.id, &fields, now)
            .await
            .expect("update"),
        None,
        "{backend}"
    );
    let updated = store
        .update(owner, a.id, &fields, now)
        .await
        .expect("update")
        .expect("owner may update");
    assert_eq!(updated.activity_type, ActivityType::Hiking, "{backend}");
    assert_eq!(updated.duration_minutes, 90);
    assert_eq!(updated.notes.as_deref(), Some("changed"));
    assert_eq!(updated.metrics.steps, Some(9000));
    assert_eq!(
        updated.time_zone.as_deref(),
        Some("Asia/Tokyo"),
        "{backend}"
    );
    assert_eq!(updated.updated_at, now);
    assert_eq!(updated.created_at, a.created_at);
    assert_eq!(
        store.get_many(&[a.id]).await.expect("get"),
        vec![updated.clone()]
    );

    assert_eq!(
        store.delete(stranger, a.id).await.expect("delete"),
        None,
        "{backend}"
    );
    assert_eq!(
        store.delete(owner, a.id).await.expect("delete"),
        Some(updated),
        "{backend}"
    );
    assert_eq!(store.delete(owner, a.id).await.expect("delete"), None);
    assert!(store.get_many(&[a.id]).await.expect("get").is_empty());
}

async fn pages_are_newest_first_with_stable_cursors_and_filters(
    (backend, store, _dir): StoreUnderTest,
) {
    let user = Uuid::new_v4();
    let other = Uuid::new_v4();
    let mut all = Vec::new();
    for i in 0..7u32 {
        let kind = if i % 2 == 0 {
            ActivityType::Running
        } else {
            ActivityType::Swimming
        };
        all.push(
            insert_new(
                store.as_ref(),
                activity(user, kind, at(2026, 4, 1 + i, 6, 0), 30),
            )
            .await,
        );
    }
    // Two activities at the same instant: ties break by id.
    let same = at(2026, 4, 3, 6, 0);
    all.push(insert_new(store.as_ref(), activity(user, ActivityType::Yoga, same, 20)).await);
    insert_new(
        store.as_ref(),
        activity(other, ActivityType::Running, at(2026, 4, 5, 6, 0), 30),
    )
    .await;

    let mut expected = all.clone();
    expected.sort_by_key(|a| std::cmp::Reverse((a.start_time, a.id)));

    let mut seen = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let page = store
            .page(&PageQuery {
                user_id: Some(user),
                filter: ActivityFilter::default(),
                after,
                limit: 3,
            })
            .await
            .expect("page");
        if page.is_empty() {
            break;
        }
        after = page.last().map(Cursor::of);
        seen.extend(page);
    }
    assert_eq!(
        seen.iter().map(|a| a.id).collect::<Vec<_>>(),
        expected.iter().map(|a| a.id).collect::<Vec<_>>(),
        "{backend}: pagination order"
    );

    let filtered = store
        .page(&PageQuery {
            user_id: Some(user),
            filter: ActivityFilter {
                types: vec![ActivityType::Running],
                from: Some(at(2026, 4, 2, 0, 0)),
                to: Some(at(2026, 4, 7, 6, 0)),
            },
            after: None,
            limit: 10,
        })
        .await
        .expect("page");
    let days: Vec<u32> = filtered
        .iter()
        .map(|a| {
            a.start_time
                .date_naive()
                .format("%d")
                .to_string()
                .parse()
                .expect("day")
        })
        .collect();
    assert_eq!(days, vec![5, 3], "{backend}: type + [from, to) filter");

    let everyone = store
        .page(&PageQuery {
            user_id: None,
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("page");
    assert_eq!(everyone.len(), 9, "{backend}");
}

async fn first_pages_batch_many_users_in_one_call((backend, store, _dir): StoreUnderTest) {
    let users: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    for (n, user) in users.iter().enumerate() {
        for day in 0..(n as u32 + 1) * 2 {
            insert_new(
                store.as_ref(),
                activity(*user, ActivityType::Walking, at(2026, 5, 1 + day, 7, 0), 20),
            )
            .await;
        }
    }
    let lonely = Uuid::new_v4();
    let mut ids = users.clone();
    ids.push(lonely);
    let pages = store
        .first_pages(&ids, &ActivityFilter::default(), 3)
        .await
        .expect("first pages");
    assert_eq!(pages.get(&users[0]).map(Vec::len), Some(2), "{backend}");
    assert_eq!(pages.get(&users[1]).map(Vec::len), Some(3), "{backend}");
    assert_eq!(pages.get(&users[2]).map(Vec::len), Some(3), "{backend}");
    assert!(pages.get(&lonely).is_none_or(Vec::is_empty), "{backend}");
    let newest = &pages[&users[2]];
    assert_eq!(
        newest[0].start_time,
        at(2026, 5, 6, 7, 0),
        "{backend}: newest first"
    );
    assert!(newest
        .windows(2)
        .all(|w| w[0].start_time >= w[1].start_time));
    assert!(newest.iter().all(|a| a.user_id == users[2]));
}

async fn totals_per_type_and_per_local_day_are_aggregated_by_the_store(
    (backend, store, _dir): StoreUnderTest,
) {
    let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
    // 23:30 UTC on the 1st is the 2nd in UTC+01:00.
    insert_new(
        store.as_ref(),
        activity(ada, ActivityType::Running, at(2026, 6, 1, 23, 30), 30),
    )
    .await;
    insert_new(
        store.as_ref(),
        activity(ada, ActivityType::Running, at(2026, 6, 2, 7, 0), 40),
    )
    .await;
    insert_new(
        store.as_ref(),
        activity(ada, ActivityType::Yoga, at(2026, 6, 4, 7, 0), 60),
    )
    .await;
    insert_new(
        store.as_ref(),
        activity(bob, ActivityType::Cycling, at(2026, 6, 2, 7, 0), 90),
    )
    .await;

    let mut totals = store
        .type_totals(Some(&[ada, bob]), &ActivityFilter::default())
        .await
        .expect("totals");
    totals.sort_by_key(|t| (t.user_id == bob, t.activity_type));
    let summary: Vec<_> = totals
        .iter()
        .map(|t| {
            (
                t.user_id,
                t.activity_type,
                t.count,
                t.duration_minutes,
                t.calories_burned,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (ada, ActivityType::Running, 2, 70, 700),
            (ada, ActivityType::Yoga, 1, 60, 600),
            (bob, ActivityType::Cycling, 1, 90, 900),
        ],
        "{backend}"
    );

    let ranged = store
        .type_totals(
            Some(&[ada]),
            &ActivityFilter {
                from: Some(at(2026, 6, 2, 0, 0)),
                ..Default::default()
            },
        )
        .await
        .expect("totals");
    assert_eq!(ranged.iter().map(|t| t.count).sum::<i64>(), 2, "{backend}");

    let platform = store
        .type_totals(None, &ActivityFilter::default())
        .await
        .expect("totals");
    let platform_count: i64 = platform.iter().map(|t| t.count).sum();
    assert_eq!(platform_count, 4, "{backend}");
    let kinds: HashSet<_> = platform.iter().map(|t| t.activity_type).collect();
    assert_eq!(kinds.len(), platform.len(), "{backend}: one row per type");

    let plus_one = FixedOffset::east_opt(3600).expect("offset");
    let daily = store
        .daily_totals(&[ada, bob], plus_one)
        .await
        .expect("daily");
    let mut ada_days: Vec<(NaiveDate, i64, i64)> = daily[&ada]
        .iter()
        .map(|d| (d.day, d.count, d.duration_minutes))
        .collect();
    ada_days.sort();
    let day = |d| NaiveDate::from_ymd_opt(2026, 6, d).expect("date");
    assert_eq!(
        ada_days,
        vec![(day(2), 2, 70), (day(4), 1, 60)],
        "{backend}"
    );
    assert_eq!(daily[&bob].len(), 1, "{backend}");

    let utc = store
        .daily_totals(&[ada], FixedOffset::east_opt(0).expect("utc"))
        .await
        .expect("daily");
    assert_eq!(
        utc[&ada].len(),
        3,
        "{backend}: in UTC the late run is on the 1st"
    );

    // Quarter hours keep the zone of their workouts, one row per zone.
    let mut tokyo = activity(bob, ActivityType::Running, at(2026, 6, 2, 7, 5), 20);
    tokyo.time_zone = Some("Asia/Tokyo".into());
    insert_new(store.as_ref(), tokyo).await;
    let quarters = store.quarter_hour_totals(&[bob]).await.expect("quarters");
    let mut rows: Vec<(String, Option<String>, i64)> = quarters[&bob]
        .iter()
        .map(|q| {
            (
                q.start.to_rfc3339(),
                q.time_zone.clone(),
                q.duration_minutes,
            )
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("2026-06-02T07:00:00+00:00".to_owned(), None, 90),
            (
                "2026-06-02T07:00:00+00:00".to_owned(),
                Some("Asia/Tokyo".to_owned()),
                20
            ),
        ],
        "{backend}"
    );
}

async fn unconfirmed_events_are_found_until_marked((backend, store, _dir): StoreUnderTest) {
    let user = Uuid::new_v4();
    let old = insert_new(
        store.as_ref(),
        activity(user, ActivityType::Other, at(2026, 1, 1, 0, 0), 10),
    )
    .await;
    let mut recent = activity(user, ActivityType::Other, Utc::now(), 10);
    recent.created_at = Utc::now();
    insert_new(store.as_ref(), recent).await;

    let cutoff = Utc::now() - Duration::minutes(1);
    let pending = store.pending_events(cutoff, 10).await.expect("pending");
    assert_eq!(
        pending.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![old.id],
        "{backend}"
    );
    // The cut-off is inclusive: a zero grace period finds this instant's activity.
    let at_creation = store
        .pending_events(old.created_at, 10)
        .await
        .expect("pending");
    assert_eq!(
        at_creation.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![old.id],
        "{backend}"
    );

    store.mark_events_enqueued(&[]).await.expect("mark nothing");
    store.mark_events_enqueued(&[old.id]).await.expect("mark");
    assert!(
        store
            .pending_events(cutoff, 10)
            .await
            .expect("pending")
            .is_empty(),
        "{backend}"
    );
    let read = store.get_many(&[old.id]).await.expect("get");
    assert!(read[0].event_enqueued, "{backend}");
    store.ping().await.expect("ping");
}

async fn one_write_marks_many_events_and_only_those((backend, store, _dir): StoreUnderTest) {
    let user = Uuid::new_v4();
    let mut saved = Vec::new();
    for minutes in 1..=5 {
        saved.push(
            insert_new(
                store.as_ref(),
                activity(user, ActivityType::Yoga, at(2026, 2, 1, 8, 0), minutes),
            )
            .await
            .id,
        );
    }
    store
        .mark_events_enqueued(&saved[..4])
        .await
        .expect("mark four");
    let pending = store.pending_events(Utc::now(), 10).await.expect("pending");
    assert_eq!(
        pending.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![saved[4]],
        "{backend}"
    );
}

/// A recording of `points` one-second points, every channel filled but power.
fn recording(start: DateTime<Utc>, points: i64) -> StoredRecording {
    let samples = (0..points)
        .map(|i| Sample {
            time: start + Duration::seconds(i),
            position: Some((46.5 + i as f64 * 1e-5, 7.0 + i as f64 * 2e-5)),
            distance_m: Some(i as f64 * 2.5),
            altitude_m: Some(500.0 + (i % 40) as f64),
            speed_mps: Some(2.5),
            heart_rate: Some(120 + (i % 50) as u16),
            cadence: Some(85),
            power_w: None,
        })
        .collect();
    StoredRecording {
        summary: RecordingSummary {
            format: FileFormat::Fit,
            original_sport: "running/trail".into(),
            device: Some("garmin fenix7".into()),
            utc_offset_seconds: Some(7200),
            elapsed_seconds: points as f64,
            timer_seconds: Some(points as f64 - 30.0),
            distance_m: Some(points as f64 * 2.5),
            file_sha256: "ab".repeat(32),
            laps: vec![Lap {
                start_time: start,
                elapsed_seconds: points as f64,
                distance_m: Some(points as f64 * 2.5),
                calories: Some(300),
                average_heart_rate: Some(144),
                max_heart_rate: Some(169),
            }],
        },
        samples,
    }
}

async fn recordings_are_kept_whole_and_go_with_their_activity(
    (backend, store, _dir): StoreUnderTest,
) {
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let start = at(2026, 3, 1, 7, 30);
    let long = insert_new(&*store, activity(alice, ActivityType::Running, start, 60)).await;
    let short = insert_new(&*store, activity(alice, ActivityType::Hiking, start, 5)).await;
    let bobs = insert_new(&*store, activity(bob, ActivityType::Running, start, 5)).await;
    assert!(
        !store.has_recording(long.id).await.expect("has"),
        "{backend}"
    );
    // More points than one chunk holds: the chunks come back in order.
    let kept = recording(start, 12_345);
    assert!(store.save_recording(&long, &kept).await.expect("save"));
    assert!(
        store.has_recording(long.id).await.expect("has"),
        "{backend}"
    );
    store
        .save_recording(&short, &recording(start, 300))
        .await
        .expect("save");
    store
        .save_recording(&bobs, &recording(start, 300))
        .await
        .expect("save");
    let found = store
        .recordings(&[long.id, short.id, Uuid::new_v4()])
        .await
        .expect("recordings");
    assert_eq!(found.len(), 2, "{backend}");
    let back = &found[&long.id];
    assert_eq!(back.summary, kept.summary, "{backend}");
    assert_eq!(back.samples.len(), kept.samples.len(), "{backend}");
    for (read, written) in back.samples.iter().zip(&kept.samples) {
        assert_eq!(read.time, written.time, "{backend}");
        assert_eq!(read.heart_rate, written.heart_rate, "{backend}");
        assert_eq!(read.power_w, None, "{backend}");
        let (p, q) = (
            read.position.expect("position"),
            written.position.expect("position"),
        );
        assert!(
            (p.0 - q.0).abs() < 1e-7 && (p.1 - q.1).abs() < 1e-7,
            "{backend}"
        );
    }
    // Saving again keeps the first.
    let again = store
        .save_recording(&short, &recording(start, 120))
        .await
        .expect("save");
    assert!(!again, "{backend}");
    let found = store.recordings(&[short.id]).await.expect("recordings");
    assert_eq!(found[&short.id].samples.len(), 300, "{backend}");
    // Deleting an activity deletes its recording; erasing a user, all of theirs.
    store.delete(alice, short.id).await.expect("delete");
    assert!(store
        .recordings(&[short.id])
        .await
        .expect("recordings")
        .is_empty());
    assert!(
        !store.has_recording(short.id).await.expect("has"),
        "{backend}"
    );
    store.delete_user(alice).await.expect("erase");
    let left = store
        .recordings(&[long.id, bobs.id])
        .await
        .expect("recordings");
    assert_eq!(left.keys().collect::<Vec<_>>(), vec![&bobs.id], "{backend}");
}

/// `a`'s best over `kind`, achieved when it started.
fn effort(a: &Activity, kind: RecordKind, value: f64) -> Effort {
    Effort {
        activity_id: a.id,
        user_id: a.user_id,
        activity_type: a.activity_type,
        kind,
        value,
        achieved_at: a.start_time,
    }
}

async fn efforts_are_kept_per_activity_and_kind_and_go_with_it(
    (backend, store, _dir): StoreUnderTest,
) {
    let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let start = at(2026, 3, 1, 7, 30);
    let run = insert_new(&*store, activity(ada, ActivityType::Running, start, 30)).await;
    let other = insert_new(&*store, activity(ada, ActivityType::Running, start, 40)).await;
    let bobs = insert_new(&*store, activity(bob, ActivityType::Running, start, 30)).await;
    store
        .save_efforts(&[
            effort(&run, RecordKind::Fastest5K, 1_500.25),
            effort(&run, RecordKind::LongestDuration, 1_800.0),
        ])
        .await
        .expect("save");
    // Saved again (a re-import): the first stays.
    store
        .save_efforts(&[effort(&run, RecordKind::Fastest5K, 9.0)])
        .await
        .expect("save");
    store
        .save_efforts(&[effort(&other, RecordKind::Fastest5K, 1_400.0)])
        .await
        .expect("save");
    store
        .save_efforts(&[effort(&bobs, RecordKind::Fastest5K, 1_000.0)])
        .await
        .expect("save");
    let mut fives = store
        .efforts(ada, &[RecordKind::Fastest5K])
        .await
        .expect("efforts");
    fives.sort_by(|a, b| a.value.total_cmp(&b.value));
    assert_eq!(
        fives,
        vec![
            effort(&other, RecordKind::Fastest5K, 1_400.0),
            effort(&run, RecordKind::Fastest5K, 1_500.25)
        ],
        "{backend}"
    );
    assert_eq!(
        store.efforts(ada, &[]).await.expect("all").len(),
        3,
        "{backend}"
    );
    store.delete(ada, other.id).await.expect("delete");
    assert_eq!(
        store.efforts(ada, &[]).await.expect("all").len(),
        2,
        "{backend}"
    );
    store.delete_user(ada).await.expect("erase");
    assert!(
        store.efforts(ada, &[]).await.expect("all").is_empty(),
        "{backend}"
    );
    assert_eq!(
        store.efforts(bob, &[]).await.expect("all").len(),
        1,
        "{backend}"
    );
}

/// The record holders `activity` competes with for `record_keys`, read
/// with nothing else asked for.
async fn holders_of(
    store: &dyn ActivityStore,
    activity: &Activity,
    record_keys: &[RecordKey],
) -> Vec<Effort> {
    let query = WorkoutReadsQuery {
        record_keys,
        ..WorkoutReadsQuery::default()
    };
    let reads = store
        .workout_reads(activity, &query)
        .await
        .expect("holders");
    assert!(
        reads.gear.is_empty() && reads.goals.is_empty(),
        "not asked for"
    );
    reads.holders
}

/// What decides a new workout's records, read without the user's history:
/// per key, the best value among the other workouts (the earliest of equal
/// ones), per activity type for the longest duration.
async fn each_record_has_one_holder_the_best_then_the_earliest(
    (backend, store, _dir): StoreUnderTest,
) {
    let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let run = |day: u32| activity(ada, ActivityType::Running, at(2026, 3, day, 7, 0), 30);
    let (first, second, third, new) = (run(1), run(2), run(3), run(4));
    let ride = activity(ada, ActivityType::Cycling, at(2026, 3, 5, 7, 0), 120);
    let bobs = activity(bob, ActivityType::Running, at(2026, 3, 1, 7, 0), 30);
    for a in [&first, &second, &third, &new, &ride, &bobs] {
        insert_new(&*store, a.clone()).await;
    }
    store
        .save_efforts(&[
            effort(&first, RecordKind::Fastest5K, 1_500.0),
            effort(&first, RecordKind::BestPower5Min, 250.0),
            effort(&first, RecordKind::LongestDuration, 1_800.0),
            // As fast as the third, and earlier: it holds the record.
            effort(&second, RecordKind::Fastest5K, 1_400.0),
            effort(&second, RecordKind::BestPower5Min, 300.0),
            effort(&third, RecordKind::Fastest5K, 1_400.0),
            effort(&third, RecordKind::BestPower5Min, 300.0),
            // The workout being judged does not compete with itself.
            effort(&new, RecordKind::Fastest5K, 1_300.0),
            effort(&new, RecordKind::LongestDuration, 9_000.0),
            // Longer, but a ride: not a run's record.
            effort(&ride, RecordKind::LongestDuration, 7_200.0),
            effort(&bobs, RecordKind::Fastest5K, 1_000.0),
        ])
        .await
        .expect("save");
    let mut holders = holders_of(
        &*store,
        &new,
        &[
            (RecordKind::Fastest5K, None),
            (RecordKind::BestPower5Min, None),
            (RecordKind::LongestDuration, Some(ActivityType::Running)),
            (RecordKind::FastestMarathon, None),
        ],
    )
    .await;
    holders.sort_by_key(|e| e.kind);
    assert_eq!(
        holders,
        vec![
            effort(&second, RecordKind::Fastest5K, 1_400.0),
            effort(&second, RecordKind::BestPower5Min, 300.0),
            effort(&first, RecordKind::LongestDuration, 1_800.0),
        ],
        "{backend}"
    );
    assert_eq!(
        holders_of(
            &*store,
            &new,
            &[(RecordKind::LongestDuration, Some(ActivityType::Cycling))]
        )
        .await,
        vec![effort(&ride, RecordKind::LongestDuration, 7_200.0)],
        "{backend}"
    );
}

async fn the_change_feed_lists_saves_and_deletions_in_order(
    (backend, store, _dir): StoreUnderTest,
) {
    let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let t0 = Utc::now() - Duration::minutes(10);
    let mut first = activity(ada, ActivityType::Running, t0, 30);
    first.created_at = t0;
    first.updated_at = t0;
    let first = insert_new(&*store, first).await;
    let mut second = activity(ada, ActivityType::Cycling, t0, 60);
    second.created_at = t0 + Duration::seconds(1);
    second.updated_at = second.created_at;
    let second = insert_new(&*store, second).await;
    let mut bobs = activity(bob, ActivityType::Running, t0, 30);
    bobs.created_at = t0 + Duration::seconds(2);
    bobs.updated_at = bobs.created_at;
    insert_new(&*store, bobs).await;
    let fields = ActivityFields {
        activity_type: ActivityType::Running,
        duration_minutes: 31,
        calories_burned: 300,
        start_time: t0,
        notes: Some("edited".into()),
        metrics: Metrics::default(),
        time_zone: None,
    };
    let updated = store
        .update(ada, first.id, &fields, Utc::now())
        .await
        .expect("update")
        .expect("mine");
    store.delete(ada, second.id).await.expect("delete");
    // Deleting what is not yours (or not there) announces nothing.
    store.delete(ada, Uuid::new_v4()).await.expect("delete");
    let now = Utc::now() + Duration::seconds(1);
    let all = store.changes(ada, None, now, 10).await.expect("changes");
    assert_eq!(all.len(), 2, "{backend}: {all:?}");
    // Stores keep milliseconds.
    match &all[0] {
        Change::Saved(saved) => {
            assert_eq!(saved.id, updated.id, "{backend}");
            assert_eq!(saved.notes.as_deref(), Some("edited"), "{backend}");
            assert_eq!(
                saved.updated_at.timestamp_millis(),
                updated.updated_at.timestamp_millis(),
                "{backend}"
            );
        }
        other => panic!("{backend}: {other:?}"),
    }
    assert!(
        matches!(all[1], Change::Deleted { id, .. } if id == second.id),
        "{backend}: {all:?}"
    );
    // Page by page from a position.
    let page = store.changes(ada, None, now, 1).await.expect("changes");
    assert_eq!(page, all[..1], "{backend}");
    let next = store
        .changes(ada, Some(page[0].position()), now, 1)
        .await
        .expect("changes");
    assert_eq!(next, all[1..], "{backend}");
    let after_all = store
        .changes(ada, Some(next[0].position()), now, 10)
        .await
        .expect("changes");
    assert!(after_all.is_empty(), "{backend}");
    // Nothing after `until` yet.
    let earlier = store
        .changes(ada, None, t0 + Duration::seconds(5), 10)
        .await
        .expect("changes");
    assert!(earlier.is_empty(), "{backend}: {earlier:?}");
    store.delete_user(ada).await.expect("erase");
    assert!(store
        .changes(ada, None, now, 10)
        .await
        .expect("changes")
        .is_empty());
}

fittrack_kit::backend_contracts! {
    setup: store_under_test,
    backends: [embedded, mongodb],
    contracts: [
        insert_and_read_back_every_field,
        idempotency_keys_are_per_user,
        update_and_delete_only_touch_the_owners_activity,
        pages_are_newest_first_with_stable_cursors_and_filters,
        first_pages_batch_many_users_in_one_call,
        totals_per_type_and_per_local_day_are_aggregated_by_the_store,
        unconfirmed_events_are_found_until_marked,
        one_write_marks_many_events_and_only_those,
        recordings_are_kept_whole_and_go_with_their_activity,
        efforts_are_kept_per_activity_and_kind_and_go_with_it,
        each_record_has_one_holder_the_best_then_the_earliest,
        the_change_feed_lists_saves_and_deletions_in_order,
    ],
}

/// A data directory made before activities had a time zone (and profiles
/// their own heart-rate zones) opens, keeps its activities and profiles,
/// and takes zones from then on.
#[tokio::test]
async fn an_embedded_store_from_before_time_zones_is_upgraded_in_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    {
        use sea_orm::{ConnectionTrait, Database};
        let old = Database::connect(&url).await.expect("sqlite");
        old.execute_unprepared(
            "CREATE TABLE activities (
                id TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL, type TEXT NOT NULL,
                duration_minutes INTEGER NOT NULL, calories_burned INTEGER NOT NULL,
                start_ms INTEGER NOT NULL, notes TEXT, metrics TEXT NOT NULL,
                idempotency_key TEXT, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
                event_enqueued INTEGER NOT NULL DEFAULT 0);
             INSERT INTO activities VALUES ('01a24700-0000-7000-8000-000000000001',
                '01a24700-0000-7000-8000-0000000000aa', 'RUNNING', 30, 300,
                1764000000000, NULL, '{}', NULL, 1764000000000, 1764000000000, 1);
             CREATE TABLE training_profiles (
                user_id TEXT PRIMARY KEY NOT NULL, max_heart_rate INTEGER,
                resting_heart_rate INTEGER, units TEXT NOT NULL, updated_ms INTEGER NOT NULL);
             INSERT INTO training_profiles VALUES ('01a24700-0000-7000-8000-0000000000aa',
                185, 50, 'METRIC', 1764000000000);",
        )
        .await
        .expect("old schema");
    }
    let store = EmbeddedActivityStore::open(&url).await.expect("opens");
    let id: Uuid = "01a24700-0000-7000-8000-000000000001".parse().expect("id");
    let kept = store.get_many(&[id]).await.expect("read");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].time_zone, None);
    let profile = fittrack_activity::domain::ports::ProfileStore::profile(&store, kept[0].user_id)
        .await
        .expect("profile")
        .expect("kept");
    assert_eq!(
        (profile.max_heart_rate, profile.zone_floors),
        (Some(185), None),
        "a profile from before own zones"
    );
    let mut zoned = activity(
        kept[0].user_id,
        ActivityType::Yoga,
        at(2026, 3, 1, 7, 0),
        20,
    );
    zoned.time_zone = Some("Europe/Oslo".into());
    let stored = insert_new(&store, zoned).await;
    assert_eq!(
        store.get_many(&[stored.id]).await.expect("read")[0]
            .time_zone
            .as_deref(),
        Some("Europe/Oslo")
    );
    // Opening again finds the column there.
    drop(store);
    EmbeddedActivityStore::open(&url)
        .await
        .expect("opens again");
}

/// An index an earlier version made and nothing reads any more is dropped
/// when a store connects, so an upgraded deployment stops writing it on
/// every effort; a second replica connecting after it finds nothing to do.
#[tokio::test]
async fn a_mongodb_store_drops_the_efforts_index_it_no_longer_reads() {
    use ::mongodb::{bson::doc, bson::Document, IndexModel};
    use futures_util::TryStreamExt;
    let Some(uri) = std::env::var("MONGODB_URI").ok().filter(|u| !u.is_empty()) else {
        return;
    };
    let database = format!("retired_{}", Uuid::new_v4().simple());
    let client = ::mongodb::Client::with_uri_str(&uri).await.expect("client");
    let efforts = client
        .database(&database)
        .collection::<Document>("activity_efforts");
    efforts
        .create_index(
            IndexModel::builder()
                .keys(doc! {"userId": 1, "kind": 1})
                .build(),
        )
        .await
        .expect("the old index");
    let before = efforts.list_index_names().await.expect("indexes");
    assert_eq!(before.len(), 2, "{before:?}");

    MongoActivityStore::connect(&uri, &database)
        .await
        .expect("connects");
    MongoActivityStore::connect(&uri, &database)
        .await
        .expect("connects again");
    // Index names differ between servers (nx-27017 names its own), so the
    // indexes are told apart by their keys.
    let after: Vec<Vec<String>> = efforts
        .list_indexes()
        .await
        .expect("indexes")
        .map_ok(|index| index.keys.keys().cloned().collect())
        .try_collect()
        .await
        .expect("indexes");
    assert!(
        !after.contains(&vec!["userId".to_owned(), "kind".to_owned()]),
        "{after:?}"
    );
    assert!(
        after.contains(
            &["userId", "kind", "value", "achievedAt"]
                .map(String::from)
                .to_vec()
        ),
        "{after:?}"
    );
    client.database(&database).drop().await.expect("dropped");
}
