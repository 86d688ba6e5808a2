//! `keyward audit verify --public-key FILE`: the chain and the checkpoints of the logs of
//! several replicas. Files are grouped by the replica their lines name, each replica's in
//! the order given; each group must be one chain whose checkpoints verify with the key and
//! count its entries. What follows a replica's last checkpoint is reported as its unsigned
//! tail: those entries verify as a chain but nobody vouches for them yet.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use serde_json::Value;

use super::{check, is_checkpoint};
use crate::audit::chain::GENESIS_HASH;
use crate::audit::verify::{BreakReason, Checked, VerifyError, check_line};

/// The replica id of lines that carry none (written before replica ids existed).
const UNNAMED: &str = "(unnamed)";

/// The result for one replica whose chain and checkpoints hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaReport {
    /// The replica id.
    pub replica: String,
    /// Its files, in the order checked.
    pub files: Vec<PathBuf>,
    /// Entries checked (checkpoints not counted).
    pub entries: u64,
    /// Checkpoints whose signature holds.
    pub checkpoints: u64,
    /// The seq the last checkpoint signs.
    pub signed_seq: u64,
    /// Whether the chain starts at genesis (else older files are missing).
    pub starts_at_genesis: bool,
    /// Entries after the last checkpoint, and where the first of them is.
    pub unsigned_tail: Option<(u64, PathBuf, u64)>,
}

/// The result of a verification with the public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReport {
    /// One report per replica, in the order their first file was given.
    pub replicas: Vec<ReplicaReport>,
}

impl fmt::Display for SignedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.replicas.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "ok: replica {}: {} entries in {} files, {} checkpoints verified, signed through seq {}",
                r.replica,
                r.entries,
                r.files.len(),
                r.checkpoints,
                r.signed_seq
            )?;
            if !r.starts_at_genesis {
                f.write_str(", chain starts mid-way (earlier files not given)")?;
            }
            if let Some((n, path, line)) = &r.unsigned_tail {
                write!(
                    f,
                    "\nunsigned tail: replica {}: {n} entries from {}:{line} follow the last checkpoint",
                    r.replica,
                    path.display()
                )?;
            }
        }
        Ok(())
    }
}

/// Checks `paths` (grouped by replica, each group in the order given) with `key`.
pub fn verify_signed(paths: &[PathBuf], key: &VerifyingKey) -> Result<SignedReport, VerifyError> {
    if paths.is_empty() {
        return Err(VerifyError::NoFiles);
    }
    let mut groups: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for path in paths {
        let replica = first_replica(path)?;
        match groups.iter_mut().find(|(r, _)| *r == replica) {
            Some((_, files)) => files.push(path.clone()),
            None => groups.push((replica, vec![path.clone()])),
        }
    }
    let replicas = groups
        .into_iter()
        .map(|(replica, files)| verify_replica(replica, files, key))
        .collect::<Result<_, _>>()?;
    Ok(SignedReport { replicas })
}

/// The chain state while one replica's files are read.
struct Walk<'k> {
    key: &'k VerifyingKey,
    report: ReplicaReport,
    last_hash: Option<String>,
    /// The seq of the last entry, when entries carry one.
    last_seq: Option<u64>,
}

fn verify_replica(
    replica: String,
    files: Vec<PathBuf>,
    key: &VerifyingKey,
) -> Result<ReplicaReport, VerifyError> {
    let mut walk = Walk {
        key,
        report: ReplicaReport {
            replica,
            files: files.clone(),
            entries: 0,
            checkpoints: 0,
            signed_seq: 0,
            starts_at_genesis: false,
            unsigned_tail: None,
        },
        last_hash: None,
        last_seq: None,
    };
    for path in &files {
        walk.file(path)?;
    }
    if walk.report.checkpoints == 0 {
        return Err(VerifyError::Unsigned {
            replica: walk.report.replica,
            path: files.last().cloned().unwrap_or_default(),
        });
    }
    Ok(walk.report)
}

