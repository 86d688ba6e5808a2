//! The one writer of every record: an exchange's closing entry and the entries of refusals
//! outside any exchange all go through [`Recorder::write`], which logs the line, counts the
//! metrics and queues the audit entry.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::audit::{AuditEntry, AuditHandle};
use crate::metrics::Metrics;
use crate::policy::RuleId;

/// Where finished exchanges and connection-level refusals are recorded.
pub struct Recorder {
    /// The audit trail; `None` when the audit log is off (log lines and metrics only).
    audit: Option<AuditHandle>,
    /// Requests by decision, rule and agent, and their duration.
    metrics: Arc<Metrics>,
    /// Cancelled when the shutdown grace period is over and open connections are closed:
    /// an exchange ended then was stopped by keyward, not abandoned by its client.
    stopped: CancellationToken,
}

impl Recorder {
    pub fn new(
        audit: Option<AuditHandle>,
        metrics: Arc<Metrics>,
        stopped: CancellationToken,
    ) -> Self {
        Self {
            audit,
            metrics,
            stopped,
        }
    }

    /// True once keyward closes the connections still open after the grace period.
    pub fn is_stopped(&self) -> bool {
        self.stopped.is_cancelled()
    }

    /// Records one finished exchange or refusal: a log line, the metrics, the audit entry.
    pub fn write(&self, entry: AuditEntry) {
        tracing::info!(
            target: "keyward::exchange",
            request_id = %entry.request_id,
            client = %entry.client,
            agent = entry.agent.as_deref().unwrap_or(""),
            method = %entry.method,
            scheme = %entry.scheme,
            host = %entry.host,
            port = entry.port,
            path = %entry.path,
            decision = entry.decision.as_str(),
            rule = entry.rule.as_ref().map(RuleId::as_str).unwrap_or(""),
            reason = entry.reason.as_deref().unwrap_or(""),
            status = entry.status.unwrap_or(0),
            bytes_out = entry.bytes_out,
            elapsed_ms = entry.duration_ms,
            "exchange"
        );
        self.metrics.exchange(
            entry.decision.as_str(),
            entry.rule.as_ref().map(RuleId::as_str),
            entry.agent.as_deref(),
            entry.duration_ms / 1000.0,
        );
        if let Some(audit) = &self.audit {
            audit.record_detached(entry);
        }
    }
}
