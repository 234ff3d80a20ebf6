//! Talking to the stack as a client does: GraphQL over HTTP, and
//! graphql-transport-ws, with the operations the tests share.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

pub const PASSWORD: &str = "correct horse battery";

pub async fn wait_until_up(url: &str) {
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(response) = client.get(url).send().await {
            if response.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not come up within 60 s");
}

pub fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.com", uuid::Uuid::new_v4().simple())
}

pub const REGISTER: &str = "mutation($input: RegisterInput!) { register(input: $input) { accessToken refreshToken accessTokenExpiresAt deviceToken user { id email role } } }";
pub const LOGIN: &str = "mutation($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken refreshToken user { id email } } }";
pub const LOGOUT: &str = "mutation($token: String!) { logout(refreshToken: $token) }";
pub const CHANGE_PASSWORD: &str = "mutation($current: String!, $new: String!) { changePassword(currentPassword: $current, newPassword: $new) { accessToken refreshToken user { id } } }";
pub const REQUEST_RESET: &str = "mutation($email: String!) { requestPasswordReset(email: $email) }";
pub const RESET_PASSWORD: &str =
    "mutation($token: String!, $new: String!) { resetPassword(token: $token, newPassword: $new) }";

/// Polls `query` with `token` at `url` until it is refused as
/// `UNAUTHENTICATED`; how long that took. Panics after `within`.
pub async fn refused_within(url: &str, query: &str, token: &str, within: Duration) -> Duration {
    let started = std::time::Instant::now();
    loop {
        let response = gql(url, query, json!({}), Some(token)).await;
        if response.code() == Some("UNAUTHENTICATED") {
            return started.elapsed();
        }
        response.assert_ok();
        assert!(
            started.elapsed() < within,
            "{url} still accepts the token {:?} later",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub const REFRESH: &str = "mutation($token: String!) { refreshToken(refreshToken: $token) { accessToken refreshToken user { id } } }";
pub const ME: &str =
    "{ me { id email username firstName lastName gender fitnessGoal role accountStatus } }";

/// A GraphQL response as the client saw it.
#[derive(Debug)]
pub struct GqlResponse {
    pub status: u16,
    pub body: Value,
}

impl GqlResponse {
    pub fn data(&self, field: &str) -> &Value {
        &self.body["data"][field]
    }

    pub fn errors(&self) -> &[Value] {
        self.body["errors"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// `extensions.code` of the first error.
    pub fn code(&self) -> Option<&str> {
        self.errors().first()?["extensions"]["code"].as_str()
    }

    pub fn field(&self) -> Option<&str> {
        self.errors().first()?["extensions"]["field"].as_str()
    }

    pub fn assert_ok(&self) -> &Self {
        assert!(
            self.errors().is_empty(),
            "unexpected errors: {:#}",
            self.body
        );
        self
    }

    pub fn assert_code(&self, code: &str) -> &Self {
        assert_eq!(self.code(), Some(code), "expected {code}: {:#}", self.body);
        self
    }
}

pub async fn gql(url: &str, query: &str, variables: Value, token: Option<&str>) -> GqlResponse {
    let mut request = reqwest::Client::new()
        .post(url)
        .json(&json!({"query": query, "variables": variables}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    GqlResponse { status, body }
}

/// A WebSocket as `tokio_tungstenite` opens it.
pub type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket to `url` that asked for the graphql-transport-ws subprotocol,
/// with nothing sent yet (tests that speak the protocol by hand start here).
pub async fn connect_graphql_ws(url: &str) -> Result<WebSocket, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().map_err(|_| "header")?,
    );
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    Ok(socket)
}

/// An open graphql-transport-ws subscription.
pub struct WsSubscription {
    socket: WebSocket,
}

/// What the server sent for the subscription.
enum WsEvent {
    Next(Value),
    Error(Value),
    Complete,
}

impl WsSubscription {
    /// Connects, initialises with `init_payload` and subscribes; `Err` if the
    /// server refuses the connection or the subscription.
    pub async fn open(url: &str, init_payload: Value, query: &str) -> Result<Self, String> {
        Self::open_with(url, init_payload, query, json!({})).await
    }

    /// As [`WsSubscription::open`], with variables.
    pub async fn open_with(
        url: &str,
        init_payload: Value,
        query: &str,
        variables: Value,
    ) -> Result<Self, String> {
        let mut socket = connect_graphql_ws(url).await?;
        let send = |value: Value| Message::Text(value.to_string().into());
        socket
            .send(send(
                json!({"type": "connection_init", "payload": init_payload}),
            ))
            .await
            .map_err(|e| e.to_string())?;
        let ack = next_json(&mut socket).await?;
        if ack["type"] != "connection_ack" {
            return Err(format!("no ack: {ack}"));
        }
        socket
            .send(send(json!({"id": "1", "type": "subscribe",
                              "payload": {"query": query, "variables": variables}})))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self { socket })
    }

    /// The next `next` payload within `wait`; `Err` on an error, completion,
    /// a closed socket or the timeout.
    pub async fn next(&mut self, wait: Duration) -> Result<Value, String> {
        let deadline = tokio::time::Instant::now() + wait;
        match tokio::time::timeout_at(deadline, self.event())
            .await
            .map_err(|_| "timed out".to_owned())??
        {
            WsEvent::Next(payload) => Ok(payload),
            WsEvent::Error(payload) => Err(payload.to_string()),
            WsEvent::Complete => Err("completed".into()),
        }
    }

    /// The next event of the subscription, answering pings on the way (each
    /// message within 10 s).
    async fn event(&mut self) -> Result<WsEvent, String> {
        loop {
            let message = next_json(&mut self.socket).await?;
            match message["type"].as_str() {
                Some("next") => return Ok(WsEvent::Next(message["payload"].clone())),
                Some("error") => return Ok(WsEvent::Error(message["payload"].clone())),
                Some("complete") => return Ok(WsEvent::Complete),
                Some("ping") => self
                    .socket
                    .send(Message::Text(json!({"type": "pong"}).to_string().into()))
                    .await
                    .map_err(|e| e.to_string())?,
                _ => {}
            }
        }
    }
}

/// One graphql-transport-ws operation: init (with `init_payload`), subscribe,
/// collect `next` payloads until `complete`; `Err` on `error`.
pub async fn ws_operation(
    url: &str,
    init_payload: Value,
    query: &str,
    variables: Value,
) -> Result<Vec<Value>, String> {
    let mut subscription = WsSubscription::open_with(url, init_payload, query, variables).await?;
    let mut payloads = Vec::new();
    loop {
        match subscription.event().await? {
            WsEvent::Next(payload) => payloads.push(payload),
            WsEvent::Complete => return Ok(payloads),
            WsEvent::Error(payload) => return Err(payload.to_string()),
        }
    }
}

async fn next_json<S>(socket: &mut S) -> Result<Value, String>
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .map_err(|_| "timed out waiting for a message".to_string())?
            .ok_or("socket closed")?
            .map_err(|e| e.to_string())?;
        match message {
            Message::Text(text) => return serde_json::from_str(&text).map_err(|e| e.to_string()),
            Message::Close(frame) => return Err(format!("closed: {frame:?}")),
            _ => {}
        }
    }
}

/// Reads a claim set without verifying (tests inspect what was issued).
pub fn decode_unverified(token: &str) -> (Value, Value) {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let mut parts = token.split('.');
    let mut part = || -> Value {
        let bytes = URL_SAFE_NO_PAD
            .decode(parts.next().expect("part"))
            .expect("base64");
        serde_json::from_slice(&bytes).expect("json")
    };
    (part(), part())
}
