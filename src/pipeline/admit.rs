//! Admission, the checks made before any decision: a paused agent, what the raw head showed,
//! methods never forwarded, every request pinned to its tunnel's target (SNI, URI authority
//! and Host must all name it), message framing keyward will not reinterpret, and an audit
//! trail able to record the exchange.

use http::{HeaderMap, Method, Request, header};

use crate::control::pause::Pauses;
use crate::pipeline::exchange::{ConnInfo, Scheme};
use crate::pipeline::record::Recorder;
use crate::pipeline::refusal::{BadRequest, MethodRefused, Misdirected, Refusal, Unavailable};
use crate::target::Target;

/// Why a request must be refused although hyper parsed it (the raw-head scan beside hyper
/// tags the request with it): answered 400.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HeadFinding(pub String);

/// Every admission check, in order; the first that fails is the refusal.
pub fn admit<B>(
    req: &Request<B>,
    conn: &ConnInfo,
    recorder: &Recorder,
    pauses: &Pauses,
) -> Result<(), Refusal> {
    pauses
        .check(conn.agent.as_ref())
        .map_err(|paused| Refusal::Denied {
            rule: None,
            reason: paused.into(),
        })?;
    check_head(req)?;
    check_method(req.method(), conn.scheme)?;
    check_pinned(conn, req)?;
    check_framing(req.headers())?;
    if !recorder.audit_healthy() {
        return Err(Unavailable::AuditUnwritable.into());
    }
    if recorder.audit_backlogged() {
        return Err(Unavailable::AuditBacklogged.into());
    }
    Ok(())
}

/// What the raw head said that the parsed request no longer shows (a `#` in the target,
/// `Content-Length` beside `Transfer-Encoding`): refused, never reinterpreted.
pub fn check_head<B>(req: &Request<B>) -> Result<(), Refusal> {
    match req.extensions().get::<HeadFinding>() {
        Some(finding) => Err(finding.clone().into()),
        None => Ok(()),
    }
}

/// TRACE/TRACK echo requests (and cookies) back; CONNECT inside a tunnel would escape the pin.
pub fn check_method(method: &Method, scheme: Scheme) -> Result<(), Refusal> {
    match method.as_str() {
        "TRACE" | "TRACK" => Err(MethodRefused::Echo(method.clone()).into()),
        "CONNECT" if scheme == Scheme::Https => Err(MethodRefused::ConnectInTunnel.into()),
        _ => Ok(()),
    }
}

/// A request body is framed by `Content-Length` or by exactly `Transfer-Encoding: chunked`.
/// Any other transfer coding (`gzip, chunked`, `CHUNKED`, `chunked, chunked`, several header
/// lines) is refused: the body keyward inspects must be the body the upstream receives, and
/// an odd spelling is how smuggling attempts make two parsers disagree.
pub fn check_framing(headers: &HeaderMap) -> Result<(), Refusal> {
    let mut codings = headers.get_all(header::TRANSFER_ENCODING).iter();
    match (codings.next(), codings.next()) {
        (None, _) => Ok(()),
        (Some(only), None) if only.as_bytes() == b"chunked" => Ok(()),
        (Some(first), _) => Err(BadRequest::TransferEncoding(
            String::from_utf8_lossy(first.as_bytes()).into_owned(),
        )
        .into()),
    }
}

/// Every request names the connection's target, in its URI authority and its Host header;
/// anything else is domain fronting (421).
pub fn check_pinned<B>(conn: &ConnInfo, req: &Request<B>) -> Result<(), Refusal> {
    if let Some(mismatch) = &conn.sni_mismatch {
        return Err(mismatch.clone().into());
    }
    let default = conn.scheme.default_port();
    let hosts = req.headers().get_all(header::HOST);
    if hosts.iter().any(|host| host.to_str().is_err()) {
        return Err(BadRequest::HostNotText.into());
    }
    let authority = req
        .uri()
        .authority()
        .map(|a| ("request target", a.as_str()));
    let headers = hosts
        .iter()
        .filter_map(|host| host.to_str().ok())
        .map(|text| ("Host header", text));
    let mut named = authority.into_iter().chain(headers).peekable();
    if named.peek().is_none() {
        return Err(BadRequest::NoHost.into());
    }
    for (what, raw) in named {
        let parsed = Target::parse_with_default(raw, Some(default)).map_err(|source| {
            BadRequest::Authority {
                what,
                raw: raw.to_owned(),
                source,
            }
        })?;
        if parsed != conn.target {
            return Err(Misdirected::NotTunnelTarget {
                what,
                raw: raw.to_owned(),
                target: conn.target.clone(),
            }
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn te(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::TRANSFER_ENCODING, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_plain_chunked_framing_is_accepted() {
        assert!(check_framing(&HeaderMap::new()).is_ok());
        assert!(check_framing(&te(&["chunked"])).is_ok());
        for bad in [
            &["CHUNKED"][..],
            &["Chunked"],
            &["gzip, chunked"],
            &["chunked, chunked"],
            &["chunked", "chunked"],
            &["identity"],
            &["xchunked"],
        ] {
            assert!(check_framing(&te(bad)).is_err(), "{bad:?}");
        }
    }
}
