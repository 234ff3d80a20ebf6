//! `activityChanges`: what changed in your activities since a cursor, for
//! clients that keep a copy offline (`Activities::changes`).

use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use fittrack_kit::auth::{Authenticated, ContextAuthExt};

use super::types::ActivityObject;
use crate::domain::{
    activities::{page_size, Activities},
    error::ActivityError,
    model::{Change, ChangePosition},
};

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ActivityChangeKind {
    Created,
    Updated,
    /// Deleted: `activity` is null; drop your copy.
    Deleted,
}

/// One change to one of your activities.
#[derive(SimpleObject)]
pub struct ActivityChange {
    pub kind: ActivityChangeKind,
    pub activity_id: ID,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The activity as it is now (null when deleted).
    pub activity: Option<ActivityObject>,
}

/// A page of changes.
#[derive(SimpleObject)]
pub struct ActivityChanges {
    /// Oldest first.
    pub changes: Vec<ActivityChange>,
    /// Where this page ends: pass it as `since` next time (it is `since`
    /// again when nothing changed).
    pub cursor: Option<String>,
    /// More changes follow: ask again at once with `cursor`.
    pub has_more: bool,
}

impl From<Change> for ActivityChange {
    fn from(change: Change) -> Self {
        match change {
            Change::Saved(activity) => Self {
                kind: if activity.created_at == activity.updated_at {
                    ActivityChangeKind::Created
                } else {
                    ActivityChangeKind::Updated
                },
                activity_id: ID(activity.id.to_string()),
                at: activity.updated_at,
                activity: Some((*activity).into()),
            },
            Change::Deleted { id, at } => Self {
                kind: ActivityChangeKind::Deleted,
                activity_id: ID(id.to_string()),
                at,
                activity: None,
            },
        }
    }
}

#[derive(Default)]
pub struct ChangeQuery;

#[Object]
impl ChangeQuery {
    /// Your activities created, updated and deleted after `since` (a
    /// `cursor` from an earlier answer; omit it for everything), oldest
    /// first, `first` at a time (at most 100). The feed runs a few seconds
    /// behind now, so that no change can appear before a cursor already
    /// handed out.
    #[graphql(
        guard = "Authenticated",
        complexity = "fittrack_kit::schema::page_complexity(first, child_complexity)",
        directive = fittrack_kit::schema::list_size::apply(
            None,
            Some(vec!["first".into()]),
            Some(vec!["changes".into()]),
            Some(false)
        )
    )]
    async fn activity_changes(
        &self,
        ctx: &Context<'_>,
        since: Option<String>,
        first: Option<i32>,
    ) -> async_graphql::Result<ActivityChanges> {
        let viewer = ctx.current_user()?;
        let limit = page_size(first)?;
        let after = fittrack_kit::pagination::decode_after(since.as_deref())
            .map_err(|_| {
                ActivityError::invalid("since", "is not a cursor returned by activityChanges")
            })?
            .map(|(at, id)| ChangePosition { at, id });
        let (changes, has_more) = ctx
            .data::<Activities>()?
            .changes(viewer.id, after, limit)
            .await?;
        let cursor = changes
            .last()
            .map(|c| {
                let p = c.position();
                fittrack_kit::cursor::encode(p.at, p.id)
            })
            .or(since);
        Ok(ActivityChanges {
            changes: changes.into_iter().map(Into::into).collect(),
            cursor,
            has_more,
        })
    }
}
