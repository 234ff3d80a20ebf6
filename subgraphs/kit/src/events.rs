//! Events that cross subgraphs on the queue backbone, and where they go.
//!
//! The user subgraph enqueues `UserDeleted` on one queue per erasing subgraph
//! (a queue hands each job to one consumer group, so fan-out is one queue per
//! consumer); each subgraph erases what it holds about that user.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Erasure queue of the activity subgraph.
pub const USER_DELETED_ACTIVITY_QUEUE: &str = "user-deleted.activity";
/// Erasure queue of the AI subgraph.
pub const USER_DELETED_AI_QUEUE: &str = "user-deleted.ai";
/// Consumer group reading an erasure queue.
pub const ERASURE_GROUP: &str = "erasure";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum UserEvent {
    /// The account is gone: erase everything about `user_id`.
    #[serde(rename_all = "camelCase")]
    UserDeleted { user_id: Uuid },
}
