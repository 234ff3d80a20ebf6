//! What a recording shows once analysed: its streams at a chosen
//! resolution, the route as an encoded polyline, splits per kilometre or
//! mile, elevation gain. Pure functions of the samples.

use super::recording::Sample;

/// One channel of a recording, as a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum StreamType {
    /// Seconds from the start.
    Time,
    /// Degrees.
    Latitude,
    Longitude,
    /// Metres from the start.
    Distance,
    /// Metres above sea level.
    Altitude,
    /// Metres per second.
    Speed,
    /// Beats per minute.
    HeartRate,
    /// Revolutions (running: strides of one foot) per minute.
    Cadence,
    /// Watts.
    Power,
}

/// How many points a stream is thinned to (Strava's three sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, async_graphql::Enum)]
pub enum StreamResolution {
    /// At most 100 points: a sparkline.
    Low,
    /// At most 1 000 points: a chart.
    #[default]
    Medium,
    /// At most 10 000 points: every second of a 2¾-hour workout.
    High,
}

impl StreamResolution {
    pub fn max_points(self) -> usize {
        match self {
            Self::Low => 100,
            Self::Medium => 1_000,
            Self::High => 10_000,
        }
    }
}

/// At most `max_points` samples spread evenly over the recording, the
/// first and the last always among them.
pub fn thin(samples: &[Sample], max_points: usize) -> Vec<&Sample> {
    let n = samples.len();
    if n <= max_points || max_points < 2 {
        return samples.iter().take(max_points.max(n.min(1))).collect();
    }
    (0..max_points)
        .map(|i| &samples[i * (n - 1) / (max_points - 1)])
        .collect()
}

/// The values of one channel over `samples` (`None`: not recorded there).
pub fn stream(samples: &[&Sample], kind: StreamType) -> Vec<Option<f64>> {
    let start = samples.first().map(|s| s.time);
    samples
        .iter()
        .map(|s| match kind {
            StreamType::Time => {
                start.map(|start| (s.time - start).num_milliseconds() as f64 / 1000.0)
            }
            StreamType::Latitude => s.position.map(|(lat, _)| lat),
            StreamType::Longitude => s.position.map(|(_, lon)| lon),
            StreamType::Distance => s.distance_m,
            StreamType::Altitude => s.altitude_m,
            StreamType::Speed => s.speed_mps,
            StreamType::HeartRate => s.heart_rate.map(f64::from),
            StreamType::Cadence => s.cadence.map(f64::from),
            StreamType::Power => s.power_w.map(f64::from),
        })
        .collect()
}

/// Most points of a route: enough for a drawing, a few KB of text.
pub const ROUTE_MAX_POINTS: usize = 2_000;

/// The route as an encoded polyline (Google's format, precision 5), or
/// `None` without positions.
pub fn route_polyline(samples: &[Sample]) -> Option<String> {
    let positioned: Vec<Sample> = samples
        .iter()
        .filter(|s| s.position.is_some())
        .copied()
        .collect();
    if positioned.len() < 2 {
        return None;
    }
    let coordinates = thin(&positioned, ROUTE_MAX_POINTS)
        .into_iter()
        .filter_map(|s| s.position)
        .map(|(lat, lon)| geo_types::Coord { x: lon, y: lat });
    polyline::encode_coordinates(coordinates, 5).ok()
}

/// Altitude changes smaller than this are noise (GPS altitude wanders by
/// metres while standing still).
const ELEVATION_HYSTERESIS_M: f64 = 3.0;

/// Metres climbed and descended, counting a change once it passes
/// [`ELEVATION_HYSTERESIS_M`].
pub fn elevation(samples: &[&Sample]) -> Option<(f64, f64)> {
    let mut altitudes = samples.iter().filter_map(|s| s.altitude_m);
    let mut reference = altitudes.next()?;
    let (mut gain, mut loss) = (0.0, 0.0);
    for altitude in altitudes {
        let change = altitude - reference;
        if change >= ELEVATION_HYSTERESIS_M {
            gain += change;
            reference = altitude;
        } else if -change >= ELEVATION_HYSTERESIS_M {
            loss -= change;
            reference = altitude;
        }
    }
    Some((gain, loss))
}

/// One split: a kilometre or a mile (the last may be shorter).
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// 1-based.
    pub number: u32,
    pub distance_m: f64,
    pub elapsed_seconds: f64,
    pub average_heart_rate: Option<f64>,
    pub elevation_gain_m: Option<f64>,
    pub elevation_loss_m: Option<f64>,
}

impl Split {
    /// Seconds per kilometre.
    pub fn pace_seconds_per_km(&self) -> Option<f64> {
        (self.distance_m > 0.0).then(|| self.elapsed_seconds / self.distance_m * 1000.0)
    }
}

