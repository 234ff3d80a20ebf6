//! `fittrack-cli` commands: sign in, log a workout, import workout files,
//! and watch AI recommendations arrive, from a terminal. The session is kept in a file
//! between runs. A library module so tests drive the same code as the binary.

use std::{io::Write, path::PathBuf};

use crate::{log_activity, ClientError, FitTrackClient, Session};
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use futures_util::StreamExt;

#[derive(Parser)]
#[command(name = "fittrack-cli", version, about)]
pub struct Cli {
    /// The router's GraphQL endpoint.
    #[arg(
        long,
        env = "FITTRACK_ENDPOINT",
        default_value = "http://127.0.0.1:4000/graphql"
    )]
    pub endpoint: String,
    /// Where the session (tokens) is kept between runs.
    #[arg(
        long,
        env = "FITTRACK_SESSION",
        default_value = ".fittrack-session.json"
    )]
    pub session: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create an account and sign in.
    Register {
        #[arg(long)]
        email: String,
        #[arg(long, env = "FITTRACK_PASSWORD")]
        password: String,
    },
    /// Sign in.
    Login {
        #[arg(long)]
        email: String,
        #[arg(long, env = "FITTRACK_PASSWORD")]
        password: String,
    },
    /// Log a workout that started now (or at --start).
    LogActivity {
        /// RUNNING, CYCLING, SWIMMING, WEIGHTLIFTING, YOGA, CARDIO, WALKING, HIKING, OTHER.
        #[arg(long = "type")]
        activity_type: String,
        #[arg(long)]
        minutes: i64,
        #[arg(long)]
        calories: i64,
        /// RFC 3339 start time (default: now).
        #[arg(long)]
        start: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long)]
        notes: Option<String>,
        /// Where it was done, an IANA name (`Europe/Paris`): its local time.
        #[arg(long)]
        time_zone: Option<String>,
    },
    /// Import workout files (FIT, GPX, TCX, .gz, or zips such as a Strava
    /// or Garmin bulk export) and report what became of each workout.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Queue the import and print its id without waiting for it.
        #[arg(long)]
        no_wait: bool,
        /// Where workouts whose files give no UTC offset (GPX, TCX) were
        /// done, an IANA name (`Europe/Paris`).
        #[arg(long)]
        time_zone: Option<String>,
    },
    /// Write your whole history to a zip: every workout as JSON and each
    /// file a workout was imported from, as uploaded.
    Export {
        /// The zip to write (it must not exist yet).
        archive: PathBuf,
    },
    /// Print each new recommendation as it is written, until interrupted.
    Watch {
        /// Stop after this many recommendations.
        #[arg(long)]
        count: Option<usize>,
    },
}

/// The schema's activity types (RUNNING, CYCLING, ...); anything else is
/// sent as is and refused by the API with the list of valid ones.
fn activity_type(name: &str) -> anyhow::Result<log_activity::ActivityType> {
    Ok(serde_json::from_value(serde_json::Value::String(
        name.to_ascii_uppercase(),
    ))?)
}

/// Saves the session (its tokens are secrets): the file is created readable
/// by its owner only, from the first byte, and an older one is narrowed.
fn save(path: &PathBuf, session: &Session) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("saving the session to {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(&serde_json::to_vec_pretty(session)?)
        .with_context(|| format!("saving the session to {}", path.display()))
}

