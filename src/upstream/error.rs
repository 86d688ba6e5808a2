//! Upstream failures: the typed causes raised while dialling, and their classification
//! (refused, timeout, TLS, connect, protocol) from whatever error the HTTP client returns.

use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};

/// A cause raised by keyward's own connector.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("destination {target} resolves to {addr}, which is {reason}")]
    Refused {
        target: String,
        addr: IpAddr,
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

/// What went wrong upstream, as the agent is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// The destination guard refused the address (403).
    Refused(String),
    /// Connect or response head took too long (504).
    Timeout(String),
    /// TLS to the upstream failed, e.g. its certificate is not trusted (502).
    Tls(String),
    /// DNS or TCP failed (502).
    Connect(String),
    /// The upstream broke the protocol or closed early (502).
    Protocol(String),
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
                    UpstreamError::Refused { .. } => Self::Refused(ours.to_string()),
                    UpstreamError::ResolveTimeout { .. } | UpstreamError::ConnectTimeout { .. } => {
                        Self::Timeout(ours.to_string())
                    }
                    _ => Self::Connect(ours.to_string()),
                });
            } else if let Some(tls) = e.downcast_ref::<rustls::Error>() {
                found = Some(Self::Tls(describe_tls(tls)));
            }
        });
        found.unwrap_or_else(|| Self::Protocol(chain_text(err)))
    }

    /// The reason text given to the agent.
    pub fn reason(&self) -> &str {
        match self {
            Self::Refused(r)
            | Self::Timeout(r)
            | Self::Tls(r)
            | Self::Connect(r)
            | Self::Protocol(r) => r,
        }
    }
}

fn describe_tls(err: &rustls::Error) -> String {
    match err {
        rustls::Error::InvalidCertificate(cause) => {
            format!("upstream certificate not trusted: {cause:?}")
        }
        other => format!("upstream TLS failed: {other}"),
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
