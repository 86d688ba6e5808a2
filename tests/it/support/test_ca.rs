//! A throwaway CA for test upstreams, minted at run time (no committed keys); the minting is
//! loadgen's (`examples/loadgen/ca.rs`), with the certificate also written to a PEM file, and
//! leaves written as PEM files for upstreams that are other programs.

use std::path::{Path, PathBuf};
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

    /// A fresh leaf for `names` signed by this CA, written under `dir` as `leaf.pem` (the leaf
    /// then the CA certificate) and `leaf-key.pem`, for a server that reads PEM files; their
    /// paths, certificate first.
    pub fn leaf_files(&self, names: &[&str], dir: &Path) -> (PathBuf, PathBuf) {
        let signing = rcgen::KeyPair::from_pem(&self.ca.key_pem()).unwrap();
        let issuer = rcgen::Issuer::from_ca_cert_pem(&self.pem, signing).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let leaf = rcgen::CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let (cert, key_path) = (dir.join("leaf.pem"), dir.join("leaf-key.pem"));
        std::fs::write(&cert, format!("{}{}", leaf.pem(), self.pem)).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert, key_path)
    }
}
