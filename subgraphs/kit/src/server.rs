//! The axum app every subgraph is served with.
//!
//! - `POST /graphql`, `GET /graphql` (queries only), GraphiQL for browsers, and the
//!   graphql-transport-ws WebSocket protocol on the same path;
//! - `GET /health` (process alive) and `GET /ready` (dependencies reachable);
//! - a request id per request (`x-request-id`, generated when absent) in every log
//!   line and in masked internal errors;
//! - the caller's token checked before execution, `CurrentUser` in the context.

use std::{
    future::Future,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::Arc,
    time::Duration,
};

use async_graphql::{
    http::GraphiQLSource, parser::types::OperationType, Data, ObjectType, Schema, SubscriptionType,
};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::{
    extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State, WebSocketUpgrade},
    http::{header, HeaderMap, HeaderName, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde_json::json;
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{
    auth::{CurrentUser, JwtVerifier},
    client_address::TrustedProxies,
    error::{ApiError, ErrorCode},
    metrics::{Metrics, OperationSlot},
};

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The client's address: the peer, or what trusted proxies (the router) say
/// in `X-Forwarded-For` (see [`crate::client_address`]). No address only when
/// the app is driven without a socket (in-process tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp {
    address: Option<IpAddr>,
    /// What rate limits count it under (IPv6 by network).
    key: String,
}

impl ClientIp {
    pub fn resolve(
        peer: Option<IpAddr>,
        headers: &HeaderMap,
        trusted: &TrustedProxies,
        ipv6_prefix: u8,
    ) -> Self {
        let address = peer.map(|peer| {
            let forwarded = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok());
            trusted.client_address(peer, forwarded)
        });
        Self::new(address, ipv6_prefix)
    }

    pub fn new(address: Option<IpAddr>, ipv6_prefix: u8) -> Self {
        let key = address.map_or_else(
            || "unknown".to_owned(),
            |address| crate::client_address::limit_key(address, ipv6_prefix),
        );
        Self { address, key }
    }

    /// The address itself (audit entries, contact messages).
    pub fn address(&self) -> Option<String> {
        self.address.map(|address| address.to_string())
    }

    /// The key rate limits use: the address (an IPv6 one by its network), or
    /// `unknown`.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// The request id of the current request, available to resolvers.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
/// A readiness probe for one dependency.
pub type ReadinessCheck = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// Builds a subgraph's HTTP app around its schema.
pub struct SubgraphApp<Q, M, S> {
    schema: Schema<Q, M, S>,
    verifier: Arc<JwtVerifier>,
    checks: Vec<(&'static str, ReadinessCheck)>,
    extra: Router,
    trusted_proxies: TrustedProxies,
    ipv6_prefix: u8,
    max_body_bytes: usize,
    metrics: Option<Metrics>,
}

struct AppState<Q, M, S> {
    schema: Schema<Q, M, S>,
    verifier: Arc<JwtVerifier>,
    checks: Vec<(&'static str, ReadinessCheck)>,
    trusted_proxies: TrustedProxies,
    ipv6_prefix: u8,
    max_body_bytes: usize,
    metrics: Option<Metrics>,
}

impl<Q, M, S> SubgraphApp<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    pub fn new(schema: Schema<Q, M, S>, verifier: Arc<JwtVerifier>) -> Self {
        Self {
            schema,
            verifier,
            checks: Vec::new(),
            extra: Router::new(),
            trusted_proxies: TrustedProxies::default(),
            ipv6_prefix: crate::client_address::DEFAULT_IPV6_PREFIX,
            max_body_bytes: crate::config::DEFAULT_MAX_BODY_BYTES,
            metrics: None,
        }
    }

    /// Records every request in `metrics` and serves them on `GET /metrics`.
    pub fn metrics(mut self, metrics: &Metrics) -> Self {
        self.extra = self.extra.merge(metrics.route());
        self.metrics = Some(metrics.clone());
        self
    }

