//! The entries as OpenTelemetry log records over OTLP/HTTP (protobuf), through the
//! opentelemetry crates: one record per entry, timed by the entry, with the agent's trace
//! context when it sent a `traceparent`, and HTTP semantic-convention attributes
//! (`http.request.method`, `url.full`, `server.address`, `http.response.status_code`, …)
//! beside keyward's own (`keyward.decision`, `keyward.rule`, …). The SDK's batch processor
//! sends them from a thread of its own; the writer only hands each record over.

use std::time::{Duration, SystemTime};

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{SpanId, TraceFlags, TraceId};
use opentelemetry_otlp::{LogExporter, Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{SdkLogger, SdkLoggerProvider};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::audit::{AuditEntry, Decision};

/// How long shutdown waits for the last records to be sent.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);
/// How long one export request may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// `audit.otlp:` once read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpConfig {
    /// The collector's OTLP/HTTP base URL (`http://collector:4318`); `/v1/logs` is
    /// appended when it has no path.
    pub endpoint: String,
}

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// The endpoint is not an `http://` or `https://` URL.
    #[error("audit.otlp.endpoint {0:?} is not an http:// or https:// URL")]
    BadEndpoint(String),
    /// The exporter could not be built.
    #[error("cannot start the OTLP exporter: {0}")]
    Build(String),
}

/// The running exporter.
#[derive(Debug)]
pub struct OtlpExport {
    provider: SdkLoggerProvider,
    logger: SdkLogger,
}

impl OtlpExport {
    /// Starts the exporter for `config`, the records named by `replica`.
    pub fn start(config: &OtlpConfig, replica: &str) -> Result<Self, OtlpError> {
        let endpoint = logs_url(&config.endpoint)?;
        let exporter = LogExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| OtlpError::Build(e.to_string()))?;
        let resource = Resource::builder()
            .with_service_name("keyward")
            .with_attribute(opentelemetry::KeyValue::new(
                "service.instance.id",
                replica.to_owned(),
            ))
            .build();
        let provider = SdkLoggerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let logger = provider.logger("keyward.audit");
        Ok(OtlpExport { provider, logger })
    }

    /// Hands the record of a sealed entry to the batch processor.
    pub fn emit(&self, e: &AuditEntry) {
        let mut r = self.logger.create_log_record();
        r.set_event_name("keyward.audit");
        if let Ok(t) = OffsetDateTime::parse(&e.time, &Rfc3339) {
            r.set_timestamp(SystemTime::from(t));
        }
        r.set_observed_timestamp(SystemTime::now());
        let (number, text) = match e.decision {
            Decision::Allow | Decision::Approve => (Severity::Info, "INFO"),
            Decision::Deny | Decision::RateLimited => (Severity::Warn, "WARN"),
            Decision::Error => (Severity::Error, "ERROR"),
        };
        r.set_severity_number(number);
        r.set_severity_text(text);
        let url = url_full(e);
        r.set_body(AnyValue::from(format!("{} {} {url}", e.decision, e.method)));
        if let (Some(trace), Some(span)) = (&e.trace_id, &e.span_id)
            && let (Ok(trace), Ok(span)) = (TraceId::from_hex(trace), SpanId::from_hex(span))
        {
            r.set_trace_context(trace, span, Some(TraceFlags::SAMPLED));
        }
        r.add_attribute("http.request.method", e.method.clone());
        r.add_attribute("url.full", url);
        r.add_attribute("url.scheme", e.scheme.clone());
        r.add_attribute("url.path", e.path.clone());
        if let Some(q) = &e.query {
            r.add_attribute("url.query", q.clone());
        }
        r.add_attribute("server.address", e.host.clone());
        r.add_attribute("server.port", i64::from(e.port));
        if let Ok(client) = e.client.parse::<std::net::SocketAddr>() {
            r.add_attribute("client.address", client.ip().to_string());
            r.add_attribute("client.port", i64::from(client.port()));
        }
        if let Some(status) = e.status {
            r.add_attribute("http.response.status_code", i64::from(status));
        }
        r.add_attribute("http.request.body.size", to_i64(e.bytes_in));
        r.add_attribute("http.response.body.size", to_i64(e.bytes_out));
        r.add_attribute("keyward.request_id", e.request_id.clone());
        r.add_attribute("keyward.decision", e.decision.as_str());
        r.add_attribute("keyward.duration_ms", e.duration_ms);
        let optional = [
            ("keyward.agent", e.agent.as_ref().map(ToString::to_string)),
            ("keyward.rule", e.rule.as_ref().map(ToString::to_string)),
            ("keyward.reason", e.reason.clone()),
            ("keyward.action", e.action.clone()),
            ("keyward.replica", e.replica.clone()),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                r.add_attribute(key, v);
            }
        }
        if let Some(seq) = e.seq {
            r.add_attribute("keyward.seq", to_i64(seq));
        }
        r.add_attribute("keyward.hash", e.hash.clone());
        self.logger.emit(r);
    }

    /// Sends what is queued and stops (blocking, bounded by [`SHUTDOWN_WAIT`]).
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown_with_timeout(SHUTDOWN_WAIT) {
            tracing::warn!(error = %e, "OTLP audit export did not finish cleanly");
        }
    }
}

/// The collector's logs URL: `endpoint` itself when it has a path, else `/v1/logs` on it.
fn logs_url(endpoint: &str) -> Result<String, OtlpError> {
    let rest = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .filter(|r| !r.is_empty())
        .ok_or_else(|| OtlpError::BadEndpoint(endpoint.to_owned()))?;
    match rest.find('/') {
        Some(i) if rest.len() > i + 1 => Ok(endpoint.to_owned()),
        _ => Ok(format!("{}/v1/logs", endpoint.trim_end_matches('/'))),
    }
}

fn url_full(e: &AuditEntry) -> String {
    let mut url = format!("{}://{}:{}{}", e.scheme, e.host, e.port, e.path);
    if let Some(q) = &e.query {
        url.push('?');
        url.push_str(q);
    }
    url
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logs_path_is_added_to_a_bare_endpoint() {
        assert_eq!(logs_url("http://c:4318").unwrap(), "http://c:4318/v1/logs");
        assert_eq!(logs_url("http://c:4318/").unwrap(), "http://c:4318/v1/logs");
        assert_eq!(
            logs_url("http://c:4318/custom").unwrap(),
            "http://c:4318/custom"
        );
        assert!(logs_url("grpc://c:4317").is_err());
    }
}