/// Runs one command, writing what it reports to `out`.
pub async fn run(cli: Cli, out: &mut (impl Write + Send)) -> anyhow::Result<()> {
    let mut client = FitTrackClient::new(&cli.endpoint);
    if let Ok(saved) = std::fs::read(&cli.session) {
        if let Ok(session) = serde_json::from_slice::<Session>(&saved) {
            client = client.with_session(session);
        }
    }
    match cli.command {
        Command::Register { email, password } => {
            let session = client.register(&email, &password).await?;
            save(&cli.session, &session)?;
            writeln!(out, "registered and signed in as {}", session.email)?;
        }
        Command::Login { email, password } => {
            let session = client.login(&email, &password).await?;
            save(&cli.session, &session)?;
            writeln!(out, "signed in as {}", session.email)?;
        }
        Command::LogActivity {
            activity_type: kind,
            minutes,
            calories,
            start,
            notes,
            time_zone,
        } => {
            let logged = client
                .log_activity(log_activity::LogActivityInput {
                    type_: activity_type(&kind)?,
                    duration_minutes: minutes,
                    calories_burned: calories,
                    start_time: start.unwrap_or_else(chrono::Utc::now),
                    notes,
                    metrics: None,
                    time_zone,
                    idempotency_key: None,
                })
                .await?;
            writeln!(
                out,
                "logged {:?} {} min, {} kcal: {}",
                logged.type_, logged.duration_minutes, logged.calories_burned, logged.id
            )?;
        }
        Command::Import {
            files,
            no_wait,
            time_zone,
        } => {
            let mut read = Vec::with_capacity(files.len());
            for path in &files {
                let bytes =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                let name = path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                read.push((name, bytes));
            }
            let id = client.import_files(&read, time_zone.as_deref()).await?;
            writeln!(out, "import {id} queued")?;
            if !no_wait {
                report_import(&client, &id, out).await?;
            }
        }
        Command::Export { archive } => {
            // Never over an existing file: a second export beside the first.
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&archive)
                .with_context(|| format!("creating {}", archive.display()))?;
            let written = async {
                let (file, summary) = client.export_archive(std::io::BufWriter::new(file)).await?;
                file.into_inner()
                    .map_err(|error| anyhow::anyhow!("writing {}: {error}", archive.display()))?
                    .sync_all()?;
                anyhow::Ok(summary)
            }
            .await;
            // No half-written archive is left to be mistaken for a whole one.
            let summary = written.inspect_err(|_| {
                let _ = std::fs::remove_file(&archive);
            })?;
            writeln!(
                out,
                "{}: {} workouts, {} original files",
                archive.display(),
                summary.activities,
                summary.originals
            )?;
        }
        Command::Watch { count } => {
            let mut seen = 0;
            let mut pause = Reconnect::default();
            'subscribe: loop {
                let mut stream = match client.watch_recommendations().await {
                    Ok(stream) => Box::pin(stream),
                    // The router is down or restarting: try again, more slowly each time.
                    Err(error @ ClientError::Transport(_)) => {
                        eprintln!("cannot subscribe ({error}); retrying");
                        pause.wait().await;
                        continue;
                    }
                    Err(error) => return Err(error.into()),
                };
                while let Some(recommendation) = stream.next().await {
                    let r = match recommendation {
                        Ok(r) => {
                            pause = Reconnect::default();
                            r.recommendation_fields
                        }
                        // The token expired (or the session ended): refresh
                        // and subscribe again; a dead session fails here.
                        Err(ClientError::Api { code, .. }) if code == "UNAUTHENTICATED" => {
                            client.refresh().await?;
                            continue 'subscribe;
                        }
                        // The connection dropped or the subgraph behind the
                        // router went away: say so, and subscribe again.
                        Err(error) => {
                            eprintln!("subscription interrupted ({error}); resubscribing");
                            pause.wait().await;
                            continue 'subscribe;
                        }
                    };
                    writeln!(
                        out,
                        "{} [{:?}] {} Next: {}",
                        r.activity_id, r.source, r.summary, r.next_workout
                    )?;
                    seen += 1;
                    if count.is_some_and(|n| seen >= n) {
                        break 'subscribe;
                    }
                }
                // The server completed the stream without an error (a router
                // shutting down): a watch goes on until it is stopped.
                eprintln!("subscription ended by the server; resubscribing");
                pause.wait().await;
            }
        }
    }
    // A refreshed token must survive to the next run.
    if let Some(session) = client.session().await {
        save(&cli.session, &session)?;
    }
    Ok(())
}

/// Waits for an import to finish (polling once a second), then prints a
/// line per file and per workout, and the totals.
async fn report_import(
    client: &FitTrackClient,
    id: &str,
    out: &mut (impl Write + Send),
) -> anyhow::Result<()> {
    use crate::import_status::{ImportFileState, ImportState};
    let status = loop {
        let status = client.import_status(id).await?;
        if status.state == ImportState::DONE {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    };
    for file in &status.files {
        match (&file.state, &file.reason) {
            (ImportFileState::REFUSED, reason) => writeln!(
                out,
                "{}: refused: {}",
                file.name,
                reason.as_deref().unwrap_or("unreadable")
            )?,
            _ if file.skipped_entries > 0 => writeln!(
                out,
                "{}: read ({} other files skipped)",
                file.name, file.skipped_entries
            )?,
            _ => writeln!(out, "{}: read", file.name)?,
        }
        for workout in &file.workouts {
            let what = match (&workout.type_, &workout.start_time, &workout.reason) {
                (Some(kind), Some(start), _) => format!("{kind:?} {}", start.to_rfc3339()),
                (_, _, Some(reason)) => reason.clone(),
                _ => String::new(),
            };
            writeln!(out, "  {} {:?} {what}", workout.file, workout.outcome)?;
        }
    }
    writeln!(
        out,
        "{} imported, {} duplicates, {} failed",
        status.imported, status.duplicates, status.failed
    )?;
    Ok(())
}

/// The pause before subscribing again: 250 ms, doubling up to 5 s, back to
/// 250 ms once a recommendation arrives.
struct Reconnect(std::time::Duration);

impl Default for Reconnect {
    fn default() -> Self {
        Self(std::time::Duration::from_millis(250))
    }
}

impl Reconnect {
    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(std::time::Duration::from_secs(5));
    }
}
