//! Device tokens (OWASP, "Slow Down Online Guessing Attacks with Device
//! Cookies"): every successful sign-in hands the client a signed token naming
//! a device row of the account. A later attempt that presents it, for that
//! account, is limited per device ([`super::sign_in_limits`]) and never by the
//! account-wide ceiling: a distributed guessing attack can spend the ceiling,
//! but cannot lock the owner out of a browser or app they used before.
//!
//! The token is `<device id>.<signature>`, the signature a keyed hash of the
//! id (`kit::privacy`), so a forged or altered token is refused before any
//! look-up. Revoking a device deletes its row: its token then counts as
//! unknown. An account keeps its [`MAX_DEVICES_PER_ACCOUNT`] most recently
//! used devices.

use chrono::{DateTime, Utc};
use fittrack_kit::privacy::{constant_time_eq, Pseudonyms};
use uuid::Uuid;

use super::error::{UserError, UserResult};

/// Devices remembered per account; the least recently used beyond go.
pub const MAX_DEVICES_PER_ACCOUNT: u64 = 20;

/// The longest device name kept (characters).
pub const MAX_DEVICE_NAME_CHARS: usize = 100;

/// What a device is called when its client gives no name.
pub const UNNAMED_DEVICE: &str = "Unnamed device";

/// A device that has signed in to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_sign_in_at: DateTime<Utc>,
}

/// Signs and checks device tokens.
#[derive(Clone, Debug)]
pub struct DeviceTokens {
    pseudonyms: Pseudonyms,
}

impl DeviceTokens {
    pub fn new(pseudonyms: Pseudonyms) -> Self {
        Self { pseudonyms }
    }

    fn signature(&self, id: Uuid) -> String {
        // Domain-separated from every other use of the deployment's key.
        self.pseudonyms.of(&format!("device-token:{id}"))
    }

    pub fn issue(&self, id: Uuid) -> String {
        format!("{id}.{}", self.signature(id))
    }

    /// The device a token names, if its signature is ours.
    pub fn verify(&self, token: &str) -> Option<Uuid> {
        let (id, signature) = token.split_once('.')?;
        let id = Uuid::parse_str(id).ok()?;
        constant_time_eq(signature.as_bytes(), self.signature(id).as_bytes()).then_some(id)
    }
}

/// A device's name as the client gave it: trimmed, at most
/// [`MAX_DEVICE_NAME_CHARS`], [`UNNAMED_DEVICE`] when empty.
pub fn device_name(name: Option<&str>) -> UserResult<String> {
    let name = name.map(str::trim).unwrap_or_default();
    if name.chars().count() > MAX_DEVICE_NAME_CHARS {
        return Err(UserError::invalid(
            "deviceName",
            format!("must be at most {MAX_DEVICE_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(UserError::invalid(
            "deviceName",
            "must not contain control characters",
        ));
    }
    Ok(if name.is_empty() {
        UNNAMED_DEVICE.to_owned()
    } else {
        name.to_owned()
    })
}

/// What, besides the password, an attempt brings to the sign-in limits.
#[derive(Debug, Clone, Copy)]
pub enum KnownClient<'a> {
    /// Nothing: an unknown device, sharing the account-wide ceiling.
    Unknown,
    /// A device token as the client presented it (checked before it counts).
    DeviceToken(&'a str),
    /// A signed-in session of the account itself (changing the password,
    /// deactivating, deleting): it proved a sign-in already.
    Session(Uuid),
}

#[cfg(test)]
mod tests {
    use super::*;
    use fittrack_kit::config::Secret;

    #[test]
    fn tokens_verify_only_with_their_signature_and_key() {
        let tokens = DeviceTokens::new(Pseudonyms::new(&Secret::new("one")));
        let id = Uuid::now_v7();
        let token = tokens.issue(id);
        assert_eq!(tokens.verify(&token), Some(id));
        let other_id = Uuid::now_v7();
        let (_, signature) = token.split_once('.').expect("id.signature");
        assert_eq!(tokens.verify(&format!("{other_id}.{signature}")), None);
        assert_eq!(tokens.verify(&format!("{id}.")), None);
        assert_eq!(tokens.verify("nonsense"), None);
        let elsewhere = DeviceTokens::new(Pseudonyms::new(&Secret::new("two")));
        assert_eq!(elsewhere.verify(&token), None);
    }

    #[test]
    fn device_names_are_bounded() {
        assert_eq!(device_name(None).expect("default"), UNNAMED_DEVICE);
        assert_eq!(device_name(Some("  Phone ")).expect("trimmed"), "Phone");
        assert!(device_name(Some(&"x".repeat(101))).is_err());
        assert!(device_name(Some("a\u{0}b")).is_err());
    }
}
