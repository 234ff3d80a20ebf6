//! Where the AI subgraph keeps its data: the domain's [`AiStore`] port, two
//! backends passing one contract suite (`tests/store_contract.rs`):
//! [`mongo::MongoAiStore`] (`ai_db`, when `MONGODB_URI` is set) and
//! [`embedded::EmbeddedAiStore`] (SQLite in the data directory).

pub mod embedded;
pub mod mongo;

pub use crate::domain::ports::{
    AiStore, Intake, RecommendationCursor, Saved, RECENT_ACTIVITIES_KEPT,
};
