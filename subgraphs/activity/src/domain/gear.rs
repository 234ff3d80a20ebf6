//! Gear: shoes, bikes and the rest, with the distance and time put on each
//! by the workouts that used it. A workout takes the gear set as the default
//! for its type when it is logged or imported, or the gear its owner picks;
//! retired gear keeps its history and is nobody's default.

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use super::{
    error::{ActivityError, ActivityResult},
    model::{Activity, ActivityType},
    ports::{ActivityStore, GearStore},
};

/// Gear one user may keep (retired included).
pub const MAX_GEAR_PER_USER: usize = 50;
/// Characters in a name.
pub const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum GearKind {
    Shoes,
    Bike,
    Other,
}

impl GearKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shoes => "SHOES",
            Self::Bike => "BIKE",
            Self::Other => "OTHER",
        }
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        match text {
            "SHOES" => Ok(Self::Shoes),
            "BIKE" => Ok(Self::Bike),
            "OTHER" => Ok(Self::Other),
            other => anyhow::bail!("unknown gear kind {other:?}"),
        }
    }
}

/// The gear a new workout of `activity_type` takes among its owner's: the
/// one in use that is the default for the type (at most one is: setting a
/// default takes it from the others, [`GearList::create`]).
pub fn default_for(owned: &[Gear], activity_type: ActivityType) -> Option<&Gear> {
    owned
        .iter()
        .find(|g| g.retired_at.is_none() && g.default_for.contains(&activity_type))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gear {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: GearKind,
    pub name: String,
    /// The activity types that take it when logged or imported.
    pub default_for: Vec<ActivityType>,
    /// Distance at which to replace it (shoes: 600–800 km).
    pub warn_at_metres: Option<f64>,
    pub retired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct GearInput {
    pub kind: GearKind,
    pub name: String,
    pub default_for: Vec<ActivityType>,
    pub warn_at_metres: Option<f64>,
}

/// What the workouts that used a piece of gear add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GearUse {
    pub activities: i64,
    pub duration_minutes: i64,
    pub distance_km: f64,
}

#[derive(Clone)]
pub struct GearList {
    gear: Arc<dyn GearStore>,
    activities: Arc<dyn ActivityStore>,
}

impl GearList {
    pub fn new(gear: Arc<dyn GearStore>, activities: Arc<dyn ActivityStore>) -> Self {
        Self { gear, activities }
    }

    fn checked(input: GearInput) -> ActivityResult<GearInput> {
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(ActivityError::invalid(
                "name",
                format!("a name of 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ActivityError::invalid(
                "name",
                "a name without control characters",
            ));
        }
        if let Some(warn) = input.warn_at_metres {
            if !(warn.is_finite() && warn > 0.0 && warn <= 1e8) {
                return Err(ActivityError::invalid(
                    "warnAtMetres",
                    "warnAtMetres must be above 0 and at most 100 000 km",
                ));
            }
        }
        let mut default_for = input.default_for;
        default_for.sort();
        default_for.dedup();
        Ok(GearInput {
            name,
            default_for,
            ..input
        })
    }

    /// A type is the default of one piece of gear at most: taking it for
    /// `keep` takes it from the user's others.
    async fn take_defaults(&self, owner: Uuid, keep: &Gear) -> ActivityResult<()> {
        for mut other in self.gear.gear(owner).await? {
            if other.id == keep.id {
                continue;
            }
            let before = other.default_for.len();
            other.default_for.retain(|t| !keep.default_for.contains(t));
            if other.default_for.len() != before {
                other.updated_at = keep.updated_at;
                self.gear.replace_gear(&other).await?;
            }
        }
        Ok(())
    }

    pub async fn create(&self, owner: Uuid, input: GearInput) -> ActivityResult<Gear> {
        let input = Self::checked(input)?;
        let now = Utc::now().trunc_subsecs(3);
        let gear = Gear {
            id: Uuid::now_v7(),
            user_id: owner,
            kind: input.kind,
            name: input.name,
            default_for: input.default_for,
            warn_at_metres: input.warn_at_metres,
            retired_at: None,
            created_at: now,
            updated_at: now,
        };
        if !self.gear.insert_gear(&gear, MAX_GEAR_PER_USER).await? {
            return Err(ActivityError::TooMuchGear);
        }
        self.take_defaults(owner, &gear).await?;
        Ok(gear)
    }

    async fn owned(&self, owner: Uuid, id: Uuid) -> ActivityResult<Gear> {
        self.gear
            .gear(owner)
            .await?
            .into_iter()
            .find(|g| g.id == id)
            .ok_or(ActivityError::GearNotFound)
    }

    pub async fn update(&self, owner: Uuid, id: Uuid, input: GearInput) -> ActivityResult<Gear> {
        let input = Self::checked(input)?;
        let current = self.owned(owner, id).await?;
        let gear = Gear {
            kind: input.kind,
            name: input.name,
            // Retired gear is nobody's default.
            default_for: if current.retired_at.is_some() {
                Vec::new()
            } else {
                input.default_for
            },
            warn_at_metres: input.warn_at_metres,
            updated_at: Utc::now().trunc_subsecs(3),
            ..current
        };
        if !self.gear.replace_gear(&gear).await? {
            return Err(ActivityError::GearNotFound);
        }
        self.take_defaults(owner, &gear).await?;
        Ok(gear)
    }

    /// Retires (or brings back) a piece of gear; retiring drops its defaults.
    pub async fn retire(&self, owner: Uuid, id: Uuid, retired: bool) -> ActivityResult<Gear> {
        let current = self.owned(owner, id).await?;
        let now = Utc::now().trunc_subsecs(3);
        let gear = Gear {
            retired_at: retired.then(|| current.retired_at.unwrap_or(now)),
            default_for: if retired {
                Vec::new()
            } else {
                current.default_for.clone()
            },
            updated_at: now,
            ..current
        };
        if !self.gear.replace_gear(&gear).await? {
            return Err(ActivityError::GearNotFound);
        }
        Ok(gear)
    }

    /// Deletes a piece of gear; the workouts that used it keep no gear.
    pub async fn delete(&self, owner: Uuid, id: Uuid) -> ActivityResult<()> {
        if self.gear.delete_gear(owner, id).await? {
            Ok(())
        } else {
            Err(ActivityError::GearNotFound)
        }
    }

    /// A user's gear, oldest first, with what it has done.
    pub async fn with_use(&self, owner: Uuid) -> ActivityResult<Vec<(Gear, GearUse)>> {
        let gear = self.gear.gear(owner).await?;
        let used = self.gear.gear_use(owner).await?;
        Ok(gear
            .into_iter()
            .map(|g| {
                let use_ = used.get(&g.id).copied().unwrap_or_default();
                (g, use_)
            })
            .collect())
    }

    /// Sets (or, with `None`, clears) the gear of an activity; both must be
    /// the owner's.
    pub async fn set_activity_gear(
        &self,
        owner: Uuid,
        activity_id: Uuid,
        gear_id: Option<Uuid>,
    ) -> ActivityResult<Activity> {
        let activity = self
            .activities
            .get_many(&[activity_id])
            .await?
            .into_iter()
            .find(|a| a.user_id == owner)
            .ok_or(ActivityError::NotFound)?;
        if let Some(gear_id) = gear_id {
            self.owned(owner, gear_id).await?;
        }
        self.gear.link_gear(owner, activity_id, gear_id).await?;
        Ok(activity)
    }

    /// Gives a new workout the gear among `owned` (its owner's, read with
    /// the workout: `ActivityStore::workout_reads`) that is the default
    /// for its type, if any.
    pub async fn link_default(&self, activity: &Activity, owned: &[Gear]) -> ActivityResult<()> {
        if let Some(gear) = default_for(owned, activity.activity_type) {
            self.gear
                .link_gear(activity.user_id, activity.id, Some(gear.id))
                .await?;
        }
        Ok(())
    }

    /// The gear of each of these activities, where they have one.
    pub async fn of_activities(&self, ids: &[Uuid]) -> ActivityResult<HashMap<Uuid, Uuid>> {
        Ok(self.gear.activity_gear(ids).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_thresholds_are_checked() {
        let input = |name: &str, warn: Option<f64>| GearInput {
            kind: GearKind::Shoes,
            name: name.into(),
            default_for: vec![ActivityType::Running, ActivityType::Running],
            warn_at_metres: warn,
        };
        for (name, warn) in [
            ("   ", None),
            ("a\u{0}b", None),
            (&"x".repeat(101), None),
            ("Pegasus", Some(0.0)),
            ("Pegasus", Some(f64::INFINITY)),
        ] {
            assert!(
                GearList::checked(input(name, warn)).is_err(),
                "{name:?} {warn:?}"
            );
        }
        let fine = GearList::checked(input("  Pegasus 41 ", Some(700_000.0))).expect("fine");
        assert_eq!(fine.name, "Pegasus 41");
        assert_eq!(fine.default_for, [ActivityType::Running]);
    }
}
