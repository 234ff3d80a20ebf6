//! What the admin subgraph decides: moderation ([`moderation::Moderation`]).
//! The audit log takes entries the user subgraph signed (`internal.rs`). The ports it needs ([`ports::AuditLog`], the audit log
//! in `store.rs`; [`ports::AccountDirectory`], the user subgraph's internal
//! API in `users.rs`) are defined here and implemented outside.

pub mod error;
pub mod model;
pub mod moderation;
pub mod ports;
