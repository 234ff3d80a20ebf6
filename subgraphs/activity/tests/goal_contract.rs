//! Goals and training profiles on every activity store: the embedded store always, MongoDB when
//! `MONGODB_URI` is set (CI points it at nx-27017). Progress is read through
//! the domain (`Goals`), so the store's distance totals are part of it.

use std::sync::Arc;

use chrono::{Duration, Utc};
use fittrack_activity::{
    domain::{
        goals::{
            period_bounds, Goal, GoalInput, GoalMetric, GoalPeriod, Goals, MAX_GOALS_PER_USER,
        },
        model::{Activity, ActivityType},
        ports::{GoalStore, ProfileStore},
        profile::{ProfileChange, Profiles, Units},
    },
    storage::ActivityStore,
};
use uuid::Uuid;

mod support;

type StoresUnderTest = (
    &'static str,
    Arc<dyn ActivityStore>,
    Arc<dyn GoalStore>,
    Option<tempfile::TempDir>,
    Arc<dyn ProfileStore>,
);

async fn stores_under_test(backend: &'static str) -> Option<StoresUnderTest> {
    let stores = support::open(backend, "goals").await?;
    Some((
        backend,
        stores.activities,
        stores.goals,
        stores.dir,
        stores.profiles,
    ))
}

fn input(metric: GoalMetric, target: f64, types: Vec<ActivityType>) -> GoalInput {
    GoalInput {
        period: GoalPeriod::Week,
        metric,
        target,
        activity_types: types,
        time_zone: "Pacific/Auckland".into(),
    }
}

fn workout(
    user: Uuid,
    kind: ActivityType,
    start: chrono::DateTime<Utc>,
    km: Option<f64>,
) -> Activity {
    let mut activity = support::workout(user, kind, start, 30);
    activity.metrics.distance_km = km;
    activity
}

async fn goals_are_kept_capped_changed_and_erased(
    (backend, activities, goals, _dir, _): StoresUnderTest,
) {
    let domain = Goals::new(goals.clone(), activities.clone());
    let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let first = domain
        .create(
            ada,
            input(GoalMetric::Count, 3.0, vec![ActivityType::Running]),
        )
        .await
        .unwrap_or_else(|e| panic!("{backend}: {e:?}"));
    for n in 1..MAX_GOALS_PER_USER {
        domain
            .create(ada, input(GoalMetric::Count, n as f64, vec![]))
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e:?}"));
    }
    assert!(
        domain
            .create(ada, input(GoalMetric::Count, 1.0, vec![]))
            .await
            .is_err(),
        "{backend}: over the cap"
    );
    let kept: Vec<Goal> = goals.goals(ada).await.expect("goals");
    assert_eq!(kept.len(), MAX_GOALS_PER_USER, "{backend}");
    assert_eq!(kept[0], first, "{backend}: read back whole, oldest first");
    // Someone else's goal can be neither changed nor deleted.
    assert!(domain
        .update(bob, first.id, input(GoalMetric::Distance, 5_000.0, vec![]))
        .await
        .is_err());
    assert!(domain.delete(bob, first.id).await.is_err());
    let changed = domain
        .update(ada, first.id, input(GoalMetric::Distance, 5_000.0, vec![]))
        .await
        .expect("changed");
    assert_eq!(
        goals.goals(ada).await.expect("goals")[0],
        changed,
        "{backend}"
    );
    domain.delete(ada, first.id).await.expect("deleted");
    assert_eq!(
        goals.goals(ada).await.expect("goals").len(),
        MAX_GOALS_PER_USER - 1
    );
    // Erasing the user takes their goals.
    domain
        .create(bob, input(GoalMetric::Count, 1.0, vec![]))
        .await
        .expect("bob's");
    activities.delete_user(ada).await.expect("erased");
    assert!(
        goals.goals(ada).await.expect("goals").is_empty(),
        "{backend}"
    );
    assert_eq!(goals.goals(bob).await.expect("goals").len(), 1, "{backend}");
}

