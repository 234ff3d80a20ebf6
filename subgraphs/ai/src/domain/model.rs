//! What the AI subgraph stores: recommendations, daily plans, and its own
//! projection of users' recent activities (built from activity events; it never
//! reads the activity database).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who wrote a recommendation or plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Source {
    /// Google Gemini.
    Gemini,
    /// The built-in rules (no API key, or Gemini unavailable).
    Rules,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gemini => "GEMINI",
            Self::Rules => "RULES",
        }
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        match text {
            "GEMINI" => Ok(Self::Gemini),
            "RULES" => Ok(Self::Rules),
            other => anyhow::bail!("unknown source {other:?}"),
        }
    }
}

/// The Gemini circuit breaker's state, as the admin dashboard shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BreakerStatus {
    /// No `GEMINI_API_KEY`: every recommendation comes from the rules.
    Disabled,
    /// Calls go to Gemini.
    Closed,
    /// Too many failures: the rules answer until the cool-down ends.
    Open,
    /// Cool-down over: the next call is a trial.
    HalfOpen,
}

/// The coaching content of a recommendation (Gemini's structured output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Advice {
    pub summary: String,
    pub highlights: Vec<String>,
    pub improvements: Vec<String>,
    pub next_workout: String,
    pub safety_notes: Vec<String>,
}

/// Also the `RecommendationCreated` message on the bus (camelCase JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    pub id: Uuid,
    /// At most one recommendation per activity.
    pub activity_id: Uuid,
    pub user_id: Uuid,
    pub source: Source,
    pub advice: Advice,
    pub created_at: DateTime<Utc>,
}

/// One workout as the AI subgraph remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivitySummary {
    pub activity_id: Uuid,
    pub user_id: Uuid,
    /// The activity type's name (`RUNNING`, …), kept as text: this subgraph does
    /// not share the activity subgraph's types.
    pub activity_type: String,
    pub duration_minutes: i32,
    pub calories_burned: i32,
    pub start_time: DateTime<Utc>,
    pub distance_km: Option<f64>,
    pub average_heart_rate: Option<i32>,
    pub max_heart_rate: Option<i32>,
    /// Records, splits, zones and goals, as the activity subgraph worked
    /// them out when the workout was stored (`None` when it could not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insights: Option<fittrack_kit::events::WorkoutInsights>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedSession {
    /// Local time of day, `HH:MM`.
    pub time: String,
    pub activity_type: String,
    pub duration_minutes: i32,
    /// `LOW`, `MODERATE` or `HIGH`.
    pub intensity: String,
    pub notes: String,
}

/// The content of a daily plan (Gemini's structured output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanContent {
    pub focus: String,
    pub sessions: Vec<PlannedSession>,
    pub nutrition_tips: Vec<String>,
    pub rationale: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DailyPlan {
    pub id: Uuid,
    pub user_id: Uuid,
    pub date: NaiveDate,
    pub goal: Option<String>,
    pub source: Source,
    pub content: PlanContent,
    pub created_at: DateTime<Utc>,
}