    /// Who may say where a request came from, and how large a body may be.
    pub fn http(mut self, config: &crate::config::HttpConfig) -> Self {
        self.trusted_proxies = config.trusted_proxies.clone();
        self.ipv6_prefix = config.ipv6_prefix;
        self.max_body_bytes = config.max_body_bytes;
        self
    }

    /// Adds a dependency that `/ready` checks.
    pub fn readiness<F, Fut>(mut self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks
            .push((name, Arc::new(move || Box::pin(check()) as CheckFuture)));
        self
    }

    /// Adds a dependency that `/ready` checks with `ping` (a store's or a
    /// queue's own probe): `.ready_when("event queue", queue, |q| q.ping())`.
    pub fn ready_when<T, F>(mut self, name: &'static str, dependency: Arc<T>, ping: F) -> Self
    where
        T: ?Sized + Send + Sync + 'static,
        F: for<'a> Fn(&'a T) -> futures_util::future::BoxFuture<'a, anyhow::Result<()>>
            + Send
            + Sync
            + Copy
            + 'static,
    {
        self.checks.push((name, ping_check(dependency, ping)));
        self
    }

    /// Adds routes of the subgraph's own (e.g. the JWKS endpoint).
    pub fn merge(mut self, routes: Router) -> Self {
        self.extra = self.extra.merge(routes);
        self
    }

    pub fn into_router(self) -> Router {
        let state = Arc::new(AppState {
            schema: self.schema,
            verifier: self.verifier,
            checks: self.checks,
            trusted_proxies: self.trusted_proxies,
            ipv6_prefix: self.ipv6_prefix,
            max_body_bytes: self.max_body_bytes,
            metrics: self.metrics,
        });
        Router::new()
            .route(
                "/graphql",
                get(graphql_get::<Q, M, S>).post(graphql_post::<Q, M, S>),
            )
            .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
            .route("/ready", get(ready::<Q, M, S>))
            .with_state(state)
            .merge(self.extra)
            // 413 before a byte of an oversized body is parsed (by Content-Length,
            // or while streaming one without it).
            .layer(RequestBodyLimitLayer::new(self.max_body_bytes))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER))
            .layer(
                TraceLayer::new_for_http().make_span_with(|request: &Request| {
                    let request_id = request
                        .headers()
                        .get(&REQUEST_ID_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    let span = tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id,
                        trace_id = tracing::field::Empty,
                        otel.name = %format!("{} {}", request.method(), request.uri().path()),
                        otel.kind = "server",
                    );
                    // The caller's trace (the router's `traceparent`).
                    crate::telemetry::continue_trace(
                        &span,
                        request.headers().iter().filter_map(|(name, value)| {
                            Some((name.as_str(), value.to_str().ok()?))
                        }),
                    );
                    span
                }),
            )
            .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER, MakeRequestUuid))
    }
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The bearer token a request was verified with, for a service that acts on
/// the caller's behalf: the admin subgraph forwards it to the user
/// subgraph's internal API, which verifies it again and names its holder in
/// the audit record it writes.
#[derive(Clone)]
pub struct CallerToken(pub crate::config::Secret);

/// Reads `Authorization: Bearer …`. No header: anonymous. A bad header: refused.
async fn caller_from_header(
    verifier: &JwtVerifier,
    headers: &HeaderMap,
) -> Result<Option<(CurrentUser, CallerToken)>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthenticated("Malformed Authorization header"))?;
    caller_from_value(verifier, value).await.map(Some)
}

async fn caller_from_value(
    verifier: &JwtVerifier,
    value: &str,
) -> Result<(CurrentUser, CallerToken), ApiError> {
    let token = crate::auth::bearer_token(value)
        .ok_or_else(|| ApiError::unauthenticated("Authorization must be a Bearer token"))?;
    let user = verifier.verify(token).await?;
    Ok((user, CallerToken(crate::config::Secret::new(token))))
}

fn error_response(error: ApiError) -> async_graphql::Response {
    let error: async_graphql::Error = error.into();
    async_graphql::Response::from_errors(vec![error.into_server_error(Default::default())])
}

