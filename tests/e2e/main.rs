//! End-to-end tests: one binary, one module per feature. Each test starts a
//! stack from `fittrack-testkit` (every subgraph through its composition root
//! with test configuration, the real router binary in front) and speaks to it
//! as a client would, over HTTP and graphql-transport-ws.
//!
//! One binary links the system once; twelve used to link it twelve times.

mod abuse;
mod accounts;
mod activities;
mod admin;
mod architecture;
mod imports;
mod input;
mod kubernetes;
mod launcher;
mod lifecycle;
mod observability;
mod operations;
mod prometheus;
mod recommendations;
mod rust_client;
mod schema_compat;
mod schema_drift;
mod tokens;
mod traces;
mod web_app;
