//! Environment variables for the parts of `router.yaml` that hive-router's
//! `from_env` cannot set.
//!
//! `from_env` always yields a string, and inside
//! `telemetry.metrics.exporters` (an internally tagged enum, which serde
//! buffers untyped) a string is refused where a number or a boolean is due.
//! So [`effective_config`] puts `FITTRACK_ROUTER_METRICS_PORT` and
//! `FITTRACK_ROUTER_METRICS` into the Prometheus exporter itself, and adds
//! an OTLP trace exporter when the standard `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, in a copy of the
//! config that hive-router then reads.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

/// The port of the router's Prometheus metrics.
pub const METRICS_PORT_VAR: &str = "FITTRACK_ROUTER_METRICS_PORT";
/// `false` turns the router's Prometheus metrics off.
pub const METRICS_VAR: &str = "FITTRACK_ROUTER_METRICS";

/// A config to run with instead of `original`, when the environment changes
/// it: written into `dir`, with every relative `path:` made absolute
/// against `original`'s directory (hive-router resolves them against the
/// config file's). `None`: nothing to change, run `original`.
pub fn effective_config(original: &Path, dir: &Path) -> Result<Option<PathBuf>, String> {
    let port = std::env::var(METRICS_PORT_VAR).ok();
    let enabled = std::env::var(METRICS_VAR).ok();
    let traces = fittrack_kit::telemetry::traces_endpoint();
    if port.is_none() && enabled.is_none() && traces.is_none() {
        return Ok(None);
    }
    let port = port
        .map(|port| {
            port.trim()
                .parse::<u16>()
                .ok()
                .filter(|port| *port > 0)
                .ok_or_else(|| format!("{METRICS_PORT_VAR}={port:?} is not a port (1–65535)"))
        })
        .transpose()?;
    let enabled = enabled
        .map(|value| match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(format!("{METRICS_VAR}={value:?} is not true or false")),
        })
        .transpose()?;
    let text = std::fs::read_to_string(original)
        .map_err(|e| format!("reading {}: {e}", original.display()))?;
    let mut config: Value =
        serde_yaml::from_str(&text).map_err(|e| format!("parsing {}: {e}", original.display()))?;
    if let Some(endpoint) = traces {
        add_trace_exporter(&mut config, &endpoint)?;
    }
    let exporters = config
        .get_mut("telemetry")
        .and_then(|t| t.get_mut("metrics"))
        .and_then(|m| m.get_mut("exporters"))
        .and_then(Value::as_sequence_mut)
        .ok_or_else(|| format!("{} has no telemetry.metrics.exporters", original.display()))?;
    let prometheus = exporters
        .iter_mut()
        .find(|exporter| exporter.get("kind").and_then(Value::as_str) == Some("prometheus"))
        .and_then(Value::as_mapping_mut)
        .ok_or_else(|| format!("{} has no Prometheus exporter", original.display()))?;
    if let Some(port) = port {
        prometheus.insert("port".into(), Value::from(port));
    }
    if let Some(enabled) = enabled {
        prometheus.insert("enabled".into(), Value::from(enabled));
    }
    let base = original
        .canonicalize()
        .map_err(|e| format!("{}: {e}", original.display()))?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    absolutize_paths(&mut config, &base);
    let effective = dir.join("router.yaml");
    let text = serde_yaml::to_string(&config).map_err(|e| e.to_string())?;
    std::fs::write(&effective, text).map_err(|e| format!("{}: {e}", effective.display()))?;
    Ok(Some(effective))
}

/// `telemetry.tracing`: an OTLP/HTTP exporter to `endpoint`, with W3C trace
/// context propagated to the subgraphs (hive-router's default, said here).
fn add_trace_exporter(config: &mut Value, endpoint: &str) -> Result<(), String> {
    let root = config
        .as_mapping_mut()
        .ok_or("the router config is not a mapping")?;
    let telemetry = root
        .entry("telemetry".into())
        .or_insert_with(|| Value::Mapping(Default::default()));
    let tracing = telemetry
        .as_mapping_mut()
        .ok_or("telemetry is not a mapping")?
        .entry("tracing".into())
        .or_insert_with(|| Value::Mapping(Default::default()))
        .as_mapping_mut()
        .ok_or("telemetry.tracing is not a mapping")?;
    let exporter: Value = serde_yaml::from_str(&format!(
        "{{kind: otlp, enabled: true, protocol: http, endpoint: {:?}}}",
        endpoint
    ))
    .map_err(|e| e.to_string())?;
    let exporters = tracing
        .entry("exporters".into())
        .or_insert_with(|| Value::Sequence(Vec::new()))
        .as_sequence_mut()
        .ok_or("telemetry.tracing.exporters is not a list")?;
    exporters.retain(|existing| existing.get("kind").and_then(Value::as_str) != Some("otlp"));
    exporters.push(exporter);
    tracing.insert(
        "propagation".into(),
        serde_yaml::from_str("{trace_context: true}").map_err(|e| e.to_string())?,
    );
    Ok(())
}

/// Every `path:` holding a relative file path (`./…`, `../…`) becomes
/// absolute against `base`; URL paths (`/graphql`) stay.
fn absolutize_paths(value: &mut Value, base: &Path) {
    match value {
        Value::Mapping(mapping) => {
            for (key, value) in mapping.iter_mut() {
                match value {
                    Value::String(path)
                        if key.as_str() == Some("path") && path.starts_with('.') =>
                    {
                        *path = base.join(&*path).display().to_string();
                    }
                    _ => absolutize_paths(value, base),
                }
            }
        }
        Value::Sequence(items) => items
            .iter_mut()
            .for_each(|item| absolutize_paths(item, base)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_become_absolute_and_url_paths_stay() {
        let mut config: Value = serde_yaml::from_str(
            "supergraph: { path: ../schema/s.graphql }\n\
             persisted_documents: { storage: { path: ./docs.json } }\n\
             subscriptions: { websocket: { all: { path: /graphql } } }\n",
        )
        .expect("yaml");
        absolutize_paths(&mut config, Path::new("/srv/router"));
        assert_eq!(
            config["supergraph"]["path"],
            "/srv/router/../schema/s.graphql"
        );
        assert_eq!(
            config["persisted_documents"]["storage"]["path"],
            "/srv/router/./docs.json"
        );
        assert_eq!(
            config["subscriptions"]["websocket"]["all"]["path"],
            "/graphql"
        );
    }
}
