//! Prometheus metrics, one registry per service.
//!
//! Instruments are OpenTelemetry's (the API hive-router records its own
//! metrics with), read by the OpenTelemetry Prometheus exporter into a
//! `prometheus::Registry` that belongs to one service: `fittrack dev` runs
//! every subgraph in one process, and each must still answer its own
//! `GET /metrics` with only its own series, so there is no global recorder.
//!
//! Labels are bounded: operation names are root fields of the schema (known
//! only once a request validated), codes are [`crate::ErrorCode`]s, and no
//! label ever holds a user id or anything else a client chooses freely.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use axum::{http::header, response::IntoResponse, routing::get, Router};
use opentelemetry::{
    metrics::{Counter, Histogram, Meter, MeterProvider as _, UpDownCounter},
    KeyValue,
};
use opentelemetry_sdk::{metrics::SdkMeterProvider, Resource};

/// Latency buckets in seconds: 1 ms to 10 s (what hive-router uses, with the
/// millisecond end our subgraphs answer in added).
pub const SECONDS_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// One service's metrics: its meter (to make instruments with) and the
/// registry its `/metrics` route renders. Cheap to clone.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

/// Reads something at scrape time (a queue's depth) into gauges.
type Collector = Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>;

/// How long a scrape waits for one collector (a queue on a Redis that does
/// not answer) before it renders what it has.
const COLLECT_TIMEOUT: Duration = Duration::from_secs(2);

struct Inner {
    service: &'static str,
    collectors: std::sync::Mutex<Vec<Collector>>,
    registry: prometheus::Registry,
    // Owns the exporter's reader; dropping it would stop collection.
    _provider: SdkMeterProvider,
    meter: Meter,
    graphql: GraphqlInstruments,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Metrics").field(&self.0.service).finish()
    }
}

impl Metrics {
    /// A registry of its own for `service` (`user`, `activity`, `ai`,
    /// `admin`, `worker`).
    ///
    /// `FITTRACK_METRICS=off` records nothing (`/metrics` answers empty): for
    /// measuring what metrics cost (`cargo bench --bench telemetry`).
    pub fn new(service: &'static str) -> Self {
        let registry = prometheus::Registry::new();
        let off = std::env::var("FITTRACK_METRICS")
            .is_ok_and(|value| matches!(value.trim(), "off" | "false" | "0"));
        let exporter = (!off).then(|| {
            opentelemetry_prometheus::exporter()
                .with_registry(registry.clone())
                .without_scope_info()
                .build()
        });
        let provider = match exporter {
            Some(Ok(exporter)) => SdkMeterProvider::builder()
                .with_reader(exporter)
                .with_resource(Resource::builder().with_service_name(service).build())
                .build(),
            // Only a registry that already holds the exporter's collector
            // fails; ours is new. Metrics are then recorded and never shown.
            Some(Err(error)) => {
                tracing::error!(%error, service, "metrics exporter not installed");
                SdkMeterProvider::builder().build()
            }
            None => SdkMeterProvider::builder().build(),
        };
        let meter = provider.meter("fittrack");
        let graphql = GraphqlInstruments::new(&meter);
        Self(Arc::new(Inner {
            service,
            collectors: Default::default(),
            registry,
            _provider: provider,
            meter,
            graphql,
        }))
    }

    /// Makes this service's own instruments (a store's, a worker's).
    pub fn meter(&self) -> &Meter {
        &self.0.meter
    }

    pub fn graphql(&self) -> &GraphqlInstruments {
        &self.0.graphql
    }

    /// Everything recorded, in the Prometheus text format.
    pub fn render(&self) -> String {
        use prometheus::Encoder as _;
        let mut text = Vec::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(error) = encoder.encode(&self.0.registry.gather(), &mut text) {
            tracing::error!(%error, "metrics could not be encoded");
        }
        String::from_utf8(text).unwrap_or_default()
    }

    /// Runs `collect` before every scrape (each at most [`COLLECT_TIMEOUT`]):
    /// for state that is read, not counted, such as a queue's depth.
    pub fn on_scrape<F>(&self, collect: F)
    where
        F: Fn() -> futures_util::future::BoxFuture<'static, ()> + Send + Sync + 'static,
    {
        self.0
            .collectors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Arc::new(collect));
    }

    /// Runs the collectors, then renders.
    pub async fn scrape(&self) -> String {
        let collectors = self
            .0
            .collectors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        futures_util::future::join_all(collectors.iter().map(|collect| async move {
            if tokio::time::timeout(COLLECT_TIMEOUT, collect())
                .await
                .is_err()
            {
                tracing::warn!(service = self.0.service, "a metrics collector timed out");
            }
        }))
        .await;
        self.render()
    }

    /// `GET /metrics`.
    pub fn route(&self) -> Router {
        let metrics = self.clone();
        Router::new().route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
                        metrics.scrape().await,
                    )
                        .into_response()
                }
            }),
        )
    }
}

