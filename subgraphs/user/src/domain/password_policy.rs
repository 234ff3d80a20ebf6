//! What a new password must be, as OWASP's Authentication Cheat Sheet and
//! NIST SP 800-63B recommend: long enough, not one that attackers try first,
//! and nothing else. No composition rules (no "one digit, one symbol"): they
//! make passwords harder to remember, not to guess.
//!
//! Our choices:
//! - 12 to 128 characters, counted as Unicode characters (spaces and any
//!   script allowed; a passphrase is welcome).
//! - Not on the shipped list (`common-passwords.txt`), compared lower-case:
//!   neither a listed password nor a listed base word with only digits or
//!   punctuation added at either end ("Password2024!"), nor only digits and
//!   punctuation.
//! - Not a run of fewer than 4 distinct characters ("aaaaaaaaaaaa",
//!   "abababababab").
//! - Not the account's email address or its part before the `@`.

use std::{collections::HashSet, sync::OnceLock};

use super::error::{UserError, UserResult};

pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 128;
const MIN_DISTINCT_CHARACTERS: usize = 4;

fn common_passwords() -> &'static HashSet<String> {
    static LIST: OnceLock<HashSet<String>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("common-passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_lowercase)
            .collect()
    })
}

/// Checks a new password for the account `email` (normalized); the error
/// names `field` and says which rule failed.
pub fn check_new_password(password: &str, email: &str, field: &'static str) -> UserResult<()> {
    let length = password.chars().count();
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&length) {
        return Err(UserError::invalid(
            field,
            format!("must be {PASSWORD_MIN} to {PASSWORD_MAX} characters"),
        ));
    }
    let lower = password.to_lowercase();
    let base =
        lower.trim_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation() || c == ' ');
    let list = common_passwords();
    if list.contains(&lower) || list.contains(base) || base.is_empty() {
        return Err(UserError::invalid(
            field,
            "is one of the passwords attackers try first; choose another (a few unrelated words make a good one)",
        ));
    }
    if lower.chars().collect::<HashSet<_>>().len() < MIN_DISTINCT_CHARACTERS {
        return Err(UserError::invalid(
            field,
            "repeats too few characters; choose another (a few unrelated words make a good one)",
        ));
    }
    let local_part = email.split('@').next().unwrap_or_default();
    if lower == email || (local_part.chars().count() >= 4 && base == local_part) {
        return Err(UserError::invalid(field, "must not be your email address"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(password: &str) -> bool {
        check_new_password(password, "ada.lovelace@example.com", "password").is_ok()
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert!(!ok("short pass1"));
        assert!(ok("velvet otter"));
        assert!(ok(&"é"
            .repeat(6)
            .chars()
            .chain("xyzw12".chars())
            .collect::<String>()));
        assert!(!ok("ééééééééééé"));
        assert!(ok(&"abcd".repeat(32)));
        assert!(!ok(&"abcd"
            .repeat(32)
            .chars()
            .chain(['e'])
            .collect::<String>()));
    }

    #[test]
    fn common_passwords_and_decorated_base_words_are_refused() {
        for bad in [
            "password1234",
            "Password2024!",
            "!!Football99!!",
            "QWERTYUIOP12",
            "123456789012",
            "correct horse battery staple",
            "Fittrack2026!",
            "2024-04-01 12",
        ] {
            assert!(!ok(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn no_composition_rules_but_variety_and_not_the_email() {
        assert!(ok("all lower case words"));
        assert!(ok("saltwaterrhubarb"));
        assert!(!ok("aaaaaaaaaaaaaa"));
        assert!(!ok("abababababab"));
        assert!(!ok("ada.lovelace@example.com"));
        assert!(!ok("ada.lovelace2024"));
    }
}
