//! The roots trusted for upstream servers: the built-in webpki roots, the system store, and
//! any extra PEM files the operator names with `--upstream-ca`.

use std::path::{Path, PathBuf};

use rustls::RootCertStore;

/// An extra root file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RootsError {
    #[error("cannot read upstream CA file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("upstream CA file {path} holds no usable certificate")]
    Empty { path: PathBuf },
}

/// Builds the upstream root store.
pub fn upstream_roots(extra: &[PathBuf]) -> Result<RootCertStore, RootsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A malformed system certificate is skipped, as every TLS client does.
        let _ = roots.add(cert);
    }
    for path in extra {
        add_file(&mut roots, path)?;
    }
    Ok(roots)
}

fn add_file(roots: &mut RootCertStore, path: &Path) -> Result<(), RootsError> {
    let read_err = |reason: String| RootsError::Read {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| read_err(e.to_string()))?;
    let mut added = 0;
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| read_err(e.to_string()))?;
        roots.add(cert).map_err(|e| read_err(e.to_string()))?;
        added += 1;
    }
    if added == 0 {
        return Err(RootsError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}
