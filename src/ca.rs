//! The certificate authority keyward uses to terminate agents' TLS: the root (created or
//! loaded from `certs/`), the leaf issuer, and the bounded per-host cache of server configs.

mod authority;
mod cache;
mod leaf;

pub use authority::{CA_CERT_FILE, CA_KEY_FILE, CertificateAuthority};
pub use cache::ServerConfigCache;
pub use leaf::LeafIssuer;

use std::path::PathBuf;

/// Everything that can go wrong creating, loading or using the CA.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} already exists (use --force to replace the CA)")]
    Exists { path: PathBuf },
    #[error("no CA in {dir}: run `keyward ca init --dir {dir}`")]
    Missing { dir: PathBuf },
    #[error("invalid CA material in {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("cannot issue a certificate for {host}: {reason}")]
    Issue { host: String, reason: String },
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
}
