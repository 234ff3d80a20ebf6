//! Account rules: validation, password hashing, token issuing, sign-in flows.

pub mod accounts;
pub mod devices;
pub mod error;
pub mod model;
pub mod password;
pub mod password_policy;
pub mod password_reset;
pub mod ports;
pub mod sign_in_limits;
pub mod tokens;
pub mod validation;
