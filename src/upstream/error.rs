//! Upstream failures: the typed causes raised while dialling, and their classification
//! (refused, timeout, TLS, connect, protocol) from whatever error the HTTP client returns,
//! each carrying its typed cause until the refusal renders it.

use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::redact::UnscannableResponse;
use crate::target::Target;

/// A cause raised by keyward's own connector (or, for an IP literal, by the CONNECT check).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("destination {target} resolves to {addr}, which is {reason}")]
    Refused {
        target: String,
        addr: IpAddr,
        reason: &'static str,
    },
    /// An IP-literal CONNECT target the destination guard refuses, before any dial.
    #[error("destination {target} is {reason}")]
    RefusedLiteral {
        target: Target,
        reason: &'static str,
    },
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("resolving {host} timed out")]
    ResolveTimeout { host: String },
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: SocketAddr, reason: String },
    #[error("connecting to {addr} timed out")]
    ConnectTimeout { addr: SocketAddr },
    #[error("invalid upstream URI {0}")]
    InvalidUri(String),
}

/// What took too long upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Timeout {
    /// Resolving or connecting.
    #[error(transparent)]
    Dial(UpstreamError),
    /// The response head did not arrive within the response timeout.
    #[error("upstream did not answer within {}", humantime::format_duration(*.0))]
    ResponseHead(Duration),
}

/// How TLS to the upstream failed, described from the rustls error (which is neither `Eq`
/// nor reliably comparable, so its description is kept).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsFailure {
    /// The upstream's certificate did not verify: the certificate error as rustls names it.
    #[error("upstream certificate not trusted: {0}")]
    Untrusted(String),
    /// Any other TLS failure, as rustls words it.
    #[error("upstream TLS failed: {0}")]
    Failed(String),
}

/// How the upstream broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolFailure {
    /// A response whose end is a guess (the reason names the framing); never forwarded.
    #[error("upstream response framing is ambiguous ({0}); not forwarded")]
    AmbiguousFraming(&'static str),
    /// A response body keyward cannot scan for secrets.
    #[error(transparent)]
    Unscannable(#[from] UnscannableResponse),
    /// An error from the HTTP client nobody classified, cause by cause (`outer: cause`);
    /// kept as text because hyper's errors cannot be cloned.
    #[error("{0}")]
    Client(String),
}

/// What went wrong upstream, as the agent is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamFailure {
    /// The destination guard refused the address (403).
    #[error(transparent)]
    Refused(UpstreamError),
    /// Connect or response head took too long (504).
    #[error(transparent)]
    Timeout(Timeout),
    /// TLS to the upstream failed, e.g. its certificate is not trusted (502).
    #[error(transparent)]
    Tls(TlsFailure),
    /// DNS or TCP failed (502).
    #[error(transparent)]
    Connect(UpstreamError),
    /// The upstream broke the protocol or closed early (502).
    #[error(transparent)]
    Protocol(ProtocolFailure),
}

impl UpstreamFailure {
    /// Classifies an error from the upstream client by walking its causes.
    pub fn classify(err: &(dyn StdError + 'static)) -> Self {
        let mut found: Option<Self> = None;
        visit(err, &mut |e| {
            if found.is_some() {
                return;
            }
            if let Some(ours) = e.downcast_ref::<UpstreamError>() {
                found = Some(match ours {
                    UpstreamError::Refused { .. } | UpstreamError::RefusedLiteral { .. } => {
                        Self::Refused(ours.clone())
                    }
                    UpstreamError::ResolveTimeout { .. } | UpstreamError::ConnectTimeout { .. } => {
                        Self::Timeout(Timeout::Dial(ours.clone()))
                    }
                    _ => Self::Connect(ours.clone()),
                });
            } else if let Some(tls) = e.downcast_ref::<rustls::Error>() {
                found = Some(Self::Tls(describe_tls(tls)));
            }
        });
        found.unwrap_or_else(|| Self::Protocol(ProtocolFailure::Client(chain_text(err))))
    }

    /// The reason text given to the agent.
    pub fn reason(&self) -> String {
        self.to_string()
    }
}

impl From<UnscannableResponse> for UpstreamFailure {
    fn from(e: UnscannableResponse) -> Self {
        Self::Protocol(e.into())
    }
}

fn describe_tls(err: &rustls::Error) -> TlsFailure {
    match err {
        rustls::Error::InvalidCertificate(cause) => TlsFailure::Untrusted(format!("{cause:?}")),
        other => TlsFailure::Failed(other.to_string()),
    }
}

/// Calls `f` on `err` and every cause below it, looking inside `io::Error` wrappers (whose
/// `source()` skips the wrapped error itself).
fn visit<'a>(err: &'a (dyn StdError + 'static), f: &mut dyn FnMut(&'a (dyn StdError + 'static))) {
    let mut current: Option<&'a (dyn StdError + 'static)> = Some(err);
    let mut depth = 0;
    while let Some(e) = current {
        if depth > 16 {
            return;
        }
        depth += 1;
        f(e);
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
        {
            let inner: &'a (dyn StdError + 'static) = inner;
            visit(inner, f);
        }
        current = e.source();
    }
}

/// "outer: cause: cause" for errors nobody classified.
fn chain_text(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    visit(err, &mut |e| {
        let text = e.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
    });
    parts.join(": ")
}
