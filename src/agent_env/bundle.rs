//! The combined CA bundle: the system's roots plus keyward's CA, for the variables that
//! replace a runtime's trust store (`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, …) so that hosts
//! the agent reaches without keyward (`NO_PROXY`) still verify.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The bundle's file name, written next to keyward's `ca.pem`.
pub const BUNDLE_FILE: &str = "bundle.pem";

/// System bundles in the places the common distributions keep them (Debian/Ubuntu/Alpine,
/// RHEL/Fedora, macOS/BSD); the first that exists is used as it is.
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// Why the bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read keyward's CA certificate {path}: {source}")]
    ReadCa {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the CA bundle {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes `bundle.pem` next to `ca_path` (system roots, then keyward's CA) and returns its
/// path. Written to a temporary file and renamed, so concurrent writers never expose a
/// half-written bundle.
pub fn write_bundle(ca_path: &Path) -> Result<PathBuf, BundleError> {
    let ca = std::fs::read_to_string(ca_path).map_err(|source| BundleError::ReadCa {
        path: ca_path.to_path_buf(),
        source,
    })?;
    let dir = ca_path.parent().unwrap_or(Path::new("."));
    let path = dir.join(BUNDLE_FILE);
    let mut text = system_roots_pem();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# keyward CA\n");
    text.push_str(&ca);
    let write_err = |source| BundleError::Write {
        path: path.clone(),
        source,
    };
    let mut tmp = tempfile_in(dir).map_err(write_err)?;
    tmp.1.write_all(text.as_bytes()).map_err(write_err)?;
    tmp.1.sync_all().map_err(write_err)?;
    std::fs::rename(&tmp.0, &path).map_err(write_err)?;
    Ok(path)
}

/// The system's roots as PEM text: a distribution bundle when one exists, otherwise the
/// platform store as read by rustls-native-certs (empty when neither is available).
fn system_roots_pem() -> String {
    for candidate in SYSTEM_BUNDLES {
        if let Ok(text) = std::fs::read_to_string(candidate) {
            return text;
        }
    }
    let native = rustls_native_certs::load_native_certs();
    native.certs.iter().map(|c| pem(c.as_ref())).collect()
}

/// DER as a PEM `CERTIFICATE` block.
fn pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// A new file in `dir` with a unique name.
fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let path = dir.join(format!(
        ".{BUNDLE_FILE}.{}.{:x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((path, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_wraps_at_64_columns() {
        let text = pem(&[0u8; 100]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
    }

    #[test]
    fn bundle_ends_with_keyward_ca_next_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let ca_text = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        std::fs::write(&ca, ca_text).unwrap();
        let bundle = write_bundle(&ca).unwrap();
        assert_eq!(bundle, dir.path().join(BUNDLE_FILE));
        let text = std::fs::read_to_string(&bundle).unwrap();
        assert!(text.ends_with(ca_text));
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 2, "only ca.pem and bundle.pem remain");
    }
}