/// What every subgraph records of the GraphQL requests it serves.
pub struct GraphqlInstruments {
    requests: Counter<u64>,
    duration: Histogram<f64>,
    errors: Counter<u64>,
    subscriptions: UpDownCounter<i64>,
    websockets: UpDownCounter<i64>,
}

impl GraphqlInstruments {
    fn new(meter: &Meter) -> Self {
        let instruments = Self {
            requests: meter
                .u64_counter("fittrack.graphql.requests")
                .with_description("GraphQL operations served, by root field and outcome")
                .build(),
            duration: meter
                .f64_histogram("fittrack.graphql.request.duration")
                .with_unit("s")
                .with_description("Time to answer a GraphQL query or mutation")
                .with_boundaries(SECONDS_BUCKETS.to_vec())
                .build(),
            errors: meter
                .u64_counter("fittrack.graphql.errors")
                .with_description("GraphQL errors sent, by extensions.code")
                .build(),
            subscriptions: meter
                .i64_up_down_counter("fittrack.graphql.subscriptions.active")
                .with_description("Subscriptions being served")
                .build(),
            websockets: meter
                .i64_up_down_counter("fittrack.websocket.connections")
                .with_description("Open graphql-transport-ws connections")
                .build(),
        };
        // Shown as 0 from the start, not absent until the first one.
        instruments.subscriptions.add(0, &[]);
        instruments.websockets.add(0, &[]);
        instruments
    }

    /// A query or mutation answered: its count, latency and errors.
    pub fn answered(
        &self,
        operation: &OperationSlot,
        elapsed: Duration,
        response: &async_graphql::Response,
    ) {
        let (kind, root) = operation.labels();
        self.count(kind, &root, response.errors.is_empty());
        self.duration.record(
            elapsed.as_secs_f64(),
            &[
                KeyValue::new("operation.type", kind),
                KeyValue::new("operation", root.clone()),
            ],
        );
        self.errors_in(&root, response);
    }

    /// One operation answered (a subscription: once it ended).
    fn count(&self, kind: &'static str, root: &str, ok: bool) {
        self.requests.add(
            1,
            &[
                KeyValue::new("operation.type", kind),
                KeyValue::new("operation", root.to_owned()),
                KeyValue::new("outcome", if ok { "ok" } else { "error" }),
            ],
        );
    }

    /// Counts a response's errors by code (an item of a subscription's
    /// stream, or a whole answer).
    pub fn errors_in(&self, operation: &str, response: &async_graphql::Response) {
        for error in &response.errors {
            let code = error
                .extensions
                .as_ref()
                .and_then(|extensions| extensions.get("code"))
                .and_then(|code| match code {
                    async_graphql::Value::String(code) => {
                        crate::ErrorCode::named(code).map(crate::ErrorCode::as_str)
                    }
                    _ => None,
                })
                .unwrap_or("OTHER");
            self.errors.add(
                1,
                &[
                    KeyValue::new("code", code),
                    KeyValue::new("operation", operation.to_owned()),
                ],
            );
        }
    }
}

impl Metrics {
    /// A subscription started; it counts as active until the guard drops,
    /// and then as one request of its operation.
    pub fn subscription_started(&self, operation: OperationSlot) -> SubscriptionGuard {
        self.graphql().subscriptions.add(1, &[]);
        SubscriptionGuard {
            metrics: self.clone(),
            operation,
            failed: false,
        }
    }

    /// A WebSocket connection opened; it counts as open until the guard drops.
    pub fn websocket_opened(&self) -> WebSocketGuard {
        self.graphql().websockets.add(1, &[]);
        WebSocketGuard(self.clone())
    }
}

/// Times a service's store calls: `fittrack_store_call_duration_seconds` by
/// store, backend, operation (the store trait's method) and outcome, each
/// call also a `store.<operation>` span.
#[derive(Clone)]
pub struct StoreTimings {
    duration: Histogram<f64>,
    batches: BatchSizes,
    store: &'static str,
    backend: &'static str,
}

