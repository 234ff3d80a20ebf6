//! `fittrack-cli`: the terminal stand-in for the mobile apps (see `cli.rs`).

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    fittrack_client::cli::run(fittrack_client::cli::Cli::parse(), &mut std::io::stdout()).await
}
