//! `keyward audit verify FILE...` (check the hash chain, report the first broken entry;
//! with `--public-key`, also the signed checkpoints of several replicas' logs),
//! `keyward audit tail` (entries, readably, filtered by agent, decision or host) and
//! `keyward audit keygen` (a key pair for the checkpoints).

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;

use anyhow::Context as _;

use crate::audit::checkpoint::key;
use crate::audit::checkpoint::verify::verify_signed;
use crate::audit::{Decision, TailFilter, log_files, render, tail, verify_files};
use crate::config::DEFAULT_AUDIT_LOG;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain of audit files (given oldest first; a live log with its rotated
    /// files when one path is given).
    Verify {
        /// Also check the signed checkpoints with this Ed25519 public key (PEM, or 32 bytes
        /// as hex or base64); each live log given brings its rotated files, and files are
        /// grouped by replica.
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Make an Ed25519 key pair for signed checkpoints: the private key (PKCS#8 PEM, mode
    /// 0600) for `audit.checkpoints.key`, the public key (PEM) for `verify --public-key`.
    Keygen {
        /// Where the private key goes (must not exist).
        #[arg(long, value_name = "FILE")]
        private: PathBuf,
        /// Where the public key goes (must not exist).
        #[arg(long, value_name = "FILE")]
        public: PathBuf,
    },
    /// Print entries readably.
    Tail {
        /// The audit log (its rotated files are read first).
        #[arg(long, default_value = DEFAULT_AUDIT_LOG)]
        file: PathBuf,
        #[arg(long)]
        agent: Option<String>,
        /// allow, deny, approve, rate_limited or error.
        #[arg(long)]
        decision: Option<Decision>,
        #[arg(long)]
        host: Option<String>,
        /// Only entries this rule decided.
        #[arg(long)]
        rule: Option<String>,
    },
}

pub fn run(cmd: AuditCommand) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    match cmd {
        AuditCommand::Verify {
            public_key: Some(key_path),
            files,
        } => {
            let text = std::fs::read_to_string(&key_path)
                .with_context(|| format!("cannot read public key {}", key_path.display()))?;
            let key = key::verifying_key(&text)
                .with_context(|| format!("public key {}", key_path.display()))?;
            match verify_signed(&with_rotated(&files), &key) {
                Ok(report) => {
                    writeln!(out, "{report}")?;
                    Ok(0)
                }
                Err(e) => {
                    writeln!(out, "broken: {e}")?;
                    Ok(1)
                }
            }
        }
        AuditCommand::Keygen { private, public } => {
            let (private_pem, public_pem) = key::generate()?;
            write_new(&private, private_pem.as_bytes(), 0o600)?;
            write_new(&public, public_pem.as_bytes(), 0o644)?;
            writeln!(
                out,
                "private key {} (for audit.checkpoints.key: file:{}), public key {}",
                private.display(),
                private.display(),
                public.display()
            )?;
            Ok(0)
        }
        AuditCommand::Verify {
            public_key: None,
            files,
        } => {
            let files = match files.as_slice() {
                [one] => log_files(one).unwrap_or_else(|_| vec![one.clone()]),
                _ => files,
            };
            match verify_files(&files) {
                Ok(report) => {
                    writeln!(out, "{report}")?;
                    Ok(0)
                }
                Err(e) => {
                    writeln!(out, "broken: {e}")?;
                    Ok(1)
                }
            }
        }
        AuditCommand::Tail {
            file,
            agent,
            decision,
            host,
            rule,
        } => {
            let files = log_files(&file)?;
            let filter = TailFilter {
                agent,
                decision,
                host,
                rule,
            };
            for entry in tail(&files, filter) {
                match entry {
                    Ok(e) => writeln!(out, "{}", render(&e))?,
                    Err(e) => writeln!(out, "! {e}")?,
                }
            }
            Ok(0)
        }
    }
}

/// Each given file preceded by its rotated files (a rotated file given itself stays as is),
/// each file once.
fn with_rotated(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = Vec::new();
    for file in files {
        let expanded = log_files(file).unwrap_or_else(|_| vec![file.clone()]);
        let expanded = if expanded.is_empty() {
            vec![file.clone()]
        } else {
            expanded
        };
        for f in expanded {
            if !all.contains(&f) {
                all.push(f);
            }
        }
    }
    all
}

/// Writes `bytes` to a new file with `mode` (refusing to replace one).
fn write_new(path: &std::path::Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