/// The response format a request accepts (GraphQL over HTTP, "Accept").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseMedia {
    /// `application/graphql-response+json`: request errors get a 4xx status.
    GraphQLResponse,
    /// `application/json` (also for no `Accept`, or `*/*`, as the spec
    /// says): always 200 for a well-formed request.
    Json,
}

impl ResponseMedia {
    const GRAPHQL_RESPONSE: &'static str = "application/graphql-response+json";

    /// The format to answer in; `None` when the client accepts neither
    /// (406).
    fn negotiate(headers: &HeaderMap) -> Option<Self> {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Some(Self::Json);
        };
        let types: Vec<String> = accept
            .split(',')
            .filter_map(|part| part.split(';').next())
            .map(|media| media.trim().to_ascii_lowercase())
            .collect();
        if types.iter().any(|t| t == Self::GRAPHQL_RESPONSE) {
            Some(Self::GraphQLResponse)
        } else if types
            .iter()
            .any(|t| t == "application/json" || t == "application/*" || t == "*/*")
        {
            Some(Self::Json)
        } else {
            None
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::GraphQLResponse => Self::GRAPHQL_RESPONSE,
            Self::Json => "application/json",
        }
    }

    /// The HTTP response for `response`. A request error (nothing executed:
    /// every error lacks a path and there is no data) is 400, or 401 when
    /// it is about the token, under `application/graphql-response+json`.
    fn respond(self, response: async_graphql::Response) -> Response {
        let request_error = response.data == async_graphql::Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty());
        let status = match self {
            Self::GraphQLResponse if request_error => {
                let unauthenticated = response.errors.iter().any(|e| {
                    e.extensions.as_ref().and_then(|x| x.get("code"))
                        == Some(&async_graphql::Value::from(
                            ErrorCode::Unauthenticated.as_str(),
                        ))
                });
                if unauthenticated {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::BAD_REQUEST
                }
            }
            _ => StatusCode::OK,
        };
        let mut http = GraphQLResponse::from(response).into_response();
        *http.status_mut() = status;
        http.headers_mut().insert(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static(self.content_type()),
        );
        http
    }

    /// A body that is not a GraphQL request: 400, as a GraphQL error.
    fn malformed(self, why: &str) -> Response {
        let mut http = self.respond(error_response(ApiError::bad_input(
            "request",
            format!("Not a GraphQL request: {why}"),
        )));
        *http.status_mut() = StatusCode::BAD_REQUEST;
        http
    }
}

fn not_acceptable() -> Response {
    (
        StatusCode::NOT_ACCEPTABLE,
        "Responses are application/graphql-response+json or application/json",
    )
        .into_response()
}

/// Gives every error a code (request errors: `BAD_USER_INPUT`; uncoded field
/// errors: masked as internal) and adds the request id to internal errors so
/// support can find the log line.
fn finish_errors(
    mut response: async_graphql::Response,
    request_id: &str,
) -> async_graphql::Response {
    for error in &mut response.errors {
        // Errors about the request itself (no path: a variable of the wrong
        // type, an unknown enum value, a query over the limits) carry no code
        // from async-graphql; they are the caller's to fix.
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if !has_code && error.path.is_empty() {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", ErrorCode::BadUserInput.as_str());
        } else if let Some(message) = (!has_code)
            .then(|| input_coercion_message(&error.message, field_of(&error.path)))
            .flatten()
        {
            // An argument that did not coerce to its type (a malformed date,
            // say) is found while the field resolves, so it has a path; it is
            // still the caller's to fix, not a fault of ours.
            error.message = message;
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", ErrorCode::BadUserInput.as_str());
        } else if !has_code {
            // A field error that did not go through `ApiError`: nothing says its
            // message is fit for clients (the router passes messages through).
            tracing::error!(error = %error.message, path = ?error.path, "uncoded field error");
            error.message = crate::error::INTERNAL_MESSAGE.to_owned();
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", ErrorCode::InternalServerError.as_str());
        }
        let internal = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .is_some_and(|code| {
                *code == async_graphql::Value::from(ErrorCode::InternalServerError.as_str())
            });
        if internal {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("requestId", request_id);
        }
    }
    response
}

