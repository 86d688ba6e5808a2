//! Forwarding: the request rewritten for the upstream (absolute URI on the pinned target,
//! Host recomputed by the client from the URI; hop-by-hop headers went before the decision),
//! sent over the verified pooled client, private destinations dialled only where the
//! deciding rule's `allow_private:` covers them.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::request::Parts;
use http::uri::{self, Authority, PathAndQuery};
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

/// Rewrites `parts` for the upstream: the agent's path and query, already parsed, are kept
/// as they are under the pinned target's scheme and authority (nothing is re-parsed).
fn upstream_parts(conn: &ConnInfo, parts: &mut Parts) -> Result<(), Refusal> {
    let path = parts
        .uri
        .path_and_query()
        .filter(|p| p.as_str().starts_with('/'))
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let authority = Authority::from_maybe_shared(authority(&conn.target, conn.scheme))
        .map_err(|e| BadRequest::UpstreamUri(e.to_string()))?;
    let mut uri = uri::Parts::default();
    uri.scheme = Some(match conn.scheme {
        Scheme::Https => uri::Scheme::HTTPS,
        Scheme::Http => uri::Scheme::HTTP,
    });
    uri.authority = Some(authority);
    uri.path_and_query = Some(path);
    parts.uri = Uri::from_parts(uri).map_err(|e| BadRequest::UpstreamUri(e.to_string()))?;
    parts.headers.remove(header::HOST);
    Ok(())
}

/// `host[:port]`, the port omitted when it is the scheme's default.
fn authority(target: &Target, scheme: Scheme) -> Bytes {
    let host = match &target.host {
        Host::Name(n) => n.clone(),
        Host::Ip(_) => target.host.to_string(),
    };
    if target.port == scheme.default_port() {
        Bytes::from(host)
    } else {
        Bytes::from(format!("{host}:{}", target.port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::server::activity::Activity;

    fn conn(target: &str, scheme: Scheme) -> ConnInfo {
        ConnInfo {
            client: "127.0.0.1:5000".parse().unwrap(),
            target: Target::parse_authority(target).unwrap(),
            scheme,
            sni_mismatch: None,
            activity: Activity::new(),
            agent: None,
            pause: crate::control::pause::PauseWatch::default(),
        }
    }

    fn rewritten(conn: &ConnInfo, target: &str) -> Parts {
        let (mut parts, ()) = Request::get(target)
            .header(header::HOST, "elsewhere.example")
            .body(())
            .unwrap()
            .into_parts();
        upstream_parts(conn, &mut parts).unwrap();
        parts
    }

    #[test]
    fn the_upstream_uri_is_the_pinned_target_with_the_agents_path() {
        let https = conn("api.example.com:443", Scheme::Https);
        let parts = rewritten(&https, "/v1/items?a=1&b=%2F");
        assert_eq!(parts.uri, "https://api.example.com/v1/items?a=1&b=%2F");
        assert!(!parts.headers.contains_key(header::HOST));
        // An absolute-form target inside a tunnel keeps only its path: the pin decides.
        let parts = rewritten(&https, "https://other.example/x");
        assert_eq!(parts.uri, "https://api.example.com/x");
        let parts = rewritten(&https, "*");
        assert_eq!(parts.uri, "https://api.example.com/");
    }

    #[test]
    fn a_port_other_than_the_schemes_default_is_kept() {
        let http = conn("127.0.0.1:8080", Scheme::Http);
        assert_eq!(rewritten(&http, "/a").uri, "http://127.0.0.1:8080/a");
        let v6 = conn("[::1]:8443", Scheme::Https);
        assert_eq!(rewritten(&v6, "/").uri, "https://[::1]:8443/");
    }
}
