//! Normalisation, once per request: hop-by-hop headers removed before anything judges the
//! head (an agent's `Connection: Authorization` cannot remove a header keyward injects), the
//! upgrade the agent asked for kept aside, and the target (host, port, path) normalised into
//! the one form every later phase and the rules use; an ambiguous path spelling no rule of
//! the host admits is refused here.

use http::Request;
use http::request::Parts;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;

use crate::pipeline::exchange::{ConnInfo, Scheme};
use crate::pipeline::hop;
use crate::pipeline::refusal::Refusal;
use crate::policy::{NormalizedTarget, RequestHead, RuleSet, normalize_target};

/// The agent's request after normalisation, as the later phases work on it.
pub struct Normalised {
    /// The head, hop-by-hop headers removed.
    pub parts: Parts,
    /// The connection's host, as text.
    pub host: String,
    /// The target the rules match, normalised here and nowhere else.
    pub target: NormalizedTarget,
    /// The agent's side of the upgrade it asked for (WebSocket), ready once the upstream
    /// answers 101.
    pub client_upgrade: Option<OnUpgrade>,
}

impl Normalised {
    /// The head the rules decide on.
    pub fn head(&self, scheme: Scheme, port: u16) -> RequestHead<'_> {
        RequestHead {
            method: &self.parts.method,
            scheme,
            host: &self.host,
            port,
            path: self.parts.uri.path(),
            query: self.parts.uri.query(),
            headers: &self.parts.headers,
        }
    }
}

/// Splits the request into its normalised head and its (unread) body.
pub fn normalise(
    mut req: Request<Incoming>,
    conn: &ConnInfo,
    rules: &RuleSet,
) -> Result<(Normalised, Incoming), Refusal> {
    let upgrade = hop::websocket_upgrade(req.headers());
    let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    hop::strip(&mut parts.headers, upgrade.as_ref());
    let host = conn.target.host.to_string();
    let target = normalize_target(&host, conn.target.port, parts.uri.path())?;
    rules.check_spellings(&target)?;
    let normalised = Normalised {
        parts,
        host,
        target,
        client_upgrade,
    };
    Ok((normalised, body))
}
