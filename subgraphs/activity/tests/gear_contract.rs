//! Gear on every activity store: the embedded store always, MongoDB when
//! `MONGODB_URI` is set (CI points it at nx-27017), through the domain
//! (`GearList`), so defaults, totals and erasure are the stores' too.

use std::sync::Arc;

use chrono::{Duration, SubsecRound, Utc};
use fittrack_activity::{
    domain::{
        gear::{GearInput, GearKind, GearList, MAX_GEAR_PER_USER},
        goals::{GoalInput, GoalMetric, GoalPeriod, Goals},
        model::{Activity, ActivityType},
        ports::GearStore,
        records::{Effort, RecordKind},
    },
    storage::{ActivityStore, WorkoutReadsQuery},
};
use uuid::Uuid;

mod support;

type StoresUnderTest = (
    &'static str,
    Arc<dyn ActivityStore>,
    Arc<dyn GearStore>,
    Option<tempfile::TempDir>,
);

async fn stores_under_test(backend: &'static str) -> Option<StoresUnderTest> {
    let stores = support::open(backend, "gear").await?;
    Some((backend, stores.activities, stores.gear, stores.dir))
}

fn input(kind: GearKind, name: &str, default_for: Vec<ActivityType>) -> GearInput {
    GearInput {
        kind,
        name: name.into(),
        default_for,
        warn_at_metres: Some(10_000.0),
    }
}

async fn workout(
    store: &dyn ActivityStore,
    gear: &GearList,
    user: Uuid,
    kind: ActivityType,
    km: f64,
) -> Activity {
    let mut activity = support::workout(user, kind, Utc::now() - Duration::hours(1), 30);
    activity.metrics.distance_km = Some(km);
    store.insert(activity.clone()).await.expect("insert");
    let query = WorkoutReadsQuery {
        gear: true,
        ..WorkoutReadsQuery::default()
    };
    let reads = store.workout_reads(&activity, &query).await.expect("reads");
    gear.link_default(&activity, &reads.gear)
        .await
        .expect("default gear");
    activity
}

async fn gear_adds_up_its_workouts_and_goes_with_them(
    (backend, activities, store, _dir): StoresUnderTest,
) {
    let gear = GearList::new(store.clone(), activities.clone());
    let (ada, eve) = (Uuid::new_v4(), Uuid::new_v4());
    let old = gear
        .create(
            ada,
            input(GearKind::Shoes, "Old shoes", vec![ActivityType::Running]),
        )
        .await
        .expect("shoes");
    // New shoes take the running default from the old ones.
    let shoes = gear
        .create(
            ada,
            input(
                GearKind::Shoes,
                "Pegasus",
                vec![ActivityType::Running, ActivityType::Walking],
            ),
        )
        .await
        .expect("shoes");
    let bike = gear
        .create(
            ada,
            input(GearKind::Bike, "Allez", vec![ActivityType::Cycling]),
        )
        .await
        .expect("bike");
    let kept = store.gear(ada).await.expect("gear");
    assert_eq!(kept[0].id, old.id, "{backend}: oldest first");
    assert!(kept[0].default_for.is_empty(), "{backend}: {kept:?}");
    assert_eq!(kept[1], shoes, "{backend}: read back whole");

    let first = workout(activities.as_ref(), &gear, ada, ActivityType::Running, 6.0).await;
    workout(activities.as_ref(), &gear, ada, ActivityType::Running, 5.0).await;
    workout(activities.as_ref(), &gear, ada, ActivityType::Cycling, 30.0).await;
    let yoga = workout(activities.as_ref(), &gear, ada, ActivityType::Yoga, 0.0).await;
    let used: Vec<(String, i64, f64)> = gear
        .with_use(ada)
        .await
        .expect("use")
        .into_iter()
        .map(|(g, u)| (g.name, u.activities, (u.distance_km * 1000.0).round()))
        .collect();
    assert_eq!(
        used,
        [
            ("Old shoes".to_owned(), 0, 0.0),
            ("Pegasus".to_owned(), 2, 11_000.0),
            ("Allez".to_owned(), 1, 30_000.0)
        ],
        "{backend}"
    );
    // Set by hand; someone else can neither use it nor touch the workout.
    gear.set_activity_gear(ada, yoga.id, Some(old.id))
        .await
        .expect("set");
    assert!(gear
        .set_activity_gear(eve, yoga.id, Some(old.id))
        .await
        .is_err());
    assert!(gear
        .set_activity_gear(ada, first.id, Some(Uuid::new_v4()))
        .await
        .is_err());
    assert_eq!(
        gear.of_activities(&[yoga.id, first.id])
            .await
            .expect("links")
            .len(),
        2,
        "{backend}"
    );
    // A deleted workout no longer counts; retiring drops the defaults.
    activities.delete(ada, first.id).await.expect("deleted");
    let retired = gear.retire(ada, shoes.id, true).await.expect("retired");
    assert!(retired.retired_at.is_some() && retired.default_for.is_empty());
    let after = workout(activities.as_ref(), &gear, ada, ActivityType::Running, 9.0).await;
    assert!(
        gear.of_activities(&[after.id])
            .await
            .expect("links")
            .is_empty(),
        "{backend}"
    );
    let pegasus = gear.with_use(ada).await.expect("use")[1].1;
    assert_eq!(
        (pegasus.activities, pegasus.distance_km),
        (1, 5.0),
        "{backend}"
    );
    // Deleting gear forgets which workouts used it; erasure takes the rest.
    gear.delete(ada, bike.id).await.expect("deleted");
    assert!(gear.delete(eve, old.id).await.is_err());
    assert_eq!(store.gear(ada).await.expect("gear").len(), 2);
    activities.delete_user(ada).await.expect("erased");
    assert!(store.gear(ada).await.expect("gear").is_empty(), "{backend}");
    assert!(
        gear.of_activities(&[yoga.id])
            .await
            .expect("links")
            .is_empty(),
        "{backend}"
    );
}

