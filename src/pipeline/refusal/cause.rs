//! The small typed causes of refusals other than 400: a denial, a method never forwarded, a
//! request aimed elsewhere than its tunnel, something keyward needs that is unavailable.

use http::Method;

use crate::control::approvals::NotApproved;
use crate::control::shared_state::StateError;
use crate::credentials::{Exfiltration, InjectError};
use crate::target::{Host, Target};

/// Why policy or a guard denied a request (403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// The rules decided: the engine's reason (a failed condition, default deny, an input
    /// that could not be read).
    #[error("{0}")]
    Policy(String),
    /// No rule could match the CONNECT's host and port.
    #[error("no rule allows requests to {0}")]
    NoRuleFor(Target),
    /// The allowing rule injects credentials and the request is plain HTTP.
    #[error("credentials are injected only over TLS")]
    CredentialsOverPlainHttp,
    /// A placeholder is left where no secret may go.
    #[error(transparent)]
    Exfiltration(#[from] Exfiltration),
    /// An AWS request's signature with the placeholder key pair did not check out, or its
    /// form cannot be signed again.
    #[error("{secret}: {error}")]
    AwsSignature {
        secret: crate::credentials::SecretName,
        error: crate::credentials::sigv4::SigV4Error,
    },
    /// A held request was not approved.
    #[error(transparent)]
    NotApproved(#[from] NotApproved),
    /// The agent (or every agent) is paused by an operator.
    #[error(transparent)]
    Paused(#[from] crate::control::pause::Paused),
}

impl From<String> for Denial {
    /// The engine's reason for its decision.
    fn from(reason: String) -> Self {
        Denial::Policy(reason)
    }
}

/// A method keyward never forwards (405).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MethodRefused {
    /// TRACE or TRACK: they echo the request (and its cookies) back.
    #[error("{0} is refused")]
    Echo(Method),
    /// CONNECT inside a tunnel would escape the tunnel's pin.
    #[error("CONNECT inside a tunnel is refused")]
    ConnectInTunnel,
}

/// A request that names another host than its tunnel: domain fronting (421).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Misdirected {
    /// The TLS SNI named another host than the CONNECT.
    #[error("TLS SNI {sni} does not match the CONNECT target {target}")]
    Sni { sni: Host, target: Target },
    /// The request target's authority or a Host header (`what`, as sent in `raw`) names
    /// another target.
    #[error("{what} {raw} does not match the tunnel target {target}")]
    NotTunnelTarget {
        what: &'static str,
        raw: String,
        target: Target,
    },
}

/// Something keyward needs cannot be used: it fails closed (503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// The audit sink failed; nothing is done unrecorded.
    #[error("audit log cannot be written; refusing to act unrecorded")]
    AuditUnwritable,
    /// The audit writer's queue is full.
    #[error("audit log writer is behind; retry shortly")]
    AuditBacklogged,
    /// A secret to inject could not be read or placed.
    #[error(transparent)]
    Credentials(#[from] InjectError),
    /// The replicas' shared state is needed (a rate limit, token budget or approval) and
    /// cannot be reached.
    #[error("{what} unavailable: {cause}")]
    SharedState {
        what: &'static str,
        cause: StateError,
    },
}
