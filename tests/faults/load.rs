//! The mixed load that runs through every fault: each simulated user logs
//! workouts (each with its own idempotency key, retried with the same key until
//! the API confirms it), reads its history, signs in again now and then, and
//! keeps a live `recommendationAdded` subscription open, resubscribing when
//! the server ends it. One admin suspends a user now and then (an account
//! change plus an audit entry). Everything any request saw is recorded for
//! the invariants.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::sync::{watch, Mutex};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest as _, Message};

use super::support::{unique_email, PASSWORD};

/// Longest a client waits for any answer; a request that needs it is a hang.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a confirmed-nothing `logActivity` is retried after the load stops.
const RETRY_AFTER_STOP: Duration = Duration::from_secs(45);
const LOG_ACTIVITY: &str =
    "mutation($input: LogActivityInput!) { logActivity(input: $input) { id } }";
const HISTORY: &str = "{ me { activities(first: 5) { edges { node { id type } } } } }";
pub const LOGIN: &str = "mutation($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken } }";
pub const REGISTER: &str =
    "mutation($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }";
const SUSPEND: &str = "mutation($id: ID!, $until: DateTime!, $reason: String) { suspendUser(userId: $id, until: $until, reason: $reason) { auditEntry { id } } }";
const RECOMMENDATION_ADDED: &str =
    "subscription { recommendationAdded { id activityId createdAt } }";

/// What one request came to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    /// A GraphQL error with this `extensions.code` (`NONE` when it had none).
    Code(String),
    /// No GraphQL answer: connection refused or reset, a non-GraphQL body.
    Transport,
    /// Nothing within `CLIENT_TIMEOUT`.
    Hang,
}

#[derive(Debug, Default)]
pub struct Tally {
    /// (operation, outcome) → count.
    pub outcomes: BTreeMap<(&'static str, Outcome), u64>,
    pub slowest: Duration,
    /// When the first and last failure of any kind were seen.
    pub failures: Vec<Instant>,
}

impl Tally {
    fn record(&mut self, operation: &'static str, outcome: Outcome, took: Duration) {
        if outcome != Outcome::Ok {
            self.failures.push(Instant::now());
        }
        *self.outcomes.entry((operation, outcome)).or_default() += 1;
        self.slowest = self.slowest.max(took);
    }

