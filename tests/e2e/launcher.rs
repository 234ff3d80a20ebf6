//! `fittrack` with no arguments brings the whole stack up on embedded defaults,
//! keeps data across restarts, serves GraphiQL, and stops cleanly on SIGTERM.

use fittrack_testkit as support;

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::json;
use support::{free_port, gql, unique_email, wait_until_up, LOGIN, PASSWORD, REGISTER};

fn launch(data_dir: &std::path::Path, router_port: u16, ports: (u16, u16, u16, u16)) -> Child {
    launcher(data_dir, router_port, ports)
        .stdout(Stdio::null())
        .spawn()
        .expect("fittrack starts")
}

/// `fittrack` (the dev launcher) on these ports and embedded defaults.
fn launcher(data_dir: &std::path::Path, router_port: u16, ports: (u16, u16, u16, u16)) -> Command {
    let (user_port, activity_port, ai_port, admin_port) = ports;
    let mut command = Command::new(env!("CARGO_BIN_EXE_fittrack"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("FITTRACK_DATA_DIR", data_dir)
        .env("FITTRACK_ROUTER_PORT", router_port.to_string())
        .env("FITTRACK_ROUTER_METRICS_PORT", free_port().to_string())
        .env("FITTRACK_USER__HTTP__PORT", user_port.to_string())
        .env("FITTRACK_ACTIVITY__HTTP__PORT", activity_port.to_string())
        .env("FITTRACK_AI__HTTP__PORT", ai_port.to_string())
        .env("FITTRACK_ADMIN__HTTP__PORT", admin_port.to_string())
        // The web app has its own browser test; here it would only cost an npm build.
        .env("FITTRACK_WEB", "false")
        .env_remove("GEMINI_API_KEY")
        // Embedded defaults: no real services, whatever the caller's environment says.
        .env_remove("DATABASE_URL")
        .env_remove("MONGODB_URI")
        .env_remove("REDIS_URL")
        .env("LOG_LEVEL", "error")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    command
}

fn terminate(mut child: Child) -> std::process::ExitStatus {
    use nix::{sys::signal, unistd::Pid};
    signal::kill(Pid::from_raw(child.id() as i32), signal::Signal::SIGTERM).expect("signal");
    for _ in 0..300 {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("fittrack did not stop within 30 s of SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_command_runs_the_stack_and_data_survives_a_restart() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let (router_port, ports) = (
        free_port(),
        (free_port(), free_port(), free_port(), free_port()),
    );
    let router = format!("http://127.0.0.1:{router_port}/graphql");
    let health = format!("http://127.0.0.1:{router_port}/readiness");

    let first = launch(data_dir.path(), router_port, ports);
    wait_until_up(&health).await;
    let email = unique_email("persist");
    let registered = gql(
        &router,
        REGISTER,
        json!({"input": {"email": email, "password": PASSWORD}}),
        None,
    )
    .await;
    registered.assert_ok();
    let token = registered.data("register")["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    // The activity subgraph checks tokens against the user subgraph's JWKS,
    // wherever the launcher put it.
    gql(
        &router,
        "mutation($input: LogActivityInput!) { logActivity(input: $input) { id } }",
        json!({"input": {"type": "YOGA", "durationMinutes": 30, "caloriesBurned": 120,
                         "startTime": chrono::Utc::now().to_rfc3339()}}),
        Some(&token),
    )
    .await
    .assert_ok();

    // A browser GET shows the GraphiQL/Laboratory page.
    let page = reqwest::Client::new()
        .get(&router)
        .header("accept", "text/html")
        .send()
        .await
        .expect("GET /graphql");
    assert!(page.status().is_success());
    assert!(page
        .text()
        .await
        .expect("html")
        .to_lowercase()
        .contains("<html"));

    assert!(terminate(first).success(), "clean exit on SIGTERM");
    assert!(data_dir.path().join("user.db").exists());
    assert!(data_dir.path().join("jwt-signing-key.pem").exists());
    assert!(data_dir.path().join("activity.db").exists());
    secrets_are_owner_only(data_dir.path());

    let second = launch(data_dir.path(), router_port, ports);
    wait_until_up(&health).await;
    let login = gql(
        &router,
        LOGIN,
        json!({"email": email, "password": PASSWORD}),
        None,
    )
    .await;
    login.assert_ok();
    let token = login.data("login")["accessToken"].as_str().expect("token");
    let mine = gql(
        &router,
        "{ me { activities { edges { node { type } } } } }",
        json!({}),
        Some(token),
    )
    .await;
    mine.assert_ok();
    assert_eq!(
        mine.data("me")["activities"]["edges"][0]["node"]["type"],
        "YOGA",
        "the activity survived the restart"
    );
    assert!(terminate(second).success());
}

/// The signing key, the internal token and every SQLite database (with its
/// WAL) in the data directory are readable by their owner only.
fn secrets_are_owner_only(data_dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(data_dir).expect("data dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let secret = name == "jwt-signing-key.pem"
            || name == "internal-token"
            || name.ends_with(".db")
            || name.ends_with(".db-wal")
            || name.ends_with(".db-shm");
        if secret {
            assert_eq!(mode(&path), 0o600, "{name} is readable by others");
            checked.push(name);
        }
    }
    for expected in [
        "jwt-signing-key.pem",
        "internal-token",
        "user.db",
        "activity.db",
        "ai.db",
        "admin.db",
    ] {
        assert!(
            checked.iter().any(|n| n == expected),
            "{expected} not found: {checked:?}"
        );
    }
}

#[test]
fn a_subgraph_served_alone_refuses_to_keep_revocations_to_itself() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    for subgraph in ["user", "activity", "ai", "admin"] {
        let output = Command::new(env!("CARGO_BIN_EXE_fittrack"))
            .args(["serve", subgraph])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("FITTRACK_DATA_DIR", data_dir.path())
            .env(
                format!("FITTRACK_{}__HTTP__PORT", subgraph.to_uppercase()),
                free_port().to_string(),
            )
            .env_remove("DATABASE_URL")
            .env_remove("MONGODB_URI")
            .env_remove("REDIS_URL")
            .stdin(Stdio::null())
            .output()
            .expect("fittrack runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{subgraph} started without shared revocations"
        );
        assert!(
            // Revocations or erasure marks, whichever the subgraph builds first.
            stderr.contains("must be shared between processes: set REDIS_URL"),
            "{subgraph}: {stderr}"
        );
    }
}

/// `fittrack admin migrate` migrates the audit log as its owner and grants
/// the service's role reading and appending only (PostgreSQL, when
/// `DATABASE_URL` names one); the service's role then cannot rewrite it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_migrated_by_its_owner_and_only_appended_to_by_the_service() {
    use sea_orm::ConnectionTrait as _;
    let Some(owner_url) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
    else {
        eprintln!("postgres: DATABASE_URL not set; skipped");
        return;
    };
    let app_url = support::audit_app_role_url(&owner_url).await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_fittrack"))
        .args(["admin", "migrate"])
        .env("FITTRACK_DATA_DIR", data_dir.path())
        .env("DATABASE_URL", app_url.expose())
        .env("ADMIN_DATABASE_OWNER_URL", &owner_url)
        .stdin(Stdio::null())
        .output()
        .expect("fittrack runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("migrated by its owner"));

    let service = sea_orm::Database::connect(app_url.expose())
        .await
        .expect("the service's role connects");
    service
        .execute_unprepared("SELECT count(*) FROM admin_audit_logs")
        .await
        .expect("it reads");
    for statement in [
        "DELETE FROM admin_audit_logs",
        "DROP TABLE admin_audit_logs",
        "ALTER TABLE admin_audit_logs DISABLE TRIGGER ALL",
    ] {
        let refused = service.execute_unprepared(statement).await;
        assert!(refused.is_err(), "the service's role could run {statement}");
    }
}

/// Log lines are JSON with `FITTRACK_LOG_FORMAT=json`, and a line written
/// while a request is served carries its request id and the trace it
/// belongs to (the one the client started).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_and_the_trace_id() {
    use std::io::BufRead as _;
    let receiver = fittrack_testkit::otlp::OtlpReceiver::start().await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let (router_port, ports) = (
        free_port(),
        (free_port(), free_port(), free_port(), free_port()),
    );
    let mut child = launcher(data_dir.path(), router_port, ports)
        .env("FITTRACK_LOG_FORMAT", "json")
        // The request span's line (tower-http logs the response at DEBUG).
        .env("RUST_LOG", "warn,fittrack_kit=info,tower_http=debug")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint)
        .stdout(Stdio::piped())
        .spawn()
        .expect("fittrack starts");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, received) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    wait_until_up(&format!("http://127.0.0.1:{router_port}/readiness")).await;

    let trace_id = format!("{:032x}", uuid::Uuid::new_v4().as_u128());
    let request_id = format!("logs-{}", uuid::Uuid::new_v4().simple());
    let answer = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{router_port}/graphql"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .header("x-request-id", &request_id)
        // A sign-in reaches the user subgraph (a wrong password: nothing to set up).
        .json(&json!({"query": LOGIN, "variables": {"email": "nobody@example.com", "password": "wrong password"}}))
        .send()
        .await
        .expect("the router answers");
    assert!(answer.status().is_success());

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let found = loop {
        let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) else {
            break None;
        };
        let Ok(line) = received.recv_timeout(left) else {
            break None;
        };
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
            seen.push(line);
            continue;
        };
        if entry["span"]["trace_id"] == trace_id.as_str() {
            break Some(entry);
        }
        seen.push(line);
    };
    let _ = terminate(child);
    let entry = found.unwrap_or_else(|| panic!("no log line of trace {trace_id}: {seen:#?}"));
    assert_eq!(entry["span"]["request_id"], request_id.as_str(), "{entry}");
    assert_eq!(entry["span"]["path"], "/graphql", "{entry}");
    assert!(
        entry["timestamp"].is_string() && entry["level"].is_string(),
        "{entry}"
    );
}