/// async-graphql's own messages for a value that does not coerce to its
/// input type: a scalar that does not parse (`Failed to parse "DateTime": …`),
/// a value of the wrong kind (`Expected input type "Int", found …`), an
/// unknown enum value or input field. They reach [`finish_errors`] without a
/// code and, for field arguments, with the field's path, so they would be
/// masked as internal errors; they are the caller's to fix.
///
/// Returns the message the client gets: the field, what was wrong, and the
/// form the value must take.
fn input_coercion_message(message: &str, field: Option<&str>) -> Option<String> {
    const PREFIXES: [&str; 3] = [
        "Failed to parse \"",
        "Expected input type \"",
        "Invalid value for argument",
    ];
    let (prefix, after) = PREFIXES
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix).map(|after| (prefix, after)))?;
    // The type named first (right after the opening quote) is the innermost
    // one that failed.
    let type_name = if prefix.ends_with('"') {
        after.split('"').next().unwrap_or_default()
    } else {
        ""
    };
    let expected = match type_name {
        "DateTime" => {
            " Expected an RFC 3339 date-time with an offset, such as 2026-11-30T07:00:00Z."
        }
        "NaiveDate" => " Expected a calendar date YYYY-MM-DD, such as 2026-11-30.",
        "Int" => " Expected a whole number between -2147483648 and 2147483647.",
        "Float" => " Expected a finite number.",
        "Boolean" => " Expected true or false.",
        "String" | "ID" => " Expected a string.",
        _ => "",
    };
    let message = message.trim_end_matches('.');
    Some(match field {
        Some(field) => format!("Invalid input for `{field}`: {message}.{expected}"),
        None => format!("Invalid input: {message}.{expected}"),
    })
}

/// The innermost field of an error's path: the field whose argument failed.
fn field_of(path: &[async_graphql::PathSegment]) -> Option<&str> {
    path.iter().rev().find_map(|segment| match segment {
        async_graphql::PathSegment::Field(name) => Some(name.as_str()),
        async_graphql::PathSegment::Index(_) => None,
    })
}

async fn execute<Q, M, S>(
    state: &AppState<Q, M, S>,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    request: async_graphql::Request,
) -> async_graphql::Response
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let request_id = request_id(headers);
    let mut request = request
        .data(RequestId(request_id.clone()))
        .data(state.verifier.clone())
        .data(ClientIp::resolve(
            peer,
            headers,
            &state.trusted_proxies,
            state.ipv6_prefix,
        ));
    match caller_from_header(&state.verifier, headers).await {
        Ok(Some((user, token))) => request = request.data(user).data(token),
        Ok(None) => {}
        Err(error) => {
            let response = error_response(error);
            if let Some(metrics) = &state.metrics {
                let unnamed = OperationSlot::default();
                metrics
                    .graphql()
                    .answered(&unnamed, Duration::ZERO, &response);
            }
            return response;
        }
    }
    execute_recorded(&state.schema, request, &request_id, state.metrics.as_ref()).await
}

/// Executes `request`, finishes its errors ([`finish_errors`]) and records
/// the answer in `metrics`, named by the operation it ran: over HTTP and
/// the WebSocket alike.
async fn execute_recorded<Q, M, S>(
    schema: &Schema<Q, M, S>,
    request: async_graphql::Request,
    request_id: &str,
    metrics: Option<&Metrics>,
) -> async_graphql::Response
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let started = std::time::Instant::now();
    let operation = OperationSlot::default();
    let response = finish_errors(
        schema.execute(request.data(operation.clone())).await,
        request_id,
    );
    if let Some(metrics) = metrics {
        metrics
            .graphql()
            .answered(&operation, started.elapsed(), &response);
    }
    response
}