pub const KILOMETRE_M: f64 = 1_000.0;
pub const MILE_M: f64 = 1_609.344;
/// A last split shorter than this is a stop at the door, not a split.
const LAST_SPLIT_MIN_M: f64 = 10.0;

/// Splits of `unit_m` metres, timed where the distance crosses each
/// boundary (interpolated between the two samples around it).
pub fn splits(samples: &[Sample], unit_m: f64) -> Vec<Split> {
    let measured: Vec<&Sample> = samples.iter().filter(|s| s.distance_m.is_some()).collect();
    let (Some(first), Some(last)) = (measured.first().copied(), measured.last().copied()) else {
        return vec![];
    };
    let seconds = |s: &Sample| (s.time - first.time).num_milliseconds() as f64 / 1000.0;
    let distance = |s: &Sample| s.distance_m.unwrap_or(0.0);
    let mut splits = Vec::new();
    let mut open = (0.0, distance(first));
    let mut members: Vec<&Sample> = Vec::new();
    let mut previous = first;
    let mut boundary = distance(first) + unit_m;
    for sample in measured.iter().copied() {
        let d = distance(sample);
        while d >= boundary {
            let (d0, t0, t1) = (distance(previous), seconds(previous), seconds(sample));
            let fraction = if d > d0 {
                (boundary - d0) / (d - d0)
            } else {
                1.0
            };
            let end = (t0 + fraction * (t1 - t0), boundary);
            splits.push(split(splits.len(), open, end, &members));
            members.clear();
            open = end;
            boundary += unit_m;
        }
        members.push(sample);
        previous = sample;
    }
    if distance(last) - open.1 >= LAST_SPLIT_MIN_M {
        splits.push(split(
            splits.len(),
            open,
            (seconds(last), distance(last)),
            &members,
        ));
    }
    splits
}

/// The split from `(seconds, metres)` `start` to `end`, over `members`.
fn split(index: usize, start: (f64, f64), end: (f64, f64), members: &[&Sample]) -> Split {
    let rates: Vec<f64> = members
        .iter()
        .filter_map(|s| s.heart_rate.map(f64::from))
        .collect();
    let climb = elevation(members);
    Split {
        number: u32::try_from(index + 1).unwrap_or(u32::MAX),
        distance_m: end.1 - start.1,
        elapsed_seconds: end.0 - start.0,
        average_heart_rate: (!rates.is_empty())
            .then(|| rates.iter().sum::<f64>() / rates.len() as f64),
        elevation_gain_m: climb.map(|c| c.0),
        elevation_loss_m: climb.map(|c| c.1),
    }
}

/// The five heart-rate zones' lower bounds, as fractions: 50, 60, 70, 80
/// and 90 % of the maximum (or of the reserve above resting, Karvonen's
/// method, when the resting rate is known).
const ZONE_FLOORS: [f64; 5] = [0.5, 0.6, 0.7, 0.8, 0.9];

/// The five zones `(lowest, highest)` in beats per minute.
pub fn heart_rate_zones(max: u16, resting: Option<u16>) -> [(f64, f64); 5] {
    let base = f64::from(resting.unwrap_or(0));
    let reserve = f64::from(max) - base;
    let bound = |fraction: f64| base + reserve * fraction;
    std::array::from_fn(|zone| {
        let upper = ZONE_FLOORS
            .get(zone + 1)
            .map_or(f64::from(max), |f| bound(*f));
        (bound(ZONE_FLOORS[zone]), upper)
    })
}

/// A user's own five zones, from the lowest rate of each (rising, the
/// last below `max`): each runs up to the next, zone 5 up to `max`.
pub fn zones_from_floors(floors: [u16; 5], max: u16) -> [(f64, f64); 5] {
    std::array::from_fn(|zone| {
        let upper = floors.get(zone + 1).copied().unwrap_or(max);
        (f64::from(floors[zone]), f64::from(upper))
    })
}

