//! The web app in headless Chromium against a real stack: register, log a
//! workout, see its recommendation appear live; the router is killed and
//! started again, and the feed reconnects by itself in time for the next
//! recommendation; the offline GraphiQL loads from local assets only. Screenshots: clients/web/e2e/artifacts/.
//!
//! Needs the built app (`npm run build` in clients/web), Node.js and Debian's
//! chromium; `.ci/run` provides them and sets FITTRACK_REQUIRE_BROWSER=1 so
//! that a missing piece fails instead of skipping.

use fittrack_testkit as support;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use support::{repo_root, Stack};

fn missing_prerequisite() -> Option<String> {
    let web = repo_root().join("clients/web");
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    [
        (
            web.join("dist/index.html"),
            "the built web app (npm run build)",
        ),
        (
            web.join("node_modules/playwright-core"),
            "npm ci in clients/web",
        ),
        (chromium.into(), "chromium"),
    ]
    .into_iter()
    .find(|(path, _)| !path.exists())
    .map(|(path, what)| format!("{what}: {} missing", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_shows_a_recommendation_live_in_a_real_browser() {
    if let Some(missing) = missing_prerequisite() {
        assert!(
            std::env::var_os("FITTRACK_REQUIRE_BROWSER").is_none(),
            "browser test required but {missing}"
        );
        eprintln!("browser test skipped: {missing}");
        return;
    }
    let stop = fittrack_kit::service::CancellationToken::new();
    // The router's port is known before the app is served: the app may only
    // use the API origins its own server publishes.
    let router_port = support::free_port();
    let router_origin = format!("http://127.0.0.1:{router_port}");
    let (address, server) = fittrack::web::serve(
        &repo_root().join("clients/web/dist"),
        0,
        vec![router_origin.clone()],
        stop.clone(),
    )
    .await
    .expect("web app served");
    tokio::spawn(server);
    let origin = format!("http://{address}");
    let stack = Stack::start_with_router_env(&[
        ("FITTRACK_WEB_ORIGINS", origin.as_str()),
        ("PORT", &router_port.to_string()),
    ])
    .await;

    // An admin session for the dashboard screen (the token carries ADMIN).
    let (auth, admin_token) = stack.register_admin("webadmin").await;
    let mut admin_user = auth["user"].clone();
    admin_user["role"] = serde_json::json!("ADMIN");
    let admin_session = serde_json::json!({
        "accessToken": admin_token,
        "refreshToken": auth["refreshToken"],
        "accessTokenExpiresAt": (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339(),
        "user": admin_user,
        "api": router_origin,
    });

    // The app is served under a strict CSP that lets it reach only its API;
    // the browser run below proves the app works under it.
    let page = reqwest::get(format!("{origin}/")).await.expect("index");
    let policy = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(
        policy.contains(&format!("connect-src 'self' {router_origin} ")),
        "{policy}"
    );

    // The script prints RESTART-ROUTER when its feed is live; the router is
    // then killed and started again, and RESTARTED goes to its stdin.
    let mut stack = stack;
    let mut browser = tokio::process::Command::new("node")
        .arg("e2e/browser-test.mjs")
        .arg(format!("{origin}/"))
        .arg(stack.router.clone())
        .env("FITTRACK_ADMIN_SESSION", admin_session.to_string())
        .current_dir(repo_root().join("clients/web"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut stdin = browser.stdin.take();
    let mut lines = tokio::io::BufReader::new(browser.stdout.take().expect("stdout")).lines();
    let mut printed = String::new();
    while let Some(line) = lines.next_line().await.expect("stdout readable") {
        printed.push_str(&line);
        printed.push('\n');
        if line.trim() == "RESTART-ROUTER" {
            stack.restart_router().await;
            if let Some(mut stdin) = stdin.take() {
                stdin
                    .write_all(b"RESTARTED\n")
                    .await
                    .expect("the script reads");
            }
        }
    }
    drop(stdin);
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        browser.wait_with_output(),
    )
    .await
    .expect("the browser test ends")
    .expect("node ran");
    let output = std::process::Output {
        stdout: printed.into_bytes(),
        ..output
    };
    stop.cancel();
    assert!(
        output.status.success(),
        "browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