async fn graphql_post<Q, M, S>(
    State(state): State<Arc<AppState<Q, M, S>>>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    request: Request,
) -> Response
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    // GraphQL over HTTP is JSON. Refusing the "simple" content types (text/plain,
    // forms, multipart) means a browser cannot send a request here cross-site
    // without a CORS preflight (CSRF), and nobody can upload through us.
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "GraphQL requests must be sent as application/json",
        )
            .into_response();
    }
    let headers = request.headers().clone();
    let Some(media) = ResponseMedia::negotiate(&headers) else {
        return not_acceptable();
    };
    let graphql_request = match read_graphql_request(request).await {
        Ok(request) => request,
        Err(unreadable) => return unreadable.respond(media),
    };
    let peer = peer.map(|axum::Extension(ConnectInfo(addr))| addr.ip());
    media.respond(execute(&state, peer, &headers, graphql_request).await)
}

async fn graphql_get<Q, M, S>(
    State(state): State<Arc<AppState<Q, M, S>>>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    request: Request,
) -> Response
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let (mut parts, body) = request.into_parts();
    let headers = parts.headers.clone();
    let is_upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        let peer = peer.map(|axum::Extension(ConnectInfo(addr))| addr.ip());
        return websocket(state, peer, &mut parts).await;
    }
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html && !crate::config::is_production() {
        return Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql")
                .finish(),
        )
        .into_response();
    }
    let Some(media) = ResponseMedia::negotiate(&headers) else {
        return not_acceptable();
    };
    let graphql_request = match read_graphql_request(Request::from_parts(parts, body)).await {
        Ok(request) => request,
        Err(unreadable) => return unreadable.respond(media),
    };
    if !is_query_only(&graphql_request.query) {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "Mutations and subscriptions must use POST or WebSocket",
        )
            .into_response();
    }
    let peer = peer.map(|axum::Extension(ConnectInfo(addr))| addr.ip());
    media.respond(execute(&state, peer, &headers, graphql_request).await)
}

/// The GraphQL request in an HTTP request (query string or body), or the
/// response that says why there is none.
async fn read_graphql_request(request: Request) -> Result<async_graphql::Request, Unreadable> {
    use async_graphql::ParseRequestError;
    GraphQLRequest::<async_graphql_axum::rejection::GraphQLRejection>::from_request(request, &())
        .await
        .map(GraphQLRequest::into_inner)
        .map_err(|rejection| match rejection.0 {
            ParseRequestError::PayloadTooLarge => Unreadable::TooLarge,
            // A body cut off by `http.max_body_bytes` (no Content-Length).
            ParseRequestError::Io(error) if error.to_string().contains("length limit") => {
                Unreadable::TooLarge
            }
            ParseRequestError::InvalidRequest(error) => Unreadable::Malformed(error.to_string()),
            other => Unreadable::Malformed(other.to_string()),
        })
}

/// Why an HTTP request holds no GraphQL request.
enum Unreadable {
    TooLarge,
    Malformed(String),
}

impl Unreadable {
    fn respond(self, media: ResponseMedia) -> Response {
        match self {
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE.into_response(),
            Self::Malformed(why) => media.malformed(&why),
        }
    }
}

/// GET must not change state: only documents made of queries run over GET.
fn is_query_only(query: &str) -> bool {
    match async_graphql::parser::parse_query(query) {
        Ok(document) => document
            .operations
            .iter()
            .all(|(_, op)| op.node.ty == OperationType::Query),
        // Let execution report the syntax error.
        Err(_) => true,
    }
}

/// What a WebSocket connection reads into at a time. tungstenite allocates
/// its default (128 KiB) up front for every connection: with the router's one
/// upstream connection per subscribed user, that was 128 of the 150 KiB a
/// subscriber cost the AI subgraph (BENCHMARKS.md, issue 15 target 4).
/// GraphQL-over-WebSocket messages are small; a larger one is read in chunks.
pub const WEBSOCKET_READ_BUFFER: usize = 4 * 1024;

