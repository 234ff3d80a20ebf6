//! The operations assets in `deploy/prometheus` against the real thing:
//! `promtool` checks and unit-tests the alert rules, then a real Prometheus
//! (Debian's package) scrapes a running stack with the committed scrape
//! config and rules, every target is up, an alert fires once its
//! condition is created (dead letters, from a Gemini that refuses every
//! call), and the Grafana dashboard's queries are valid and show it.

use fittrack_testkit as support;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use chrono::Utc;
use serde_json::{json, Value};
use support::{free_port, gql, repo_root, Stack};

const LOG: &str = "mutation($input: LogActivityInput!) { logActivity(input: $input) { id } }";

/// `name` on the PATH; `None` skips the test unless CI requires it
/// (`FITTRACK_REQUIRE_PROMETHEUS=1`, set by `.ci/run`, which installs it).
fn tool(name: &str) -> Option<PathBuf> {
    support::installed_tool(
        name,
        "FITTRACK_REQUIRE_PROMETHEUS",
        "apt-get install prometheus",
    )
}

fn deploy_dir() -> PathBuf {
    repo_root().join("deploy/prometheus")
}

#[test]
fn the_alert_rules_are_valid_and_pass_their_unit_tests() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    for args in [
        vec!["check", "rules", "alerts.yml"],
        vec!["test", "rules", "alerts.test.yml"],
    ] {
        let output = std::process::Command::new(&promtool)
            .args(&args)
            .current_dir(deploy_dir())
            .output()
            .expect("promtool runs");
        assert!(
            output.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The committed scrape config with this stack's addresses for each job
/// (jobs the stack does not run, such as separate workers, left out) and a
/// 1 s interval, so the test need not wait for 15 s scrapes.
fn config_for(stack: &Stack, dir: &Path) -> PathBuf {
    let host_port = |url: &str| {
        let url = reqwest::Url::parse(url).expect("a URL");
        format!(
            "{}:{}",
            url.host_str().expect("a host"),
            url.port().expect("a port")
        )
    };
    let targets = [
        ("router", host_port(&stack.router_metrics)),
        ("user", host_port(&stack.user)),
        ("activity", host_port(&stack.activity)),
        ("ai", host_port(&stack.ai)),
        ("admin", host_port(&stack.admin)),
    ];
    let text = std::fs::read_to_string(deploy_dir().join("prometheus.yml")).expect("committed");
    let mut config: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
    config["global"]["scrape_interval"] = "1s".into();
    config["global"]["evaluation_interval"] = "1s".into();
    config["rule_files"] = serde_yaml::Value::Sequence(vec![deploy_dir()
        .join("alerts.yml")
        .display()
        .to_string()
        .into()]);
    let jobs = config["scrape_configs"]
        .as_sequence_mut()
        .expect("scrape_configs");
    jobs.retain(|job| {
        targets
            .iter()
            .any(|(name, _)| job["job_name"].as_str() == Some(name))
    });
    assert_eq!(jobs.len(), targets.len(), "every service has a job");
    for job in jobs.iter_mut() {
        let name = job["job_name"].as_str().expect("a name").to_owned();
        let (_, target) = targets
            .iter()
            .find(|(job, _)| *job == name)
            .expect("a target");
        job["static_configs"] =
            serde_yaml::from_str(&format!("[{{targets: [\"{target}\"]}}]")).expect("static config");
    }
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, serde_yaml::to_string(&config).expect("yaml")).expect("written");
    path
}

/// Prometheus's answer at `path`; `Null` while it is still starting.
async fn api(base: &str, path: &str) -> Value {
    match reqwest::get(format!("{base}{path}")).await {
        Ok(response) => response.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// Waits until `check` holds for the answer at `path`, or fails with it.
async fn until(base: &str, path: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..120 {
        last = api(base, path).await;
        if check(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("{what} within 60 s; last answer: {last:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_every_service_and_the_dead_letter_alert_fires() {
    let Some(prometheus) = tool("prometheus") else {
        return;
    };
    // Gemini refuses every call (400): each job is dead-lettered at once.
    let gemini = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(400).set_body_json(
            json!({"error": {"code": 400, "message": "API key not valid", "status": "INVALID_ARGUMENT"}}),
        ))
        .mount(&gemini)
        .await;
    let stack = Stack::builder()
        .gemini(Some(fittrack_ai::gemini::GeminiConfig {
            api_key: Some(fittrack_kit::config::Secret::new("refused")),
            base_url: gemini.uri(),
            ..Default::default()
        }))
        .start()
        .await;
    let dir = tempfile::tempdir().expect("dir");
    let config = config_for(&stack, dir.path());
    let port = free_port();
    let mut server = tokio::process::Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus starts");
    let base = format!("http://127.0.0.1:{port}");

    let targets = until(&base, "/api/v1/targets", "every target up", |answer| {
        let active = answer["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        active.len() == 5 && active.iter().all(|target| target["health"] == "up")
    })
    .await;
    let jobs: Vec<&str> = targets["data"]["activeTargets"]
        .as_array()
        .expect("targets")
        .iter()
        .filter_map(|target| target["labels"]["job"].as_str())
        .collect();
    for job in ["router", "user", "activity", "ai", "admin"] {
        assert!(jobs.contains(&job), "{job} scraped: {jobs:?}");
    }

    // The condition: a logged workout whose recommendation Gemini refuses.
    let (_, ada) = stack.register("alerting").await;
    let token = ada["accessToken"].as_str().expect("token");
    let input = json!({"type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300,
                       "startTime": Utc::now().to_rfc3339()});
    gql(&stack.router, LOG, json!({"input": input}), Some(token))
        .await
        .assert_ok();

    let alerts = until(
        &base,
        "/api/v1/alerts",
        "FittrackDeadLettersGrowing firing",
        |answer| {
            answer["data"]["alerts"].as_array().is_some_and(|alerts| {
                alerts.iter().any(|alert| {
                    alert["labels"]["alertname"] == "FittrackDeadLettersGrowing"
                        && alert["state"] == "firing"
                })
            })
        },
    )
    .await;
    let firing = alerts["data"]["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .find(|alert| alert["labels"]["alertname"] == "FittrackDeadLettersGrowing")
        .expect("the alert")
        .clone();
    assert_eq!(firing["labels"]["job"], "ai", "{firing:#}");
    assert_eq!(firing["labels"]["severity"], "ticket", "{firing:#}");
    // Nothing else is wrong with the stack.
    let others: Vec<&Value> = alerts["data"]["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter(|alert| alert["labels"]["alertname"] != "FittrackDeadLettersGrowing")
        .collect();
    assert!(others.is_empty(), "{others:#?}");

    // Every query of the Grafana dashboard is valid PromQL, and the panels
    // of what just happened have data.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("deploy/grafana/dashboards/fittrack.json"))
            .expect("committed"),
    )
    .expect("json");
    let must_have_data = [
        "Traffic: router requests per second",
        "Operations per second, by subgraph and root field",
        "Queue: jobs by state",
        "Worker: jobs per second by outcome",
        "Coach: answers by source and reason",
        "Gemini: attempts by outcome, breaker",
        "Live: subscriptions and WebSocket connections",
        "Targets up",
    ];
    let panels = dashboard["panels"].as_array().expect("panels");
    for title in must_have_data {
        assert!(
            panels.iter().any(|panel| panel["title"] == title),
            "no panel {title}"
        );
    }
    for panel in panels {
        let title = panel["title"].as_str().expect("a title");
        // A rate needs two scrapes after the first sample: a panel may
        // take a few seconds to fill.
        let mut series = 0;
        for _ in 0..60 {
            series = 0;
            for target in panel["targets"].as_array().expect("targets") {
                let expr = target["expr"]
                    .as_str()
                    .expect("an expression")
                    .replace("$__rate_interval", "1m");
                let answer: Value = reqwest::Client::new()
                    .get(format!("{base}/api/v1/query"))
                    .query(&[("query", expr.as_str())])
                    .send()
                    .await
                    .expect("Prometheus answers")
                    .json()
                    .await
                    .expect("json");
                assert_eq!(answer["status"], "success", "{title}: {expr}: {answer}");
                series += answer["data"]["result"].as_array().map_or(0, Vec::len);
            }
            if series > 0 || !must_have_data.contains(&title) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if must_have_data.contains(&title) {
            assert!(series > 0, "the panel {title} shows nothing within 30 s");
        }
    }

    let _ = server.kill().await;
}
