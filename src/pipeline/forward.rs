//! Forwarding: the request rewritten for the upstream (absolute URI on the pinned target,
//! Host recomputed by the client from the URI; hop-by-hop headers went before the decision),
//! sent over the verified pooled client, private destinations dialled only where the
//! deciding rule's `allow_private:` covers them.

use std::sync::Arc;
use std::time::Instant;

use http::request::Parts;
use http::{Request, Response, Uri, header};
use hyper::body::Incoming;

use crate::metrics::Metrics;
use crate::pipeline::exchange::{ConnInfo, Exchange, Outcome, Scheme, Stage};
use crate::pipeline::read_body::AgentBody;
use crate::pipeline::refusal::{BadRequest, Refusal};
use crate::policy::Rule;
use crate::redact::Scrubber;
use crate::target::{Host, Target};
use crate::upstream::{PrivateAllowance, Upstream, UpstreamFailure};

/// Sends the request; the response head is the exchange's from here on.
pub async fn send(
    upstream: &Upstream,
    metrics: &Metrics,
    exchange: &mut Exchange,
    mut parts: Parts,
    body: AgentBody,
    rule: Option<&Rule>,
    placeholders: &Arc<Scrubber>,
) -> Result<Response<Incoming>, Refusal> {
    let conn = exchange.conn.clone();
    upstream_parts(&conn, &mut parts)?;
    let (body, read_ahead) = body.into_upstream(placeholders);
    exchange.bytes_in = read_ahead;
    // A decision without a rule opens no private destination.
    let allowance = PrivateAllowance::new(rule.map(|r| r.allow_private()).unwrap_or(&[]));
    let busy = conn.activity.begin();
    let sent = Instant::now();
    exchange.enter(Stage::Upstream);
    let resp = upstream
        .send_allowing(Request::from_parts(parts, body), &allowance)
        .await
        .map_err(|failure| {
            metrics.upstream_error(match &failure {
                UpstreamFailure::Refused(_) => "refused",
                UpstreamFailure::Timeout(_) => "timeout",
                UpstreamFailure::Tls(_) => "tls",
                UpstreamFailure::Connect(_) => "connect",
                UpstreamFailure::Protocol(_) => "protocol",
            });
            Refusal::Upstream(failure)
        })?;
    exchange.upstream_ms = Some(sent.elapsed().as_secs_f64() * 1000.0);
    drop(busy);
    exchange.set_outcome(Outcome::Forwarded);
    Ok(resp)
}

/// Rewrites `parts` for the upstream.
fn upstream_parts(conn: &ConnInfo, parts: &mut Parts) -> Result<(), Refusal> {
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
        .map_err(|e| BadRequest::UpstreamUri(e.to_string()))?;
    parts.headers.remove(header::HOST);
    Ok(())
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
