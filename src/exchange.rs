//! One exchange's context: its request id, the connection it came on (client address,
//! pinned target, scheme), what was decided and done, and the one closing audit entry
//! written for it whatever happened — when its response body ends or is dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{Method, StatusCode};

use crate::activity::Activity;
use crate::audit::{
    ApprovalRecord, AuditEntry, AuditHandle, Decision as AuditDecision, Mode as AuditMode,
};
use crate::metrics::Metrics;
use crate::policy::{AgentId, Decision, Mode};
use crate::redact::Tally;
use crate::refusal::Refusal;
use crate::target::Target;

pub use crate::policy::Scheme;

/// A random id given to every exchange, returned to the agent and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub fn new() -> Self {
        Self(format!("{:016x}", rand::random::<u64>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

/// What every exchange on one client connection (or tunnel) shares.
#[derive(Debug)]
pub struct ConnInfo {
    /// The agent's socket address.
    pub client: SocketAddr,
    /// The host and port every request on this connection is pinned to.
    pub target: Target,
    pub scheme: Scheme,
    /// Set when the TLS SNI named another host than the CONNECT: every request is refused.
    pub sni_mismatch: Option<String>,
    /// Idle tracking for the client connection.
    pub activity: Arc<Activity>,
    /// The authenticated agent (carried from the CONNECT to every request in its tunnel).
    pub agent: Option<AgentId>,
}

/// Where finished exchanges are recorded: the audit log and the metrics.
#[derive(Clone)]
pub struct Recorder {
    pub audit: Option<AuditHandle>,
    pub metrics: Arc<Metrics>,
}

/// What happened to an exchange, for its closing record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded upstream.
    Forwarded,
    /// Answered by keyward itself.
    Refused(Refusal),
}

/// The context of one request from arrival to its closing record.
pub struct Exchange {
    pub id: RequestId,
    pub conn: Arc<ConnInfo>,
    pub method: Method,
    pub path: String,
    /// Query with every value replaced (names kept), for the audit entry.
    pub query: Option<String>,
    started: Instant,
    outcome: Option<Outcome>,
    /// The policy decision, once made.
    pub decision: Option<Decision>,
    /// Names of the secrets injected.
    pub credentials: Vec<String>,
    /// Set when the exfiltration guard refused the request.
    pub exfiltration: bool,
    pub status: Option<StatusCode>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Redaction counts, filled while the response streams.
    pub redactions: Tally,
    /// Time spent waiting for the upstream's response head.
    pub upstream_ms: Option<f64>,
    /// The agent, when agents authenticate.
    pub agent: Option<String>,
    /// Who approved or denied a held request, and when.
    pub approval: Option<ApprovalRecord>,
    recorder: Recorder,
}

impl Exchange {
    pub fn start(conn: Arc<ConnInfo>, method: Method, uri: &http::Uri, recorder: Recorder) -> Self {
        let agent = conn_agent(&conn);
        Self {
            id: RequestId::new(),
            conn,
            method,
            path: uri.path().to_owned(),
            query: uri.query().map(redact_query),
            started: Instant::now(),
            outcome: None,
            decision: None,
            credentials: Vec::new(),
            exfiltration: false,
            status: None,
            bytes_in: 0,
            bytes_out: 0,
            redactions: Tally::default(),
            upstream_ms: None,
            agent,
            approval: None,
            recorder,
        }
    }

    pub fn set_outcome(&mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
    }

    /// The closing step: exactly one audit entry (and one log line) per exchange.
    pub fn finish(self) {
        let entry = self.entry();
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
            rule = entry.rule.as_deref().unwrap_or(""),
            reason = entry.reason.as_deref().unwrap_or(""),
            status = entry.status.unwrap_or(0),
            bytes_out = entry.bytes_out,
            elapsed_ms = entry.duration_ms,
            "exchange"
        );
        self.recorder.metrics.exchange(
            entry.decision.as_str(),
            entry.rule.as_deref(),
            entry.agent.as_deref(),
            entry.duration_ms / 1000.0,
        );
        if let Some(audit) = self.recorder.audit {
            audit.record_detached(entry);
        }
    }

    fn entry(&self) -> AuditEntry {
        let target = &self.conn.target;
        let mut e = AuditEntry::new(
            self.id.as_str(),
            self.conn.client.to_string(),
            self.method.as_str(),
            self.conn.scheme.as_str(),
            target.host.to_string(),
            target.port,
            self.path.clone(),
        );
        e.query = self.query.clone();
        e.agent = self.agent.clone();
        if let Some(d) = &self.decision {
            e.rule = d.rule.as_ref().map(|r| r.to_string());
            e.failed_condition = d.failed_condition.clone();
            if d.mode == Mode::Shadow {
                e.mode = AuditMode::Shadow;
            }
        }
        match &self.outcome {
            Some(Outcome::Forwarded) => {
                e.decision = match &self.approval {
                    Some(_) => AuditDecision::Approve,
                    None => AuditDecision::Allow,
                };
                e.reason = self
                    .decision
                    .as_ref()
                    .map(|d| d.reason.clone())
                    .filter(|r| !r.is_empty());
            }
            Some(Outcome::Refused(r)) => {
                e.decision = match r.parts().2 {
                    "deny" => AuditDecision::Deny,
                    "rate_limited" => AuditDecision::RateLimited,
                    _ => AuditDecision::Error,
                };
                if r.rule().is_some() {
                    e.rule = r.rule().map(str::to_owned);
                }
                e.reason = Some(r.reason().to_owned());
            }
            None => {
                e.decision = AuditDecision::Error;
                e.reason = Some("exchange ended before a response (client went away)".into());
            }
        }
        if self.exfiltration {
            e.reason = e.reason.map(|r| format!("exfiltration attempt: {r}"));
        }
        e.credentials = self.credentials.clone();
        e.approval = self.approval.clone();
        e.status = self.status.map(|s| s.as_u16());
        e.bytes_in = self.bytes_in;
        e.bytes_out = self.bytes_out;
        if let Ok(t) = self.redactions.lock() {
            for (kind, n) in [
                ("raw", t.raw),
                ("url_encoded", t.url_encoded),
                ("json_escaped", t.json_escaped),
                ("base64", t.base64),
                ("rule", t.patterns),
            ] {
                if n > 0 {
                    e.redactions.insert(kind.to_owned(), n);
                }
            }
        }
        e.duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        e.upstream_ms = self.upstream_ms;
        e
    }
}

fn conn_agent(conn: &ConnInfo) -> Option<String> {
    conn.agent.as_ref().map(|a| a.to_string())
}

/// `a=1&b=2` → `a=[redacted]&b=[redacted]`: names are kept, values never logged.
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{name}=[redacted]"),
            None => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_redacted_names_kept() {
        assert_eq!(
            redact_query("token=abc&flag&x="),
            "token=[redacted]&flag&x=[redacted]"
        );
    }
}