    pub fn count(&self, operation: &str, pred: impl Fn(&Outcome) -> bool) -> u64 {
        self.outcomes
            .iter()
            .filter(|((op, outcome), _)| *op == operation && pred(outcome))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn failed(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|((_, outcome), _)| *outcome != Outcome::Ok)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn total(&self) -> u64 {
        self.outcomes.values().sum()
    }
}

/// A `logActivity` the user asked for, under one idempotency key.
#[derive(Debug, Clone)]
pub struct Logged {
    pub key: String,
    /// Every id the API answered for this key (one, if it is idempotent).
    pub ids: Vec<String>,
}

/// A stretch in which the subscriber knew it was not subscribed.
#[derive(Debug, Clone, Copy)]
pub struct Gap {
    pub from: Wall,
    pub to: Wall,
}

/// Wall-clock time, comparable with the `createdAt` the server writes.
pub type Wall = chrono::DateTime<chrono::Utc>;

fn now() -> Wall {
    chrono::Utc::now()
}

#[derive(Debug, Default)]
pub struct SubscriberLog {
    /// activityId → when it arrived.
    pub received: BTreeMap<String, Wall>,
    pub gaps: Vec<Gap>,
    /// Why each gap began (the server's error, a close, a refused connect).
    pub reasons: Vec<String>,
}

pub struct SimUser {
    pub email: String,
    token: Mutex<String>,
    pub logged: Mutex<Vec<Logged>>,
    pub subscriber: Mutex<SubscriberLog>,
}

pub struct Admin {
    pub token: String,
    pub target: String,
    /// Audit entry ids the API confirmed, and how many suspensions were tried.
    pub confirmed: Mutex<Vec<String>>,
    pub attempts: Mutex<u64>,
    /// Sign-ups tried alongside, with whether the API confirmed each.
    pub sign_ups: Mutex<Vec<(String, bool)>>,
}

pub struct Load {
    pub users: Vec<Arc<SimUser>>,
    pub admin: Arc<Admin>,
    pub tally: Arc<Mutex<Tally>>,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
    stop_subscribers: watch::Sender<bool>,
    subscribers: tokio::task::JoinSet<()>,
}

/// How long the subscriptions stay open after the last request.
const SUBSCRIBERS_LINGER: Duration = Duration::from_secs(3);

pub async fn call(
    http: &reqwest::Client,
    url: &str,
    query: &str,
    variables: Value,
    token: Option<&str>,
) -> (Outcome, Value) {
    let mut request = http
        .post(url)
        .header(
            "accept",
            "application/graphql-response+json, application/json",
        )
        .timeout(CLIENT_TIMEOUT)
        .json(&json!({"query": query, "variables": variables}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) if error.is_timeout() => return (Outcome::Hang, Value::Null),
        Err(_) => return (Outcome::Transport, Value::Null),
    };
    let body: Value = match response.json().await {
        Ok(body) => body,
        Err(error) if error.is_timeout() => return (Outcome::Hang, Value::Null),
        Err(_) => return (Outcome::Transport, Value::Null),
    };
    match body["errors"].as_array().and_then(|errors| errors.first()) {
        None if body["data"].is_object() => (Outcome::Ok, body["data"].clone()),
        None => (Outcome::Transport, body),
        Some(error) => (
            Outcome::Code(
                error["extensions"]["code"]
                    .as_str()
                    .unwrap_or("NONE")
                    .to_owned(),
            ),
            body,
        ),
    }
}

/// Calls until it succeeds (the harness's own set-up, not measured).
pub async fn call_ok(
    http: &reqwest::Client,
    url: &str,
    query: &str,
    variables: Value,
    token: Option<&str>,
) -> Value {
    for _ in 0..100 {
        let (outcome, data) = call(http, url, query, variables.clone(), token).await;
        if outcome == Outcome::Ok {
            return data;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("set-up call kept failing: {query}");
}

impl Load {
    /// Signs `users` up and starts their loops.
    pub async fn start(
        router: &str,
        router_ws: &str,
        users: usize,
        admin: (String, String),
    ) -> Self {
        let http = reqwest::Client::new();
        let mut sims = Vec::new();
        for _ in 0..users {
            let email = unique_email("fault");
            let data = call_ok(
                &http,
                router,
                REGISTER,
                json!({"input": {"email": email, "password": PASSWORD}}),
                None,
            )
            .await;
            sims.push(Arc::new(SimUser {
                email,
                token: Mutex::new(
                    data["register"]["accessToken"]
                        .as_str()
                        .expect("token")
                        .to_owned(),
                ),
                logged: Mutex::new(Vec::new()),
                subscriber: Mutex::new(SubscriberLog::default()),
            }));
        }
        let admin_token = call_ok(
            &http,
            router,
            LOGIN,
            json!({"email": admin.0, "password": admin.1}),
            None,
        )
        .await["login"]["accessToken"]
            .as_str()
            .expect("admin token")
            .to_owned();
        let target = call_ok(
            &http,
            router,
            REGISTER,
            json!({"input": {"email": unique_email("fault-target"), "password": PASSWORD}}),
            None,
        )
        .await["register"]["user"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let admin = Arc::new(Admin {
            token: admin_token,
            target,
            confirmed: Mutex::new(Vec::new()),
            attempts: Mutex::new(0),
            sign_ups: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = watch::channel(false);
        let tally = Arc::new(Mutex::new(Tally::default()));
        let mut tasks = tokio::task::JoinSet::new();
        let (stop_subscribers, subscribers_stopped) = watch::channel(false);
        let mut subscribers = tokio::task::JoinSet::new();
        for user in &sims {
            tasks.spawn(user_loop(
                http.clone(),
                router.to_owned(),
                user.clone(),
                tally.clone(),
                stopped.clone(),
            ));
            subscribers.spawn(subscriber_loop(
                router_ws.to_owned(),
                user.clone(),
                subscribers_stopped.clone(),
            ));
        }
        tasks.spawn(admin_loop(
            http.clone(),
            router.to_owned(),
            admin.clone(),
            tally.clone(),
            stopped,
        ));
        // Subscriptions open before the first fault.
        tokio::time::sleep(Duration::from_millis(500)).await;
        Self {
            users: sims,
            admin,
            tally,
            stop,
            tasks,
            stop_subscribers,
            subscribers,
        }
    }

    /// Stops new work, lets pending `logActivity` retries finish, closes the
    /// subscriptions.
    pub async fn stop(mut self) -> Finished {
        let _ = self.stop.send(true);
        while let Some(joined) = self.tasks.join_next().await {
            if let Err(error) = joined {
                if error.is_panic() {
                    std::panic::resume_unwind(error.into_panic());
                }
            }
        }
        // The requests are done; the subscriptions hear what is still on its
        // way for a while, then close. Whatever was created by a second
        // before they closed had that second to arrive.
        tokio::time::sleep(SUBSCRIBERS_LINGER).await;
        let _ = self.stop_subscribers.send(true);
        while let Some(joined) = self.subscribers.join_next().await {
            if let Err(error) = joined {
                if error.is_panic() {
                    std::panic::resume_unwind(error.into_panic());
                }
            }
        }
        let stopped_at = now() - chrono::Duration::seconds(1);
        Finished {
            stopped_at,
            users: self.users,
            admin: self.admin,
            tally: Arc::try_unwrap(self.tally)
                .map(Mutex::into_inner)
                .unwrap_or_default(),
        }
    }
}

pub struct Finished {
    /// A second before the subscribers closed: later recommendations are not
    /// expected live.
    pub stopped_at: Wall,
    pub users: Vec<Arc<SimUser>>,
    pub admin: Arc<Admin>,
    pub tally: Tally,
}

impl SimUser {
    pub async fn token(&self) -> String {
        self.token.lock().await.clone()
    }
}

async fn user_loop(
    http: reqwest::Client,
    router: String,
    user: Arc<SimUser>,
    tally: Arc<Mutex<Tally>>,
    stopped: watch::Receiver<bool>,
) {
    let mut round = 0u64;
    while !*stopped.borrow() {
        round += 1;
        let key = uuid::Uuid::new_v4().to_string();
        user.logged.lock().await.push(Logged {
            key: key.clone(),
            ids: Vec::new(),
        });
        let variables = json!({"input": {
            "type": "RUNNING", "durationMinutes": 30 + (round % 60), "caloriesBurned": 300,
            "startTime": chrono::Utc::now().to_rfc3339(), "idempotencyKey": key,
        }});
        // Until the API confirms it: a client that lost the answer does not
        // know whether the workout was saved, so it asks again, same key.
        let mut stopped_at = None;
        loop {
            let token = user.token().await;
            let started = Instant::now();
            let (outcome, data) = call(
                &http,
                &router,
                LOG_ACTIVITY,
                variables.clone(),
                Some(&token),
            )
            .await;
            tally
                .lock()
                .await
                .record("logActivity", outcome.clone(), started.elapsed());
            if outcome == Outcome::Ok {
                let id = data["logActivity"]["id"].as_str().expect("id").to_owned();
                let mut logged = user.logged.lock().await;
                if let Some(entry) = logged.iter_mut().find(|l| l.key == key) {
                    entry.ids.push(id);
                }
                break;
            }
            if *stopped.borrow() {
                let since = *stopped_at.get_or_insert_with(Instant::now);
                if since.elapsed() > RETRY_AFTER_STOP {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        if round.is_multiple_of(3) {
            let token = user.token().await;
            let started = Instant::now();
            let (outcome, _) = call(&http, &router, HISTORY, json!({}), Some(&token)).await;
            tally
                .lock()
                .await
                .record("history", outcome, started.elapsed());
        }
        if round.is_multiple_of(4) {
            let started = Instant::now();
            let (outcome, data) = call(
                &http,
                &router,
                LOGIN,
                json!({"email": user.email, "password": PASSWORD}),
                None,
            )
            .await;
            tally
                .lock()
                .await
                .record("login", outcome.clone(), started.elapsed());
            if outcome == Outcome::Ok {
                if let Some(token) = data["login"]["accessToken"].as_str() {
                    *user.token.lock().await = token.to_owned();
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn admin_loop(
    http: reqwest::Client,
    router: String,
    admin: Arc<Admin>,
    tally: Arc<Mutex<Tally>>,
    stopped: watch::Receiver<bool>,
) {
    let mut n = 0u64;
    while !*stopped.borrow() {
        n += 1;
        *admin.attempts.lock().await += 1;
        let started = Instant::now();
        let (outcome, data) = call(
            &http,
            &router,
            SUSPEND,
            json!({"id": admin.target, "until": (chrono::Utc::now() + chrono::Duration::minutes(5)).to_rfc3339(),
                   "reason": format!("fault harness {n}")}),
            Some(&admin.token),
        )
        .await;
        tally
            .lock()
            .await
            .record("suspendUser", outcome.clone(), started.elapsed());
        if outcome == Outcome::Ok {
            let id = data["suspendUser"]["auditEntry"]["id"]
                .as_str()
                .expect("audit entry id")
                .to_owned();
            admin.confirmed.lock().await.push(id);
        }
        let email = unique_email("fault-signup");
        let started = Instant::now();
        let (outcome, _) = call(
            &http,
            &router,
            REGISTER,
            json!({"input": {"email": email, "password": PASSWORD}}),
            None,
        )
        .await;
        tally
            .lock()
            .await
            .record("register", outcome.clone(), started.elapsed());
        admin
            .sign_ups
            .lock()
            .await
            .push((email, outcome == Outcome::Ok));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a graphql-transport-ws connection and subscribes; the socket once
/// acknowledged.
async fn subscribe(url: &str, token: &str) -> Result<Socket, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().map_err(|_| "header")?,
    );
    let (mut socket, _) =
        tokio::time::timeout(CLIENT_TIMEOUT, tokio_tungstenite::connect_async(request))
            .await
            .map_err(|_| "connect timed out")?
            .map_err(|e| format!("connect: {e}"))?;
    let text = |value: Value| Message::Text(value.to_string().into());
    socket
        .send(text(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}})))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let message = tokio::time::timeout(CLIENT_TIMEOUT, socket.next())
            .await
            .map_err(|_| "no connection_ack")?
            .ok_or("closed before connection_ack")?
            .map_err(|e| e.to_string())?;
        if let Message::Text(body) = message {
            let value: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            match value["type"].as_str() {
                Some("connection_ack") => break,
                Some("ping") => socket
                    .send(text(json!({"type": "pong"})))
                    .await
                    .map_err(|e| e.to_string())?,
                _ => return Err(format!("before ack: {value}")),
            }
        } else if let Message::Close(frame) = message {
            return Err(format!("closed: {frame:?}"));
        }
    }
    socket
        .send(text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": RECOMMENDATION_ADDED}}),
        ))
        .await
        .map_err(|e| e.to_string())?;
    Ok(socket)
}

/// Keeps one subscription open for `user`; every stretch in which it was not
/// (and knew it) is a gap, with its reason.
async fn subscriber_loop(
    router_ws: String,
    user: Arc<SimUser>,
    mut stopped: watch::Receiver<bool>,
) {
    // Not subscribed until the first acknowledgement.
    let mut gap_from: Option<Wall> = Some(now());
    // Like the clients: 300 ms, doubling to 3 s, reset by a delivery.
    let mut pause = Duration::from_millis(300);
    loop {
        if *stopped.borrow() {
            return;
        }
        let token = user.token().await;
        let mut socket = match subscribe(&router_ws, &token).await {
            Ok(socket) => socket,
            Err(reason) => {
                let mut log = user.subscriber.lock().await;
                if gap_from.is_none() {
                    gap_from = Some(now());
                }
                log.reasons.push(reason);
                drop(log);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(3));
                continue;
            }
        };
        if let Some(from) = gap_from.take() {
            user.subscriber
                .lock()
                .await
                .gaps
                .push(Gap { from, to: now() });
        }
        let reason = loop {
            let message = tokio::select! {
                message = socket.next() => Some(message),
                _ = stopped.wait_for(|s| *s) => None,
            };
            let Some(message) = message else {
                let _ = socket.close(None).await;
                return;
            };
            let message = match message {
                None => break "socket closed".to_owned(),
                Some(Err(error)) => break format!("socket error: {error}"),
                Some(Ok(message)) => message,
            };
            let value: Value = match message {
                Message::Text(body) => serde_json::from_str(&body).unwrap_or(Value::Null),
                Message::Close(frame) => break format!("closed: {frame:?}"),
                _ => continue,
            };
            match value["type"].as_str() {
                Some("next") => {
                    let payload = &value["payload"];
                    if let Some(errors) = payload["errors"].as_array() {
                        break format!("error in next: {}", Value::Array(errors.clone()));
                    }
                    if let Some(activity) =
                        payload["data"]["recommendationAdded"]["activityId"].as_str()
                    {
                        pause = Duration::from_millis(300);
                        user.subscriber
                            .lock()
                            .await
                            .received
                            .insert(activity.to_owned(), now());
                    }
                }
                Some("ping") => {
                    let _ = socket
                        .send(Message::Text(json!({"type": "pong"}).to_string().into()))
                        .await;
                }
                Some("error") => break format!("error: {}", value["payload"]),
                Some("complete") => break "complete".to_owned(),
                _ => {}
            }
        };
        gap_from = Some(now());
        user.subscriber.lock().await.reasons.push(reason);
        let _ = socket.close(None).await;
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(3));
    }
}
