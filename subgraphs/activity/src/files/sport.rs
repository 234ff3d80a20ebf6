//! A file's sport name, in any format's vocabulary, as one of our types.

use crate::domain::model::ActivityType;

/// Our type for a sport name: FIT's `sport/sub_sport` (`training/yoga`),
/// TCX's `Sport` (`Biking`), GPX's free `<type>` (`running`, `Ride`).
/// Specific names win over general ones: `training/strength_training` is
/// weightlifting, `running/treadmill` is running.
pub fn activity_type_of(name: &str) -> ActivityType {
    let name = name.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| name.contains(w));
    if has(&["yoga", "pilates"]) {
        ActivityType::Yoga
    } else if has(&["strength", "weight", "lifting"]) {
        ActivityType::Weightlifting
    } else if has(&["swim"]) {
        ActivityType::Swimming
    } else if has(&["run", "jog"]) {
        ActivityType::Running
    } else if has(&["cycl", "bik", "ride", "mtb", "gravel", "velo"]) {
        ActivityType::Cycling
    } else if has(&["hik", "mountaineer", "trek"]) {
        ActivityType::Hiking
    } else if has(&["walk"]) {
        ActivityType::Walking
    } else if has(&[
        "cardio",
        "row",
        "elliptical",
        "stair",
        "hiit",
        "fitness_equipment",
        "ski",
        "paddl",
        "training",
    ]) {
        ActivityType::Cardio
    } else {
        ActivityType::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_s_names_map_to_our_types() {
        for (name, expected) in [
            ("running", ActivityType::Running),
            ("running/treadmill", ActivityType::Running),
            ("running/trail", ActivityType::Running),
            ("Running", ActivityType::Running),
            ("Run", ActivityType::Running),
            ("cycling/indoor_cycling", ActivityType::Cycling),
            ("Biking", ActivityType::Cycling),
            ("Ride", ActivityType::Cycling),
            ("e_biking", ActivityType::Cycling),
            ("swimming/lap_swimming", ActivityType::Swimming),
            ("walking", ActivityType::Walking),
            ("hiking", ActivityType::Hiking),
            ("training/strength_training", ActivityType::Weightlifting),
            ("training/yoga", ActivityType::Yoga),
            ("training/cardio_training", ActivityType::Cardio),
            ("fitness_equipment/indoor_rowing", ActivityType::Cardio),
            ("cross_country_skiing", ActivityType::Cardio),
            ("Other", ActivityType::Other),
            ("generic", ActivityType::Other),
            ("", ActivityType::Other),
        ] {
            assert_eq!(activity_type_of(name), expected, "{name}");
        }
    }
}
