//! Relay pagination as every list field does it: `first` bounded to
//! [`MAX_PAGE_SIZE`], the store asked for one row more than the page (the
//! extra row says whether more follow), and opaque `(time, id)` cursors.

use async_graphql::{
    connection::{Connection, Edge, EmptyFields},
    OutputType,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    error::InvalidInput,
    schema::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE},
};

/// The page size `first` asks for: [`DEFAULT_PAGE_SIZE`] when absent, never
/// more than [`MAX_PAGE_SIZE`]; negative is refused.
pub fn page_size(first: Option<i32>) -> Result<usize, InvalidInput> {
    match first {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if n < 0 => Err(InvalidInput::new("first", "must not be negative")),
        Some(n) => Ok((n as usize).min(MAX_PAGE_SIZE)),
    }
}

/// `after` as the `(time, id)` it encodes; refused when this API did not hand
/// it out.
pub fn decode_after(after: Option<&str>) -> Result<Option<(DateTime<Utc>, Uuid)>, InvalidInput> {
    after
        .map(|text| {
            crate::cursor::decode(text)
                .ok_or_else(|| InvalidInput::new("after", "is not a cursor returned by this API"))
        })
        .transpose()
}

/// One page of a list, and whether more follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
}

impl<T> Page<T> {
    /// Splits the `limit + 1` rows a store returned into a page of `limit`
    /// and a has-next flag.
    pub fn from_overfetch(mut items: Vec<T>, limit: usize) -> Self {
        let has_next = items.len() > limit;
        items.truncate(limit);
        Self { items, has_next }
    }

    /// The Relay connection of this page: each edge's cursor from `cursor`,
    /// its node from `node`. `has_previous`: the page started `after` a cursor.
    pub fn into_connection<N: OutputType>(
        self,
        has_previous: bool,
        cursor: impl Fn(&T) -> String,
        node: impl Fn(T) -> N,
    ) -> Connection<String, N, EmptyFields, EmptyFields> {
        let mut connection = Connection::new(has_previous, self.has_next);
        connection.edges.extend(
            self.items
                .into_iter()
                .map(|item| Edge::new(cursor(&item), node(item))),
        );
        connection
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_is_bounded_and_must_not_be_negative() {
        assert_eq!(page_size(None), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(Some(5)), Ok(5));
        assert_eq!(page_size(Some(100_000)), Ok(MAX_PAGE_SIZE));
        assert_eq!(page_size(Some(-1)).map_err(|e| e.field), Err("first"));
    }

    #[test]
    fn the_extra_row_says_more_follow_and_is_not_returned() {
        assert_eq!(
            Page::from_overfetch(vec![1, 2, 3], 2),
            Page {
                items: vec![1, 2],
                has_next: true
            }
        );
        assert_eq!(
            Page::from_overfetch(vec![1, 2], 2),
            Page {
                items: vec![1, 2],
                has_next: false
            }
        );
    }

    #[test]
    fn only_cursors_this_api_handed_out_are_accepted() {
        let at = DateTime::from_timestamp_millis(1_700_000_000_000).expect("time");
        let id = Uuid::now_v7();
        let cursor = crate::cursor::encode(at, id);
        assert_eq!(decode_after(Some(&cursor)), Ok(Some((at, id))));
        assert_eq!(decode_after(None), Ok(None));
        assert_eq!(
            decode_after(Some("garbage")).map_err(|e| e.field),
            Err("after")
        );
    }
}
