//! PostgreSQL stops and starts again under the user subgraph's domain:
//! sign-in and sign-up fail within seconds as `SERVICE_UNAVAILABLE` (not a
//! hang, not an internal error), nothing is half-written, and the same pool
//! serves again once the server is back, without a restart.
//!
//! Runs its own PostgreSQL (`initdb` + `pg_ctl` as the `postgres` user, on a
//! free port) so that the shared one is never stopped; skipped where that is
//! not possible, required in CI (`FITTRACK_REQUIRE_POSTGRES_SERVER`).

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use common::PASSWORD;
use fittrack_kit::{ApiError, ErrorCode};
fn pg_bin() -> Option<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn as_postgres(command: &str) -> bool {
    Command::new("su")
        .args(["postgres", "-c", command])
        .status()
        .is_ok_and(|status| status.success())
}

struct Server {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Server {
    fn ctl(&self, action: &str) -> bool {
        let data = self.dir.path().join("data");
        as_postgres(&format!(
            "{} -D {} -o '-p {} -k {} -c listen_addresses=127.0.0.1' -l {} -w -m immediate {action}",
            self.bin.join("pg_ctl").display(),
            data.display(),
            self.port,
            self.dir.path().display(),
            self.dir.path().join("log").display(),
        ))
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.ctl("stop");
    }
}

/// A private PostgreSQL, or why there is none.
fn start_server() -> Result<Server, String> {
    let bin = pg_bin().ok_or("no PostgreSQL binaries in /usr/lib/postgresql")?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let owned = Command::new("chown")
        .args(["postgres"])
        .arg(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    if !owned {
        return Err("cannot hand a folder to the postgres user (not root?)".into());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())?;
    let initialised = as_postgres(&format!(
        "{} -D {} -A trust -U postgres > /dev/null",
        bin.join("initdb").display(),
        dir.path().join("data").display()
    ));
    if !initialised {
        return Err("initdb failed".into());
    }
    let server = Server { bin, dir, port };
    if !server.ctl("start") {
        return Err("pg_ctl start failed".into());
    }
    Ok(server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_is_service_unavailable_then_recovers_by_itself() {
    let server = match start_server() {
        Ok(server) => server,
        Err(why) => {
            assert!(
                std::env::var_os("FITTRACK_REQUIRE_POSTGRES_SERVER").is_none(),
                "PostgreSQL restart test required: {why}"
            );
            eprintln!("PostgreSQL restart test skipped: {why}");
            return;
        }
    };
    let db = fittrack_user::storage::connect(&server.url())
        .await
        .expect("database");
    let accounts = common::accounts(db);
    accounts
        .register(common::registration("ada@example.com"), "127.0.0.1")
        .await
        .map_err(ApiError::from)
        .expect("registered");

    assert!(server.ctl("stop"), "stopped");
    let down = Instant::now();
    let login = accounts
        .login("ada@example.com", PASSWORD.into(), "127.0.0.1", None, None)
        .await
        .map(drop)
        .map_err(ApiError::from)
        .expect_err("no database");
    let register = accounts
        .register(common::registration("bob@example.com"), "127.0.0.1")
        .await
        .map(drop)
        .map_err(ApiError::from)
        .expect_err("no database");
    let took = down.elapsed();
    assert!(took < Duration::from_secs(10), "two calls took {took:?}");
    assert_eq!(login.code(), ErrorCode::ServiceUnavailable, "{login:?}");
    assert_eq!(
        register.code(),
        ErrorCode::ServiceUnavailable,
        "{register:?}"
    );

    assert!(server.ctl("start"), "started again");
    let back = Instant::now();
    loop {
        match accounts
            .login("ada@example.com", PASSWORD.into(), "127.0.0.1", None, None)
            .await
        {
            Ok(_) => break,
            Err(error) => assert!(
                back.elapsed() < Duration::from_secs(15),
                "the pool did not recover: {:?}",
                ApiError::from(error)
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The sign-up that failed left nothing: the address is free.
    accounts
        .register(common::registration("bob@example.com"), "127.0.0.1")
        .await
        .map_err(ApiError::from)
        .expect("bob's account was not half-written");
    eprintln!(
        "outage: two calls failed in {took:?}; sign-in worked {:?} after the restart",
        back.elapsed()
    );
}
