//! Opaque, stable connection cursors: base64url of `<startTime ms>:<id>`.
//! They encode the sort key itself, so a cursor stays valid when activities are
//! added or removed before it.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::DateTime;

use crate::domain::{error::ActivityError, model::Cursor};

pub fn encode(cursor: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}:{}",
        cursor.start_time.timestamp_millis(),
        cursor.id
    ))
}

pub fn decode(text: &str) -> Result<Cursor, ActivityError> {
    let invalid = || ActivityError::invalid("after", "is not a cursor returned by this API");
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (millis, id) = text.split_once(':').ok_or_else(invalid)?;
    let millis: i64 = millis.parse().map_err(|_| invalid())?;
    Ok(Cursor {
        start_time: DateTime::from_timestamp_millis(millis).ok_or_else(invalid)?,
        id: id.parse().map_err(|_| invalid())?,
    })
}

pub fn decode_opt(text: Option<&str>) -> Result<Option<Cursor>, ActivityError> {
    text.map(decode).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = Cursor {
            start_time: DateTime::from_timestamp_millis(1_700_000_000_123).expect("time"),
            id: uuid::Uuid::now_v7(),
        };
        assert_eq!(decode(&encode(&cursor)).expect("decodes"), cursor);
        for bad in [
            "",
            "!!!",
            "bm9wZQ",
            &URL_SAFE_NO_PAD.encode("12:not-a-uuid"),
        ] {
            assert!(decode(bad).is_err(), "{bad:?} accepted");
        }
    }
}