/// Times every statement of a relational store (sea-orm's metric callback)
/// in `fittrack_store_call_duration_seconds`, its operation the statement's
/// verb (`select`, `insert`, `update`, `delete`, `other`): the user and
/// admin stores run many statements per use case, through one connection.
/// Call it before the connection is cloned (clones share the callback).
pub fn time_statements(
    metrics: &Metrics,
    db: &mut sea_orm::DatabaseConnection,
    store: &'static str,
) {
    use sea_orm::ConnectionTrait as _;
    let backend = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "postgres",
        sea_orm::DbBackend::Sqlite => "sqlite",
        sea_orm::DbBackend::MySql => "mysql",
    };
    let duration = store_call_duration(metrics);
    db.set_metric_callback(move |info| {
        let verb = info
            .statement
            .sql
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let operation = match verb.as_str() {
            "select" | "with" => "select",
            "insert" => "insert",
            "update" => "update",
            "delete" => "delete",
            _ => "other",
        };
        duration.record(
            info.elapsed.as_secs_f64(),
            &[
                KeyValue::new("store", store),
                KeyValue::new("backend", backend),
                KeyValue::new("operation", operation),
                KeyValue::new("outcome", if info.failed { "error" } else { "ok" }),
            ],
        );
    });
}

/// `fittrack_store_call_duration_seconds`, the one histogram both ways of
/// timing a store record into.
fn store_call_duration(metrics: &Metrics) -> Histogram<f64> {
    metrics
        .meter()
        .f64_histogram("fittrack.store.call.duration")
        .with_unit("s")
        .with_description("Store calls by store, backend, operation and outcome")
        .with_boundaries(SECONDS_BUCKETS.to_vec())
        .build()
}

/// Keys per batched look-up (`fittrack_dataloader_batch_keys`, by loader):
/// how well the dataloaders gather a request's keys into one query.
#[derive(Clone)]
pub struct BatchSizes(Histogram<u64>);

impl BatchSizes {
    pub fn new(metrics: &Metrics) -> Self {
        Self(
            metrics
                .meter()
                .u64_histogram("fittrack.dataloader.batch.keys")
                .with_description("Keys in one batched look-up, by loader")
                .with_boundaries(vec![
                    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0,
                ])
                .build(),
        )
    }

    pub fn record(&self, loader: &'static str, keys: usize) {
        self.0
            .record(keys as u64, &[KeyValue::new("loader", loader)]);
    }
}

impl StoreTimings {
    pub fn new(metrics: &Metrics, store: &'static str, backend: &'static str) -> Self {
        Self {
            duration: store_call_duration(metrics),
            batches: BatchSizes::new(metrics),
            store,
            backend,
        }
    }

    /// [`StoreTimings::time`] for a look-up of `keys` keys at once (what a
    /// dataloader gathered), recorded as `loader`'s batch.
    pub async fn time_batch<T>(
        &self,
        operation: &'static str,
        loader: &'static str,
        keys: usize,
        call: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        self.batches.record(loader, keys);
        self.time(operation, call).await
    }

    /// Runs `call`, the store's `operation`, timed and in its span.
    pub async fn time<T>(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        use tracing::Instrument as _;
        let span = tracing::info_span!(
            "store",
            otel.name = %format_args!("store.{operation}"),
            store = self.store,
            backend = self.backend,
        );
        let started = std::time::Instant::now();
        let result = call.instrument(span).await;
        self.duration.record(
            started.elapsed().as_secs_f64(),
            &[
                KeyValue::new("store", self.store),
                KeyValue::new("backend", self.backend),
                KeyValue::new("operation", operation),
                KeyValue::new("outcome", if result.is_ok() { "ok" } else { "error" }),
            ],
        );
        result
    }
}

/// What a queue consumer records of the jobs it handles.
#[derive(Clone)]
pub struct JobInstruments {
    jobs: Counter<u64>,
    duration: Histogram<f64>,
    in_flight: UpDownCounter<i64>,
    redeliveries: Counter<u64>,
}

/// How a job's delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    Done,
    /// Failed; it will be delivered again.
    Retry,
    /// Failed on an unreachable dependency; retried once it is back.
    Outage,
    DeadLettered,
}

impl JobOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Retry => "retry",
            Self::Outage => "outage",
            Self::DeadLettered => "dead_lettered",
        }
    }
}

impl std::fmt::Debug for JobInstruments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobInstruments")
    }
}

impl JobInstruments {
    pub fn new(metrics: &Metrics) -> Self {
        let meter = metrics.meter();
        Self {
            jobs: meter
                .u64_counter("fittrack.jobs")
                .with_description("Job deliveries handled, by queue and outcome")
                .build(),
            duration: meter
                .f64_histogram("fittrack.job.duration")
                .with_unit("s")
                .with_description("Time a handler took over one delivery")
                .with_boundaries(SECONDS_BUCKETS.to_vec())
                .build(),
            in_flight: meter
                .i64_up_down_counter("fittrack.jobs.in_flight")
                .with_description("Jobs this process is handling now")
                .build(),
            redeliveries: meter
                .u64_counter("fittrack.job.redeliveries")
                .with_description("Deliveries after the first (a failed or timed-out attempt)")
                .build(),
        }
    }

