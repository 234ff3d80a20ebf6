//! Opaque, stable connection cursors for newest-first lists ordered by
//! `(time, id)`: base64url of `<epoch ms>:<uuid>`. They encode the sort key
//! itself, so a cursor stays valid while items are added or removed before it.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub fn encode(at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", at.timestamp_millis()))
}

/// `None` for anything this API did not hand out.
pub fn decode(text: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (millis, id) = text.split_once(':')?;
    Some((
        DateTime::from_timestamp_millis(millis.parse().ok()?)?,
        id.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let at = DateTime::from_timestamp_millis(1_700_000_000_123).expect("time");
        let id = Uuid::now_v7();
        assert_eq!(decode(&encode(at, id)), Some((at, id)));
        for bad in [
            "",
            "!!!",
            "bm9wZQ",
            &URL_SAFE_NO_PAD.encode("12:not-a-uuid"),
        ] {
            assert_eq!(decode(bad), None, "{bad:?} accepted");
        }
    }
}
