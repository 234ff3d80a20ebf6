//! Every client operation under `clients/operations/` is valid against the
//! composed API schema, and the data export runs through the router.

use fittrack_testkit as support;

use std::time::Duration;

use fittrack::operations::{api_schema, load};
use serde_json::json;
use support::{gql, repo_root, Stack};

#[test]
fn client_operations_validate_against_the_composed_schema() {
    let sdl =
        std::fs::read_to_string(repo_root().join("schema/supergraph.graphql")).expect("supergraph");
    let api = api_schema(&sdl).expect("api schema");
    let operations =
        load(&api, &repo_root().join("clients/operations")).unwrap_or_else(|e| panic!("{e:#}"));
    let names: Vec<&str> = operations.iter().map(|o| o.name.as_str()).collect();
    for expected in [
        "Login",
        "RefreshToken",
        "LogActivity",
        "MyActivities",
        "MyActivityStats",
        "RecommendationAdded",
        "DailyPlan",
        "AdminDashboard",
        "BanUser",
        "ExportMyData",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[test]
fn an_operation_that_does_not_match_the_schema_is_refused() {
    let sdl =
        std::fs::read_to_string(repo_root().join("schema/supergraph.graphql")).expect("supergraph");
    let api = api_schema(&sdl).expect("api schema");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("Bad.graphql"),
        "query Bad { me { shoeSize } }",
    )
    .expect("write");
    let error = load(&api, dir.path()).expect_err("invalid operation accepted");
    assert!(format!("{error:#}").contains("shoeSize"), "{error:#}");
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
    gql(
        &stack.router,
        "mutation($input: GoalInput!) { createGoal(input: $input) { id } }",
        json!({"input": {"period": "WEEK", "metric": "COUNT", "target": 3, "timeZone": "Europe/Paris"}}),
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
        assert_eq!(response.data("myGoals")[0]["timeZone"], "Europe/Paris");
        assert_eq!(
            response.data("myRecords")[0]["kind"],
            "LONGEST_DURATION",
            "the yoga session is the longest so far"
        );
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

/// The manifest entry for `name`.
fn persisted(name: &str) -> (String, String) {
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("clients/persisted-documents.json"))
            .expect("manifest"),
    )
    .expect("manifest json");
    let entry = manifest["operations"]
        .as_array()
        .expect("operations")
        .iter()
        .find(|op| op["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in the manifest"));
    (
        entry["id"].as_str().expect("id").to_owned(),
        entry["body"].as_str().expect("body").to_owned(),
    )
}

async fn post(url: &str, body: serde_json::Value, token: Option<&str>) -> serde_json::Value {
    let mut request = reqwest::Client::new().post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .expect("router answers")
        .json()
        .await
        .expect("json response")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_persisted_only_mode_the_router_runs_known_documents_and_refuses_the_rest() {
    let stack = Stack::start_with_router_env(&[("FITTRACK_PERSISTED_ONLY", "true")]).await;
    let (id, _) = persisted("Login");
    let (me_id, _) = persisted("Me");

    // A registered document runs by its id.
    let email = support::unique_email("persisted");
    let (register_id, _) = persisted("Register");
    let registered = post(
        &stack.router,
        json!({"documentId": register_id, "operationName": "Register",
               "variables": {"input": {"email": email, "password": support::PASSWORD}}}),
        None,
    )
    .await;
    assert!(registered["errors"].is_null(), "{registered}");
    let login = post(
        &stack.router,
        json!({"documentId": id, "variables": {"email": email, "password": support::PASSWORD}}),
        None,
    )
    .await;
    let token = login["data"]["login"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{login}"));
    let me = post(&stack.router, json!({"documentId": me_id}), Some(token)).await;
    assert_eq!(me["data"]["me"]["email"], email.as_str(), "{me}");

    // Free-form text, even of a known operation, and unknown ids are refused.
    let free_form = post(
        &stack.router,
        json!({"query": "{ me { id } }"}),
        Some(token),
    )
    .await;
    assert!(free_form["data"].is_null(), "{free_form}");
    assert!(!free_form["errors"].as_array().expect("errors").is_empty());
    let unknown = post(
        &stack.router,
        json!({"documentId": "0".repeat(64)}),
        Some(token),
    )
    .await;
    assert!(unknown["data"].is_null(), "{unknown}");
    assert!(!unknown["errors"].as_array().expect("errors").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_the_router_takes_both_documents_and_free_form_queries() {
    let stack = Stack::start().await;
    let (_, ada) = stack.register("ada").await;
    let token = ada["accessToken"].as_str().expect("token");
    let (me_id, _) = persisted("Me");
    let by_id = post(&stack.router, json!({"documentId": me_id}), Some(token)).await;
    assert!(by_id["data"]["me"]["id"].is_string(), "{by_id}");
    let by_text = post(
        &stack.router,
        json!({"query": "{ me { id } }"}),
        Some(token),
    )
    .await;
    assert!(by_text["data"]["me"]["id"].is_string(), "{by_text}");
}

/// Sample values for an operation's required variables (optional ones are left
/// out): enough for the router to coerce them and estimate the cost.
fn sample_variables(
    schema: &apollo_compiler::Schema,
    operation: &apollo_compiler::executable::Operation,
) -> serde_json::Value {
    fn value_of(
        schema: &apollo_compiler::Schema,
        ty: &apollo_compiler::ast::Type,
    ) -> serde_json::Value {
        use apollo_compiler::{ast::Type, schema::ExtendedType};
        match ty {
            Type::List(inner) | Type::NonNullList(inner) => json!([value_of(schema, inner)]),
            Type::Named(name) | Type::NonNullNamed(name) => match name.as_str() {
                "ID" => json!(uuid::Uuid::new_v4().to_string()),
                "String" => json!("sample"),
                "Int" => json!(1),
                "Float" => json!(1.0),
                "Boolean" => json!(false),
                "DateTime" => json!(chrono::Utc::now().to_rfc3339()),
                "Date" | "NaiveDate" => json!(chrono::Utc::now().date_naive().to_string()),
                "JSON" => json!({}),
                other => match schema.types.get(other) {
                    Some(ExtendedType::Enum(e)) => {
                        json!(e
                            .values
                            .keys()
                            .next()
                            .map(|v| v.as_str())
                            .unwrap_or_default())
                    }
                    Some(ExtendedType::InputObject(input)) => {
                        let mut object = serde_json::Map::new();
                        for (field, definition) in &input.fields {
                            if definition.ty.is_non_null() && definition.default_value.is_none() {
                                object.insert(field.to_string(), value_of(schema, &definition.ty));
                            }
                        }
                        serde_json::Value::Object(object)
                    }
                    _ => json!("sample"),
                },
            },
        }
    }
    let mut variables = serde_json::Map::new();
    for variable in &operation.variables {
        if variable.ty.is_non_null() && variable.default_value.is_none() {
            variables.insert(variable.name.to_string(), value_of(schema, &variable.ty));
        }
    }
    serde_json::Value::Object(variables)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_operation_costs_well_under_the_router_budget() {
    let sdl =
        std::fs::read_to_string(repo_root().join("schema/supergraph.graphql")).expect("supergraph");
    let api = api_schema(&sdl).expect("api schema");
    let operations =
        load(&api, &repo_root().join("clients/operations")).unwrap_or_else(|e| panic!("{e:#}"));
    let router_config: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo_root().join("router/router.yaml")).expect("router.yaml"),
    )
    .expect("yaml");
    let max = router_config["demand_control"]["operation_cost"]["max"]
        .as_u64()
        .expect("a cost maximum");
    let stack = Stack::start().await;
    let (_, admin) = stack.register_admin("costs").await;
    let mut costs = Vec::new();
    for operation in operations.iter().filter(|o| o.kind != "subscription") {
        let document = apollo_compiler::ExecutableDocument::parse_and_validate(
            &api,
            &operation.body,
            "operation.graphql",
        )
        .expect("valid");
        let definition = document
            .operations
            .get(Some(operation.name.as_str()))
            .expect("named operation");
        let variables = sample_variables(&api, definition);
        // The estimate comes back whatever the operation then does with
        // sample input (a refusal, a NOT_FOUND …).
        let response = reqwest::Client::new()
            .post(&stack.router)
            .bearer_auth(&admin)
            .json(&json!({"query": operation.body, "variables": variables, "operationName": operation.name}))
            .send()
            .await
            .expect("sent");
        let cost: u64 = response
            .headers()
            .get("x-cost-estimated")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "{}: no cost estimate ({})",
                    operation.name,
                    response.status()
                )
            });
        costs.push((operation.name.clone(), cost));
    }
    for (name, cost) in &costs {
        assert!(
            *cost * 2 <= max,
            "{name} costs {cost}, more than half the budget of {max}: {costs:?}"
        );
    }
    assert!(costs.len() >= 20, "{costs:?}");
}

/// GraphQL over HTTP, the MUST rules on content negotiation: `Accept:
/// application/json` gets `application/json` (200 even for a request error),
/// `application/graphql-response+json` gets that type and a 4xx status for a
/// request error; a body that is not a GraphQL request is 400 with a GraphQL
/// error; a type nobody serves is 406 (subgraphs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_negotiation_follows_graphql_over_http() {
    let stack = Stack::start().await;
    let client = reqwest::Client::new();
    let post = |url: String, accept: Option<&'static str>, body: String| {
        let mut request = client
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        async move {
            let response = request.send().await.expect("sent");
            let status = response.status().as_u16();
            let media = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = response.text().await.expect("body");
            (status, media, body)
        }
    };
    let valid = json!({"query": "{ __typename }"}).to_string();
    let invalid = json!({"query": "{ nope }"}).to_string();
    let everyone = [
        ("router", stack.router.clone()),
        ("user", stack.user.clone()),
        ("activity", stack.activity.clone()),
        ("ai", stack.ai.clone()),
        ("admin", stack.admin.clone()),
    ];
    for (name, url) in &everyone {
        let (status, media, body) =
            post(url.clone(), Some("application/json"), valid.clone()).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert!(media.starts_with("application/json"), "{name}: {media}");
        let (_, media, _) = post(
            url.clone(),
            Some("application/graphql-response+json"),
            valid.clone(),
        )
        .await;
        assert!(
            media.starts_with("application/graphql-response+json"),
            "{name}: {media}"
        );
    }
    for (name, url) in &everyone[1..] {
        let (status, media, body) =
            post(url.clone(), Some("application/json"), invalid.clone()).await;
        assert_eq!(status, 200, "{name}: application/json keeps 200: {body}");
        assert!(media.starts_with("application/json"), "{name}: {media}");
        let (status, _, body) = post(
            url.clone(),
            Some("application/graphql-response+json"),
            invalid.clone(),
        )
        .await;
        assert_eq!(status, 400, "{name}: a request error is 4xx: {body}");
        let (status, _, body) = post(url.clone(), None, "{not json".into()).await;
        assert_eq!(status, 400, "{name}");
        let parsed: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("{name}: not JSON: {body}"));
        assert_eq!(parsed["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        let (status, _, _) = post(url.clone(), Some("application/xml"), valid.clone()).await;
        assert_eq!(status, 406, "{name}");
    }
}