async fn websocket<Q, M, S>(
    state: Arc<AppState<Q, M, S>>,
    peer: Option<IpAddr>,
    parts: &mut axum::http::request::Parts,
) -> Response
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let protocol = match GraphQLProtocol::from_request_parts(parts, &()).await {
        Ok(protocol) => protocol,
        Err(status) => return status.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    // A token may come as a header on the upgrade (the router forwards it so) or in
    // the `connection_init` payload (browsers cannot set headers on WebSockets).
    let header_user = match caller_from_header(&state.verifier, &parts.headers).await {
        Ok(user) => user,
        Err(_) => return StatusCode::UNAUTHORIZED.into_response(),
    };
    let request_id = request_id(&parts.headers);
    let mut data = Data::default();
    data.insert(RequestId(request_id.clone()));
    // The same address rules as over HTTP (sign-in limits key on it).
    data.insert(ClientIp::resolve(
        peer,
        &parts.headers,
        &state.trusted_proxies,
        state.ipv6_prefix,
    ));
    // Long-lived operations (subscriptions) re-check revocation with it.
    data.insert(state.verifier.clone());
    if let Some((user, token)) = header_user {
        data.insert(user);
        data.insert(token);
    }
    let executor = FinishedErrors {
        schema: state.schema.clone(),
        request_id: request_id.into(),
        metrics: state.metrics.clone(),
    };
    let connection = state.metrics.as_ref().map(Metrics::websocket_opened);
    let verifier = state.verifier.clone();
    upgrade
        .read_buffer_size(WEBSOCKET_READ_BUFFER)
        // A message is bounded as an HTTP body is (tungstenite's default
        // would take 64 MiB).
        .max_message_size(state.max_body_bytes)
        .max_frame_size(state.max_body_bytes)
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            // Counted open while it is served.
            let _connection = connection;
            GraphQLWebSocket::new(socket, executor, protocol)
                .with_data(data)
                .on_connection_init(move |payload| async move {
                    let mut data = Data::default();
                    if let Some(value) = token_in_init_payload(&payload) {
                        let (user, token) = caller_from_value(&verifier, &value)
                            .await
                            .map_err(async_graphql::Error::from)?;
                        data.insert(user);
                        data.insert(token);
                    }
                    Ok(data)
                })
                .keepalive_timeout(Duration::from_secs(60))
                .serve()
                .await
        })
}

/// The schema as the WebSocket serves it: every response, and every item of
/// a stream, has its errors finished as over HTTP ([`finish_errors`]: codes,
/// masking, the request id).
struct FinishedErrors<Q, M, S> {
    schema: Schema<Q, M, S>,
    request_id: Arc<str>,
    metrics: Option<Metrics>,
}

impl<Q, M, S> Clone for FinishedErrors<Q, M, S> {
    fn clone(&self) -> Self {
        Self {
            schema: self.schema.clone(),
            request_id: self.request_id.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl<Q, M, S> async_graphql::Executor for FinishedErrors<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    fn execute(
        &self,
        request: async_graphql::Request,
    ) -> impl Future<Output = async_graphql::Response> + Send {
        let this = self.clone();
        async move {
            execute_recorded(
                &this.schema,
                request,
                &this.request_id,
                this.metrics.as_ref(),
            )
            .await
        }
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> futures_util::stream::BoxStream<'static, async_graphql::Response> {
        use futures_util::StreamExt as _;
        let request_id = self.request_id.clone();
        let operation = OperationSlot::default();
        let request = request.data(operation.clone());
        // Active while the stream lives; its errors counted as they go out.
        let mut subscription = self
            .metrics
            .as_ref()
            .map(|metrics| metrics.subscription_started(operation));
        async_graphql::Executor::execute_stream(&self.schema, request, session_data)
            .map(move |response| {
                let response = finish_errors(response, &request_id);
                if let Some(subscription) = &mut subscription {
                    subscription.item(&response);
                }
                response
            })
            .boxed()
    }
}

/// `{"Authorization": "Bearer …"}` (any case), or `{"token": "…"}`.
fn token_in_init_payload(payload: &serde_json::Value) -> Option<String> {
    let object = payload.as_object()?;
    for (key, value) in object {
        if key.eq_ignore_ascii_case("authorization") {
            return value.as_str().map(str::to_owned);
        }
        if key == "headers" {
            if let Some(found) = token_in_init_payload(value) {
                return Some(found);
            }
        }
    }
    object
        .get("token")
        .and_then(|v| v.as_str())
        .map(|token| format!("Bearer {token}"))
}

async fn ready<Q, M, S>(State(state): State<Arc<AppState<Q, M, S>>>) -> Response {
    check_dependencies(&state.checks).await
}

/// How long `/ready` waits for one dependency: a probe must answer well
/// within an orchestrator's probe timeout (Kubernetes: 1 s by default, ours
/// 3 s), whatever a black-holed connection does.
pub const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Checks every dependency at once, each within [`READY_CHECK_TIMEOUT`]:
/// 200, or 503 naming each one that failed and why.
async fn check_dependencies(checks: &[(&'static str, ReadinessCheck)]) -> Response {
    let results = futures_util::future::join_all(checks.iter().map(|(name, check)| async move {
        let outcome = match tokio::time::timeout(READY_CHECK_TIMEOUT, check()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!(
                "no answer within {} s",
                READY_CHECK_TIMEOUT.as_secs()
            )),
        };
        (*name, outcome)
    }))
    .await;
    let mut failures = serde_json::Map::new();
    for (name, outcome) in results {
        if let Err(reason) = outcome {
            failures.insert(name.to_owned(), reason.into());
        }
    }
    if failures.is_empty() {
        Json(json!({"status": "ready"})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "failing": failures})),
        )
            .into_response()
    }
}

