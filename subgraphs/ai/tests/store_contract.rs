//! One contract, every AI store: embedded always, MongoDB when `MONGODB_URI`
//! is set (CI points it at nx-27017).

use std::sync::Arc;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use fittrack_ai::{
    domain::model::{
        ActivitySummary, Advice, DailyPlan, PlanContent, PlannedSession, Recommendation, Source,
    },
    storage::{
        embedded::EmbeddedAiStore, mongo::MongoAiStore, AiStore, Intake, RecommendationCursor,
        Saved, RECENT_ACTIVITIES_KEPT,
    },
};
use uuid::Uuid;

/// The backend's name, a fresh and empty store, and its files (kept until the end).
type StoreUnderTest = (&'static str, Arc<dyn AiStore>, Option<tempfile::TempDir>);

/// `mongodb` only where `MONGODB_URI` is set (CI points it at nx-27017).
async fn store_under_test(backend: &'static str) -> Option<StoreUnderTest> {
    if backend == "embedded" {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("ai.db").display());
        let store = EmbeddedAiStore::open(&url).await.expect("embedded");
        return Some((backend, Arc::new(store), Some(dir)));
    }
    let uri = std::env::var("MONGODB_URI")
        .ok()
        .filter(|u| !u.is_empty())?;
    let db = format!("ai_contract_{}", Uuid::new_v4().simple());
    let store = MongoAiStore::connect(&uri, &db).await.expect("mongodb");
    Some((backend, Arc::new(store), None))
}

fn summary(user: Uuid, minutes_ago: i64) -> ActivitySummary {
    ActivitySummary {
        activity_id: Uuid::now_v7(),
        user_id: user,
        activity_type: "RUNNING".into(),
        duration_minutes: 30,
        calories_burned: 300,
        start_time: Utc::now() - Duration::minutes(minutes_ago),
        distance_km: Some(5.0),
        average_heart_rate: None,
        max_heart_rate: Some(170),
        insights: None,
    }
}

fn recommendation(user: Uuid, activity: Uuid, seconds: i64) -> Recommendation {
    Recommendation {
        id: Uuid::now_v7(),
        activity_id: activity,
        user_id: user,
        source: Source::Rules,
        advice: Advice {
            summary: format!("advice for {activity}"),
            highlights: vec!["h".into()],
            improvements: vec![],
            next_workout: "rest".into(),
            safety_notes: vec!["s".into()],
        },
        created_at: Utc
            .timestamp_millis_opt(1_780_000_000_000 + seconds * 1000)
            .unwrap(),
    }
}

fn plan(user: Uuid, date: NaiveDate, focus: &str) -> DailyPlan {
    DailyPlan {
        id: Uuid::now_v7(),
        user_id: user,
        date,
        goal: Some("10k".into()),
        source: Source::Gemini,
        content: PlanContent {
            focus: focus.into(),
            sessions: vec![PlannedSession {
                time: "07:00".into(),
                activity_type: "RUNNING".into(),
                duration_minutes: 30,
                intensity: "LOW".into(),
                notes: "easy".into(),
            }],
            nutrition_tips: vec!["eat".into()],
            rationale: "why".into(),
        },
        created_at: Utc.timestamp_millis_opt(1_780_000_000_000).unwrap(),
    }
}