/// Seconds spent in each zone: each sample's heart rate holds until the
/// next sample (a gap over 10 s counts 10 s: the strap lost contact).
/// Below zone 1 counts in zone 1, above the maximum in zone 5.
pub fn time_in_zones(samples: &[Sample], zones: &[(f64, f64); 5]) -> [f64; 5] {
    let mut seconds = [0.0; 5];
    for pair in samples.windows(2) {
        let Some(rate) = pair[0].heart_rate.map(f64::from) else {
            continue;
        };
        let held = ((pair[1].time - pair[0].time).num_milliseconds() as f64 / 1000.0).min(10.0);
        let zone = zones.iter().rposition(|(low, _)| rate >= *low).unwrap_or(0);
        seconds[zone] += held;
    }
    seconds
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;

    /// A run at a steady 5:00 per kilometre (3.333 m/s), one point a
    /// second, climbing 1 m every 20 s.
    fn run(seconds: i64) -> Vec<Sample> {
        let start = Utc
            .with_ymd_and_hms(2024, 5, 1, 7, 0, 0)
            .single()
            .expect("test data");
        (0..=seconds)
            .map(|s| Sample {
                time: start + Duration::seconds(s),
                position: Some((46.5 + s as f64 * 3e-5, 7.0)),
                distance_m: Some(s as f64 * 1000.0 / 300.0),
                altitude_m: Some(500.0 + (s / 20) as f64),
                heart_rate: Some(if s < 300 { 140 } else { 160 }),
                ..Sample::default()
            })
            .collect()
    }

    #[test]
    fn splits_are_timed_at_each_kilometre_and_the_rest_is_the_last() {
        // 2.5 km in 750 s.
        let splits = splits(&run(750), KILOMETRE_M);
        assert_eq!(splits.len(), 3);
        for split in &splits[..2] {
            assert!((split.distance_m - 1000.0).abs() < 1e-6);
            assert!((split.elapsed_seconds - 300.0).abs() < 1e-6, "{split:?}");
            assert!((split.pace_seconds_per_km().expect("pace") - 300.0).abs() < 1e-6);
        }
        assert_eq!(
            splits.iter().map(|s| s.number).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert!((splits[2].distance_m - 500.0).abs() < 1e-6);
        assert!((splits[2].elapsed_seconds - 150.0).abs() < 1e-6);
        assert_eq!(splits[0].average_heart_rate, Some(140.0));
        assert_eq!(splits[1].average_heart_rate, Some(160.0));
        // 15 m climbed per 300 s split, counted in steps of 3 m.
        assert_eq!(splits[0].elevation_gain_m, Some(12.0));
        let miles = super::splits(&run(750), MILE_M);
        assert_eq!(miles.len(), 2);
        assert!((miles[0].elapsed_seconds - 482.8032).abs() < 1e-3);
    }

    #[test]
    fn elevation_ignores_wander_below_the_threshold() {
        let mut samples = run(10);
        for (i, s) in samples.iter_mut().enumerate() {
            s.altitude_m = Some(if i % 2 == 0 { 100.0 } else { 102.5 });
        }
        let all: Vec<&Sample> = samples.iter().collect();
        assert_eq!(elevation(&all), Some((0.0, 0.0)));
        samples[10].altitude_m = Some(110.0);
        let all: Vec<&Sample> = samples.iter().collect();
        assert_eq!(elevation(&all), Some((10.0, 0.0)));
    }

    #[test]
    fn time_in_zones_follows_the_heart_rate() {
        // 300 s at 140 bpm, then 450 s at 160 (run's rates), 1 s apart.
        let samples = run(750);
        let zones = heart_rate_zones(190, None);
        assert_eq!(zones[0], (95.0, 114.0));
        assert_eq!(zones[4], (171.0, 190.0));
        let seconds = time_in_zones(&samples, &zones);
        // 140 is 73.7 % of 190 (zone 3), 160 is 84.2 % (zone 4).
        assert_eq!(seconds, [0.0, 0.0, 300.0, 450.0, 0.0]);
        // Karvonen: with a resting rate of 60, 140 is 61.5 % of the
        // reserve (zone 2) and 160 is 76.9 % (zone 3).
        let reserve = heart_rate_zones(190, Some(60));
        assert_eq!(reserve[0].0, 125.0);
        assert_eq!(
            time_in_zones(&samples, &reserve),
            [0.0, 300.0, 450.0, 0.0, 0.0]
        );
    }

    #[test]
    fn thinning_keeps_the_ends_and_the_count() {
        let samples = run(9_999);
        let thinned = thin(&samples, 1_000);
        assert_eq!(thinned.len(), 1_000);
        assert_eq!(thinned[0].time, samples[0].time);
        assert_eq!(thinned[999].time, samples[9_999].time);
        assert_eq!(thin(&samples[..10], 1_000).len(), 10);
        let times = stream(&thinned, StreamType::Time);
        assert_eq!(times[0], Some(0.0));
        assert_eq!(times[999], Some(9_999.0));
    }

    #[test]
    fn the_route_is_a_polyline_of_at_most_2000_points() {
        let line = route_polyline(&run(3)).expect("route");
        let decoded = polyline::decode_polyline(&line, 5).expect("decodes");
        assert_eq!(decoded.0.len(), 4);
        assert!((decoded.0[3].y - (46.5 + 9e-5)).abs() < 1e-5);
        let long = route_polyline(&run(20_000)).expect("route");
        let decoded = polyline::decode_polyline(&long, 5).expect("decodes");
        assert_eq!(decoded.0.len(), ROUTE_MAX_POINTS);
        assert_eq!(route_polyline(&run(0)), None);
    }
}
