//! GraphQL shapes of recommendations and plans (separate from storage models).

use async_graphql::{SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::model::{
    DailyPlan as PlanModel, PlannedSession, Recommendation as Model, Source,
};

/// Coaching for one activity.
#[derive(SimpleObject, Clone)]
#[graphql(name = "Recommendation")]
pub struct RecommendationObject {
    pub id: ID,
    pub activity_id: ID,
    pub source: Source,
    pub summary: String,
    pub highlights: Vec<String>,
    pub improvements: Vec<String>,
    pub next_workout: String,
    pub safety_notes: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// The activity it is about (resolved by the activity subgraph).
    pub activity: ActivityRef,
}

impl From<Model> for RecommendationObject {
    fn from(r: Model) -> Self {
        Self {
            id: ID(r.id.to_string()),
            activity_id: ID(r.activity_id.to_string()),
            source: r.source,
            summary: r.advice.summary,
            highlights: r.advice.highlights,
            improvements: r.advice.improvements,
            next_workout: r.advice.next_workout,
            safety_notes: r.advice.safety_notes,
            created_at: r.created_at,
            activity: ActivityRef {
                id: ID(r.activity_id.to_string()),
            },
        }
    }
}

/// An `Activity` as seen from here: its key, plus its recommendation.
#[derive(SimpleObject, Clone)]
#[graphql(name = "Activity", complex)]
pub struct ActivityRef {
    pub id: ID,
}

/// A `User` as seen from here: its key, plus recommendations.
#[derive(SimpleObject, Clone)]
#[graphql(name = "User", complex)]
pub struct UserRef {
    pub id: ID,
}

#[derive(SimpleObject, Clone)]
pub struct PlanSession {
    /// Local time, `HH:MM`.
    pub time: String,
    pub activity_type: String,
    pub duration_minutes: i32,
    /// `LOW`, `MODERATE` or `HIGH`.
    pub intensity: String,
    pub notes: String,
}

impl From<PlannedSession> for PlanSession {
    fn from(s: PlannedSession) -> Self {
        Self {
            time: s.time,
            activity_type: s.activity_type,
            duration_minutes: s.duration_minutes,
            intensity: s.intensity,
            notes: s.notes,
        }
    }
}

/// A day's training plan.
#[derive(SimpleObject, Clone)]
#[graphql(name = "DailyPlan")]
pub struct DailyPlanObject {
    pub id: ID,
    pub date: NaiveDate,
    pub goal: Option<String>,
    pub source: Source,
    pub focus: String,
    // A plan holds 1 to 10 sessions (domain::model_output::validate_plan).
    #[graphql(directive = fittrack_kit::schema::list_size::apply(Some(10), None, None, None))]
    pub sessions: Vec<PlanSession>,
    pub nutrition_tips: Vec<String>,
    pub rationale: String,
    pub created_at: DateTime<Utc>,
}

impl From<PlanModel> for DailyPlanObject {
    fn from(p: PlanModel) -> Self {
        Self {
            id: ID(p.id.to_string()),
            date: p.date,
            goal: p.goal,
            source: p.source,
            focus: p.content.focus,
            sessions: p.content.sessions.into_iter().map(Into::into).collect(),
            nutrition_tips: p.content.nutrition_tips,
            rationale: p.content.rationale,
            created_at: p.created_at,
        }
    }
}

/// A job that exhausted its deliveries (admins).
#[derive(SimpleObject, Clone)]
pub struct DeadLetter {
    pub id: ID,
    pub job_id: String,
    pub payload: String,
    pub deliveries: i32,
    pub reason: String,
    pub failed_at: DateTime<Utc>,
}

impl From<fittrack_kit::queue::DeadLetter> for DeadLetter {
    fn from(d: fittrack_kit::queue::DeadLetter) -> Self {
        Self {
            id: ID(d.id),
            job_id: d.job_id,
            payload: d.payload,
            deliveries: i32::try_from(d.deliveries).unwrap_or(i32::MAX),
            reason: d.reason,
            failed_at: d.failed_at,
        }
    }
}
