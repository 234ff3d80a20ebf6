//! Rules of the activity domain, independent of GraphQL and storage.

pub mod activities;
pub mod analysis;
pub mod error;
pub mod gear;
pub mod goals;
pub mod imports;
pub mod model;
pub mod ports;
pub mod profile;
pub mod recording;
pub mod records;
pub mod stats;
pub mod validation;