async fn progress_counts_this_periods_workouts_of_the_goals_types(
    (backend, activities, goals, _dir, _): StoresUnderTest,
) {
    let domain = Goals::new(goals, activities.clone());
    let ada = Uuid::new_v4();
    let zone = "Pacific/Auckland".parse().expect("zone");
    let (start, _) = period_bounds(GoalPeriod::Week, zone, Utc::now());
    for (kind, at, km) in [
        // This week in Auckland, one minute in.
        (
            ActivityType::Running,
            start + Duration::minutes(1),
            Some(5.5),
        ),
        (
            ActivityType::Running,
            Utc::now() - Duration::seconds(1),
            Some(4.5),
        ),
        (ActivityType::Yoga, start + Duration::minutes(2), None),
        (
            ActivityType::Cycling,
            start + Duration::minutes(3),
            Some(20.0),
        ),
        // Last week, one minute before it ended: not counted.
        (
            ActivityType::Running,
            start - Duration::minutes(1),
            Some(10.0),
        ),
    ] {
        activities
            .insert(workout(ada, kind, at, km))
            .await
            .expect("insert");
    }
    domain
        .create(
            ada,
            input(GoalMetric::Distance, 20_000.0, vec![ActivityType::Running]),
        )
        .await
        .expect("goal");
    domain
        .create(ada, input(GoalMetric::Count, 4.0, vec![]))
        .await
        .expect("goal");
    domain
        .create(
            ada,
            input(GoalMetric::Duration, 3_600.0, vec![ActivityType::Yoga]),
        )
        .await
        .expect("goal");
    let progress: Vec<(f64, f64)> = domain
        .with_progress(ada)
        .await
        .expect("progress")
        .into_iter()
        .map(|(_, p)| {
            assert_eq!(p.period_start, start, "{backend}");
            (p.value, p.fraction)
        })
        .collect();
    let close =
        |(a, b): (f64, f64), (c, d): (f64, f64)| (a - c).abs() < 1e-6 && (b - d).abs() < 1e-9;
    assert!(
        close(progress[0], (10_000.0, 0.5)),
        "{backend}: {progress:?}"
    );
    assert!(close(progress[1], (4.0, 1.0)), "{backend}: {progress:?}");
    assert!(
        close(progress[2], (1_800.0, 0.5)),
        "{backend}: {progress:?}"
    );
}

async fn a_training_profile_is_kept_changed_in_part_and_erased(
    (backend, activities, _, _dir, store): StoresUnderTest,
) {
    let profiles = Profiles::new(store.clone());
    let ada = Uuid::new_v4();
    assert_eq!(profiles.get(ada).await.expect("empty").max_heart_rate, None);
    let set = profiles
        .update(
            ada,
            ProfileChange {
                max_heart_rate: Some(Some(190)),
                resting_heart_rate: Some(Some(48)),
                zone_floors: Some(Some(vec![110, 130, 145, 160, 175])),
                units: Some(Units::Imperial),
            },
        )
        .await
        .expect("set");
    assert_eq!(
        store.profile(ada).await.expect("read"),
        Some(set.clone()),
        "{backend}"
    );
    assert_eq!(set.zone_floors, Some([110, 130, 145, 160, 175]));
    // Zone 5 runs up to the maximum: it stays while they are set.
    let refused = profiles
        .update(
            ada,
            ProfileChange {
                max_heart_rate: Some(None),
                ..ProfileChange::default()
            },
        )
        .await;
    assert!(refused.is_err(), "{backend}: {refused:?}");
    assert_eq!(
        store.profile(ada).await.expect("read"),
        Some(set.clone()),
        "{backend}: nothing half-written"
    );
    let changed = profiles
        .update(
            ada,
            ProfileChange {
                resting_heart_rate: Some(None),
                zone_floors: Some(None),
                ..ProfileChange::default()
            },
        )
        .await
        .expect("changed");
    assert_eq!(
        (
            changed.max_heart_rate,
            changed.resting_heart_rate,
            changed.zone_floors,
            changed.units
        ),
        (Some(190), None, None, Units::Imperial),
        "{backend}"
    );
    assert_eq!(
        store.profile(ada).await.expect("read"),
        Some(changed),
        "{backend}"
    );
    activities.delete_user(ada).await.expect("erased");
    assert_eq!(store.profile(ada).await.expect("read"), None, "{backend}");
}

fittrack_kit::backend_contracts! {
    setup: stores_under_test,
    backends: [embedded, mongodb],
    contracts: [
        a_training_profile_is_kept_changed_in_part_and_erased,
        goals_are_kept_capped_changed_and_erased,
        progress_counts_this_periods_workouts_of_the_goals_types,
    ],
}
