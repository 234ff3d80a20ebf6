//! A user's training profile: what analysing their workouts needs (maximum
//! and resting heart rate, or their own heart-rate zones) and how they read numbers
//! (metric or imperial; the API itself always speaks SI).

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use super::{
    analysis,
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
    /// The user's own zones: the lowest rate of zones 1 to 5, rising, all
    /// below the maximum (zone 5 runs up to it). Lab or field tests give
    /// these; without them zones are shares of the maximum or reserve.
    pub zone_floors: Option<[u16; 5]>,
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
            zone_floors: None,
            units: Units::Metric,
            updated_at: None,
        }
    }

    /// The five zones `(lowest, highest)` in bpm: the user's own, else
    /// shares of the maximum (of the reserve with a resting rate); `None`
    /// without a maximum.
    pub fn zones(&self) -> Option<[(f64, f64); 5]> {
        let max = self.max_heart_rate?;
        Some(match self.zone_floors {
            Some(floors) => analysis::zones_from_floors(floors, max),
            None => analysis::heart_rate_zones(max, self.resting_heart_rate),
        })
    }
}

/// A change: `None` keeps a value; `Some(None)` clears a heart rate or
/// the zones.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub max_heart_rate: Option<Option<i32>>,
    pub resting_heart_rate: Option<Option<i32>>,
    pub zone_floors: Option<Option<Vec<i32>>>,
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

/// Checks a user's own zones against their maximum heart rate: five rates
/// rising from at least 25 bpm, the last below the maximum, which must be
/// set (zone 5 runs up to it).
pub fn zone_floors(floors: Option<Vec<i32>>, max: Option<u16>) -> ActivityResult<Option<[u16; 5]>> {
    const FIELD: &str = "heartRateZoneFloors";
    let Some(floors) = floors else {
        return Ok(None);
    };
    let floors: [i32; 5] = floors.try_into().map_err(|_| {
        ActivityError::invalid(FIELD, "give five rates: the lowest of zones 1 to 5")
    })?;
    let max = max.ok_or_else(|| {
        ActivityError::invalid(FIELD, "set maxHeartRate too: zone 5 runs up to it")
    })?;
    let rising = floors.windows(2).all(|pair| pair[0] < pair[1]);
    if !rising || floors[0] < 25 || floors[4] >= i32::from(max) {
        return Err(ActivityError::invalid(
            FIELD,
            "must rise from at least 25 bpm, each above the last, to below maxHeartRate",
        ));
    }
    // Each is within 25..max (≤ 250): fits.
    Ok(Some(floors.map(|floor| floor as u16)))
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
        let floors = change.zone_floors.unwrap_or_else(|| {
            current
                .zone_floors
                .map(|floors| floors.map(i32::from).to_vec())
        });
        // Checked against the new maximum: clearing it while zones are set
        // is refused rather than leaving zone 5 without a top.
        let zone_floors = zone_floors(floors, max_heart_rate)?;
        let profile = TrainingProfile {
            user_id: user,
            max_heart_rate,
            resting_heart_rate,
            zone_floors,
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

    #[test]
    fn own_zones_rise_below_a_maximum() {
        let zones = |floors: Vec<i32>, max| zone_floors(Some(floors), max);
        assert_eq!(
            zones(vec![110, 130, 145, 160, 172], Some(185)).expect("fine"),
            Some([110, 130, 145, 160, 172])
        );
        assert!(zones(vec![110, 130, 145, 160], Some(185)).is_err(), "four");
        assert!(
            zones(vec![110, 130, 130, 160, 172], Some(185)).is_err(),
            "flat"
        );
        assert!(
            zones(vec![110, 130, 145, 160, 185], Some(185)).is_err(),
            "at the max"
        );
        assert!(
            zones(vec![20, 130, 145, 160, 172], Some(185)).is_err(),
            "too low"
        );
        assert!(
            zones(vec![110, 130, 145, 160, 172], None).is_err(),
            "no max"
        );
        assert_eq!(zone_floors(None, None).expect("fine"), None);

        let profile = TrainingProfile {
            max_heart_rate: Some(185),
            zone_floors: Some([110, 130, 145, 160, 172]),
            ..TrainingProfile::empty(Uuid::nil())
        };
        let own = profile.zones().expect("zones");
        assert_eq!(own[0], (110.0, 130.0));
        assert_eq!(own[4], (172.0, 185.0), "zone 5 runs up to the maximum");
        let shares = TrainingProfile {
            zone_floors: None,
            ..profile
        };
        assert_eq!(shares.zones().expect("zones")[0], (92.5, 111.0));
        assert_eq!(TrainingProfile::empty(Uuid::nil()).zones(), None);
    }
}
