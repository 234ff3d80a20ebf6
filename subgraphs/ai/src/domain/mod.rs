//! Rules of the AI domain, independent of GraphQL, storage and Gemini.

pub mod error;
pub mod model;
pub mod model_output;
pub mod plans;
pub mod ports;
pub mod prompt;
pub mod recommendations;
pub mod rules;
