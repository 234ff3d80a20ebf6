//! Input rules. Each failure names the offending field.

use super::error::{UserError, UserResult};

const EMAIL_MAX: usize = 255;
const NAME_MAX: usize = 100;
const USERNAME_MIN: usize = 3;
const USERNAME_MAX: usize = 50;

/// Trims and lower-cases an email and checks its shape (`local@domain.tld`).
pub fn normalize_email(raw: &str) -> UserResult<String> {
    let email = raw.trim().to_lowercase();
    let invalid = || UserError::invalid("email", "must be a valid email address");
    if email.is_empty() || email.len() > EMAIL_MAX || email.chars().any(char::is_whitespace) {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let domain_ok = !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if local.is_empty() || local.len() > 64 || !domain_ok {
        return Err(invalid());
    }
    Ok(email)
}

/// Trimmed, 1–100 characters, no control characters.
pub fn normalize_name(raw: &str, field: &'static str) -> UserResult<String> {
    let name = raw.trim();
    let length = name.chars().count();
    if length == 0 || length > NAME_MAX || name.chars().any(char::is_control) {
        return Err(UserError::invalid(
            field,
            format!("must be 1 to {NAME_MAX} printable characters"),
        ));
    }
    Ok(name.to_owned())
}

/// Usernames are case-insensitive handles: stored lower-case, 3–50 of `a-z 0-9 _ . -`.
pub fn normalize_username(raw: &str) -> UserResult<String> {
    let username = raw.trim().to_lowercase();
    let length = username.chars().count();
    let charset_ok = username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&length) || !charset_ok {
        return Err(UserError::invalid(
            "username",
            format!("must be {USERNAME_MIN} to {USERNAME_MAX} characters of letters, digits, '_', '.' or '-'"),
        ));
    }
    Ok(username)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").ok(),
            Some("ada@example.com".into())
        );
    }

    #[test]
    fn bad_emails_are_refused() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@@b.com",
            "ada@exa_mple.com",
            "ada@.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn usernames() {
        assert_eq!(normalize_username(" Ada_L ").ok(), Some("ada_l".into()));
        assert!(normalize_username("ab").is_err());
        assert!(normalize_username("has space").is_err());
        assert!(normalize_username(&"a".repeat(51)).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(
            normalize_name("  Ada ", "firstName").ok(),
            Some("Ada".into())
        );
        assert!(normalize_name("   ", "firstName").is_err());
        assert!(normalize_name(&"a".repeat(101), "firstName").is_err());
    }
}
