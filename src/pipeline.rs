//! The request path, top to bottom, for plain-HTTP and decrypted-HTTPS requests alike:
//! method check, pinning to the tunnel target, policy decision, forwarding, response
//! clean-up, and one closing record per exchange.

use std::convert::Infallible;
use std::sync::Arc;

use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, Version, header};
use hyper::body::Incoming;

use crate::body::{self, ProxyBody};
use crate::exchange::{ConnInfo, Exchange, Outcome, Scheme};
use crate::hop;
use crate::proxy::Shared;
use crate::refusal::Refusal;
use crate::target::{Host, Target};
use crate::websocket;

/// Serves one request: always answers, never fails.
pub async fn handle(
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let mut exchange = Exchange::start(conn, req.method().clone(), &path);
    let agent_version = req.version();
    let mut resp = match process(&shared, &mut exchange, req).await {
        Ok(resp) => resp,
        Err(refusal) => {
            let resp = refusal.into_response(&exchange.id);
            exchange.set_outcome(Outcome::Refused(refusal));
            resp
        }
    };
    if agent_version != Version::HTTP_2 {
        *resp.version_mut() = Version::HTTP_11;
    }
    exchange.finish(resp.status());
    Ok(resp)
}

async fn process(
    shared: &Shared,
    exchange: &mut Exchange,
    mut req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Refusal> {
    let conn = exchange.conn.clone();
    check_method(req.method(), conn.scheme)?;
    if let Some(mismatch) = &conn.sni_mismatch {
        return Err(Refusal::Misdirected(mismatch.clone()));
    }
    check_pinned(&conn, &req)?;
    let rule = shared.policy().decide(&conn.target)?;

    let upgrade = hop::websocket_upgrade(req.headers());
    let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));
    let upstream_req = upstream_request(&conn, req, upgrade.as_ref())?;

    let busy = conn.activity.begin();
    let mut resp = shared
        .upstream()
        .send(upstream_req)
        .await
        .map_err(Refusal::Upstream)?;
    drop(busy);
    exchange.set_outcome(Outcome::Forwarded { rule });

    let upgraded = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    let kept_upgrade = match (upgraded, client_upgrade) {
        (true, Some(client)) => {
            websocket::bridge(shared, &conn, client, hyper::upgrade::on(&mut resp));
            resp.headers().get(header::UPGRADE).cloned()
        }
        _ => None,
    };
    hop::strip(resp.headers_mut(), kept_upgrade.as_ref());
    Ok(resp.map(body::stream))
}

/// TRACE/TRACK echo requests (and cookies) back; CONNECT inside a tunnel would escape the pin.
fn check_method(method: &Method, scheme: Scheme) -> Result<(), Refusal> {
    match method.as_str() {
        "TRACE" | "TRACK" => Err(Refusal::MethodNotAllowed(format!("{method} is refused"))),
        "CONNECT" if scheme == Scheme::Https => Err(Refusal::MethodNotAllowed(
            "CONNECT inside a tunnel is refused".into(),
        )),
        _ => Ok(()),
    }
}

/// Every request names the connection's target, in its URI authority and its Host header;
/// anything else is domain fronting (421).
fn check_pinned(conn: &ConnInfo, req: &Request<Incoming>) -> Result<(), Refusal> {
    let default = conn.scheme.default_port();
    let mut named = Vec::with_capacity(2);
    if let Some(authority) = req.uri().authority() {
        named.push(("request target", authority.as_str().to_owned()));
    }
    for host in req.headers().get_all(header::HOST) {
        let text = host
            .to_str()
            .map_err(|_| Refusal::BadRequest("Host header is not valid text".into()))?;
        named.push(("Host header", text.to_owned()));
    }
    if named.is_empty() {
        return Err(Refusal::BadRequest(
            "request names no host (no Host header)".into(),
        ));
    }
    for (what, raw) in named {
        let parsed = Target::parse_with_default(&raw, Some(default))
            .map_err(|e| Refusal::BadRequest(format!("invalid {what} {raw:?}: {e}")))?;
        if parsed != conn.target {
            return Err(Refusal::Misdirected(format!(
                "{what} {raw} does not match the tunnel target {}",
                conn.target
            )));
        }
    }
    Ok(())
}

/// The request as sent upstream: absolute URI on the pinned target, hop-by-hop headers
/// removed (Upgrade kept for a WebSocket), Host recomputed by the client from the URI.
fn upstream_request(
    conn: &ConnInfo,
    req: Request<Incoming>,
    upgrade: Option<&HeaderValue>,
) -> Result<Request<ProxyBody>, Refusal> {
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| p.starts_with('/'))
        .unwrap_or("/");
    let uri = format!(
        "{}://{}{}",
        conn.scheme.as_str(),
        authority(&conn.target, conn.scheme),
        path
    );
    parts.uri = uri
        .parse::<Uri>()
        .map_err(|e| Refusal::BadRequest(format!("invalid request target: {e}")))?;
    hop::strip(&mut parts.headers, upgrade);
    parts.headers.remove(header::HOST);
    Ok(Request::from_parts(parts, body::stream(body)))
}

/// `host[:port]`, the port omitted when it is the scheme's default.
fn authority(target: &Target, scheme: Scheme) -> String {
    let host = match &target.host {
        Host::Name(n) => n.clone(),
        Host::Ip(_) => target.host.to_string(),
    };
    if target.port == scheme.default_port() {
        host
    } else {
        format!("{host}:{}", target.port)
    }
}
