//! Redis clients (fred): the one place `REDIS_URL` becomes a connection, for the
//! queue, revocations, caches, the recommendation bus and breaker reports.

use anyhow::Context as _;
use fred::{
    clients::Client,
    prelude::{ClientLike, Config},
    types::{Builder, ClusterHash, CustomCommand},
};

/// A connected client.
pub async fn connect(url: &str) -> anyhow::Result<Client> {
    Ok(connect_pair(url).await?.0)
}

/// Two connections with the same settings: the second for commands that hold
/// their connection (blocking reads, pub/sub subscriptions).
pub async fn connect_pair(url: &str) -> anyhow::Result<(Client, Client)> {
    let config = Config::from_url(url).context("invalid REDIS_URL")?;
    let client = Builder::from_config(config)
        .build()
        .context("building the Redis client")?;
    let second = client.clone_new();
    client.init().await.context("connecting to Redis")?;
    second.init().await.context("connecting to Redis")?;
    Ok((client, second))
}

/// A command fred has no typed method for, keyed by its first argument.
pub fn command(name: &'static str) -> CustomCommand {
    CustomCommand::new_static(name, ClusterHash::FirstKey, false)
}