/// graphql-transport-ws at the router: a ping is answered with a pong; a
/// message that breaks the protocol closes the socket with the protocol's
/// code (4400 invalid message, 4401 subscribe before the ack, 4409 a
/// duplicate subscription id, 4429 a second `connection_init`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_transport_ws_close_codes_at_the_router() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let stack = Stack::start().await;
    let (_, ada) = stack.register("ws").await;
    let token = ada["accessToken"].as_str().expect("token").to_owned();
    let open = || async {
        fittrack_testkit::connect_graphql_ws(&stack.router_ws())
            .await
            .expect("connected")
    };
    let text = |value: serde_json::Value| Message::Text(value.to_string().into());
    let init =
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});
    let subscribe = |id: &str| json!({"id": id, "type": "subscribe", "payload": {"query": "subscription { recommendationAdded { id } }"}});
    // The next message within 5 s: its JSON, or the close code.
    async fn next<S>(socket: &mut S) -> Result<serde_json::Value, u16>
    where
        S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
    {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
                .await
                .expect("an answer within 5 s");
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Ok(serde_json::from_str(&text).expect("json"))
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(frame.map_or(1005, |f| u16::from(f.code)))
                }
                Some(Ok(_)) => continue,
                _ => return Err(1006),
            }
        }
    }

    // Ping → pong, after the ack.
    let mut socket = open().await;
    socket.send(text(init.clone())).await.expect("sent");
    assert_eq!(
        next(&mut socket).await.expect("ack")["type"],
        "connection_ack"
    );
    socket
        .send(text(json!({"type": "ping"})))
        .await
        .expect("sent");
    assert_eq!(next(&mut socket).await.expect("pong")["type"], "pong");

    // A duplicate subscription id: 4409.
    socket.send(text(subscribe("1"))).await.expect("sent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    socket.send(text(subscribe("1"))).await.expect("sent");
    loop {
        match next(&mut socket).await {
            Ok(_) => continue,
            Err(code) => {
                assert_eq!(code, 4409, "duplicate subscription id");
                break;
            }
        }
    }

    for (case, messages, code) in [
        ("not JSON", vec![Message::Text("{nope".into())], 4400),
        (
            "an unknown type",
            vec![text(json!({"type": "hello"}))],
            4400,
        ),
        (
            "subscribe before connection_init",
            vec![text(subscribe("1"))],
            4401,
        ),
        (
            "connection_init twice",
            vec![text(init.clone()), text(init.clone())],
            4429,
        ),
    ] {
        let mut socket = open().await;
        for message in messages {
            socket.send(message).await.expect("sent");
        }
        let closed = loop {
            match next(&mut socket).await {
                Ok(_) => continue,
                Err(code) => break code,
            }
        };
        assert_eq!(closed, code, "{case}");
    }
}

