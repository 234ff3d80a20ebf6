//! Activity cursors: the kit's `(time, id)` cursors over `(startTime, id)`.

use crate::domain::{error::ActivityError, model::Cursor};

pub fn encode(cursor: &Cursor) -> String {
    fittrack_kit::cursor::encode(cursor.start_time, cursor.id)
}

pub fn decode(text: &str) -> Result<Cursor, ActivityError> {
    fittrack_kit::cursor::decode(text)
        .map(|(start_time, id)| Cursor { start_time, id })
        .ok_or_else(|| ActivityError::invalid("after", "is not a cursor returned by this API"))
}

pub fn decode_opt(text: Option<&str>) -> Result<Option<Cursor>, ActivityError> {
    text.map(decode).transpose()
}