/// What a process that serves no GraphQL (a worker) answers an orchestrator
/// and Prometheus with: `/health`, `/ready` (the dependencies it uses) and
/// `/metrics`.
pub fn operations_router(
    checks: Vec<(&'static str, ReadinessCheck)>,
    metrics: &crate::metrics::Metrics,
) -> Router {
    let checks = Arc::new(checks);
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route(
            "/ready",
            get(move || {
                let checks = checks.clone();
                async move { check_dependencies(&checks).await }
            }),
        )
        .merge(metrics.route())
}

/// A readiness probe of `dependency` with its own `ping` (a store's, a
/// queue's), for [`SubgraphApp::readiness`] or [`operations_router`].
pub fn ping_check<T, F>(dependency: Arc<T>, ping: F) -> ReadinessCheck
where
    T: ?Sized + Send + Sync + 'static,
    F: for<'a> Fn(&'a T) -> futures_util::future::BoxFuture<'a, anyhow::Result<()>>
        + Send
        + Sync
        + Copy
        + 'static,
{
    Arc::new(move || {
        let dependency = dependency.clone();
        Box::pin(async move { ping(&dependency).await.map_err(|e| format!("{e:#}")) })
            as CheckFuture
    })
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer address feeds `ClientIp` (rate limits by address).
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ready_names_each_failing_dependency_and_a_silent_one_within_the_timeout() {
        let hanging: ReadinessCheck = Arc::new(|| Box::pin(std::future::pending()) as CheckFuture);
        let down: ReadinessCheck =
            Arc::new(|| Box::pin(async { Err("connection refused".to_owned()) }) as CheckFuture);
        let fine: ReadinessCheck = Arc::new(|| Box::pin(async { Ok(()) }) as CheckFuture);
        let metrics = crate::metrics::Metrics::new("worker");
        let app = operations_router(
            vec![("redis", hanging), ("database", down), ("store", fine)],
            &metrics,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });

        let started = std::time::Instant::now();
        let response = reqwest::get(format!("http://{address}/ready"))
            .await
            .expect("answers");
        let took = started.elapsed();
        assert_eq!(response.status(), 503);
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["failing"]["database"], "connection refused");
        assert_eq!(body["failing"]["redis"], "no answer within 2 s");
        assert!(body["failing"].get("store").is_none(), "{body}");
        // All at once: one timeout, not one per dependency.
        assert!(
            took < READY_CHECK_TIMEOUT + Duration::from_secs(1),
            "{took:?}"
        );

        let health = reqwest::get(format!("http://{address}/health"))
            .await
            .expect("answers");
        assert_eq!(health.status(), 200);
        let metrics = reqwest::get(format!("http://{address}/metrics"))
            .await
            .expect("answers");
        assert_eq!(metrics.status(), 200);
    }

    fn finished(error: async_graphql::ServerError) -> serde_json::Value {
        let response = async_graphql::Response::from_errors(vec![error]);
        let response = finish_errors(response, "req-1");
        serde_json::to_value(&response).expect("json")["errors"][0].clone()
    }

    #[test]
    fn the_response_format_follows_accept() {
        let negotiate = |accept: Option<&str>| {
            let mut headers = HeaderMap::new();
            if let Some(accept) = accept {
                headers.insert(header::ACCEPT, accept.parse().expect("header"));
            }
            ResponseMedia::negotiate(&headers)
        };
        assert_eq!(negotiate(None), Some(ResponseMedia::Json));
        assert_eq!(
            negotiate(Some("application/json")),
            Some(ResponseMedia::Json)
        );
        assert_eq!(negotiate(Some("*/*")), Some(ResponseMedia::Json));
        assert_eq!(
            negotiate(Some(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(ResponseMedia::GraphQLResponse)
        );
        assert_eq!(negotiate(Some("application/xml")), None);
    }

    #[test]
    fn request_errors_are_bad_input_and_uncoded_field_errors_are_masked() {
        let request_error = finished(async_graphql::ServerError::new(
            "Invalid value for argument",
            None,
        ));
        assert_eq!(request_error["extensions"]["code"], "BAD_USER_INPUT");
        assert_eq!(request_error["message"], "Invalid value for argument");

        let mut field_error = async_graphql::ServerError::new("connection refused (db:5432)", None);
        field_error.path = vec![async_graphql::PathSegment::Field("me".into())];
        let field_error = finished(field_error);
        assert_eq!(field_error["message"], crate::error::INTERNAL_MESSAGE);
        assert_eq!(field_error["extensions"]["code"], "INTERNAL_SERVER_ERROR");
        assert_eq!(field_error["extensions"]["requestId"], "req-1");
    }

    #[test]
    fn arguments_that_do_not_coerce_are_bad_input_naming_field_and_form() {
        let mut bad_date = async_graphql::ServerError::new(
            "Failed to parse \"DateTime\": input is out of range (occurred while parsing \"LogActivityInput\")",
            None,
        );
        bad_date.path = vec![async_graphql::PathSegment::Field("logActivity".into())];
        let bad_date = finished(bad_date);
        assert_eq!(bad_date["extensions"]["code"], "BAD_USER_INPUT");
        let message = bad_date["message"].as_str().expect("message");
        assert!(message.contains("`logActivity`"), "{message}");
        assert!(message.contains("input is out of range"), "{message}");
        assert!(message.contains("RFC 3339"), "{message}");
        assert!(bad_date["extensions"].get("requestId").is_none());

        let mut bad_day = async_graphql::ServerError::new(
            "Failed to parse \"NaiveDate\": premature end of input",
            None,
        );
        bad_day.path = vec![async_graphql::PathSegment::Field("dailyPlan".into())];
        let bad_day = finished(bad_day);
        assert_eq!(bad_day["extensions"]["code"], "BAD_USER_INPUT");
        assert!(bad_day["message"]
            .as_str()
            .is_some_and(|m| m.contains("YYYY-MM-DD")));
    }

    #[test]
    fn get_runs_queries_only() {
        assert!(is_query_only("{ me { id } }"));
        assert!(is_query_only("query A { a } query B { b }"));
        assert!(!is_query_only("mutation { logout(refreshToken: \"x\") }"));
        assert!(!is_query_only("query A { a } mutation B { b }"));
    }

    #[test]
    fn init_payload_token_forms() {
        let from_header = json!({"Authorization": "Bearer abc"});
        assert_eq!(
            token_in_init_payload(&from_header).as_deref(),
            Some("Bearer abc")
        );
        let nested = json!({"headers": {"authorization": "Bearer abc"}});
        assert_eq!(
            token_in_init_payload(&nested).as_deref(),
            Some("Bearer abc")
        );
        let bare = json!({"token": "abc"});
        assert_eq!(token_in_init_payload(&bare).as_deref(), Some("Bearer abc"));
        assert_eq!(token_in_init_payload(&json!({})), None);
    }
}
