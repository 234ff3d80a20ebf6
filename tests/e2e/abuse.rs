//! Attacks on the platform through the real router, one test per attack, on
//! whatever backends the environment names (embedded, or Redis for the limits).
//! Stacks run with the shipped limits; the router trusts `X-Forwarded-For` from
//! loopback, so a test can speak as many client addresses (random ones: on
//! Redis, counters outlive a run).

use fittrack_testkit as support;

use std::time::Duration;

use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::{gql, unique_email, Stack, PASSWORD};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

const LOG: &str = "mutation($input: LogActivityInput!) { logActivity(input: $input) { id } }";

/// A documentation-range-free random IPv4 address for one test's attacker.
fn random_address() -> String {
    let bytes: [u8; 3] = rand::random();
    format!("10.{}.{}.{}", bytes[0], bytes[1], bytes[2].max(1))
}

/// A response with its status and headers.
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn errors(&self) -> Vec<Value> {
        self.body["errors"].as_array().cloned().unwrap_or_default()
    }

    fn codes(&self) -> Vec<String> {
        self.errors()
            .iter()
            .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned))
            .collect()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// POSTs a GraphQL request as `address` (X-Forwarded-For, believed from loopback).
async fn post(
    url: &str,
    query: &str,
    variables: Value,
    token: Option<&str>,
    address: &str,
) -> Reply {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("x-forwarded-for", address)
        .json(&json!({"query": query, "variables": variables}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        body,
    }
}

fn token(auth: &Value) -> String {
    auth["accessToken"].as_str().expect("token").to_owned()
}

fn activity_input() -> Value {
    json!({"type": "RUNNING", "durationMinutes": 30, "caloriesBurned": 300,
           "startTime": Utc::now().to_rfc3339()})
}

async fn my_activity_count(stack: &Stack, token: &str) -> usize {
    let response = gql(
        &stack.router,
        "{ myActivities(first: 100) { nodes { id } } }",
        json!({}),
        Some(token),
    )
    .await;
    response.assert_ok();
    response.data("myActivities")["nodes"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_lists_are_refused_by_their_cost_before_any_subgraph_works() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let (_, auth) = stack.register("nest").await;
    let token = token(&auth);
    let address = random_address();

    // The report's query: 100 × 100 × 100 activities.
    let nested = "{ myActivities(first: 100) { nodes { user { activities(first: 100) { nodes { user { activities(first: 100) { nodes { id notes } } } } } } } } }";
    let refused = post(&stack.router, nested, json!({}), Some(&token), &address).await;
    assert_eq!(
        refused.codes(),
        ["COST_ESTIMATED_TOO_EXPENSIVE"],
        "{}",
        refused.body
    );
    let error = &refused.errors()[0];
    let estimated = error["extensions"]["estimatedCost"]
        .as_u64()
        .expect("estimate");
    let max = error["extensions"]["maxCost"].as_u64().expect("max");
    assert!(estimated > 1_000_000 && max == 25_000, "{error}");
    assert!(error["message"]
        .as_str()
        .expect("message")
        .contains(&estimated.to_string()));
    assert_eq!(refused.header("x-cost-max"), Some("25000"));
    assert!(refused.body["data"].is_null());

    // Refused before execution: a mutation carrying the same nesting writes nothing.
    // (Two levels within the depth limit; the estimate takes `first` at its word.)
    let mutation = "mutation($input: LogActivityInput!) { logActivity(input: $input) { user { activities(first: 1000) { nodes { user { activities(first: 1000) { nodes { id } } } } } } } }";
    let refused = post(
        &stack.router,
        mutation,
        json!({"input": activity_input()}),
        Some(&token),
        &address,
    )
    .await;
    assert_eq!(
        refused.codes(),
        ["COST_ESTIMATED_TOO_EXPENSIVE"],
        "{}",
        refused.body
    );
    assert_eq!(
        my_activity_count(&stack, &token).await,
        0,
        "the activity subgraph ran"
    );

    // One level less, at a reasonable page size, is an ordinary request.
    let fine = "{ myActivities(first: 20) { nodes { id user { activities(first: 5) { nodes { id } } } } } }";
    let ok = post(&stack.router, fine, json!({}), Some(&token), &address).await;
    assert!(ok.errors().is_empty(), "{}", ok.body);
    let cost: u64 = ok
        .header("x-cost-estimated")
        .expect("estimate")
        .parse()
        .expect("number");
    assert!(cost < 25_000, "{cost}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subgraph_reached_directly_refuses_the_same_nesting() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let (_, auth) = stack.register("direct").await;
    let nested = "{ myActivities(first: 100) { nodes { user { activities(first: 100) { nodes { user { activities(first: 100) { nodes { id } } } } } } } } }";
    let response = gql(&stack.activity, nested, json!({}), Some(&token(&auth))).await;
    response.assert_code("BAD_USER_INPUT");
    let message = response.errors()[0]["message"].as_str().expect("message");
    assert!(message.contains("complex"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_aliases_and_a_deep_query_are_refused() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let address = random_address();
    let aliases: String = (0..1000).map(|i| format!("a{i}: me {{ id }} ")).collect();
    let refused = post(
        &stack.router,
        &format!("{{ {aliases} }}"),
        json!({}),
        None,
        &address,
    )
    .await;
    // 1 000 aliases are ~8 000 tokens: the token limit refuses them unparsed.
    assert_eq!(
        refused.codes(),
        ["TOKEN_LIMIT_EXCEEDED"],
        "{}",
        refused.body
    );
    assert!(refused.body["data"].is_null());

    let thirty_one: String = (0..31).map(|i| format!("a{i}: me {{ id }} ")).collect();
    let refused = post(
        &stack.router,
        &format!("{{ {thirty_one} }}"),
        json!({}),
        None,
        &address,
    )
    .await;
    assert_eq!(
        refused.codes(),
        ["MAX_ALIASES_EXCEEDED"],
        "{}",
        refused.body
    );

    // Eleven levels of one-item pages: cheap, but deeper than any client needs.
    let deep = "{ me { activities(first: 1) { nodes { user { activities(first: 1) { nodes { user { activities(first: 1) { nodes { user { id } } } } } } } } } } }";
    let refused = post(&stack.router, deep, json!({}), None, &address).await;
    assert_eq!(refused.codes(), ["MAX_DEPTH_EXCEEDED"], "{}", refused.body);
}

/// `n` aliased sign-ins, each for its own (unknown) account, in one request.
fn aliased_logins(emails: &[String], password: &str) -> String {
    let fields: String = emails
        .iter()
        .enumerate()
        .map(|(i, email)| {
            format!("l{i}: login(email: {email:?}, password: {password:?}) {{ accessToken }} ")
        })
        .collect();
    format!("mutation {{ {fields} }}")
}

/// The aliased sign-ins of [`aliased_logins`], as `address`.
async fn sign_in(stack: &Stack, emails: &[String], password: &str, address: &str) -> Reply {
    let query = aliased_logins(emails, password);
    post(&stack.router, &query, json!({}), None, address).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliased_password_spraying_stops_at_the_per_address_count() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let address = random_address();
    let emails: Vec<String> = (0..25).map(|_| unique_email("sprayed")).collect();
    let reply = sign_in(&stack, &emails, "Winter2026!", &address).await;
    let codes = reply.codes();
    assert_eq!(codes.len(), 25, "{}", reply.body);
    let tried = codes.iter().filter(|c| *c == "UNAUTHENTICATED").count();
    let errors = reply.errors();
    let limited: Vec<&Value> = errors
        .iter()
        .filter(|e| e["extensions"]["code"] == "RATE_LIMITED")
        .collect();
    assert_eq!((tried, limited.len()), (20, 5), "{codes:?}");
    let retry = limited[0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .expect("retry hint");
    assert!((1..=60).contains(&retry), "{retry}");

    // The next request from that address gets no further guess; another address does.
    let again = sign_in(&stack, &emails[..1], "x", &address).await;
    assert_eq!(again.codes(), ["RATE_LIMITED"]);
    let elsewhere = sign_in(&stack, &emails[..1], "x", &random_address()).await;
    assert_eq!(elsewhere.codes(), ["UNAUTHENTICATED"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_emails_count_as_attempts_too() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let emails: Vec<String> = (0..25).map(|i| format!("not-an-email-{i}")).collect();
    let reply = sign_in(&stack, &emails, "guess", &random_address()).await;
    let codes = reply.codes();
    let tried = codes.iter().filter(|c| *c == "UNAUTHENTICATED").count();
    let limited = codes.iter().filter(|c| *c == "RATE_LIMITED").count();
    // They all count as one "account" for the address: 10 guesses, then none.
    assert_eq!((tried, limited), (10, 15), "{codes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_lock_a_user_out() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let (victim, _) = stack.register("victim").await;
    let attacker = random_address();
    let guesses: Vec<String> = (0..10).map(|_| victim.clone()).collect();
    // 10 guesses per (account, address), then nothing more from that address.
    let first = sign_in(&stack, &guesses, "guess-1", &attacker).await;
    assert!(
        first.codes().iter().all(|c| c == "UNAUTHENTICATED"),
        "{:?}",
        first.codes()
    );
    let second = sign_in(&stack, &guesses, "guess-2", &attacker).await;
    assert!(
        second.codes().iter().all(|c| c == "RATE_LIMITED"),
        "{:?}",
        second.codes()
    );
    // Even the right password, from the attacker's address, waits.
    let right = sign_in(&stack, &guesses[..1], PASSWORD, &attacker).await;
    assert_eq!(right.codes(), ["RATE_LIMITED"]);

    // The owner, from anywhere else, signs in as usual.
    let owner = sign_in(&stack, &guesses[..1], PASSWORD, &random_address()).await;
    assert!(owner.errors().is_empty(), "{}", owner.body);
    assert!(owner.body["data"]["l0"]["accessToken"].is_string());
}

/// The aliased sign-ins of [`aliased_logins`] as one graphql-transport-ws
/// operation, on a connection opened as `address` whose `connection_init`
/// payload claims to come from `claimed` (hive-router turns that payload into
/// the operation's headers). The error codes, in order.
async fn ws_sign_in(
    stack: &Stack,
    emails: &[String],
    password: &str,
    address: &str,
    claimed: &str,
) -> Vec<String> {
    ws_codes(stack, &aliased_logins(emails, password), address, claimed).await
}

/// [`ws_codes_at`] on the stack's router.
async fn ws_codes(stack: &Stack, query: &str, address: &str, claimed: &str) -> Vec<String> {
    ws_codes_at(&stack.router_ws(), query, address, claimed).await
}

/// Runs `query` as one graphql-transport-ws operation on a connection to
/// `url` opened as `address`, claiming `claimed` in `connection_init`; the
/// error codes.
async fn ws_codes_at(url: &str, query: &str, address: &str, claimed: &str) -> Vec<String> {
    let mut socket = open_ws_at(url, address).await.expect("open");
    let send = |value: Value| Message::Text(value.to_string().into());
    let init = json!({"type": "connection_init", "payload": {
        "x-forwarded-for": claimed, "x-real-ip": claimed, "forwarded": format!("for={claimed}")}});
    socket.send(send(init)).await.expect("init");
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": query}});
    socket.send(send(subscribe)).await.expect("subscribe");
    let mut codes = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("an answer within 20 s")
            .expect("socket open")
            .expect("message");
        let Message::Text(text) = message else {
            continue;
        };
        let message: Value = serde_json::from_str(&text).expect("json");
        match message["type"].as_str() {
            Some("next") => codes.extend(
                message["payload"]["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned)),
            ),
            Some("complete") => return codes,
            Some("error") => panic!("operation refused: {message}"),
            _ => {}
        }
    }
}

/// One sign-in presenting `device_token`, over HTTP from a new address.
async fn device_sign_in(stack: &Stack, email: &str, password: &str, device_token: &str) -> Reply {
    let query = device_login(email, password, device_token);
    post(&stack.router, &query, json!({}), None, &random_address()).await
}

/// The operation of one sign-in presenting `device_token`.
fn device_login(email: &str, password: &str, device_token: &str) -> String {
    format!(
        "mutation {{ login(email: {email:?}, password: {password:?}, deviceToken: {device_token:?}) {{ accessToken deviceToken }} }}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_signs_in_from_a_known_device_during_a_distributed_attack() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let (victim, auth) = stack.register("known-device").await;
    let device = auth["deviceToken"]
        .as_str()
        .expect("a device token")
        .to_owned();

    // A thousand wrong passwords from a hundred addresses, half of them over
    // the WebSocket, ten at a time: the account-wide ceiling (200 an hour)
    // is spent, and every unknown device is refused.
    let guesses: Vec<String> = (0..10).map(|_| victim.clone()).collect();
    let mut codes = Vec::new();
    for round in 0..10 {
        let attempts: Vec<_> = (0..10)
            .map(|i| {
                let (router, guesses) = (stack.router.clone(), guesses.clone());
                let ws = stack.router_ws();
                tokio::spawn(async move {
                    let address = random_address();
                    if (round + i) % 2 == 0 {
                        let query = aliased_logins(&guesses, "guess");
                        post(&router, &query, json!({}), None, &address)
                            .await
                            .codes()
                    } else {
                        ws_codes_at(&ws, &aliased_logins(&guesses, "guess"), &address, &address)
                            .await
                    }
                })
            })
            .collect();
        for attempt in attempts {
            codes.extend(attempt.await.expect("attacker"));
        }
    }
    let verified = codes.iter().filter(|c| *c == "UNAUTHENTICATED").count();
    let locked = codes.iter().filter(|c| *c == "ACCOUNT_LOCKED").count();
    assert_eq!(
        (codes.len(), verified, locked),
        (1000, 200, 800),
        "{codes:?}"
    );

    // The owner on a new device is refused too, and so is a forged token.
    let unknown = sign_in(&stack, &guesses[..1], PASSWORD, &random_address()).await;
    assert_eq!(unknown.codes(), ["ACCOUNT_LOCKED"], "{}", unknown.body);
    let (id, _) = device.split_once('.').expect("id.signature");
    let forged = format!("{id}.{}", "0".repeat(32));
    let refused = device_sign_in(&stack, &victim, PASSWORD, &forged).await;
    assert_eq!(refused.codes(), ["ACCOUNT_LOCKED"], "{}", refused.body);

    // From the device they signed up on, over HTTP and over the WebSocket,
    // the owner signs in as usual, and keeps the device's token.
    let owner = device_sign_in(&stack, &victim, PASSWORD, &device).await;
    assert!(owner.errors().is_empty(), "{}", owner.body);
    assert_eq!(owner.body["data"]["login"]["deviceToken"], device.as_str());
    let address = random_address();
    let over_ws = ws_codes(
        &stack,
        &device_login(&victim, PASSWORD, &device),
        &address,
        &address,
    )
    .await;
    assert!(over_ws.is_empty(), "{over_ws:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_device_token_gets_ten_guesses_and_the_device_can_be_revoked() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let (victim, auth) = stack.register("stolen-device").await;
    let device = auth["deviceToken"]
        .as_str()
        .expect("a device token")
        .to_owned();
    let access = token(&auth);

    // Presented from ever new addresses, the token still gets only the
    // per-device allowance (10 per 15 minutes).
    let mut codes = Vec::new();
    for _ in 0..12 {
        let reply = device_sign_in(&stack, &victim, "guess", &device).await;
        codes.extend(reply.codes());
    }
    let verified = codes.iter().filter(|c| *c == "UNAUTHENTICATED").count();
    let limited = codes.iter().filter(|c| *c == "RATE_LIMITED").count();
    assert_eq!((verified, limited), (10, 2), "{codes:?}");

    // The owner sees the device and revokes it; its token is then unknown,
    // and an unknown device from a fresh address signs in as usual.
    let listed = post(
        &stack.router,
        "{ myDevices { id name createdAt lastSignInAt } }",
        json!({}),
        Some(&access),
        &random_address(),
    )
    .await;
    let devices = listed.body["data"]["myDevices"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(devices.len(), 1, "{}", listed.body);
    let id = devices[0]["id"].as_str().expect("id");
    assert!(device.starts_with(id));
    let revoke = "mutation($id: ID!) { revokeDevice(id: $id) }";
    let revoked = post(
        &stack.router,
        revoke,
        json!({"id": id}),
        Some(&access),
        &random_address(),
    )
    .await;
    assert_eq!(
        revoked.body["data"]["revokeDevice"], true,
        "{}",
        revoked.body
    );
    let again = post(
        &stack.router,
        revoke,
        json!({"id": id}),
        Some(&access),
        &random_address(),
    )
    .await;
    assert_eq!(again.codes(), ["NOT_FOUND"], "{}", again.body);

    let fresh = device_sign_in(&stack, &victim, PASSWORD, &device).await;
    assert!(fresh.errors().is_empty(), "{}", fresh.body);
    let new_device = fresh.body["data"]["login"]["deviceToken"]
        .as_str()
        .expect("a new token");
    assert_ne!(new_device, device);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_address_in_connection_init_gets_no_extra_guesses() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let (victim, _) = stack.register("ws-victim").await;
    let attacker = random_address();
    let guesses: Vec<String> = (0..10).map(|_| victim.clone()).collect();
    // Five connections from one address, each claiming another one: the
    // account-and-address limit (10) holds across all of them.
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.extend(ws_sign_in(&stack, &guesses, "wrong", &attacker, &random_address()).await);
    }
    let tried = codes.iter().filter(|c| *c == "UNAUTHENTICATED").count();
    let limited = codes.iter().filter(|c| *c == "RATE_LIMITED").count();
    assert_eq!((tried, limited), (10, 40), "{codes:?}");

    // The per-address limit (20 a minute) holds too, over other accounts.
    let sprayer = random_address();
    let emails: Vec<String> = (0..25).map(|_| unique_email("ws-sprayed")).collect();
    let mut codes = Vec::new();
    for _ in 0..2 {
        codes.extend(ws_sign_in(&stack, &emails, "Winter2026!", &sprayer, &random_address()).await);
    }
    let tried = codes.iter().filter(|c| *c == "UNAUTHENTICATED").count();
    assert_eq!(tried, 20, "{codes:?}");

    // The owner, from their own address, signs in as usual.
    let owner = ws_sign_in(
        &stack,
        &guesses[..1],
        PASSWORD,
        &random_address(),
        &attacker,
    )
    .await;
    assert!(owner.is_empty(), "{owner:?}");
}

/// A random /64 of the documentation range, and an address inside it.
fn random_ipv6_network() -> impl Fn() -> String {
    let network: [u16; 2] = rand::random();
    move || {
        let host: [u16; 4] = rand::random();
        format!(
            "2001:db8:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
            network[0], network[1], host[0], host[1], host[2], host[3]
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_ipv6_addresses_inside_a_64_gets_no_extra_guesses() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let emails: Vec<String> = (0..25).map(|_| unique_email("v6-sprayed")).collect();

    // Over HTTP: two requests of 25 guesses, each from a new address of one /64.
    let in_network = random_ipv6_network();
    let mut codes = Vec::new();
    for _ in 0..2 {
        codes.extend(
            sign_in(&stack, &emails, "Winter2026!", &in_network())
                .await
                .codes(),
        );
    }
    let tried = codes.iter().filter(|c| *c == "UNAUTHENTICATED").count();
    assert_eq!(tried, 20, "HTTP: {codes:?}");

    // Over the WebSocket, from another /64: the same.
    let in_network = random_ipv6_network();
    let mut codes = Vec::new();
    for _ in 0..2 {
        let address = in_network();
        codes.extend(ws_sign_in(&stack, &emails, "Winter2026!", &address, &address).await);
    }
    let tried = codes.iter().filter(|c| *c == "UNAUTHENTICATED").count();
    assert_eq!(tried, 20, "WebSocket: {codes:?}");

    // Another /64 is another client.
    let elsewhere = sign_in(&stack, &emails[..1], "x", &random_ipv6_network()()).await;
    assert_eq!(elsewhere.codes(), ["UNAUTHENTICATED"]);
}

/// `count` aliased `logActivity` in one mutation.
fn aliased_logs(count: usize) -> String {
    let fields: String = (0..count)
        .map(|i| {
            format!(
                "w{i}: logActivity(input: {{type: RUNNING, durationMinutes: 30, caloriesBurned: 300, startTime: \"{}\"}}) {{ id }} ",
                Utc::now().to_rfc3339()
            )
        })
        .collect();
    format!("mutation {{ {fields} }}")
}

/// How many of a response's errors are `RATE_LIMITED`. (A refused
/// `logActivity: Activity!` nulls `data` whole, so what was written is
/// counted by reading it back.)
fn rate_limited(body: &Value) -> usize {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["extensions"]["code"] == "RATE_LIMITED")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliased_writes_count_one_each_over_http_and_websocket() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    // Over HTTP: 30 aliased writes, twice; the quota is 20 a minute.
    let (_, auth) = stack.register("aliased-writes").await;
    let writer = token(&auth);
    let first = post(
        &stack.router,
        &aliased_logs(30),
        json!({}),
        Some(&writer),
        "10.1.1.1",
    )
    .await;
    assert_eq!(rate_limited(&first.body), 10, "{}", first.body);
    assert_eq!(my_activity_count(&stack, &writer).await, 20);
    let limited = first
        .errors()
        .into_iter()
        .find(|e| e["extensions"]["code"] == "RATE_LIMITED")
        .expect("a refusal");
    assert!(limited["extensions"]["retryAfterSeconds"]
        .as_u64()
        .is_some_and(|s| s > 0));
    let second = post(
        &stack.router,
        &aliased_logs(30),
        json!({}),
        Some(&writer),
        "10.1.1.1",
    )
    .await;
    assert_eq!(rate_limited(&second.body), 30, "{}", second.body);
    assert_eq!(my_activity_count(&stack, &writer).await, 20);

    // Over the WebSocket, another user: the same quota.
    let (_, auth) = stack.register("aliased-writes-ws").await;
    let writer = token(&auth);
    let mut refused = 0;
    for _ in 0..2 {
        let payloads = support::ws_operation(
            &stack.router_ws(),
            json!({"Authorization": format!("Bearer {writer}")}),
            &aliased_logs(30),
            json!({}),
        )
        .await
        .expect("operation over WebSocket");
        refused += rate_limited(&payloads[0]);
    }
    assert_eq!(refused, 40);
    assert_eq!(my_activity_count(&stack, &writer).await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliased_whole_history_stats_are_costed_and_counted() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let (_, auth) = stack.register("aliased-stats").await;
    let reader = token(&auth);
    let aliased = |count: usize| {
        let fields: String = (0..count)
            .map(|i| format!("s{i}: myActivityStats {{ count }} "))
            .collect();
        format!("{{ {fields} }}")
    };
    // 30 whole-history aggregations in one operation cost more than the budget.
    let refused = post(
        &stack.router,
        &aliased(30),
        json!({}),
        Some(&reader),
        "10.2.2.2",
    )
    .await;
    assert_eq!(
        refused.codes(),
        ["COST_ESTIMATED_TOO_EXPENSIVE"],
        "{}",
        refused.body
    );
    // 20 fit; the stats quota (60 a minute) then refuses each further alias.
    for _ in 0..3 {
        let reply = post(
            &stack.router,
            &aliased(20),
            json!({}),
            Some(&reader),
            "10.2.2.2",
        )
        .await;
        assert!(reply.errors().is_empty(), "{}", reply.body);
    }
    let over = post(
        &stack.router,
        &aliased(20),
        json!({}),
        Some(&reader),
        "10.2.2.2",
    )
    .await;
    assert_eq!(rate_limited(&over.body), 20, "{}", over.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_distributed_attack_reaches_the_account_ceiling() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let (victim, _) = stack.register("ceiling").await;
    let guesses: Vec<String> = (0..10).map(|_| victim.clone()).collect();
    // 200 attempts per hour from everywhere: 20 addresses × 10 guesses.
    let started = std::time::Instant::now();
    for _ in 0..20 {
        let reply = sign_in(&stack, &guesses, "guess", &random_address()).await;
        assert!(
            reply.codes().iter().all(|c| c == "UNAUTHENTICATED"),
            "{:?}",
            reply.codes()
        );
    }
    // The ceiling earns one attempt back every 18 s (200 an hour); on a busy
    // machine the 200 guesses may take that long: spend what came back.
    for _ in 0..started.elapsed().as_secs() / 18 {
        let _ = sign_in(&stack, &guesses[..1], "guess", &random_address()).await;
    }
    let locked = sign_in(&stack, &guesses[..1], PASSWORD, &random_address()).await;
    assert_eq!(locked.codes(), ["ACCOUNT_LOCKED"], "{}", locked.body);
    assert!(locked.errors()[0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .is_some_and(|s| s > 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_passwords_get_no_extra_guesses() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let (victim, _) = stack.register("race").await;
    let attacker = random_address();
    let attempts = (0..30).map(|_| {
        let (router, victim, attacker) = (stack.router.clone(), victim.clone(), attacker.clone());
        tokio::spawn(async move {
            post(
                &router,
                &aliased_logins(&[victim], "guess"),
                json!({}),
                None,
                &attacker,
            )
            .await
        })
    });
    let mut tried = 0;
    for attempt in attempts {
        let reply = attempt.await.expect("task");
        if reply.codes() == ["UNAUTHENTICATED"] {
            tried += 1;
        } else {
            assert_eq!(reply.codes(), ["RATE_LIMITED"], "{}", reply.body);
        }
    }
    assert_eq!(tried, 10, "guesses verified");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_per_user_are_limited_with_headers_and_a_retry_time() {
    let stack =
        Stack::start_with_production_limits(None, &[("FITTRACK_LIMIT_PER_USER", "5/60")]).await;
    let (_, auth) = stack.register("busy").await;
    let token = token(&auth);
    let address = random_address();
    for expected_remaining in (0..5).rev() {
        let reply = post(
            &stack.router,
            "{ me { id } }",
            json!({}),
            Some(&token),
            &address,
        )
        .await;
        assert!(reply.errors().is_empty(), "{}", reply.body);
        assert_eq!(reply.header("ratelimit-policy"), Some("5;w=60"));
        let state = reply.header("ratelimit").expect("RateLimit header");
        assert!(
            state.contains(&format!("remaining={expected_remaining}")),
            "{state}"
        );
    }
    let refused = post(
        &stack.router,
        "{ me { id } }",
        json!({}),
        Some(&token),
        &address,
    )
    .await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.codes(), ["RATE_LIMITED"]);
    let retry = refused.errors()[0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .expect("retry");
    assert!((1..=12).contains(&retry), "{retry}");
    assert_eq!(
        refused.header("retry-after"),
        Some(retry.to_string().as_str())
    );

    // Another user from the same address is not affected.
    let (_, other) = stack.register("other").await;
    let fine = post(
        &stack.router,
        "{ me { id } }",
        json!({}),
        Some(other["accessToken"].as_str().expect("t")),
        &address,
    )
    .await;
    assert!(fine.errors().is_empty(), "{}", fine.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_requests_are_limited_per_address_and_a_forged_address_is_not_believed() {
    // No trusted proxy: every X-Forwarded-For a client writes is ignored.
    let stack = Stack::start_with_production_limits(
        None,
        &[
            ("FITTRACK_TRUSTED_PROXIES", ""),
            ("FITTRACK_LIMIT_PER_ADDRESS", "3/60"),
        ],
    )
    .await;
    let mut refused = 0;
    for _ in 0..6 {
        // A new "address" each time: all of them are really 127.0.0.1.
        let reply = post(
            &stack.router,
            "{ __typename }",
            json!({}),
            None,
            &random_address(),
        )
        .await;
        if reply.codes() == ["RATE_LIMITED"] {
            refused += 1;
        }
    }
    assert!(
        refused >= 3,
        "forged addresses were believed: {refused} refused"
    );
}

async fn recommendation_sources(stack: &Stack, token: &str, expected: usize) -> Vec<String> {
    let query = "{ myRecommendations(first: 100) { nodes { source } } }";
    for _ in 0..200 {
        let response = gql(&stack.router, query, json!({}), Some(token)).await;
        response.assert_ok();
        let nodes = response.data("myRecommendations")["nodes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if nodes.len() >= expected {
            return nodes
                .iter()
                .map(|n| n["source"].as_str().unwrap_or_default().to_owned())
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {expected} recommendations after 20 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_users_burst_spends_only_their_own_gemini_budget() {
    let gemini = support::fake_gemini().await;
    let config = fittrack_ai::gemini::GeminiConfig {
        api_key: Some(fittrack_kit::config::Secret::new("fake")),
        base_url: gemini.uri(),
        ..Default::default()
    };
    let stack = Stack::start_with_production_limits(Some(config), &[]).await;
    let (_, burst) = stack.register("burst").await;
    let (_, calm) = stack.register("calm").await;
    let (burst, calm) = (token(&burst), token(&calm));
    let address = random_address();
    for _ in 0..12 {
        let reply = post(
            &stack.router,
            LOG,
            json!({"input": activity_input()}),
            Some(&burst),
            &address,
        )
        .await;
        assert!(reply.errors().is_empty(), "{}", reply.body);
    }
    let reply = post(
        &stack.router,
        LOG,
        json!({"input": activity_input()}),
        Some(&calm),
        &address,
    )
    .await;
    assert!(reply.errors().is_empty(), "{}", reply.body);

    // Every activity is answered; the burst got Gemini for its budget (6 per
    // minute) and the rules for the rest, at once; the calm user still gets Gemini.
    let sources = recommendation_sources(&stack, &burst, 12).await;
    let from_gemini = sources.iter().filter(|s| *s == "GEMINI").count();
    assert_eq!(
        (from_gemini, sources.len() - from_gemini),
        (6, 6),
        "{sources:?}"
    );
    assert_eq!(recommendation_sources(&stack, &calm, 1).await, ["GEMINI"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_plans_are_limited_per_user_and_aliases_count() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let (_, auth) = stack.register("planner").await;
    let token = token(&auth);
    let today = Utc::now().date_naive();
    let fields: String = (0..12)
        .map(|i| format!("p{i}: generateDailyPlan(date: \"{today}\", regenerate: true) {{ id }} "))
        .collect();
    let reply = post(
        &stack.router,
        &format!("mutation {{ {fields} }}"),
        json!({}),
        Some(&token),
        &random_address(),
    )
    .await;
    // The first ten were planned; the non-null mutation fields then null the
    // whole `data`, so the refusals' paths tell which ones were counted out.
    let refused: Vec<String> = reply
        .errors()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["path"][0].as_str().unwrap_or("?"),
                e["extensions"]["code"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(
        refused,
        ["p10 RATE_LIMITED", "p11 RATE_LIMITED"],
        "{}",
        reply.body
    );
    let retry = reply.errors()[0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .expect("retry");
    assert!((1..=6).contains(&retry), "{retry}");
}

/// Opens a graphql-transport-ws connection as `address`; the HTTP status on refusal.
type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_ws(stack: &Stack, address: &str) -> Result<WebSocket, u16> {
    open_ws_at(&stack.router_ws(), address).await
}

/// A graphql-transport-ws connection to `url` as `address`, or the HTTP
/// status that refused it.
async fn open_ws_at(url: &str, address: &str) -> Result<WebSocket, u16> {
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("h"),
    );
    request
        .headers_mut()
        .insert("x-forwarded-for", address.parse().expect("h"));
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_flood_is_refused_per_address() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let flooder = random_address();
    let mut open = Vec::new();
    for _ in 0..20 {
        open.push(
            open_ws(&stack, &flooder)
                .await
                .expect("within the open limit"),
        );
    }
    assert_eq!(
        open_ws(&stack, &flooder).await.err(),
        Some(429),
        "21st open connection"
    );
    // Others are not affected.
    assert!(open_ws(&stack, &random_address()).await.is_ok());
    // Closing one frees its place.
    let mut first = open.remove(0);
    first.close(None).await.expect("close");
    drop(first);
    let mut reopened = None;
    for _ in 0..50 {
        if let Ok(socket) = open_ws(&stack, &flooder).await {
            reopened = Some(socket);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        reopened.is_some(),
        "a closed connection's place was not given back"
    );
    // 30 new connections a minute: the flood runs out of those too.
    drop(open);
    drop(reopened);
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(open_ws(&stack, &flooder).await.err());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(statuses.contains(&Some(429)), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_says_hello_is_closed() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let mut socket = open_ws(&stack, &random_address()).await.expect("open");
    // No connection_init: the router closes it after its 10 s handshake timeout.
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("closed within 15 s");
    assert_eq!(closed, Some(4408), "graphql-transport-ws init timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_subscriptions_are_limited_per_user() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let (_, auth) = stack.register("watcher").await;
    let token = token(&auth);
    let mut sockets = Vec::new();
    let mut refusals = Vec::new();
    for i in 0..11 {
        let mut socket = open_ws(&stack, &random_address()).await.expect("open");
        let send = |value: Value| Message::Text(value.to_string().into());
        socket
            .send(send(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}})))
            .await
            .expect("init");
        socket
            .send(send(json!({"id": format!("s{i}"), "type": "subscribe",
                "payload": {"query": "subscription { recommendationAdded { id } }"}})))
            .await
            .expect("subscribe");
        sockets.push(socket);
        // Give the router time to open the subscription upstream.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for socket in &mut sockets {
        while let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout(Duration::from_millis(300), socket.next()).await
        {
            let message: Value = serde_json::from_str(&text).expect("json");
            if message["type"] == "error" || message["type"] == "next" {
                refusals.push(message);
            }
        }
    }
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(
        refusals[0].to_string().contains("RATE_LIMITED"),
        "{}",
        refusals[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_at_the_router_and_at_every_subgraph() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    // Past the 1 MB that an import chunk needs (router.yaml).
    let padding = "x".repeat(1100 * 1024);
    let body = json!({"query": "{ __typename }", "variables": {"padding": padding}});
    let router = reqwest::Client::new()
        .post(&stack.router)
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(router.status().as_u16(), 413);
    let padding = "x".repeat(1100 * 1024);
    let body = json!({"query": "{ __typename }", "variables": {"padding": padding}});
    for subgraph in [&stack.user, &stack.activity, &stack.ai, &stack.admin] {
        let response = reqwest::Client::new()
            .post(subgraph)
            .json(&body)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status().as_u16(), 413, "{subgraph}");
    }
}

/// A WebSocket message is bounded as an HTTP body is: a `connection_init`
/// past `http.max_body_bytes` ends the connection at every subgraph, unread
/// (tungstenite alone would take up to 64 MiB), and the subgraph still
/// serves the next client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_websocket_messages_end_the_connection_at_every_subgraph() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let padding = "x".repeat(1100 * 1024);
    for subgraph in [&stack.user, &stack.activity, &stack.ai, &stack.admin] {
        let url = subgraph.replacen("http", "ws", 1);
        let mut socket = support::connect_graphql_ws(&url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let init = json!({"type": "connection_init", "payload": {"padding": padding}});
        // The send itself may fail once the server has closed.
        let _ = socket.send(Message::Text(init.to_string().into())).await;
        let answer = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match socket.next().await {
                    Some(Ok(Message::Text(text))) => return Some(text.to_string()),
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                    Some(Ok(_)) => continue,
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{url}: the connection stayed open"));
        assert_eq!(answer, None, "{url}: answered an oversized message");

        let fine = support::ws_operation(&url, json!({}), "{ __typename }", json!({}))
            .await
            .unwrap_or_else(|e| panic!("{url}: the next client: {e}"));
        assert_eq!(fine[0]["data"]["__typename"], "Query", "{url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_cross_site_requests_are_refused() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let (_, auth) = stack.register("csrf").await;
    let form_post = || {
        reqwest::Client::new()
            .post(&stack.router)
            .header("content-type", "text/plain")
            .bearer_auth(token(&auth))
            .body(json!({"query": "mutation { logout(refreshToken: \"x\") }"}).to_string())
    };
    let refused = form_post().send().await.expect("sent");
    let status = refused.status().as_u16();
    let text = refused.text().await.expect("body");
    assert!(status >= 400 && text.contains("CSRF"), "{status} {text}");
    // The same with a header a cross-site page cannot set passes the CSRF check.
    let allowed = form_post()
        .header("x-fittrack-client", "cli")
        .send()
        .await
        .expect("sent");
    assert!(!allowed.text().await.expect("body").contains("CSRF"));

    for subgraph in [&stack.user, &stack.activity, &stack.ai, &stack.admin] {
        let response = reqwest::Client::new()
            .post(subgraph)
            .header("content-type", "text/plain")
            .body(json!({"query": "{ __typename }"}).to_string())
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status().as_u16(), 415, "{subgraph}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_use_never_meets_a_limit() {
    let stack = Stack::start_with_production_limits(None, &[]).await;
    let address = random_address();
    let (email, auth) = stack.register("normal").await;
    let token = token(&auth);
    // A busy minute for a person: a sign-in, a few workouts, history, stats, a plan.
    let login = post(
        &stack.router,
        support::LOGIN,
        json!({"email": email, "password": PASSWORD}),
        None,
        &address,
    )
    .await;
    assert!(login.errors().is_empty(), "{}", login.body);
    for _ in 0..5 {
        let reply = post(
            &stack.router,
            LOG,
            json!({"input": activity_input()}),
            Some(&token),
            &address,
        )
        .await;
        assert!(reply.errors().is_empty(), "{}", reply.body);
    }
    for query in [
        "{ myActivities(first: 20) { edges { node { id recommendation { summary } } } } }",
        "{ myActivityStats(utcOffsetMinutes: 0) { count byType { type count } weeklyTrend { count } } }",
        "{ myRecommendations(first: 20) { nodes { summary } } }",
        "{ me { id activities(first: 20) { nodes { id } } recommendations(first: 20) { nodes { id } } } }",
    ] {
        let reply = post(&stack.router, query, json!({}), Some(&token), &address).await;
        assert!(reply.errors().is_empty(), "{query}: {}", reply.body);
        assert!(reply.header("ratelimit").is_some());
    }
    let plan = post(
        &stack.router,
        "mutation($d: NaiveDate!) { generateDailyPlan(date: $d) { id } }",
        json!({"d": Utc::now().date_naive().to_string()}),
        Some(&token),
        &address,
    )
    .await;
    assert!(plan.errors().is_empty(), "{}", plan.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entity_lookups_are_bounded_at_every_subgraph() {
    let stack = Stack::start().await;
    let query =
        "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { id } } }";
    let reps = |n: usize| -> Value {
        (0..n)
            .map(|_| json!({"__typename": "User", "id": uuid::Uuid::new_v4()}))
            .collect()
    };
    for subgraph in [&stack.user, &stack.activity, &stack.ai] {
        let within = gql(subgraph, query, json!({"reps": reps(1_000)}), None).await;
        assert!(
            within
                .errors()
                .iter()
                .all(|e| e["extensions"]["code"] != "BAD_USER_INPUT"),
            "{subgraph}: {:?}",
            within.errors().first()
        );
        let over = gql(subgraph, query, json!({"reps": reps(1_001)}), None).await;
        over.assert_code("BAD_USER_INPUT");
        assert!(over.errors()[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("1001") && m.contains("1000")));
        // Inline, the same.
        let inline: String = (0..1_001)
            .map(|_| format!("{{__typename: \"User\", id: \"{}\"}}", uuid::Uuid::new_v4()))
            .collect::<Vec<_>>()
            .join(", ");
        let over = gql(
            subgraph,
            &format!("{{ _entities(representations: [{inline}]) {{ ... on User {{ id }} }} }}"),
            json!({}),
            None,
        )
        .await;
        over.assert_code("BAD_USER_INPUT");
    }
}
