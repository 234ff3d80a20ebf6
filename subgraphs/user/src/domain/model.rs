//! Domain types of an account (storage rows are mapped into these).

use chrono::{DateTime, Utc};
use fittrack_kit::Role;
use uuid::Uuid;

/// Enums stored as their SCREAMING_SNAKE_CASE name and exposed to GraphQL as such.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> anyhow::Result<Self> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => anyhow::bail!(concat!("unknown ", stringify!($name), " {:?}"), other),
                }
            }
        }
    };
}

stored_enum!(
    /// Lifecycle state of an account; only ACTIVE accounts may sign in.
    AccountStatus {
        Active => "ACTIVE",
        Suspended => "SUSPENDED",
        Banned => "BANNED",
        Deactivated => "DEACTIVATED",
    }
);

stored_enum!(
    Gender {
        Female => "FEMALE",
        Male => "MALE",
        NonBinary => "NON_BINARY",
        PreferNotToSay => "PREFER_NOT_TO_SAY",
    }
);

stored_enum!(
    FitnessGoal {
        LoseWeight => "LOSE_WEIGHT",
        BuildMuscle => "BUILD_MUSCLE",
        ImproveEndurance => "IMPROVE_ENDURANCE",
        ImproveFlexibility => "IMPROVE_FLEXIBILITY",
        MaintainFitness => "MAINTAIN_FITNESS",
        GeneralHealth => "GENERAL_HEALTH",
    }
);

#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: Role,
    pub account_status: AccountStatus,
    pub email_verified: bool,
    pub onboarding_completed: bool,
    pub gender: Option<Gender>,
    pub fitness_goal: Option<FitnessGoal>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub locked_until: Option<DateTime<Utc>>,
    /// A suspension ends on its own at this time.
    pub suspended_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An audit entry for the admin subgraph's log, kept in this subgraph's
/// outbox with the change it records (see `ports::LifecycleRecords::pending_audit`).
pub use fittrack_kit::audit::AuditRecord;
