//! `fittrack dev`: every subgraph in this process, the router as a child process.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::Context as _;
use fittrack_kit::service::CancellationToken;
use tokio::process::Command;

use crate::{
    compose::{compose_supergraph, exported_sdl, SupergraphConfig},
    subgraphs::{build, Wiring, SUBGRAPHS},
};

#[derive(clap::Args)]
pub struct DevArgs {
    /// Router port.
    #[arg(long, env = "FITTRACK_ROUTER_PORT", default_value_t = 4000)]
    pub router_port: u16,
    /// Router config file.
    #[arg(long, default_value = "router/router.yaml")]
    pub router_config: PathBuf,
    /// Composition config; the launcher composes what the code exports right now.
    #[arg(long, default_value = "supergraph.yaml")]
    pub supergraph_config: PathBuf,
    /// Port of the web app (and the offline GraphiQL at /graphiql.html).
    #[arg(long, env = "FITTRACK_WEB_PORT", default_value_t = 4080)]
    pub web_port: u16,
    /// Serve (and build when needed) the web app.
    #[arg(long, env = "FITTRACK_WEB", default_value_t = true, action = clap::ArgAction::Set)]
    pub web: bool,
    /// The web app's sources; built with npm when its build is missing or stale.
    #[arg(long, default_value = "clients/web")]
    pub web_dir: PathBuf,
    /// Where the launcher keeps generated files (and embedded data by default).
    #[arg(long, env = "FITTRACK_DATA_DIR", default_value = ".fittrack")]
    pub data_dir: PathBuf,
}

impl Default for DevArgs {
    fn default() -> Self {
        Self {
            router_port: std::env::var("FITTRACK_ROUTER_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(4000),
            router_config: "router/router.yaml".into(),
            web_port: std::env::var("FITTRACK_WEB_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(4080),
            web: std::env::var("FITTRACK_WEB").map_or(true, |v| v != "false"),
            web_dir: "clients/web".into(),
            supergraph_config: "supergraph.yaml".into(),
            data_dir: std::env::var_os("FITTRACK_DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| ".fittrack".into()),
        }
    }
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    // Keys, tokens, databases and the outbox live here: owner-only.
    fittrack_kit::files::create_private_dir(&args.data_dir)?;
    // The web app first (npm may need a minute on the first run); Ctrl-C still works.
    let web_dist = if args.web {
        tokio::select! {
            () = fittrack_kit::server::shutdown_signal() => return Ok(()),
            dist = crate::web::prepare(&args.web_dir) => Some(dist),
        }
    } else {
        None
    };
    let stop = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut router_env = vec![];

    let mut wiring = Wiring {
        // The admin subgraph's configured address (it binds after the user
        // subgraph, which delivers its audit outbox there).
        admin_base_url: Some(format!(
            "http://{}",
            fittrack_admin::AdminConfig::load()?.http.address()
        )),
        ..Wiring::default()
    };
    // SUBGRAPHS lists `user` first, so its JWKS URL is known before the others bind.
    for spec in SUBGRAPHS {
        let bound = build(spec.name, &wiring).await?.bind().await?;
        let url = bound
            .graphql_url()
            .with_context(|| format!("the {} subgraph serves no API", spec.id))?;
        println!("  {:<8} subgraph  {url}", spec.id);
        router_env.push((
            format!("FITTRACK_{}_URL", spec.id.to_uppercase()),
            url.clone(),
        ));
        if spec.id == "user" {
            let jwks_url = url.replace("/graphql", "/.well-known/jwks.json");
            router_env.push(("FITTRACK_JWKS_URL".into(), jwks_url.clone()));
            wiring.jwks_url = Some(jwks_url);
            wiring.user_base_url = Some(url.trim_end_matches("/graphql").to_owned());
        }
        tasks.spawn(bound.run(stop.clone()));
    }

    let supergraph = compose_current(&args.supergraph_config)?;
    let supergraph_path = absolute(&args.data_dir.join("supergraph.graphql"))?;
    std::fs::write(&supergraph_path, supergraph)?;

    let exe = std::env::current_exe().context("locating the fittrack binary")?;
    let mut router = Command::new(exe)
        .arg("router")
        .env("ROUTER_CONFIG_FILE_PATH", absolute(&args.router_config)?)
        .env("SUPERGRAPH_FILE_PATH", &supergraph_path)
        .env("PORT", args.router_port.to_string())
        .envs(router_env)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting the router")?;
    let api = format!("http://127.0.0.1:{}/graphql", args.router_port);
    let web = match web_dist {
        None => String::new(),
        Some(Err(error)) => format!("  web app   not built: {error:#}\n"),
        Some(Ok(dist)) => match crate::web::serve(
            &dist,
            args.web_port,
            vec![format!("http://127.0.0.1:{}", args.router_port)],
            stop.clone(),
        )
        .await
        {
            Ok((address, server)) => {
                tasks.spawn(server);
                format!(
                    "  web app   http://{address}/?api={api}\n  GraphiQL  http://{address}/graphiql.html?api={api}  (offline)\n"
                )
            }
            Err(error) => format!("  web app   not served: {error:#}\n"),
        },
    };
    let mail = match fittrack_user::UserConfig::load() {
        Ok(config) if config.mail.smtp_url.is_some() => {
            "  mail      sent over SMTP_URL\n".to_owned()
        }
        Ok(config) => format!(
            "  mail      written to {} (set SMTP_URL to send it)\n",
            config.mail.outbox_dir(&config.data_dir).display()
        ),
        Err(_) => String::new(),
    };
    println!(
        "\nFitTrack is up:\n  router    {api}  (a browser GET opens the router's Laboratory)\n{web}  data      {data}\n{mail}Ctrl-C stops everything.\n",
        data = args.data_dir.display(),
    );

    let outcome = tokio::select! {
        () = fittrack_kit::server::shutdown_signal() => Ok(()),
        status = router.wait() => Err(anyhow::anyhow!("the router exited ({:?})", status.ok())),
        Some(result) = tasks.join_next() => Err(anyhow::anyhow!("a subgraph stopped: {:?}", result)),
    };

    println!("stopping…");
    stop.cancel();
    stop_router(&mut router).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    outcome
}

/// Composes the supergraph from the SDL the running code exports.
fn compose_current(config_path: &Path) -> anyhow::Result<String> {
    let config = SupergraphConfig::load(config_path)?;
    let base = config_path.parent().unwrap_or(Path::new("."));
    compose_supergraph(&config, |name, entry| match exported_sdl(name) {
        Some(sdl) => Ok(sdl),
        None => {
            let path = base.join(&entry.schema.file);
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
        }
    })
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    Ok(if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()?.join(path)
    })
}

/// SIGTERM, a grace period, then SIGKILL.
async fn stop_router(router: &mut tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = router.id() {
        use nix::{sys::signal, unistd::Pid};
        let _ = signal::kill(Pid::from_raw(pid as i32), signal::Signal::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(10), router.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = router.kill().await;
}
