//! The request as sent upstream: absolute URI on the pinned target, Host recomputed by the
//! client from the URI (hop-by-hop headers were removed before the decision).

use http::request::Parts;
use http::{Uri, header};

use crate::exchange::{ConnInfo, Scheme};
use crate::refusal::{BadRequest, Refusal};
use crate::target::{Host, Target};

/// Rewrites `parts` for the upstream.
pub fn upstream_parts(conn: &ConnInfo, parts: &mut Parts) -> Result<(), Refusal> {
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
