//! Refusals that belong to no exchange: a request head hyper could not parse (it answered
//! 400 or 431 itself and closed), an HTTP/2 peer keyward sent a protocol GOAWAY, a tunnel
//! closed before its TLS handshake, a 407 or 400 on the proxy port. Each gets an audit
//! entry, a log line and its metrics through the same [`Recorder`](crate::exchange::Recorder)
//! as an exchange, so a probe that never became a request still leaves a trace.

use std::error::Error as StdError;
use std::net::SocketAddr;

use crate::audit::{AuditEntry, Decision as AuditDecision};
use crate::exchange::{RequestId, Scheme, refusal_decision};
use crate::policy::AgentId;
use crate::proxy::Shared;
use crate::refusal::Refusal;
use crate::target::Target;

/// Where a connection-level refusal happened.
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

/// What the peer did wrong and what keyward answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// Why, for the entry and the log.
    pub reason: String,
    /// The status hyper answered with (400, 431); `None` when no response was possible
    /// (HTTP/2 GOAWAY, a tunnel closed before TLS).
    pub status: Option<u16>,
}

/// Classifies how a served connection ended: `Some` when the peer sent something malformed
/// (a parse error, an HTTP/2 protocol violation keyward's side detected), `None` for an
/// ordinary end (closed, reset, timed out).
pub fn malformed(err: &(dyn StdError + 'static)) -> Option<Malformed> {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && (h.is_parse() || h.is_parse_too_large())
        {
            return Some(Malformed {
                reason: format!("malformed request: {h}"),
                status: Some(if h.is_parse_too_large() { 431 } else { 400 }),
            });
        }
        if let Some(h2) = e.downcast_ref::<h2::Error>()
            && h2.is_go_away()
            && h2.is_library()
        {
            let reason = h2
                .reason()
                .map_or_else(|| "unknown".to_owned(), |r| format!("{r:?}"));
            return Some(Malformed {
                reason: format!(
                    "HTTP/2 protocol violation; connection closed with GOAWAY {reason}"
                ),
                status: None,
            });
        }
        cause = e.source();
    }
    None
}

/// Writes the record (entry, log line, metrics) for a connection-level refusal.
pub fn record(shared: &Shared, place: Place<'_>, method: &str, what: Malformed) {
    record_as(shared, place, method, what, RequestId::new());
}

/// [`record`] under the id the agent was already given in keyward's answer.
pub fn record_as(shared: &Shared, place: Place<'_>, method: &str, what: Malformed, id: RequestId) {
    let (host, port) = match place.target {
        Some(t) => (t.host.to_string(), t.port),
        None => ("-".to_owned(), 0),
    };
    let scheme = match place.target {
        Some(_) => place.scheme.as_str(),
        None => "-",
    };
    let mut entry = AuditEntry::new(
        id.as_str(),
        place.client.to_string(),
        method,
        scheme,
        host,
        port,
        "",
    );
    entry.agent = place.agent.map(ToString::to_string);
    entry.decision = AuditDecision::Deny;
    entry.reason = Some(what.reason);
    entry.status = what.status;
    shared.recorder().write(entry);
}

/// Writes the record of a refusal on the proxy port before any target is known (407, 400):
/// scheme and host `-`, port 0 whatever `place` says, and the agent when it authenticated.
/// Returns the id the agent is sent.
pub fn record_unpinned(
    shared: &Shared,
    place: Place<'_>,
    method: &str,
    path: &str,
    refusal: &Refusal,
) -> RequestId {
    let id = RequestId::new();
    let client = place.client.to_string();
    let mut entry = AuditEntry::new(id.as_str(), client, method, "-", "-", 0, path);
    entry.agent = place.agent.map(ToString::to_string);
    entry.decision = refusal_decision(refusal);
    entry.reason = Some(refusal.reason().to_owned());
    entry.status = Some(refusal.parts().status.as_u16());
    shared.recorder().write(entry);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_is_an_ordinary_end() {
        let err = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(malformed(&err), None);
    }
}
