//! The `fittrack` launcher as a library, so tests can drive the same code paths.

pub mod cli;
pub mod compose;
pub mod dev;
pub mod migrate;
pub mod operations;
pub mod schema_diff;
pub mod subgraphs;
pub mod web;
