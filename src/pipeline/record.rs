//! The one writer of every record: an exchange's closing entry (built from its context when
//! it finishes or is dropped) and the entry of a refusal outside any exchange (a probe on the
//! proxy port, a malformed head, a tunnel closed before TLS) both go through
//! [`Recorder::write`], which logs the line, counts the metrics and queues the audit entry.
//! A query to the jail's DNS is recorded the same way (its entry built by [`dns_entry`]).

pub mod closing_body;
mod entry;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::audit::{AuditEntry, AuditHandle, Decision as AuditDecision, Mode as AuditMode};
use crate::metrics::Metrics;
use crate::pipeline::exchange::{ConnInfo, RequestId, Scheme};
use crate::policy::{AgentId, RuleId};
use crate::target::Target;

pub(crate) use entry::build as exchange_entry;
pub(crate) use entry::refused as refused_entry;
pub(crate) use entry::verdict_decision;
pub use entry::{dns as dns_entry, refusal_decision};

/// The log line of one record, at `$level`.
macro_rules! exchange_line {
    ($level:expr, $entry:expr) => {
        tracing::event!(
            target: "keyward::exchange",
            $level,
            request_id = %$entry.request_id,
            client = %$entry.client,
            agent = $entry.agent.as_ref().map_or("", AgentId::as_str),
            method = %$entry.method,
            scheme = %$entry.scheme,
            host = %$entry.host,
            port = $entry.port,
            path = %$entry.path,
            decision = $entry.decision.as_str(),
            rule = $entry.rule.as_ref().map(RuleId::as_str).unwrap_or(""),
            reason = $entry.reason.as_deref().unwrap_or(""),
            status = $entry.status.unwrap_or(0),
            bytes_out = $entry.bytes_out,
            elapsed_ms = $entry.duration_ms,
            "exchange"
        )
    };
}

/// Where a refusal outside any exchange happened.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// The agent's socket address.
    pub client: SocketAddr,
    /// The tunnel's target; `None` on the proxy port (no target known yet).
    pub target: Option<&'a Target>,
    /// Inside a tunnel (`Https`) or on the proxy port (`Http`).
    pub scheme: Scheme,
    /// The agent, when the CONNECT carried its credentials.
    pub agent: Option<&'a AgentId>,
}

impl<'a> Place<'a> {
    /// Inside the connection of an exchange (a bridged upgrade, a streamed answer).
    pub fn of(conn: &'a ConnInfo) -> Self {
        Place {
            client: conn.client,
            target: Some(&conn.target),
            scheme: conn.scheme,
            agent: conn.agent.as_ref(),
        }
    }
}

/// A refusal outside any exchange, as its entry records it.
#[derive(Debug)]
pub struct Refused<'a> {
    pub place: Place<'a>,
    /// The request's method, or `-` when no request could be parsed.
    pub method: &'a str,
    /// The request's path, or empty when none is known.
    pub path: &'a str,
    pub decision: AuditDecision,
    pub reason: String,
    /// What keyward answered; `None` when no answer was possible.
    pub status: Option<u16>,
}

/// A query to the jail's DNS, as its entry records it.
#[derive(Debug)]
pub struct DnsQuery<'a> {
    /// The socket inside the jail the query came from.
    pub client: SocketAddr,
    /// The agent the jail runs, when one is named.
    pub agent: Option<&'a AgentId>,
    /// The query type (`A`, `TXT`, ...), or `-` when the query could not be read.
    pub qtype: &'a str,
    /// The queried name in its ASCII form, or `-` when the query could not be read.
    pub name: &'a str,
    /// `allow` when the name was answered with keyward's address, `deny` otherwise.
    pub decision: AuditDecision,
    /// Why, ending with the response code sent (`NXDOMAIN`, `FORMERR`, ...).
    pub reason: String,
    /// Time from the query's arrival to its reply, in milliseconds.
    pub duration_ms: f64,
}

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

    /// The audit trail, when it is on.
    pub fn audit(&self) -> Option<&AuditHandle> {
        self.audit.as_ref()
    }

    /// False while the audit log cannot be written: new requests are refused.
    pub fn audit_healthy(&self) -> bool {
        self.audit.as_ref().is_none_or(AuditHandle::is_healthy)
    }

    /// True while the audit writer is behind: new requests wait for it to catch up.
    pub fn audit_backlogged(&self) -> bool {
        self.audit.as_ref().is_some_and(AuditHandle::is_backlogged)
    }

    /// Records a refusal outside any exchange under `id` (the id the agent was given, when
    /// keyward could answer).
    pub fn refused(&self, refused: Refused<'_>, id: &RequestId) {
        self.write(entry::refused(refused, id));
    }

    /// Records one finished exchange or refusal: a log line, the metrics, the audit entry.
    /// The line is `info` unless the audit trail records a forwarded exchange already
    /// (`debug` then): every refusal stays visible in the log.
    pub fn write(&self, entry: AuditEntry) {
        let forwarded = matches!(
            entry.decision,
            AuditDecision::Allow | AuditDecision::Approve
        );
        if self.audit.is_some() && forwarded {
            exchange_line!(tracing::Level::DEBUG, entry);
        } else {
            exchange_line!(tracing::Level::INFO, entry);
        }
        self.metrics.exchange(
            entry.decision,
            entry.rule.as_ref(),
            entry.agent.as_ref(),
            entry.duration_ms / 1000.0,
        );
        if entry.mode == AuditMode::Learn
            && let Some(would) = &entry.would
        {
            self.metrics.learn_let_through(would.decision);
        }
        if entry.tokens_in.is_some() || entry.tokens_out.is_some() {
            self.metrics.tokens(
                entry.rule.as_ref(),
                entry.agent.as_ref(),
                entry.tokens_in.unwrap_or(0),
                entry.tokens_out.unwrap_or(0),
            );
        }
        if let Some(audit) = &self.audit {
            audit.record_detached(entry);
        }
    }
}
