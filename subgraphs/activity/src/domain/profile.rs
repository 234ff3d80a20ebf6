//! A user's training profile: what analysing their workouts needs (maximum
//! and resting heart rate, for heart-rate zones) and how they read numbers
//! (metric or imperial; the API itself always speaks SI).

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use super::{
    error::{ActivityError, ActivityResult},
    ports::ProfileStore,
};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, async_graphql::Enum)]
pub enum Units {
    #[default]
    Metric,
    Imperial,
}

impl Units {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Metric => "METRIC",
            Self::Imperial => "IMPERIAL",
        }
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        match text {
            "METRIC" => Ok(Self::Metric),
            "IMPERIAL" => Ok(Self::Imperial),
            other => anyhow::bail!("unknown units {other:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainingProfile {
    pub user_id: Uuid,
    pub max_heart_rate: Option<u16>,
    pub resting_heart_rate: Option<u16>,
    pub units: Units,
    pub updated_at: Option<DateTime<Utc>>,
}

impl TrainingProfile {
    /// What a user who never set one has.
    pub fn empty(user_id: Uuid) -> Self {
        Self {
            user_id,
            max_heart_rate: None,
            resting_heart_rate: None,
            units: Units::Metric,
            updated_at: None,
        }
    }
}

/// A change: `None` keeps a value; `Some(None)` clears a heart rate.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub max_heart_rate: Option<Option<i32>>,
    pub resting_heart_rate: Option<Option<i32>>,
    pub units: Option<Units>,
}

/// Checks a maximum and a resting heart rate: a maximum of 100–250 bpm, a
/// resting rate of 25 bpm up to 20 below the maximum.
pub fn heart_rates(
    max: Option<i32>,
    resting: Option<i32>,
) -> ActivityResult<(Option<u16>, Option<u16>)> {
    let max = max
        .map(|m| {
            u16::try_from(m)
                .ok()
                .filter(|m| (100..=250).contains(m))
                .ok_or_else(|| {
                    ActivityError::invalid("maxHeartRate", "must be between 100 and 250")
                })
        })
        .transpose()?;
    let resting = resting
        .map(|r| {
            u16::try_from(r)
                .ok()
                .filter(|r| (25..=max.unwrap_or(250).saturating_sub(20)).contains(r))
                .ok_or_else(|| {
                    ActivityError::invalid(
                        "restingHeartRate",
                        "must be between 25 and 20 below maxHeartRate",
                    )
                })
        })
        .transpose()?;
    Ok((max, resting))
}

#[derive(Clone)]
pub struct Profiles {
    store: Arc<dyn ProfileStore>,
}

impl Profiles {
    pub fn new(store: Arc<dyn ProfileStore>) -> Self {
        Self { store }
    }

    pub async fn get(&self, user: Uuid) -> ActivityResult<TrainingProfile> {
        Ok(self
            .store
            .profile(user)
            .await?
            .unwrap_or_else(|| TrainingProfile::empty(user)))
    }

    pub async fn update(
        &self,
        user: Uuid,
        change: ProfileChange,
    ) -> ActivityResult<TrainingProfile> {
        let current = self.get(user).await?;
        let max = change
            .max_heart_rate
            .unwrap_or(current.max_heart_rate.map(i32::from));
        let resting = change
            .resting_heart_rate
            .unwrap_or(current.resting_heart_rate.map(i32::from));
        let (max_heart_rate, resting_heart_rate) = heart_rates(max, resting)?;
        let profile = TrainingProfile {
            user_id: user,
            max_heart_rate,
            resting_heart_rate,
            units: change.units.unwrap_or(current.units),
            updated_at: Some(Utc::now().trunc_subsecs(3)),
        };
        self.store.save_profile(&profile).await?;
        Ok(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heart_rates_are_checked_together() {
        assert!(heart_rates(Some(99), None).is_err());
        assert!(heart_rates(Some(251), None).is_err());
        assert!(
            heart_rates(Some(190), Some(171)).is_err(),
            "within 20 of the maximum"
        );
        assert!(heart_rates(None, Some(24)).is_err());
        assert_eq!(
            heart_rates(Some(190), Some(50)).expect("fine"),
            (Some(190), Some(50))
        );
        assert_eq!(heart_rates(None, None).expect("fine"), (None, None));
    }
}