/// Keep-alive at the router: every WebSocket gets a ping frame every 5 s; a
/// client that answers them (as every WebSocket library does while it reads)
/// stays connected, and one that stops answering is closed with 1002 within
/// 15 s, so a dead peer never holds a subscription for long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_pings_every_websocket_and_closes_a_silent_one() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let stack = Stack::start().await;
    let (_, ada) = stack.register("keepalive").await;
    let token = ada["accessToken"].as_str().expect("token").to_owned();
    let open = || async {
        let mut socket = fittrack_testkit::connect_graphql_ws(&stack.router_ws())
            .await
            .expect("connected");
        let init = json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});
        socket
            .send(Message::Text(init.to_string().into()))
            .await
            .expect("init");
        let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { recommendationAdded { id } }"}});
        socket
            .send(Message::Text(subscribe.to_string().into()))
            .await
            .expect("subscribe");
        socket
    };

    // Reads for 13 s (answering pings as it goes): pings arrive, no close.
    let listening = async {
        let mut socket = open().await;
        let (mut pings, mut closed) = (0, None);
        let until = tokio::time::Instant::now() + Duration::from_secs(13);
        while let Ok(message) = tokio::time::timeout_at(until, socket.next()).await {
            match message {
                Some(Ok(Message::Ping(_))) => pings += 1,
                Some(Ok(Message::Close(frame))) => {
                    closed = Some(frame);
                    break;
                }
                Some(Ok(_)) => {}
                other => {
                    closed = Some(None);
                    eprintln!("socket ended: {other:?}");
                    break;
                }
            }
        }
        (pings, closed)
    };
    // Opens, then neither reads nor answers for 17 s.
    let silent = async {
        let mut socket = open().await;
        tokio::time::sleep(Duration::from_secs(17)).await;
        let mut code = None;
        while let Ok(Some(Ok(message))) =
            tokio::time::timeout(Duration::from_secs(5), socket.next()).await
        {
            if let Message::Close(frame) = message {
                code = Some(frame.map_or(1005, |f| u16::from(f.code)));
                break;
            }
        }
        code
    };
    let ((pings, closed), silent_code) = tokio::join!(listening, silent);
    assert!(pings >= 2, "pings in 13 s: {pings}");
    assert!(closed.is_none(), "a live client was closed: {closed:?}");
    assert_eq!(silent_code, Some(1002), "the silent client's close code");
}
