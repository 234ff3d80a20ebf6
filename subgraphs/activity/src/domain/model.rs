//! Domain types of a logged workout (storage documents/rows map into these).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Kind of workout. Stored and exposed as its SCREAMING_SNAKE_CASE name.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    async_graphql::Enum,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActivityType {
    Running,
    Cycling,
    Swimming,
    Weightlifting,
    Yoga,
    Cardio,
    Walking,
    Hiking,
    Other,
}

impl ActivityType {
    pub const ALL: [ActivityType; 9] = [
        Self::Running,
        Self::Cycling,
        Self::Swimming,
        Self::Weightlifting,
        Self::Yoga,
        Self::Cardio,
        Self::Walking,
        Self::Hiking,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Cycling => "CYCLING",
            Self::Swimming => "SWIMMING",
            Self::Weightlifting => "WEIGHTLIFTING",
            Self::Yoga => "YOGA",
            Self::Cardio => "CARDIO",
            Self::Walking => "WALKING",
            Self::Hiking => "HIKING",
            Self::Other => "OTHER",
        }
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or_else(|| anyhow::anyhow!("unknown activity type {text:?}"))
    }
}

/// Measured values of a workout; `custom` is free-form JSON (validated size/depth).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_heart_rate: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_heart_rate: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom: Option<serde_json::Value>,
}

/// A logged workout.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    pub id: Uuid,
    pub user_id: Uuid,
    pub activity_type: ActivityType,
    pub duration_minutes: i32,
    pub calories_burned: i32,
    pub start_time: DateTime<Utc>,
    pub notes: Option<String>,
    pub metrics: Metrics,
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Whether the `ActivityLogged` event reached the queue (the sweeper retries
    /// activities where it did not).
    pub event_enqueued: bool,
    /// Where it was done (IANA name), when known: its local time and day.
    pub time_zone: Option<String>,
}

/// The editable part of an activity, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityFields {
    pub activity_type: ActivityType,
    pub duration_minutes: i32,
    pub calories_burned: i32,
    pub start_time: DateTime<Utc>,
    pub notes: Option<String>,
    pub metrics: Metrics,
    /// A checked IANA name.
    pub time_zone: Option<String>,
}

/// Which activities a listing or a stats query covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ActivityFilter {
    /// Empty means every type.
    pub types: Vec<ActivityType>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Position in the newest-first order: `(start_time, id)` descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub start_time: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn of(activity: &Activity) -> Self {
        Self {
            start_time: activity.start_time,
            id: activity.id,
        }
    }
}

/// Totals of one (user, type) group, as aggregated by the store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TypeTotals {
    pub user_id: Uuid,
    pub activity_type: ActivityType,
    pub count: i64,
    pub duration_minutes: i64,
    pub calories_burned: i64,
    /// Of the activities that give a distance.
    pub distance_km: f64,
}

/// A place in a user's change feed: changes are ordered by `(at, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChangePosition {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

/// What happened to one activity, for clients that sync.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Created or updated (`created_at == updated_at`: created): as it is now.
    Saved(Box<Activity>),
    /// Deleted at `at` (a tombstone).
    Deleted { id: Uuid, at: DateTime<Utc> },
}

impl Change {
    pub fn position(&self) -> ChangePosition {
        match self {
            Self::Saved(activity) => ChangePosition {
                at: activity.updated_at,
                id: activity.id,
            },
            Self::Deleted { id, at } => ChangePosition { at: *at, id: *id },
        }
    }
}