async fn no_more_than_the_cap((backend, activities, store, _dir): StoresUnderTest) {
    let gear = GearList::new(store, activities);
    let ada = Uuid::new_v4();
    for n in 0..MAX_GEAR_PER_USER {
        gear.create(ada, input(GearKind::Other, &format!("item {n}"), vec![]))
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e:?}"));
    }
    assert!(gear
        .create(ada, input(GearKind::Other, "one more", vec![]))
        .await
        .is_err());
}

/// What a new workout reads in one call (`ActivityStore::workout_reads`):
/// only the parts asked for, each its owner's alone, gear and goals oldest
/// first, beside the records it competes for.
async fn a_new_workout_reads_its_records_gear_and_goals_at_once(
    (backend, _, _, _): StoresUnderTest,
) {
    // The goals too, on the same backend.
    let stores = support::open(backend, "reads").await.expect("stores");
    let (activities, store, goal_store) = (stores.activities, stores.gear, stores.goals);
    let gear = GearList::new(store.clone(), activities.clone());
    let goals = Goals::new(goal_store.clone(), activities.clone());
    let (ada, eve) = (Uuid::new_v4(), Uuid::new_v4());
    // Whole seconds: the stores keep milliseconds.
    let now = Utc::now().trunc_subsecs(0);
    let earlier = support::workout(ada, ActivityType::Running, now - Duration::days(2), 45);
    let new = support::workout(ada, ActivityType::Running, now - Duration::hours(1), 30);
    let eves = support::workout(eve, ActivityType::Running, now - Duration::days(1), 90);
    for workout in [&earlier, &new, &eves] {
        activities.insert(workout.clone()).await.expect("insert");
    }
    let longest = |w: &Activity| Effort {
        activity_id: w.id,
        user_id: w.user_id,
        activity_type: w.activity_type,
        kind: RecordKind::LongestDuration,
        value: f64::from(w.duration_minutes) * 60.0,
        achieved_at: w.start_time,
    };
    activities
        .save_efforts(&[longest(&earlier), longest(&new), longest(&eves)])
        .await
        .expect("efforts");
    let mut made = Vec::new();
    for name in ["Pegasus", "Allez"] {
        made.push(
            gear.create(ada, input(GearKind::Shoes, name, vec![]))
                .await
                .expect("gear"),
        );
        gear.create(eve, input(GearKind::Shoes, name, vec![]))
            .await
            .expect("eve's gear");
    }
    for target in [20_000.0, 40_000.0] {
        goals.create(ada, goal_input(target)).await.expect("goal");
    }
    goals
        .create(eve, goal_input(1.0))
        .await
        .expect("eve's goal");

    let keys = [(RecordKind::LongestDuration, Some(ActivityType::Running))];
    let every = WorkoutReadsQuery {
        record_keys: &keys,
        gear: true,
        goals: true,
    };
    let reads = activities.workout_reads(&new, &every).await.expect("reads");
    assert_eq!(reads.holders, [longest(&earlier)], "{backend}");
    assert_eq!(reads.gear, made, "{backend}: ada's, oldest first");
    assert_eq!(
        reads.goals,
        goal_store.goals(ada).await.expect("goals"),
        "{backend}"
    );
    assert_eq!(reads.goals.len(), 2, "{backend}");

    let nothing = activities
        .workout_reads(&new, &WorkoutReadsQuery::default())
        .await
        .expect("reads");
    assert_eq!(nothing, Default::default(), "{backend}: only what is asked");
    let goals_only = WorkoutReadsQuery {
        goals: true,
        ..WorkoutReadsQuery::default()
    };
    let reads = activities
        .workout_reads(&new, &goals_only)
        .await
        .expect("reads");
    assert!(
        reads.holders.is_empty() && reads.gear.is_empty(),
        "{backend}"
    );
    assert_eq!(reads.goals.len(), 2, "{backend}");
}

fn goal_input(target: f64) -> GoalInput {
    GoalInput {
        period: GoalPeriod::Week,
        metric: GoalMetric::Distance,
        target,
        activity_types: vec![ActivityType::Running],
        time_zone: "Europe/Paris".into(),
    }
}

fittrack_kit::backend_contracts! {
    setup: stores_under_test,
    backends: [embedded, mongodb],
    contracts: [
        gear_adds_up_its_workouts_and_goes_with_them,
        no_more_than_the_cap,
        a_new_workout_reads_its_records_gear_and_goals_at_once,
    ],
}
