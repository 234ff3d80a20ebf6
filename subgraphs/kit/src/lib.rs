//! Shared plumbing for every FitTrack subgraph: layered config, tracing, the error
//! type clients see, JWT verification and guards, and the axum app builder.
//!
//! Kept deliberately small: anything domain-specific belongs to a subgraph.

pub mod audit;
pub mod auth;
pub mod backend;
pub mod cache;
pub mod client_address;
pub mod config;
pub mod contract;
pub mod cursor;
pub mod erasure;
pub mod error;
pub mod events;
pub mod files;
pub mod live;
pub mod metrics;
pub mod mongo;
pub mod pagination;
pub mod privacy;
pub mod queue;
pub mod ratelimit;
pub mod redis;
pub mod revocation;
pub mod schema;
pub mod server;
pub mod service;
pub mod shared;
pub mod sqlite;
pub mod telemetry;

pub use auth::{CurrentUser, JwtVerifier, Role};
pub use error::{ApiError, ErrorCode};