impl Walk<'_> {
    fn file(&mut self, path: &Path) -> Result<(), VerifyError> {
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
            self.line(&buf, path, line_no)
                .map_err(|reason| VerifyError::Broken {
                    path: path.to_path_buf(),
                    line: line_no,
                    reason,
                })?;
        }
    }

    fn line(&mut self, buf: &[u8], path: &Path, line_no: u64) -> Result<(), BreakReason> {
        let checked = match check_line(buf, self.last_hash.as_deref()) {
            Ok(c) => c,
            Err(BreakReason::PrevHashMismatch { expected, found }) => {
                return Err(self
                    .gap(buf)
                    .unwrap_or(BreakReason::PrevHashMismatch { expected, found }));
            }
            Err(e) => return Err(e),
        };
        let Checked { value, prev, hash } = checked;
        if self.last_hash.is_none() {
            self.report.starts_at_genesis = prev == GENESIS_HASH;
        }
        let replica = replica_of(&value);
        if replica != self.report.replica {
            return Err(BreakReason::OtherReplica {
                expected: self.report.replica.clone(),
                found: replica,
            });
        }
        if is_checkpoint(&value) {
            let c = check(&value, self.key)?;
            let counted = self.last_seq.unwrap_or(0);
            if (self.last_seq.is_some() || self.report.starts_at_genesis) && c.seq != counted {
                return Err(BreakReason::CountMismatch {
                    signed: c.seq,
                    counted,
                });
            }
            self.report.checkpoints += 1;
            self.report.signed_seq = c.seq;
            self.report.unsigned_tail = None;
        } else {
            let seq = value.get("seq").and_then(Value::as_u64);
            if let (Some(last), Some(seq)) = (self.last_seq, seq)
                && seq != last + 1
            {
                return Err(BreakReason::EntriesMissing {
                    replica,
                    from: last + 1,
                    to: seq.saturating_sub(1),
                });
            }
            if seq.is_some() {
                self.last_seq = seq;
            }
            self.report.entries += 1;
            match &mut self.report.unsigned_tail {
                Some((n, _, _)) => *n += 1,
                None => self.report.unsigned_tail = Some((1, path.to_path_buf(), line_no)),
            }
        }
        self.last_hash = Some(hash);
        Ok(())
    }

    /// For a line that does not follow the last one: the entries its seq (or, for a
    /// checkpoint, its count) proves are missing in between.
    fn gap(&self, buf: &[u8]) -> Option<BreakReason> {
        let value: Value = serde_json::from_slice(buf).ok()?;
        let seq = value.get("seq").and_then(Value::as_u64)?;
        let last = self.last_seq?;
        let first_missing = last + 1;
        // An entry's seq is one past the previous entry; a checkpoint's is the last entry's.
        let last_missing = if is_checkpoint(&value) {
            seq
        } else {
            seq.checked_sub(1)?
        };
        (last_missing >= first_missing).then(|| BreakReason::EntriesMissing {
            replica: self.report.replica.clone(),
            from: first_missing,
            to: last_missing,
        })
    }
}

/// The replica a line names.
fn replica_of(value: &Value) -> String {
    value
        .get("replica")
        .and_then(Value::as_str)
        .unwrap_or(UNNAMED)
        .to_owned()
}

/// The replica of a file's first line that parses (unnamed for an empty file).
fn first_replica(path: &Path) -> Result<String, VerifyError> {
    let read_err = |source| VerifyError::Read {
        path: path.to_path_buf(),
        source,
    };
    let reader = BufReader::new(File::open(path).map_err(read_err)?);
    for line in reader.split(b'\n').take(1) {
        let line = line.map_err(read_err)?;
        if let Ok(value) = serde_json::from_slice::<Value>(&line) {
            return Ok(replica_of(&value));
        }
    }
    Ok(UNNAMED.to_owned())
}

#[cfg(test)]
mod tests;
