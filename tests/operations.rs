//! Every client operation under `clients/operations/` is valid against the
//! composed API schema, and the data export runs through the router.

mod support;

use std::time::Duration;

use apollo_federation::{ApiSchemaOptions, Supergraph};
use serde_json::json;
use support::{gql, repo_root, Stack};

#[test]
fn client_operations_validate_against_the_composed_schema() {
    let sdl =
        std::fs::read_to_string(repo_root().join("schema/supergraph.graphql")).expect("supergraph");
    let supergraph = Supergraph::new(&sdl).expect("valid supergraph");
    let api = supergraph
        .to_api_schema(ApiSchemaOptions::default())
        .expect("api schema");
    let dir = repo_root().join("clients/operations");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("clients/operations") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "graphql") {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("operation");
        if let Err(errors) =
            apollo_compiler::ExecutableDocument::parse_and_validate(api.schema(), source, &path)
        {
            panic!("{} does not match the schema:\n{errors}", path.display());
        }
        checked += 1;
    }
    assert!(checked > 0, "no operations found in {}", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_returns_everything_held_about_the_user() {
    let stack = Stack::start().await;
    let (email, ada) = stack.register("ada").await;
    let token = ada["accessToken"].as_str().expect("token");
    gql(
        &stack.router,
        "mutation($input: LogActivityInput!) { logActivity(input: $input) { id } }",
        json!({"input": {"type": "YOGA", "durationMinutes": 30, "caloriesBurned": 120,
                         "startTime": chrono::Utc::now().to_rfc3339()}}),
        Some(token),
    )
    .await
    .assert_ok();
    gql(
        &stack.router,
        "mutation($date: NaiveDate!) { generateDailyPlan(date: $date) { id } }",
        json!({"date": chrono::Utc::now().date_naive().to_string()}),
        Some(token),
    )
    .await
    .assert_ok();
    let export =
        std::fs::read_to_string(repo_root().join("clients/operations/ExportMyData.graphql"))
            .expect("export operation");

    // The recommendation is written asynchronously; wait for it to show.
    for _ in 0..100 {
        let response = gql(&stack.router, &export, json!({}), Some(token)).await;
        response.assert_ok();
        let me = response.data("me");
        assert_eq!(me["email"], email.as_str());
        assert_eq!(me["activities"]["edges"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            response.data("dailyPlans")["edges"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        if !me["activities"]["edges"][0]["node"]["recommendation"].is_null() {
            assert_eq!(
                me["recommendations"]["edges"].as_array().map(Vec::len),
                Some(1)
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the export never showed the recommendation");
}
