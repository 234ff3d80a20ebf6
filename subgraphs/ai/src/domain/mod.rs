//! Rules of the AI domain, independent of GraphQL, storage and Gemini.

pub mod error;
pub mod model;
pub mod prompt;
pub mod rules;
