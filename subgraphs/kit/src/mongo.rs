//! MongoDB clients: the one place `MONGODB_URI` becomes a client. The driver
//! reconnects by itself; what it needs from us are bounds, so that while the
//! server is away an operation fails within seconds (and is reported as
//! `SERVICE_UNAVAILABLE`, see `kit::error`) instead of waiting the driver's
//! default 30 s for a server to appear.

use std::time::Duration;

use anyhow::Context as _;
use mongodb::{options::ClientOptions, Client};

/// How long an operation waits for a reachable server.
pub const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(3);
/// How long opening one connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A client for `uri`, with FitTrack's bounds unless the URI sets its own.
pub async fn client(uri: &str) -> anyhow::Result<Client> {
    let mut options = ClientOptions::parse(uri)
        .await
        .context("invalid MONGODB_URI")?;
    options
        .server_selection_timeout
        .get_or_insert(SERVER_SELECTION_TIMEOUT);
    options.connect_timeout.get_or_insert(CONNECT_TIMEOUT);
    Client::with_options(options).context("connecting to MongoDB")
}
