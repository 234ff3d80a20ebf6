use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand, ValueEnum};

use crate::{compose, dev, migrate, subgraphs};

#[derive(Parser)]
#[command(
    name = "fittrack",
    version,
    about = "FitTrack: a federated GraphQL fitness platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Every subgraph in-process plus the router (the default).
    Dev(dev::DevArgs),
    /// One subgraph alone, as production runs it.
    Serve {
        #[arg(value_enum)]
        subgraph: subgraphs::SubgraphName,
    },
    /// Administration of the platform itself.
    Admin {
        #[command(subcommand)]
        action: AdminCommand,
    },
    /// The AI recommendation worker alone (scales apart from the API).
    Worker,
    /// The federation router (hive-router).
    Router {
        /// Router config file.
        #[arg(
            long,
            env = "ROUTER_CONFIG_FILE_PATH",
            default_value = "router/router.yaml"
        )]
        config: PathBuf,
    },
    /// Export subgraph SDLs to schema/ and compose schema/supergraph.graphql.
    Compose(compose::ComposeArgs),
    /// Run relational migrations against DATABASE_URL or the embedded SQLite.
    Migrate {
        #[arg(value_enum, default_value = "up")]
        action: MigrateAction,
        /// How many migrations `down` rolls back.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Creates an ADMIN account, or promotes an existing one (its password must
    /// match). Reads the password from FITTRACK_ADMIN_PASSWORD or stdin when
    /// `--password` is not given, so it need not appear in the process list.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, env = "FITTRACK_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Migrates the audit log as its owner role (ADMIN_DATABASE_OWNER_URL) and
    /// grants the service's role (DATABASE_URL) SELECT and INSERT only: run
    /// once per release, so that the admin service never holds the owner's
    /// credentials.
    Migrate,
}

#[derive(Clone, Copy, ValueEnum)]
enum MigrateAction {
    Up,
    Down,
    Status,
}

async fn create_admin(email: &str, password: Option<String>) -> anyhow::Result<()> {
    let password = match password {
        Some(password) => password,
        None => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let config = fittrack_user::UserConfig::load()?;
    let admin = fittrack_user::create_admin(&config, email, password).await?;
    println!("{} ({}) is an admin", admin.email, admin.id);
    Ok(())
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Dev(dev::DevArgs::default()));
    if let Command::Router { config } = command {
        // The router owns its own (ntex) runtime, so it must not start inside tokio's.
        std::env::set_var("ROUTER_CONFIG_FILE_PATH", config);
        return match fittrack_router::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("router failed: {error}");
                ExitCode::FAILURE
            }
        };
    }
    fittrack_kit::telemetry::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let result = run_command(command).await;
        // Spans still buffered go out before the process ends.
        fittrack_kit::telemetry::shutdown();
        result
    });
    finish(result)
}

async fn run_command(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Dev(args) => dev::run(args).await,
        Command::Serve { subgraph } => subgraphs::serve_alone(subgraph).await,
        Command::Worker => subgraphs::run_worker_alone().await,
        Command::Admin {
            action: AdminCommand::Create { email, password },
        } => create_admin(&email, password).await,
        Command::Admin {
            action: AdminCommand::Migrate,
        } => migrate::admin_audit_log().await,
        Command::Compose(args) => compose::run(&args),
        Command::Migrate { action, steps } => match action {
            MigrateAction::Up => migrate::up().await,
            MigrateAction::Down => migrate::down(steps).await,
            MigrateAction::Status => migrate::status().await,
        },
        Command::Router { .. } => Ok(()),
    }
}

fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
