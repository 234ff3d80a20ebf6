//! The harness's own PostgreSQL, Redis and MongoDB (nx-27017) servers, on free
//! ports, so that killing one never touches the machine's shared services.
//!
//! Each is configured the way FitTrack must be run for its guarantees to hold:
//! Redis with an append-only file fsynced on every write (a job acknowledged
//! by `XADD` survives `kill -9`), PostgreSQL with its defaults (fsync on), and
//! nx-27017 on a data directory rather than in memory.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use super::support::free_port;

/// Why the harness cannot run here (a missing server binary, not root, …).
pub type Unavailable = String;

/// Up to 30 s: nx-27017 is a Python program, slow to start on a busy machine.
async fn wait_listening(port: u16, what: &str) {
    if !listening_within(port, Duration::from_secs(30)).await {
        panic!("{what} did not listen on {port}");
    }
}

async fn listening_within(port: u16, within: Duration) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < within {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn kill_hard(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

pub struct Redis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Redis {
    pub async fn start(dir: &Path) -> Result<Self, Unavailable> {
        let found = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Err("redis-server is not installed".into());
        }
        let dir = dir.join("redis");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut redis = Self {
            port: free_port(),
            dir,
            child: None,
        };
        redis.spawn().await;
        Ok(redis)
    }

    async fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        wait_listening(self.port, "redis-server").await;
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `kill -9`: no shutdown, no final save.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_hard(&mut child);
        }
    }

    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Postgres {
    pub port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
}

fn as_postgres(command: &str) -> bool {
    Command::new("su")
        .args(["postgres", "-c", command])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

impl Postgres {
    pub async fn start() -> Result<Self, Unavailable> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|entries| {
                let mut bins: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                    .filter(|bin| bin.join("pg_ctl").exists())
                    .collect();
                bins.sort();
                bins.pop()
            })
            .ok_or("no PostgreSQL binaries in /usr/lib/postgresql")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let owned = Command::new("chown")
            .arg("postgres")
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !owned {
            return Err("cannot hand a folder to the postgres user (not root?)".into());
        }
        let initialised = as_postgres(&format!(
            "{} -D {} -A trust -U postgres",
            bin.join("initdb").display(),
            dir.path().join("data").display()
        ));
        if !initialised {
            return Err("initdb failed".into());
        }
        let server = Self {
            port: free_port(),
            bin,
            dir,
        };
        assert!(server.ctl("start"), "pg_ctl start");
        Ok(server)
    }

    fn ctl(&self, action: &str) -> bool {
        as_postgres(&format!(
            "{} -D {} -o '-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200' -l {} -w -m immediate {action}",
            self.bin.join("pg_ctl").display(),
            self.dir.path().join("data").display(),
            self.port,
            self.dir.path().display(),
            self.dir.path().join("log").display(),
        ))
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// An immediate stop (no checkpoint: what a crash leaves), then a start.
    pub fn stop(&self) {
        assert!(self.ctl("stop"), "pg_ctl stop");
    }

    pub async fn start_again(&self) {
        assert!(self.ctl("start"), "pg_ctl start");
        wait_listening(self.port, "PostgreSQL").await;
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.ctl("stop");
    }
}

pub struct Mongo {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Mongo {
    pub async fn start(dir: &Path) -> Result<Self, Unavailable> {
        let dir = dir.join("mongo");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut mongo = Self {
            port: free_port(),
            dir,
            child: None,
        };
        // A start that never listens (seen twice in CI, its log gone with
        // the scenario's directory) is retried on another port, and the
        // last one's log is shown.
        for _ in 0..3 {
            mongo
                .spawn()
                .map_err(|e| format!("nx-27017: {e} (pip install nx-27017)"))?;
            if listening_within(mongo.port, Duration::from_secs(20)).await {
                return Ok(mongo);
            }
            mongo.kill();
            mongo.port = free_port();
        }
        panic!(
            "nx-27017 did not listen, three times:\n{}",
            std::fs::read_to_string(mongo.dir.join("nx.log")).unwrap_or_default()
        );
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = Command::new("nx-27017")
            .arg("--data-dir")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string()])
            .arg("--log-file")
            .arg(self.dir.join("nx.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    pub fn url(&self) -> String {
        format!("mongodb://127.0.0.1:{}", self.port)
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_hard(&mut child);
        }
    }

    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().expect("nx-27017 starts again");
        wait_listening(self.port, "nx-27017").await;
    }
}

impl Drop for Mongo {
    fn drop(&mut self) {
        self.kill();
    }
}

/// All three, or why not.
pub struct Backends {
    pub redis: Redis,
    pub postgres: Postgres,
    pub mongo: Mongo,
}

impl Backends {
    pub async fn start(dir: &Path) -> Result<Self, Unavailable> {
        Ok(Self {
            redis: Redis::start(dir).await?,
            postgres: Postgres::start().await?,
            mongo: Mongo::start(dir).await?,
        })
    }
}
