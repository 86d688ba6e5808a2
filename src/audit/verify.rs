//! `keyward audit verify`: walks the hash chain through one or more log files in order and
//! reports the first broken entry with its file, line and what is wrong.
//!
//! What the chain can and cannot show: an edited, inserted, deleted or reordered line in
//! the middle breaks the chain at that line. Lines removed from the *start* of the log
//! leave a chain that starts mid-way ([`VerifyReport::starts_at_genesis`] is false), and
//! lines removed from the *end* leave a shorter valid chain; to catch those, keep
//! [`VerifyReport::last_hash`] (or the stdout copy of the log) somewhere else and compare.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::chain::{self, GENESIS_HASH};

/// The result of a chain that holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// Files checked.
    pub files: usize,
    /// The hash of the first entry (`None` when the files hold no entries).
    pub first_hash: Option<String>,
    /// The hash of the last entry: the value to keep elsewhere as an anchor.
    pub last_hash: Option<String>,
    /// Whether the first entry's `prev_hash` is the genesis value (64 zeros). False means
    /// the files begin mid-way through a longer chain (older files missing or cut).
    pub starts_at_genesis: bool,
    /// The first entry's `prev_hash`: where the checked part of the chain hangs from.
    pub first_prev_hash: Option<String>,
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ok: {} entries in {} files", self.entries, self.files)?;
        match (&self.first_prev_hash, self.starts_at_genesis) {
            (None, _) => return Ok(()),
            (Some(_), true) => f.write_str(", chain starts at genesis")?,
            (Some(prev), false) => write!(
                f,
                ", chain starts mid-way (first entry follows {prev}; earlier entries were not checked)"
            )?,
        }
        if let Some(last) = &self.last_hash {
            write!(f, ", last hash {last}")?;
        }
        Ok(())
    }
}

/// What is wrong with the first broken entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BreakReason {
    /// The line is not JSON: cut off (a truncated file) or edited by hand.
    #[error("not valid JSON (cut off or edited): {0}")]
    BadJson(String),
    /// The line is JSON but has no usable `hash`/`prev_hash`.
    #[error("not an audit entry: {0}")]
    NotAnEntry(String),
    /// The entry's content does not match its hash: a field was edited.
    #[error("hash mismatch, the entry was edited (stored {stored}, computed {computed})")]
    HashMismatch {
        /// The hash in the line.
        stored: String,
        /// The hash of the line's content.
        computed: String,
    },
    /// The entry does not follow the one before it: lines were deleted, inserted or
    /// reordered.
    #[error(
        "prev_hash {found} does not match the previous entry's hash {expected}: \
         a line before this one was deleted, inserted or reordered"
    )]
    PrevHashMismatch {
        /// The previous entry's hash.
        expected: String,
        /// The `prev_hash` in the line.
        found: String,
    },
    /// The entry's `seq` jumps past entries that are not there.
    #[error(
        "entries {from} to {to} of replica {replica} are missing before this line: the log was \
         cut or lines were deleted (the entry's seq proves they existed)"
    )]
    EntriesMissing {
        /// The replica.
        replica: String,
        /// The first missing seq.
        from: u64,
        /// The last missing seq.
        to: u64,
    },
    /// A checkpoint that does not hold (forged, edited, another key).
    #[error(transparent)]
    Checkpoint(#[from] super::checkpoint::CheckpointError),
    /// A checkpoint signs a count the chain does not have.
    #[error(
        "checkpoint signs {signed} entries but the chain holds {counted}: entries were removed"
    )]
    CountMismatch {
        /// The seq in the checkpoint.
        signed: u64,
        /// The seq of the entry before it.
        counted: u64,
    },
    /// A line of another replica inside this replica's files.
    #[error("line of replica {found} in a file of replica {expected}")]
    OtherReplica {
        /// The file's replica.
        expected: String,
        /// The line's.
        found: String,
    },
}