async fn the_projection_keeps_the_newest_activities_per_user(
    (backend, store, _dir): StoreUnderTest,
) {
    let user = Uuid::new_v4();
    let mut logged = Vec::new();
    for minutes_ago in (0..(RECENT_ACTIVITIES_KEPT as i64 + 5)).rev() {
        let a = summary(user, minutes_ago);
        store.take_in_activity(&a, 0).await.expect("remember");
        logged.push(a);
    }
    // Taking one in twice is an upsert.
    store
        .take_in_activity(&logged[logged.len() - 1], 0)
        .await
        .expect("again");
    let recent = store.recent_activities(user, 100).await.expect("recent");
    assert_eq!(recent.len(), RECENT_ACTIVITIES_KEPT, "{backend}");
    assert_eq!(
        recent[0],
        logged[logged.len() - 1],
        "{backend}: newest first"
    );
    assert!(store
        .recent_activities(Uuid::new_v4(), 5)
        .await
        .expect("none")
        .is_empty());

    let gone = logged[logged.len() - 1].clone();
    assert!(matches!(
        store
            .save_recommendation(recommendation(user, gone.activity_id, 1))
            .await
            .expect("save"),
        Some(Saved::New(_))
    ));
    assert!(
        store
            .forget_activity(gone.activity_id)
            .await
            .expect("forget"),
        "{backend}"
    );
    assert!(!store
        .forget_activity(gone.activity_id)
        .await
        .expect("forget"));
    assert_eq!(
        store.recent_activities(user, 1).await.expect("recent")[0],
        logged[logged.len() - 2]
    );
    assert!(store
        .recommendations_for_activities(&[gone.activity_id])
        .await
        .expect("get")
        .is_empty());
}

/// What the worker sees of a logged activity: its history without itself,
/// its recommendation on a redelivery, nothing once it is deleted (in either
/// order), and no recommendation kept for a deleted activity.
async fn a_logged_activity_is_taken_in_once_and_never_after_its_deletion(
    (backend, store, _dir): StoreUnderTest,
) {
    let user = Uuid::new_v4();
    let older: Vec<_> = (1..=4).map(|hours| summary(user, hours * 60)).collect();
    for a in &older {
        store.take_in_activity(a, 10).await.expect("older");
    }
    let other_user = summary(Uuid::new_v4(), 1);
    store
        .take_in_activity(&other_user, 10)
        .await
        .expect("other");

    let now = summary(user, 0);
    let Intake::New { history } = store.take_in_activity(&now, 3).await.expect("take in") else {
        panic!("{backend}: not new");
    };
    assert_eq!(
        history,
        older[..3].to_vec(),
        "{backend}: newest first, itself left out"
    );

    let advice = recommendation(user, now.activity_id, 5);
    assert_eq!(
        store
            .save_recommendation(advice.clone())
            .await
            .expect("save"),
        Some(Saved::New(advice.clone())),
        "{backend}"
    );
    assert_eq!(
        store.take_in_activity(&now, 3).await.expect("again"),
        Intake::Recommended(advice.clone()),
        "{backend}: a redelivery"
    );

    // Deleted after its recommendation: both go, and a late delivery of its
    // logged event takes nothing in.
    store
        .forget_activity(now.activity_id)
        .await
        .expect("forget");
    assert_eq!(
        store.take_in_activity(&now, 3).await.expect("late"),
        Intake::Forgotten,
        "{backend}"
    );
    assert!(!store
        .recent_activities(user, 10)
        .await
        .expect("recent")
        .contains(&now));

    // Deleted before its recommendation is written: nothing is kept.
    let raced = summary(user, 0);
    store.take_in_activity(&raced, 3).await.expect("take in");
    store
        .forget_activity(raced.activity_id)
        .await
        .expect("forget");
    assert_eq!(
        store
            .save_recommendation(recommendation(user, raced.activity_id, 6))
            .await
            .expect("save"),
        None,
        "{backend}"
    );
    assert!(store
        .recommendations_for_activities(&[raced.activity_id])
        .await
        .expect("get")
        .is_empty());
}

