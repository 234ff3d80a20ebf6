//! What the admin subgraph decides: moderation ([`moderation::Moderation`]),
//! and copying the user subgraph's audit outbox into the log
//! ([`audit_relay`]). The ports it needs ([`ports::AuditLog`], the audit log
//! in `store.rs`; [`ports::AccountDirectory`], the user subgraph's internal
//! API in `users.rs`) are defined here and implemented outside.

pub mod audit_relay;
pub mod error;
pub mod model;
pub mod moderation;
pub mod ports;
