//! `keyward ca init [--dir DIR] [--force]`, `keyward ca show [--dir DIR]` and
//! `keyward ca trust-instructions [--dir DIR]`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::ca::CertificateAuthority;

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the root CA (ca.pem, ca-key.pem with mode 0600).
    Init {
        /// Directory for the CA files.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// Replace an existing CA (agents must trust the new one).
        #[arg(long)]
        force: bool,
    },
    /// Print the CA certificate (PEM) and its SHA-256 fingerprint.
    Show {
        /// Directory holding the CA files.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
    },
    /// How to trust the CA in system and language stores (Debian/Ubuntu, Alpine, RHEL,
    /// macOS, Java, Python certifi), with its path filled in.
    TrustInstructions {
        /// Directory holding the CA files.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
    },
}

pub fn run(cmd: CaCommand) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    match cmd {
        CaCommand::Init { dir, force } => {
            let ca = CertificateAuthority::create(&dir, force)?;
            writeln!(out, "created {}", ca.cert_path().display())?;
            writeln!(out, "SHA-256 fingerprint: {}", ca.fingerprint_sha256())?;
        }
        CaCommand::Show { dir } => {
            let ca = CertificateAuthority::load(&dir)
                .with_context(|| format!("loading the CA from {}", dir.display()))?;
            write!(out, "{}", ca.cert_pem())?;
            writeln!(out, "SHA-256 fingerprint: {}", ca.fingerprint_sha256())?;
        }
        CaCommand::TrustInstructions { dir } => {
            let ca = CertificateAuthority::load(&dir)
                .with_context(|| format!("loading the CA from {}", dir.display()))?;
            let path = crate::agent_env::absolute(ca.cert_path());
            write!(out, "{}", super::trust::instructions(&path))?;
            writeln!(out, "SHA-256 fingerprint: {}", ca.fingerprint_sha256())?;
        }
    }
    Ok(0)
}
