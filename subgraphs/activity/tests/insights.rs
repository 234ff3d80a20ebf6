//! What the coach hears of a fresh recorded workout (`ActivityLogged`'s
//! insights): the records it set, its kilometre splits, its time in the
//! user's own heart-rate zones and their goals with it counted; and nothing
//! of the kind for history, which is not announced.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use fittrack_activity::{
    domain::{
        activities::{Activities, ImportedWorkout},
        goals::{GoalInput, GoalMetric, GoalPeriod, Goals},
        model::{Activity, ActivityType},
        ports::ActivityEvents,
        profile::{ProfileChange, Profiles},
        recording::{FileFormat, Recording, Sample},
    },
    storage::embedded::EmbeddedActivityStore,
};
use fittrack_kit::events::WorkoutInsights;
use uuid::Uuid;

/// Keeps what each `ActivityLogged` carried.
#[derive(Default)]
struct Heard(Mutex<Vec<(Uuid, Option<WorkoutInsights>)>>);

#[async_trait]
impl ActivityEvents for Heard {
    async fn logged(&self, activity: &Activity, insights: Option<WorkoutInsights>) -> bool {
        self.0.lock().expect("heard").push((activity.id, insights));
        true
    }
    async fn deleted(&self, _activity: &Activity) {}
}

/// A run of 2.5 km at 5:00 per kilometre then 4:00, a point a second, at
/// 150 bpm then 170.
fn run(start: DateTime<Utc>) -> Recording {
    let mut samples = Vec::new();
    let (mut distance, mut second) = (0.0, 0);
    while distance <= 2_500.0 {
        let fast = distance >= 1_000.0;
        samples.push(Sample {
            time: start + Duration::seconds(second),
            distance_m: Some(distance),
            heart_rate: Some(if fast { 170 } else { 150 }),
            ..Sample::default()
        });
        distance += if fast { 1000.0 / 240.0 } else { 1000.0 / 300.0 };
        second += 1;
    }
    Recording {
        format: FileFormat::Gpx,
        sport: ActivityType::Running,
        original_sport: "running".into(),
        start_time: start,
        elapsed_seconds: second as f64 - 1.0,
        timer_seconds: None,
        distance_m: Some(2_500.0),
        calories: None,
        utc_offset_seconds: None,
        device: None,
        samples,
        laps: Vec::new(),
    }
}

#[tokio::test]
async fn a_fresh_recorded_workout_reaches_the_coach_with_its_splits_zones_records_and_goals() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
    let store = Arc::new(EmbeddedActivityStore::open(&url).await.expect("store"));
    let heard = Arc::new(Heard::default());
    let goals = Goals::new(store.clone(), store.clone());
    let profiles = Profiles::new(store.clone());
    let activities = Activities::new(
        store.clone(),
        heard.clone(),
        Arc::new(fittrack_kit::erasure::MemoryErasedUsers::default()),
    )
    .with_coaching(goals.clone(), profiles.clone());
    let ada = Uuid::new_v4();
    profiles
        .update(
            ada,
            ProfileChange {
                max_heart_rate: Some(Some(190)),
                zone_floors: Some(Some(vec![100, 120, 140, 160, 180])),
                ..ProfileChange::default()
            },
        )
        .await
        .expect("profile");
    goals
        .create(
            ada,
            GoalInput {
                period: GoalPeriod::Month,
                metric: GoalMetric::Distance,
                target: 50_000.0,
                activity_types: vec![ActivityType::Running],
                time_zone: "UTC".into(),
            },
        )
        .await
        .expect("goal");

    let fresh = activities
        .import_recording(
            ada,
            run(Utc::now() - Duration::hours(1)),
            "a".repeat(64),
            None,
            None,
        )
        .await
        .expect("imported");
    let ImportedWorkout::New(fresh) = fresh else {
        panic!("a new workout: {fresh:?}");
    };
    let heard_now = heard.0.lock().expect("heard").clone();
    assert_eq!(heard_now.len(), 1, "{heard_now:?}");
    let (id, insights) = &heard_now[0];
    assert_eq!(*id, fresh.id);
    let insights = insights.as_ref().expect("insights");
    let splits: Vec<f64> = insights
        .kilometre_split_seconds
        .iter()
        .map(|s| s.round())
        .collect();
    assert_eq!(splits, [300.0, 240.0], "two whole kilometres");
    let zones = insights.zone_seconds.as_ref().expect("zones");
    assert_eq!(zones[0] + zones[1] + zones[4], 0.0, "{zones:?}");
    assert!(
        (zones[2] - 300.0).abs() < 2.0,
        "150 bpm is the user's zone 3: {zones:?}"
    );
    assert!(
        (zones[3] - 360.0).abs() < 2.0,
        "170 bpm is zone 4: {zones:?}"
    );
    let kinds: Vec<&str> = insights.records.iter().map(|r| r.kind.as_str()).collect();
    assert!(
        kinds.contains(&"FASTEST_1K") && kinds.contains(&"LONGEST_DURATION"),
        "{kinds:?}"
    );
    assert_eq!(insights.goals.len(), 1);
    assert_eq!(insights.goals[0].metric, "DISTANCE");
    assert!(
        (insights.goals[0].value - 2_500.0).abs() < 1.0,
        "this workout counted: {:?}",
        insights.goals[0]
    );

    // History is stored, not announced: the coach hears nothing of it.
    activities
        .import_recording(
            ada,
            run(Utc::now() - Duration::days(30)),
            "b".repeat(64),
            None,
            None,
        )
        .await
        .expect("imported");
    assert_eq!(heard.0.lock().expect("heard").len(), 1);
}

