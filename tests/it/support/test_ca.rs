//! A throwaway CA for test upstreams, minted at run time (no committed keys); the minting is
//! loadgen's (`examples/loadgen/ca.rs`), with the certificate also written to a PEM file.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::ServerConfig;

#[path = "../../../examples/loadgen/ca.rs"]
mod ca;

pub struct TestCa {
    ca: ca::MintedCa,
    /// The CA certificate as a PEM file.
    pub path: PathBuf,
    pub pem: String,
    _dir: tempfile::TempDir,
}

impl TestCa {
    pub fn new() -> Self {
        let ca = ca::MintedCa::new("keyward test upstream CA").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upstream-ca.pem");
        std::fs::write(&path, &ca.pem).unwrap();
        Self {
            pem: ca.pem.clone(),
            ca,
            path,
            _dir: dir,
        }
    }

    /// A server configuration for `names` (DNS names or IP literals) offering `alpn`.
    pub fn server_config(&self, names: &[&str], alpn: &[&[u8]]) -> Arc<ServerConfig> {
        self.ca.server_config(names, alpn)
    }
}
