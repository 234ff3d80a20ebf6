//! Events that cross subgraphs on the queue backbone, and where they go: the
//! one definition both producer and consumer compile against.
//!
//! - The activity subgraph enqueues [`ActivityEvent`]s on
//!   [`ACTIVITY_EVENTS_QUEUE`]; the AI worker consumes them as
//!   [`ACTIVITY_EVENTS_GROUP`].
//! - The user subgraph enqueues `UserDeleted` on one queue per erasing subgraph
//!   (a queue hands each job to one consumer group, so fan-out is one queue
//!   per consumer); each subgraph erases what it holds about that user.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where activity events go.
pub const ACTIVITY_EVENTS_QUEUE: &str = "activity-events";
/// The consumer group reading them (the AI worker).
pub const ACTIVITY_EVENTS_GROUP: &str = "ai-worker";

/// What goes on the activity event queue, as JSON tagged by `event`.
/// Consumers ignore fields they do not know, so fields may be added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum ActivityEvent {
    #[serde(rename_all = "camelCase")]
    ActivityLogged {
        activity_id: Uuid,
        user_id: Uuid,
        /// `RUNNING`, `CYCLING`, … (the activity subgraph's `ActivityType`).
        #[serde(rename = "type")]
        activity_type: String,
        duration_minutes: i32,
        calories_burned: i32,
        start_time: DateTime<Utc>,
        #[serde(default)]
        metrics: EventMetrics,
        /// What the activity subgraph worked out when it was stored (absent
        /// when the sweeper sends the event again, or a read failed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        insights: Option<Box<WorkoutInsights>>,
    },
    #[serde(rename_all = "camelCase")]
    ActivityDeleted { activity_id: Uuid, user_id: Uuid },
}

impl ActivityEvent {
    /// Whose event a payload is (its `userId`), without reading the rest: the
    /// key the AI worker shares its slots by (`queue::ConsumerOptions::fair_by`).
    pub fn owner_of(payload: &str) -> Option<String> {
        #[derive(Deserialize)]
        struct Owner {
            #[serde(rename = "userId")]
            user_id: Uuid,
        }
        serde_json::from_str::<Owner>(payload)
            .ok()
            .map(|owner| owner.user_id.to_string())
    }
}

/// The measured values of a logged workout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventMetrics {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_heart_rate: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_heart_rate: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<i64>,
    /// Free-form JSON the user attached (validated by the activity subgraph).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom: Option<serde_json::Value>,
}

/// The most splits [`WorkoutInsights`] carries (a marathon's kilometres).
pub const MAX_INSIGHT_SPLITS: usize = 43;

/// A new workout beyond its summary, for the coach: bounded, so the event
/// and the prompt stay small (a record per kind, at most
/// [`MAX_INSIGHT_SPLITS`] splits, five zones, the user's goals, which are
/// capped).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkoutInsights {
    /// Personal records the workout set.
    #[serde(default)]
    pub records: Vec<RecordSet>,
    /// Seconds each whole kilometre took, in order.
    #[serde(default)]
    pub kilometre_split_seconds: Vec<f64>,
    /// Seconds in heart-rate zones 1 to 5, from the user's profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_seconds: Option<Vec<f64>>,
    /// The user's goals for their current periods, this workout counted.
    #[serde(default)]
    pub goals: Vec<GoalStatus>,
}

/// A personal record: `FASTEST_5K` and the like (the activity subgraph's
/// `RecordKind`), in seconds for times, watts for power, metres for
/// `LONGEST_RIDE`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordSet {
    pub kind: String,
    pub value: f64,
}

/// How far one goal is in its current period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoalStatus {
    /// `WEEK` or `MONTH`.
    pub period: String,
    /// `DISTANCE` (metres), `DURATION` (seconds), `COUNT` or `CALORIES`.
    pub metric: String,
    /// Empty for every type.
    #[serde(default)]
    pub activity_types: Vec<String>,
    pub target: f64,
    pub value: f64,
    pub period_end: DateTime<Utc>,
}

/// Erasure queue of the activity subgraph.
pub const USER_DELETED_ACTIVITY_QUEUE: &str = "user-deleted.activity";
/// Erasure queue of the AI subgraph.
pub const USER_DELETED_AI_QUEUE: &str = "user-deleted.ai";
/// Every eraser, by its queue: where `UserDeleted` goes, and who owes an
/// erasure until it settles it (`erasure::ErasedUsers::owe`).
pub const ERASERS: [&str; 2] = [USER_DELETED_ACTIVITY_QUEUE, USER_DELETED_AI_QUEUE];
/// Consumer group reading an erasure queue.
pub const ERASURE_GROUP: &str = "erasure";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum UserEvent {
    /// The account is gone: erase everything about `user_id`.
    #[serde(rename_all = "camelCase")]
    UserDeleted { user_id: Uuid },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_events_are_tagged_camel_case_json_and_read_back() {
        let deleted = ActivityEvent::ActivityDeleted {
            activity_id: Uuid::nil(),
            user_id: Uuid::nil(),
        };
        let json = serde_json::to_value(&deleted).expect("json");
        assert_eq!(json["event"], "ActivityDeleted");
        assert!(json.get("activityId").is_some());
        assert_eq!(
            serde_json::from_value::<ActivityEvent>(json).expect("parse"),
            deleted
        );
    }

    #[test]
    fn a_logged_event_without_metrics_or_with_unknown_fields_is_read() {
        let payload = r#"{"event":"ActivityLogged","activityId":"00000000-0000-0000-0000-000000000000",
            "userId":"00000000-0000-0000-0000-000000000000","type":"RUNNING","durationMinutes":30,
            "caloriesBurned":300,"startTime":"2026-01-01T00:00:00Z","addedLater":1}"#;
        let event: ActivityEvent = serde_json::from_str(payload).expect("parse");
        let ActivityEvent::ActivityLogged {
            activity_type,
            metrics,
            ..
        } = event
        else {
            panic!("ActivityLogged expected");
        };
        assert_eq!(activity_type, "RUNNING");
        assert_eq!(metrics, EventMetrics::default());
    }

    #[test]
    fn the_owner_of_either_event_is_read_from_its_payload() {
        let user_id = Uuid::new_v4();
        let deleted = ActivityEvent::ActivityDeleted {
            activity_id: Uuid::new_v4(),
            user_id,
        };
        let payload = serde_json::to_string(&deleted).expect("json");
        assert_eq!(ActivityEvent::owner_of(&payload), Some(user_id.to_string()));
        assert_eq!(ActivityEvent::owner_of("{not json"), None);
    }
}
