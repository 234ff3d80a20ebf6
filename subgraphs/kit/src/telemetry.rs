//! Logs and traces.
//!
//! - Logs: human-readable by default, JSON with `FITTRACK_LOG_FORMAT=json`
//!   (or `LOG_FORMAT=json`, the router's variable), filtered by `RUST_LOG`
//!   (default `info`). A request's lines carry its span's fields: the
//!   request id and the trace id.
//! - Traces: when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//!   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, every `tracing` span is
//!   also an OpenTelemetry span, exported over OTLP/HTTP in batches; W3C
//!   trace context (`traceparent`) is read from requests and written into
//!   queue jobs ([`inject`], [`extract`]), so one trace follows a workout
//!   from the router to the recommendation pushed to the client.
//!   `OTEL_SERVICE_NAME` names the process (default: `fittrack`).

use std::{collections::HashMap, sync::OnceLock};

use opentelemetry::{propagation::TextMapCompositePropagator, trace::TracerProvider as _};
use opentelemetry_sdk::{
    propagation::TraceContextPropagator,
    trace::{span_processor_with_async_runtime::BatchSpanProcessor, SdkTracerProvider},
    Resource,
};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn,tower_http=info";

/// The exporting tracer provider, kept for [`shutdown`].
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Installs the global subscriber once; later calls (tests, several services in one
/// process) are no-ops. Exports traces when the standard OTLP variables say where.
pub fn init() {
    init_with(traces_endpoint().as_deref());
}

/// Where traces go (the OTLP/HTTP traces URL), from the standard variables:
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is, or
/// `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/traces`; empty is unset. The
/// router reads the same (`fittrack_router::config_env`).
pub fn traces_endpoint() -> Option<String> {
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| {
        set("OTEL_EXPORTER_OTLP_ENDPOINT")
            .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
    })
}

/// [`init`] with the OTLP/HTTP traces endpoint given (`…/v1/traces`), or no
/// export with `None`.
pub fn init_with(traces_endpoint: Option<&str>) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let json = ["FITTRACK_LOG_FORMAT", "LOG_FORMAT"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| v.eq_ignore_ascii_case("json")));
    let tracer = traces_endpoint.and_then(|endpoint| match exporting_provider(endpoint) {
        Ok(provider) => {
            let tracer = provider.tracer("fittrack");
            opentelemetry::global::set_tracer_provider(provider.clone());
            let _ = PROVIDER.set(provider);
            Some(tracer)
        }
        Err(error) => {
            eprintln!("traces are not exported: {error}");
            None
        }
    });
    opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
    ]));
    let traces = tracer.map(|tracer| tracing_opentelemetry::layer().with_tracer(tracer));
    let registry = tracing_subscriber::registry().with(filter).with(traces);
    let result = if json {
        registry
            .with(fmt::layer().json().with_current_span(true))
            .try_init()
    } else {
        registry.with(fmt::layer().with_target(false)).try_init()
    };
    // Already installed: keep the first one.
    drop(result);
}

fn exporting_provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    use opentelemetry_otlp::WithExportConfig as _;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .build()?;
    // Batches are sent from a runtime of their own, so exporting never
    // waits on (or for) the service's.
    let processor =
        BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::TokioCurrentThread)
            .build();
    let resource = if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        Resource::builder().build()
    } else {
        Resource::builder().with_service_name("fittrack").build()
    };
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource)
        .build())
}

/// Sends the spans still buffered (on a clean stop).
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.force_flush();
    }
}

/// The W3C trace context of the current span, to carry in a queue job or a
/// bus message (`{"traceparent": "00-…"}`); empty when nothing is traced.
pub fn inject() -> HashMap<String, String> {
    let context = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut carrier);
    });
    carrier
}

/// Makes `span` a child of the trace context carried in `carrier` (a
/// request's headers, a job's `traceContext`), and records its trace id as
/// the span's `trace_id` field for the logs.
pub fn continue_trace<'a>(
    span: &tracing::Span,
    carrier: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    let carrier: HashMap<String, String> = carrier
        .into_iter()
        .map(|(key, value)| (key.to_ascii_lowercase(), value.to_owned()))
        .collect();
    if carrier.contains_key("traceparent") {
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&carrier)
        });
        let _ = span.set_parent(parent);
    }
    record_trace_id(span);
}

/// Puts the span's trace id in its `trace_id` field (declared empty), so log
/// lines inside it name the trace.
pub fn record_trace_id(span: &tracing::Span) {
    use opentelemetry::trace::TraceContextExt as _;
    let context = span.context();
    let trace_id = context.span().span_context().trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

/// `payload` (a JSON object) with the current trace context in a
/// `traceContext` field, so that whoever handles the job continues the
/// trace ([`trace_context_of`]); unchanged when nothing is traced or the
/// payload is not an object. Consumers ignore fields they do not know.
pub fn with_trace_context(payload: String) -> String {
    let context = inject();
    if context.is_empty() {
        return payload;
    }
    match serde_json::from_str::<serde_json::Value>(&payload) {
        Ok(serde_json::Value::Object(mut object)) => {
            object.insert("traceContext".into(), serde_json::json!(context));
            serde_json::Value::Object(object).to_string()
        }
        _ => payload,
    }
}

/// The `traceContext` a job's payload carries (empty without one).
pub fn trace_context_of(payload: &str) -> HashMap<String, String> {
    #[derive(serde::Deserialize)]
    struct Carrier {
        #[serde(rename = "traceContext", default)]
        trace_context: HashMap<String, String>,
    }
    serde_json::from_str::<Carrier>(payload)
        .map(|carrier| carrier.trace_context)
        .unwrap_or_default()
}

/// Links `span` to the span whose context `carrier` holds (work that
/// follows from it in another trace: a subscriber receiving what a worker
/// published).
pub fn link_to(span: &tracing::Span, carrier: &HashMap<String, String>) {
    use opentelemetry::trace::TraceContextExt as _;
    if !carrier.contains_key("traceparent") {
        return;
    }
    let context =
        opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(carrier));
    let linked = context.span().span_context().clone();
    if linked.is_valid() {
        span.add_link(linked);
    }
}
