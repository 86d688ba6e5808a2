//! One exchange's context: its request id, the connection it came on (client address,
//! pinned target, scheme), what was decided, and the one closing record written for it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{Method, StatusCode};

use crate::activity::Activity;
use crate::refusal::Refusal;
use crate::target::Target;

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

/// How the agent reached the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Absolute-form `http://` through the proxy.
    Http,
    /// Decrypted from a CONNECT tunnel.
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
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
}

/// What happened to an exchange, for its closing record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded upstream, with the rule that allowed it.
    Forwarded { rule: Option<String> },
    /// Answered by keyward itself.
    Refused(Refusal),
}

/// The context of one request from arrival to its closing record.
#[derive(Debug)]
pub struct Exchange {
    pub id: RequestId,
    pub conn: Arc<ConnInfo>,
    pub method: Method,
    pub path: String,
    started: Instant,
    outcome: Option<Outcome>,
}

impl Exchange {
    pub fn start(conn: Arc<ConnInfo>, method: Method, path: &str) -> Self {
        Self {
            id: RequestId::new(),
            conn,
            method,
            path: path.to_owned(),
            started: Instant::now(),
            outcome: None,
        }
    }

    pub fn set_outcome(&mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
    }

    /// The closing step: exactly one record per exchange, whatever happened.
    pub fn finish(self, status: StatusCode) {
        let elapsed_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let (decision, rule, reason) = match &self.outcome {
            Some(Outcome::Forwarded { rule }) => ("allow", rule.as_deref(), ""),
            Some(Outcome::Refused(r)) => (r.parts().2, r.rule(), r.reason()),
            None => ("error", None, "no outcome recorded"),
        };
        tracing::info!(
            target: "keyward::exchange",
            request_id = self.id.as_str(),
            client = %self.conn.client,
            method = %self.method,
            scheme = self.conn.scheme.as_str(),
            host = %self.conn.target.host,
            port = self.conn.target.port,
            path = %self.path,
            decision,
            rule = rule.unwrap_or(""),
            reason,
            status = status.as_u16(),
            elapsed_ms,
            "exchange"
        );
    }
}