async fn one_recommendation_per_activity_paged_newest_first(
    (backend, store, _dir): StoreUnderTest,
) {
    let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let mut mine = Vec::new();
    for seconds in 0..5 {
        let r = recommendation(ada, Uuid::new_v4(), seconds);
        assert!(matches!(
            store.save_recommendation(r.clone()).await.expect("save"),
            Some(Saved::New(_))
        ));
        mine.push(r);
    }
    store
        .save_recommendation(recommendation(bob, Uuid::new_v4(), 0))
        .await
        .expect("save");
    // A second one for the same activity is refused; the first stays.
    let duplicate = recommendation(ada, mine[0].activity_id, 99);
    match store.save_recommendation(duplicate).await.expect("save") {
        Some(Saved::Existing(existing)) => assert_eq!(existing, mine[0], "{backend}"),
        other => panic!("{backend}: stored a second recommendation: {other:?}"),
    }

    let found = store
        .recommendations_for_activities(&[mine[1].activity_id, mine[2].activity_id, Uuid::new_v4()])
        .await
        .expect("by activity");
    assert_eq!(found.len(), 2, "{backend}");

    let first = store
        .recommendations_page(ada, None, 3)
        .await
        .expect("page");
    assert_eq!(
        first.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![mine[4].id, mine[3].id, mine[2].id],
        "{backend}"
    );
    let after = RecommendationCursor {
        created_at: first[2].created_at,
        id: first[2].id,
    };
    let rest = store
        .recommendations_page(ada, Some(after), 10)
        .await
        .expect("page");
    assert_eq!(
        rest.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![mine[1].id, mine[0].id],
        "{backend}"
    );

    let pages = store
        .first_recommendation_pages(&[ada, bob, Uuid::new_v4()], 2)
        .await
        .expect("pages");
    assert_eq!(
        pages[&ada].iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![mine[4].id, mine[3].id],
        "{backend}"
    );
    assert_eq!(pages[&bob].len(), 1, "{backend}");

    let gemini = Recommendation {
        source: Source::Gemini,
        ..recommendation(bob, Uuid::new_v4(), 1)
    };
    store.save_recommendation(gemini).await.expect("save");
    let counts = store.recommendation_counts().await.expect("counts");
    assert_eq!(counts.get(&Source::Rules), Some(&6), "{backend}");
    assert_eq!(counts.get(&Source::Gemini), Some(&1), "{backend}");
}

async fn one_plan_per_user_and_date_unless_replaced((backend, store, _dir): StoreUnderTest) {
    let user = Uuid::new_v4();
    let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).expect("date");
    let first = store
        .save_daily_plan(plan(user, day(20), "first"), false)
        .await
        .expect("save");
    let Saved::New(first) = first else {
        panic!("{backend}: not new")
    };
    match store
        .save_daily_plan(plan(user, day(20), "second"), false)
        .await
        .expect("save")
    {
        Saved::Existing(existing) => assert_eq!(existing.content.focus, "first", "{backend}"),
        other => panic!("{backend}: replaced without asking: {other:?}"),
    }
    let replaced = store
        .save_daily_plan(plan(user, day(20), "third"), true)
        .await
        .expect("replace")
        .into_inner();
    assert_eq!(replaced.content.focus, "third", "{backend}");
    assert_eq!(
        replaced.id, first.id,
        "{backend}: a regenerated plan keeps its id"
    );
    assert_eq!(
        store
            .daily_plan(user, day(20))
            .await
            .expect("get")
            .map(|p| p.content.focus),
        Some("third".into())
    );
    assert_eq!(store.daily_plan(user, day(21)).await.expect("get"), None);

    store
        .save_daily_plan(plan(user, day(21), "a"), false)
        .await
        .expect("save");
    store
        .save_daily_plan(plan(user, day(22), "b"), false)
        .await
        .expect("save");
    let dates = |plans: Vec<DailyPlan>| plans.into_iter().map(|p| p.date).collect::<Vec<_>>();
    assert_eq!(
        dates(store.daily_plans_page(user, None, 2).await.expect("page")),
        vec![day(22), day(21)],
        "{backend}"
    );
    assert_eq!(
        dates(
            store
                .daily_plans_page(user, Some(day(21)), 5)
                .await
                .expect("page")
        ),
        vec![day(20)],
        "{backend}"
    );
    store.ping().await.expect("ping");
}

fittrack_kit::backend_contracts! {
    setup: store_under_test,
    backends: [embedded, mongodb],
    contracts: [
        the_projection_keeps_the_newest_activities_per_user,
        a_logged_activity_is_taken_in_once_and_never_after_its_deletion,
        one_recommendation_per_activity_paged_newest_first,
        one_plan_per_user_and_date_unless_replaced,
    ],
}
