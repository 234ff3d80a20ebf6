//! What FitTrack's end-to-end tests (`tests/e2e`), fault harness
//! (`tests/faults`) and benches (`benches/`) share: the stack, built through
//! the same composition roots as production with test configuration
//! ([`stack`]), and a client's view of it ([`client`]).

pub mod client;
pub mod otlp;
pub mod stack;

pub use client::*;
pub use stack::*;
