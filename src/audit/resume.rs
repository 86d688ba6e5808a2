//! Finding where an existing log's chain ends, so a restarted writer continues it: the last
//! line of the live file, or of the newest rotated file when the live file is empty.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::chain::{self, GENESIS_HASH};
use super::checkpoint;
use super::rotate;

/// Longest last line read back at start; longer means the file is not an audit log.
const MAX_LINE: u64 = 1 << 20;
/// How much is read per step when scanning backwards for the start of the last line.
const CHUNK: u64 = 8 * 1024;

/// Where the chain stands in an existing log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tip {
    /// The hash of the last entry, or [`GENESIS_HASH`] for a new log.
    pub hash: String,
    /// The live file ends without a newline (a complete entry whose `\n` was lost), so the
    /// next write must start with one.
    pub needs_newline: bool,
    /// The `seq` of the last line (0 for a new log or a line written without one).
    pub seq: u64,
    /// The last line is an entry, not a checkpoint: the next checkpoint signs it.
    pub ends_unsigned: bool,
}

/// Why an existing log cannot be continued.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// The log or its directory could not be read.
    #[error("cannot read audit log {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The last entry is damaged; appending after it would extend a broken chain.
    #[error(
        "audit log {path} line {line} is corrupt ({reason}); refusing to append after it \
         (run `keyward audit verify` and move the damaged file aside)"
    )]
    CorruptTail {
        /// The file.
        path: PathBuf,
        /// The 1-based line number of the damaged last line.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
}

/// The chain tip of the log at `path` (see [`Tip`]).
pub fn find_tip(path: &Path) -> Result<Tip, ResumeError> {
    let read_err = |p: &Path| {
        let path = p.to_path_buf();
        move |source| ResumeError::Read { path, source }
    };
    let live_len = match std::fs::metadata(path) {
        Ok(m) if m.is_file() => m.len(),
        Ok(_) => 0,
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(read_err(path)(e)),
    };
    if live_len > 0 {
        let last = last_hash(path)?;
        return Ok(Tip {
            needs_newline: !last.had_newline,
            ..last.tip
        });
    }
    let rotated = match rotate::rotated_files(path) {
        Ok(files) => files,
        // A missing directory means a new log; opening the file will report it.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(read_err(path.parent().unwrap_or(path))(e)),
    };
    for older in rotated.iter().rev() {
        let len = std::fs::metadata(older).map_err(read_err(older))?.len();
        if len > 0 {
            return Ok(last_hash(older)?.tip);
        }
    }
    Ok(Tip {
        hash: GENESIS_HASH.to_owned(),
        needs_newline: false,
        seq: 0,
        ends_unsigned: false,
    })
}

/// The last line of a file, read back.
struct LastLine {
    /// The chain state it leaves (`needs_newline` false).
    tip: Tip,
    /// The file ends with a newline.
    had_newline: bool,
}

/// The `hash` and `seq` of the last line of a non-empty file, checked against its content,
/// and whether the file ends with a newline.
fn last_hash(path: &Path) -> Result<LastLine, ResumeError> {
    let read_err = |source| ResumeError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(read_err)?;
    let (start, line, had_newline) = last_line(&mut file).map_err(read_err)?;
    let corrupt = |reason: String| match line_number(path, start) {
        Ok(line) => ResumeError::CorruptTail {
            path: path.to_path_buf(),
            line,
            reason,
        },
        Err(source) => ResumeError::Read {
            path: path.to_path_buf(),
            source,
        },
    };
    let Some(line) = line else {
        return Err(corrupt(format!("last line longer than {MAX_LINE} bytes")));
    };
    let value: Value = serde_json::from_slice(&line)
        .map_err(|e| corrupt(format!("not valid JSON, possibly a cut-off write: {e}")))?;
    let claimed = match value.get("hash").and_then(Value::as_str) {
        Some(h) if chain::is_hash(h) => h.to_owned(),
        _ => return Err(corrupt("no valid \"hash\" member".to_owned())),
    };
    let expected = chain::expected_hash(&value).map_err(|e| corrupt(e.to_string()))?;
    if expected != claimed {
        return Err(corrupt(format!(
            "hash mismatch: the entry was edited (stored {claimed}, computed {expected})"
        )));
    }
    Ok(LastLine {
        tip: Tip {
            hash: claimed,
            needs_newline: false,
            seq: value.get("seq").and_then(Value::as_u64).unwrap_or(0),
            ends_unsigned: !checkpoint::is_checkpoint(&value),
        },
        had_newline,
    })
}

/// The byte offset where the last line starts, its bytes without the newline (`None` when
/// longer than [`MAX_LINE`]), and whether the file ends with a newline.
fn last_line(file: &mut File) -> io::Result<(u64, Option<Vec<u8>>, bool)> {
    let len = file.seek(SeekFrom::End(0))?;
    let mut end = len;
    let mut tail: Vec<u8> = Vec::new();
    let mut had_newline = false;
    loop {
        let step = CHUNK.min(end);
        let pos = end - step;
        let mut chunk = vec![0u8; usize::try_from(step).unwrap_or(0)];
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        if end == len && tail.last() == Some(&b'\n') {
            had_newline = true;
            tail.pop();
        }
        end = pos;
        if let Some(i) = tail.iter().rposition(|b| *b == b'\n') {
            let start = pos + i as u64 + 1;
            return Ok((start, Some(tail.split_off(i + 1)), had_newline));
        }
        if pos == 0 {
            return Ok((0, Some(tail), had_newline));
        }
        if tail.len() as u64 > MAX_LINE {
            return Ok((pos, None, had_newline));
        }
    }
}

/// The 1-based line number of the line starting at byte `offset`.
fn line_number(path: &Path, offset: u64) -> io::Result<u64> {
    let mut reader = BufReader::new(File::open(path)?.take(offset));
    let mut lines = 1;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(lines);
        }
        lines += buf.iter().filter(|b| **b == b'\n').count() as u64;
        let n = buf.len();
        reader.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_line_is_found_across_chunk_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let long = "x".repeat(3 * CHUNK as usize);
        std::fs::write(&path, format!("a\nb\n{long}\n")).unwrap();
        let (start, line, nl) = last_line(&mut File::open(&path).unwrap()).unwrap();
        assert_eq!((start, line.unwrap().len(), nl), (4, long.len(), true));
        assert_eq!(line_number(&path, start).unwrap(), 3);

        std::fs::write(&path, "only").unwrap();
        let (start, line, nl) = last_line(&mut File::open(&path).unwrap()).unwrap();
        assert_eq!((start, line.unwrap(), nl), (0, b"only".to_vec(), false));
    }

    #[test]
    fn missing_log_starts_at_genesis() {
        let dir = tempfile::tempdir().unwrap();
        let tip = find_tip(&dir.path().join("audit.jsonl")).unwrap();
        assert_eq!(tip.hash, GENESIS_HASH);
    }

    #[test]
    fn cut_off_last_line_is_refused_with_its_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, "{\"a\":1}\n{\"time\":\"20").unwrap();
        match find_tip(&path) {
            Err(ResumeError::CorruptTail {
                line: 2, path: p, ..
            }) => assert_eq!(p, path),
            other => panic!("expected a corrupt tail at line 2, got {other:?}"),
        }
    }
}
