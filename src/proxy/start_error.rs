//! Why a proxy could not start: every error of binding it, each naming what failed.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::audit::AuditError;
use crate::ca::CaError;
use crate::credentials::agents::TransparentAgentError;
use crate::upstream::RootsError;

/// Why a proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Ca(#[from] CaError),
    #[error(transparent)]
    Roots(#[from] RootsError),
    #[error("upstream TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("rules in {dir} do not compile:\n{errors}")]
    Rules {
        dir: PathBuf,
        errors: crate::policy::CompileErrors,
    },
    #[error("audit log: {0}")]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Admin(#[from] crate::control::admin::AdminError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot serve a listener bound elsewhere: {0}")]
    Listener(#[source] std::io::Error),
    #[error("transparent listeners: {0}")]
    TransparentAgent(#[from] TransparentAgentError),
    #[error("shared state: {0}")]
    State(#[from] crate::control::shared_state::StateError),
}
