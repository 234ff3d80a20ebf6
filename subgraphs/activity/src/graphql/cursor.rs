//! Activity cursors: the kit's `(time, id)` cursors over `(startTime, id)`.

use crate::domain::{error::ActivityError, model::Cursor};

pub fn encode(cursor: &Cursor) -> String {
    fittrack_kit::cursor::encode(cursor.start_time, cursor.id)
}

pub fn decode_opt(text: Option<&str>) -> Result<Option<Cursor>, ActivityError> {
    Ok(fittrack_kit::pagination::decode_after(text)?
        .map(|(start_time, id)| Cursor { start_time, id }))
}
