//! Which store a document subgraph (activity, AI) keeps its data in, decided
//! once from its config: MongoDB when `MONGODB_URI` is set, else an embedded
//! SQLite file in the data directory. Each subgraph matches on this once, in
//! its composition root.

use std::path::Path;

use crate::config::Secret;

#[derive(Debug, Clone)]
pub enum StoreBackend {
    /// SQLite at `url` (`sqlite://…?mode=rwc`), created on first use.
    Embedded {
        url: String,
    },
    Mongo {
        uri: Secret,
        database: String,
    },
}

impl StoreBackend {
    /// MongoDB `database` at `mongodb_uri` when given, else `file` in `data_dir`.
    /// What metrics and spans call it: `sqlite` or `mongodb`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Embedded { .. } => "sqlite",
            Self::Mongo { .. } => "mongodb",
        }
    }

    pub fn select(
        mongodb_uri: Option<&Secret>,
        database: &str,
        data_dir: &Path,
        file: &str,
    ) -> Self {
        match mongodb_uri {
            Some(uri) => Self::Mongo {
                uri: uri.clone(),
                database: database.to_owned(),
            },
            None => Self::Embedded {
                url: format!("sqlite://{}?mode=rwc", data_dir.join(file).display()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mongo_when_a_uri_is_given_else_a_file_in_the_data_dir() {
        let uri = Secret::new("mongodb://127.0.0.1:27017");
        match StoreBackend::select(Some(&uri), "fittrack", Path::new("/data"), "a.db") {
            StoreBackend::Mongo { uri, database } => {
                assert_eq!(uri.expose(), "mongodb://127.0.0.1:27017");
                assert_eq!(database, "fittrack");
            }
            other => panic!("expected MongoDB, got {other:?}"),
        }
        match StoreBackend::select(None, "fittrack", Path::new("/data"), "a.db") {
            StoreBackend::Embedded { url } => assert_eq!(url, "sqlite:///data/a.db?mode=rwc"),
            other => panic!("expected embedded, got {other:?}"),
        }
    }
}
