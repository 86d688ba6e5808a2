//! What a peer did wrong below the request level: a head hyper could not parse (it answered
//! 400 or 431 itself and closed), an HTTP/2 peer keyward sent a protocol GOAWAY, a tunnel
//! closed before its TLS handshake. Each is recorded through the [`Recorder`] like an
//! exchange, so a probe that never became a request still leaves a trace.

use std::error::Error as StdError;

use crate::audit::Decision as AuditDecision;
use crate::control::pause::Paused;
use crate::ingress::head_scan::Findings;
use crate::pipeline::exchange::RequestId;
use crate::pipeline::record::{Place, Recorder, Refused};
use crate::server::connection::Ended;

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

/// Writes the record (entry, log line, metrics) of a connection-level refusal under `id`.
pub fn record(
    recorder: &Recorder,
    place: Place<'_>,
    method: &str,
    what: Malformed,
    id: &RequestId,
) {
    let refused = Refused {
        place,
        method,
        path: "",
        decision: AuditDecision::Deny,
        reason: what.reason,
        status: what.status,
    };
    recorder.refused(refused, id);
}

/// Records how a served connection ended when the peer was at fault: a request line too
/// long to parse (414, under the id its answer carried), or a malformed head or protocol
/// violation, or its agent's pause closed it. An ordinary end (closed, reset, idle) records
/// nothing.
pub fn record_end(
    recorder: &Recorder,
    place: Place<'_>,
    findings: &Findings,
    ended: Ended<Paused>,
) {
    if let Some(paused) = ended.paused {
        let what = Malformed {
            reason: format!("connection closed: {paused}"),
            status: None,
        };
        record(recorder, place, "-", what, &RequestId::new());
    } else if let Some(too_long) = findings.take_too_long() {
        let what = Malformed {
            reason: too_long.reason,
            status: Some(414),
        };
        record(recorder, place, "-", what, &too_long.id);
    } else if let Some(what) = ended.error.as_deref().and_then(|e| malformed(e)) {
        record(recorder, place, "-", what, &RequestId::new());
    }
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
