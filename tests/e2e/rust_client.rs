//! The typed Rust client (clients/rust) against the real router: the main
//! mobile flow — sign up, watch live recommendations, log a workout, see the
//! recommendation arrive — plus token refresh and typed errors.

use fittrack_testkit as support;

use std::time::Duration;

use fittrack_client::{log_activity, me, FitTrackClient, Me, Session};
use futures_util::StreamExt;
use support::{unique_email, Stack, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_log_a_workout_and_receive_its_recommendation_live() {
    let stack = Stack::start().await;
    let client = FitTrackClient::new(&stack.router);
    let email = unique_email("mobile");
    let session = client.register(&email, PASSWORD).await.expect("register");
    assert_eq!(session.email, email);

    let mut feed = client.watch_recommendations().await.expect("subscribe");
    // Let the router open its upstream subscription before events flow.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let logged = client
        .log_activity(log_activity::LogActivityInput {
            type_: log_activity::ActivityType::RUNNING,
            duration_minutes: 45,
            calories_burned: 420,
            start_time: chrono::Utc::now(),
            notes: Some("tempo run".into()),
            metrics: None,
            time_zone: Some("Europe/Lisbon".into()),
            idempotency_key: None,
        })
        .await
        .expect("log activity");
    assert_eq!(logged.duration_minutes, 45);

    let recommendation = tokio::time::timeout(Duration::from_secs(15), feed.next())
        .await
        .expect("a recommendation within 15 s")
        .expect("stream open")
        .expect("recommendation");
    assert_eq!(recommendation.recommendation_fields.activity_id, logged.id);
    assert!(!recommendation.recommendation_fields.summary.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_token_is_refreshed_and_api_errors_carry_their_code() {
    let stack = Stack::start().await;
    let email = unique_email("refresh");
    let session = FitTrackClient::new(&stack.router)
        .register(&email, PASSWORD)
        .await
        .expect("register");

    // A saved session whose access token is about to expire.
    let stale = Session {
        access_token_expires_at: chrono::Utc::now(),
        ..session.clone()
    };
    let client = FitTrackClient::new(&stack.router).with_session(stale);
    let me = client.run::<Me>(me::Variables).await.expect("me").me;
    assert_eq!(me.email, email);
    let refreshed = client.session().await.expect("session");
    assert_ne!(refreshed.refresh_token, session.refresh_token, "rotated");
    assert!(refreshed.access_token_expires_at > chrono::Utc::now());
    let device = session
        .device_token
        .clone()
        .expect("a device token at sign-up");
    assert_eq!(
        refreshed.device_token.as_deref(),
        Some(device.as_str()),
        "kept"
    );

    // Signing in again from this client presents its device token, and
    // keeps the same device.
    let again = client.login(&email, PASSWORD).await.expect("login");
    assert_eq!(again.device_token.as_deref(), Some(device.as_str()));

    let wrong = FitTrackClient::new(&stack.router)
        .login(&email, "not the password")
        .await
        .expect_err("wrong password accepted");
    assert_eq!(wrong.code(), Some("UNAUTHENTICATED"), "{wrong}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_signs_up_watches_and_logs_a_workout() {
    use clap::Parser;
    use fittrack_client::cli::{run, Cli};

    let stack = Stack::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let session = dir.path().join("session.json");
    let cli = |args: &[&str]| {
        let mut argv = vec!["fittrack-cli", "--endpoint", &stack.router, "--session"];
        argv.push(session.to_str().expect("utf-8 path"));
        argv.extend(args);
        Cli::try_parse_from(argv).expect("valid arguments")
    };
    let email = unique_email("cli");
    let mut out = Vec::new();
    run(
        cli(&["register", "--email", &email, "--password", PASSWORD]),
        &mut out,
    )
    .await
    .expect("register");
    assert!(String::from_utf8_lossy(&out).contains(&email));
    assert!(session.exists(), "the session is saved for the next run");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&session)
            .expect("session file")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the saved tokens are readable by their owner only"
        );
    }

    // `watch` in one "terminal", `log-activity` in another (same saved session).
    let watch = cli(&["watch", "--count", "1"]);
    let watcher = tokio::spawn(async move {
        let mut seen = Vec::new();
        run(watch, &mut seen).await.map(|()| seen)
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut logged = Vec::new();
    run(
        cli(&[
            "log-activity",
            "--type",
            "cycling",
            "--minutes",
            "50",
            "--calories",
            "500",
        ]),
        &mut logged,
    )
    .await
    .expect("log activity");
    let logged = String::from_utf8_lossy(&logged).into_owned();
    assert!(
        logged.starts_with("logged CYCLING 50 min, 500 kcal: "),
        "{logged}"
    );
    let activity_id = logged.trim().rsplit(' ').next().expect("id").to_owned();

    let seen = tokio::time::timeout(Duration::from_secs(15), watcher)
        .await
        .expect("a recommendation within 15 s")
        .expect("watch task")
        .expect("watch");
    let seen = String::from_utf8_lossy(&seen).into_owned();
    assert!(seen.starts_with(&activity_id), "{seen}");

    // Bad input comes back as the API's error code.
    let error = run(
        cli(&[
            "log-activity",
            "--type",
            "pogo",
            "--minutes",
            "5",
            "--calories",
            "1",
        ]),
        &mut Vec::new(),
    )
    .await
    .expect_err("unknown activity type accepted");
    assert!(format!("{error:#}").contains("BAD_USER_INPUT"), "{error:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_imports_files_and_reports_each_workout() {
    use clap::Parser;
    use fittrack_client::cli::{run, Cli};

    let stack = Stack::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let session = dir.path().join("session.json");
    let cli = |args: &[&str]| {
        let mut argv = vec!["fittrack-cli", "--endpoint", &stack.router, "--session"];
        argv.push(session.to_str().expect("utf-8 path"));
        argv.extend(args);
        Cli::try_parse_from(argv).expect("valid arguments")
    };
    let email = unique_email("cli-import");
    let mut out = Vec::new();
    run(
        cli(&["register", "--email", &email, "--password", PASSWORD]),
        &mut out,
    )
    .await
    .expect("register");
    let fixtures = format!(
        "{}/subgraphs/activity/tests/fixtures/import",
        env!("CARGO_MANIFEST_DIR")
    );
    let ride = format!("{fixtures}/garmin-fenix-5-bike.fit");
    let settings = format!("{fixtures}/Settings.fit");
    let mut out = Vec::new();
    run(cli(&["import", &ride, &settings]), &mut out)
        .await
        .expect("import");
    let out = String::from_utf8(out).expect("utf-8");
    let lines: Vec<&str> = out.lines().skip(1).collect();
    assert!(out.starts_with("import "), "{out}");
    assert_eq!(
        lines,
        [
            "garmin-fenix-5-bike.fit: read",
            "  garmin-fenix-5-bike.fit IMPORTED CYCLING 2017-06-12T16:09:22+00:00",
            "Settings.fit: read",
            "  Settings.fit REFUSED the file holds no workout",
            "1 imported, 0 duplicates, 1 failed",
        ],
        "{out}"
    );

    // The whole history comes back as a zip: the workouts as JSON and the
    // imported one's file byte for byte; an existing archive is not
    // overwritten.
    let logged = cli(&[
        "log-activity",
        "--type",
        "yoga",
        "--minutes",
        "30",
        "--calories",
        "90",
    ]);
    run(logged, &mut Vec::new()).await.expect("logged");
    let archive = dir.path().join("history.zip");
    let archive_path = archive.to_str().expect("utf-8 path");
    let mut out = Vec::new();
    run(cli(&["export", archive_path]), &mut out)
        .await
        .expect("export");
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        format!("{archive_path}: 2 workouts, 1 original files\n")
    );
    let mut zip =
        zip::ZipArchive::new(std::fs::File::open(&archive).expect("archive")).expect("a zip");
    let workouts: serde_json::Value =
        serde_json::from_reader(zip.by_name("activities.json").expect("activities.json"))
            .expect("json");
    let ride = workouts
        .as_array()
        .expect("workouts")
        .iter()
        .find(|w| w["type"] == "CYCLING")
        .expect("the ride");
    let original = format!(
        "originals/{}/garmin-fenix-5-bike.fit",
        ride["id"].as_str().expect("id")
    );
    let mut kept = Vec::new();
    std::io::Read::read_to_end(
        &mut zip.by_name(&original).expect("the ride's file"),
        &mut kept,
    )
    .expect("read");
    assert!(
        kept == std::fs::read(ride_path()).expect("fixture"),
        "byte for byte"
    );
    let account: serde_json::Value =
        serde_json::from_reader(zip.by_name("account.json").expect("account.json")).expect("json");
    assert_eq!(account["me"]["email"], email.as_str());
    assert_eq!(zip.len(), 3, "the account, the workouts and one file");
    let again = run(cli(&["export", archive_path]), &mut Vec::new()).await;
    assert!(again.is_err(), "an existing archive is kept");
}

fn ride_path() -> String {
    format!(
        "{}/subgraphs/activity/tests/fixtures/import/garmin-fenix-5-bike.fit",
        env!("CARGO_MANIFEST_DIR")
    )
}