    /// A handler started on a delivery (its `deliveries`-th); in flight until
    /// the guard ends.
    pub fn started(&self, queue: &str, deliveries: u32) -> JobGuard {
        let queue = KeyValue::new("queue", queue.to_owned());
        self.in_flight.add(1, std::slice::from_ref(&queue));
        if deliveries > 1 {
            self.redeliveries.add(1, std::slice::from_ref(&queue));
        }
        JobGuard {
            instruments: self.clone(),
            queue,
            started: std::time::Instant::now(),
        }
    }
}

/// One delivery being handled.
pub struct JobGuard {
    instruments: JobInstruments,
    queue: KeyValue,
    started: std::time::Instant,
}

impl JobGuard {
    pub fn finished(self, outcome: JobOutcome) {
        let labels = [
            self.queue.clone(),
            KeyValue::new("outcome", outcome.as_str()),
        ];
        self.instruments.jobs.add(1, &labels);
        self.instruments
            .duration
            .record(self.started.elapsed().as_secs_f64(), &labels);
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        self.instruments
            .in_flight
            .add(-1, std::slice::from_ref(&self.queue));
    }
}

/// Decrements the active subscriptions when the stream ends.
pub struct SubscriptionGuard {
    metrics: Metrics,
    operation: OperationSlot,
    failed: bool,
}

impl SubscriptionGuard {
    /// An item of the stream went out.
    pub fn item(&mut self, response: &async_graphql::Response) {
        if !response.errors.is_empty() {
            self.failed = true;
            let (_, root) = self.operation.labels();
            self.metrics.graphql().errors_in(&root, response);
        }
    }
}

impl Drop for SubscriptionGuard {
    fn drop(&mut self) {
        let instruments = self.metrics.graphql();
        instruments.subscriptions.add(-1, &[]);
        let (kind, root) = self.operation.labels();
        instruments.count(kind, &root, !self.failed);
    }
}

/// Decrements the open WebSocket connections when the connection ends.
pub struct WebSocketGuard(Metrics);

impl Drop for WebSocketGuard {
    fn drop(&mut self) {
        self.0.graphql().websockets.add(-1, &[]);
    }
}

/// Which operation a request was, as metrics name it: filled in by the
/// schema's `NameOperation` extension once the document validated, so its
/// root field is one the schema has.
#[derive(Clone, Default, Debug)]
pub struct OperationSlot(Arc<OnceLock<(&'static str, String)>>);

impl OperationSlot {
    pub fn set(&self, kind: &'static str, root_field: &str) {
        let _ = self.0.set((kind, root_field.to_owned()));
    }

    /// `(operation type, root field)`, or `("unknown", "invalid")` for a
    /// request that did not parse or validate.
    pub fn labels(&self) -> (&'static str, String) {
        self.0
            .get()
            .cloned()
            .unwrap_or(("unknown", "invalid".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_renders_only_its_own_series() {
        let user = Metrics::new("user");
        let activity = Metrics::new("activity");
        let slot = OperationSlot::default();
        slot.set("query", "me");
        user.graphql().answered(
            &slot,
            Duration::from_millis(3),
            &async_graphql::Response::new(async_graphql::Value::Null),
        );
        let text = user.render();
        assert!(
            text.contains(
                r#"fittrack_graphql_requests_total{operation="me",operation_type="query",outcome="ok"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"fittrack_graphql_request_duration_seconds_bucket{operation="me",operation_type="query",le="0.005"} 1"#),
            "{text}"
        );
        assert!(!activity.render().contains("operation=\"me\""));
    }

    #[test]
    fn errors_count_by_code_and_unknown_codes_are_other() {
        let metrics = Metrics::new("user");
        let mut refused = async_graphql::ServerError::new("no", None);
        refused
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", "FORBIDDEN");
        let mut odd = async_graphql::ServerError::new("odd", None);
        odd.extensions
            .get_or_insert_with(Default::default)
            .set("code", "x".repeat(40));
        let response = async_graphql::Response::from_errors(vec![refused, odd]);
        metrics
            .graphql()
            .answered(&OperationSlot::default(), Duration::ZERO, &response);
        let text = metrics.render();
        assert!(
            text.contains(
                r#"fittrack_graphql_errors_total{code="FORBIDDEN",operation="invalid"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"fittrack_graphql_errors_total{code="OTHER",operation="invalid"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"outcome="error""#), "{text}");
    }
}