/// Why verification failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No files were given.
    #[error("no audit log files given")]
    NoFiles,
    /// A file could not be read.
    #[error("cannot read audit log {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// `--public-key` was given, and a replica's files hold no checkpoint.
    #[error(
        "replica {replica}: no signed checkpoint in {path} (checkpoints are not configured, or the \
         log was cut before the first one)"
    )]
    Unsigned {
        /// The replica.
        replica: String,
        /// Its last file.
        path: PathBuf,
    },
    /// The public key file could not be read.
    #[error("public key {path}: {reason}")]
    PublicKey {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The chain breaks here.
    #[error("audit chain broken at {path}:{line}: {reason}")]
    Broken {
        /// The file holding the first broken entry.
        path: PathBuf,
        /// Its 1-based line number in that file.
        line: u64,
        /// What is wrong.
        reason: BreakReason,
    },
}

/// Checks the chain through `paths` in order (oldest rotated file first, live file last;
/// see [`super::rotate::log_files`]).
pub fn verify_files(paths: &[PathBuf]) -> Result<VerifyReport, VerifyError> {
    if paths.is_empty() {
        return Err(VerifyError::NoFiles);
    }
    let mut report = VerifyReport {
        entries: 0,
        files: paths.len(),
        first_hash: None,
        last_hash: None,
        starts_at_genesis: false,
        first_prev_hash: None,
    };
    for path in paths {
        verify_file(path, &mut report)?;
    }
    Ok(report)
}

fn verify_file(path: &Path, report: &mut VerifyReport) -> Result<(), VerifyError> {
    let read_err = |source| VerifyError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = BufReader::new(File::open(path).map_err(read_err)?);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(read_err)? == 0 {
            return Ok(());
        }
        line_no += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        let broken = |reason| VerifyError::Broken {
            path: path.to_path_buf(),
            line: line_no,
            reason,
        };
        let Checked { prev, hash, .. } =
            check_line(&buf, report.last_hash.as_deref()).map_err(broken)?;
        if report.first_prev_hash.is_none() {
            report.starts_at_genesis = prev == GENESIS_HASH;
            report.first_prev_hash = Some(prev);
            report.first_hash = Some(hash.clone());
        }
        report.last_hash = Some(hash);
        report.entries += 1;
    }
}

/// A line whose chain link holds.
pub(super) struct Checked {
    /// The parsed line.
    pub value: Value,
    /// Its `prev_hash`.
    pub prev: String,
    /// Its `hash`.
    pub hash: String,
}

/// Checks one line against the previous entry's hash (`None` for the first entry, which
/// may hang from any hash); returns the line with its `prev_hash` and `hash`.
pub(super) fn check_line(line: &[u8], previous: Option<&str>) -> Result<Checked, BreakReason> {
    if line.is_empty() {
        return Err(BreakReason::BadJson("empty line".to_owned()));
    }
    let value: Value =
        serde_json::from_slice(line).map_err(|e| BreakReason::BadJson(e.to_string()))?;
    let field = |name: &str| match value.get(name).and_then(Value::as_str) {
        Some(h) if chain::is_hash(h) => Ok(h.to_owned()),
        _ => Err(BreakReason::NotAnEntry(format!(
            "no \"{name}\" of 64 lowercase hex digits"
        ))),
    };
    let stored = field("hash")?;
    let prev = field("prev_hash")?;
    match previous {
        Some(expected) if prev != expected => {
            return Err(BreakReason::PrevHashMismatch {
                expected: expected.to_owned(),
                found: prev,
            });
        }
        _ => {}
    }
    let computed =
        chain::expected_hash(&value).map_err(|e| BreakReason::NotAnEntry(e.to_string()))?;
    if computed != stored {
        return Err(BreakReason::HashMismatch { stored, computed });
    }
    Ok(Checked {
        value,
        prev,
        hash: stored,
    })
}

#[cfg(test)]
mod tests;
