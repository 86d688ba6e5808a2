//! `keyward audit verify FILE...` (check the hash chain, report the first broken entry) and
//! `keyward audit tail` (entries, readably, filtered by agent, decision or host).

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;

use crate::audit::{Decision, TailFilter, log_files, render, tail, verify_files};
use crate::config::DEFAULT_AUDIT_LOG;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain of audit files (given oldest first; a live log with its rotated
    /// files when one path is given).
    Verify {
        #[arg(required = true)]
        files: Vec<PathBuf>,
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
    },
}

pub fn run(cmd: AuditCommand) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    match cmd {
        AuditCommand::Verify { files } => {
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
        } => {
            let files = log_files(&file)?;
            let filter = TailFilter {
                agent,
                decision,
                host,
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