/// A queue that takes what it is told only when `open` is notified, as
/// Redis does while it is away (each command waits for the connection).
#[derive(Default)]
struct Stuck {
    open: tokio::sync::Notify,
    heard: Heard,
    deleted: Mutex<Vec<Uuid>>,
}

#[async_trait]
impl ActivityEvents for Stuck {
    async fn logged(&self, activity: &Activity, insights: Option<WorkoutInsights>) -> bool {
        self.open.notified().await;
        self.heard.logged(activity, insights).await
    }
    async fn deleted(&self, activity: &Activity) {
        self.open.notified().await;
        self.deleted.lock().expect("deleted").push(activity.id);
    }
}

/// A Redis outage costs coaching latency, never a logged workout: the
/// request answers while the queue holds its event, and the coach hears it,
/// insights and all, once the queue takes it.
#[tokio::test]
async fn a_queue_that_does_not_answer_does_not_hold_the_workout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
    let store = Arc::new(EmbeddedActivityStore::open(&url).await.expect("store"));
    let stuck = Arc::new(Stuck::default());
    let activities = Activities::new(
        store.clone(),
        stuck.clone(),
        Arc::new(fittrack_kit::erasure::MemoryErasedUsers::default()),
    );
    let ada = Uuid::new_v4();
    let raw = fittrack_activity::domain::validation::RawActivity {
        activity_type: ActivityType::Running,
        duration_minutes: 30,
        calories_burned: 300,
        start_time: Utc::now() - Duration::hours(1),
        notes: None,
        metrics: None,
        time_zone: None,
    };
    // Not a timing claim: before, the request waited for the queue for ever.
    let guard = std::time::Duration::from_secs(60);
    let logged = tokio::time::timeout(guard, activities.log(ada, raw, None))
        .await
        .expect("the request answered while the queue was stuck")
        .expect("logged");
    assert!(stuck.heard.0.lock().expect("heard").is_empty());

    stuck.open.notify_one();
    let heard = tokio::time::timeout(guard, async {
        loop {
            if let Some(heard) = stuck.heard.0.lock().expect("heard").first().cloned() {
                return heard;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the coach heard of the workout once the queue took it");
    assert_eq!(heard.0, logged.id);
    assert!(heard.1.is_some(), "with what was worked out about it");

    let deleted = tokio::time::timeout(guard, activities.delete(ada, logged.id))
        .await
        .expect("the deletion answered while the queue was stuck")
        .expect("deleted");
    assert_eq!(deleted.id, logged.id);
    stuck.open.notify_one();
    tokio::time::timeout(guard, async {
        while stuck.deleted.lock().expect("deleted").is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the coach heard of the deletion once the queue took it");
}
