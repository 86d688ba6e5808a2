//! One exchange's context: its request id, the connection it came on (client address,
//! pinned target, scheme), what was decided and done, and the one closing record written
//! for it whatever happened. The context is its own guard: the closing step disarms it, and
//! an exchange dropped before that (the agent hung up while its request was held or while
//! the upstream answered, or keyward closed the connection at shutdown) records itself on
//! drop, saying where it was.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{Method, StatusCode};

use crate::audit::{ApprovalRecord, Observed, WouldRecord};
use crate::control::pause::PauseWatch;
use crate::pipeline::refusal::{Misdirected, Refusal};
use crate::pipeline::usage::UsageSlot;
use crate::policy::{AgentId, Decision, SecretName};
use crate::redact::Tally;
use crate::server::activity::Activity;
use crate::target::Target;

use crate::pipeline::record::{Recorder, exchange_entry};
pub use crate::policy::Scheme;

/// A random id given to every exchange, returned to the agent and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl RequestId {
    pub fn new() -> Self {
        Self(format!("{:016x}", rand::random::<u64>()).into())
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
    pub sni_mismatch: Option<Misdirected>,
    /// Idle tracking for the client connection.
    pub activity: Arc<Activity>,
    /// The authenticated agent (carried from the CONNECT to every request in its tunnel).
    pub agent: Option<AgentId>,
    /// Fires when the agent (or every agent) is paused: the connection and its upgraded
    /// streams end.
    pub pause: PauseWatch,
}

/// What happened to an exchange, for its closing record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded upstream.
    Forwarded,
    /// Answered by keyward itself.
    Refused(Refusal),
}

/// Where an exchange is on its way to a response: what its record says when it ends before
/// one (the agent went away, or keyward stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Checks, reading the request body, deciding.
    Deciding,
    /// Held for a person's approval.
    Held,
    /// Sent upstream, waiting for the response head.
    Upstream,
}

/// The context of one request from arrival to its closing record.
pub struct Exchange {
    pub id: RequestId,
    pub conn: Arc<ConnInfo>,
    pub method: Method,
    pub path: String,
    /// Query with every value replaced (names kept), for the audit entry.
    pub query: Option<String>,
    pub(in crate::pipeline) started: Instant,
    pub(in crate::pipeline) outcome: Option<Outcome>,
    /// How far it got, for the record of an exchange that ends without a response.
    pub(in crate::pipeline) stage: Stage,
    /// Set by the closing step: the record is written, and dropping writes no other.
    closed: bool,
    /// The policy decision, once made, as its record keeps it ([`Decision::for_record`]).
    pub decision: Option<Decision>,
    /// Names of the secrets injected.
    pub credentials: Vec<SecretName>,
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
    pub agent: Option<AgentId>,
    /// The `Mcp-Session-Id` header of a request decided as MCP calls, for the audit entry.
    pub mcp_session: Option<String>,
    /// The action keyward's own MCP listener sent this request for (a verified header).
    pub action: Option<crate::actions::handoff::HandedCall>,
    /// The agent's `traceparent`, when it sent a valid one.
    pub trace: Option<super::trace_context::TraceContext>,
    /// Who approved or denied a held request, and when.
    pub approval: Option<ApprovalRecord>,
    /// Set in learn mode: the entry's mode is `learn`.
    pub learn: bool,
    /// The denial or hold learn mode let through, as the rules would have decided it.
    pub would: Option<WouldRecord>,
    /// The names the request carried, noted in learn mode only.
    pub observed: Option<Observed>,
    /// LLM token usage the response reported, filled while it streams.
    pub(in crate::pipeline) usage: UsageSlot,
    pub(in crate::pipeline) recorder: Arc<Recorder>,
}

impl Exchange {
    pub fn start(
        conn: Arc<ConnInfo>,
        method: Method,
        uri: &http::Uri,
        recorder: Arc<Recorder>,
    ) -> Self {
        let agent = conn.agent.clone();
        Self {
            id: RequestId::new(),
            conn,
            method,
            path: uri.path().to_owned(),
            query: uri.query().map(redact_query),
            started: Instant::now(),
            outcome: None,
            stage: Stage::Deciding,
            closed: false,
            decision: None,
            credentials: Vec::new(),
            exfiltration: false,
            status: None,
            bytes_in: 0,
            bytes_out: 0,
            redactions: Tally::default(),
            upstream_ms: None,
            mcp_session: None,
            action: None,
            trace: None,
            agent,
            approval: None,
            learn: false,
            would: None,
            observed: None,
            usage: UsageSlot::default(),
            recorder,
        }
    }

    pub fn set_outcome(&mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
    }

    /// Marks how far the exchange got (held for approval, waiting for the upstream).
    pub fn enter(&mut self, stage: Stage) {
        self.stage = stage;
    }

    /// The closing step: exactly one record (audit entry, log line, metrics) per exchange.
    pub fn finish(mut self) {
        self.close();
    }

    /// Writes the record unless it is written already.
    fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let entry = exchange_entry(self);
        self.recorder.write(entry);
    }
}

impl Drop for Exchange {
    /// The guard: an exchange that never reached its closing step records how it ended.
    fn drop(&mut self) {
        self.close();
    }
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
mod tests;
