//! The most recent entries of an audit log, newest first: what the approvals console's
//! decisions feed shows. Only the end of the file is read, so a long log costs no more than
//! a short one; a line cut by that window, checkpoints and lines that are no entry are
//! skipped.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use super::entry::AuditEntry;
use super::tail::{TailFilter, is_checkpoint_line};

/// How much of the end of the log is read.
pub const WINDOW_BYTES: u64 = 1024 * 1024;

/// Up to `limit` entries of `path` that pass `filter`, newest first, from its last
/// [`WINDOW_BYTES`]. A missing file has no entries.
pub fn recent(path: &Path, filter: &TailFilter, limit: usize) -> io::Result<Vec<AuditEntry>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let start = len.saturating_sub(WINDOW_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(WINDOW_BYTES).read_to_end(&mut bytes)?;
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if start > 0 && !lines.is_empty() {
        // The window began inside a line.
        lines.remove(0);
    }
    Ok(lines
        .into_iter()
        .rev()
        .filter(|line| !line.is_empty())
        .filter(|line| !(line.starts_with(br#"{"hash":"#) && is_checkpoint_line(line)))
        .filter_map(|line| serde_json::from_slice::<AuditEntry>(line).ok())
        .filter(|entry| filter.matches(entry))
        .take(limit)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::{GENESIS_HASH, seal};
    use crate::audit::decision::Decision;

    fn log(dir: &Path, entries: usize, filler: usize) -> std::path::PathBuf {
        let path = dir.join("audit.jsonl");
        let mut text = String::new();
        let mut prev = GENESIS_HASH.to_owned();
        for i in 0..entries {
            let mut e = AuditEntry::new(
                i.to_string(),
                "127.0.0.1:9",
                "GET",
                "https",
                "a.example",
                443,
                format!("/{}", "x".repeat(filler)),
            );
            e.agent = Some(if i % 2 == 0 { "alice" } else { "bob" }.into());
            e.decision = if i % 3 == 0 {
                Decision::Deny
            } else {
                Decision::Allow
            };
            e.rule = Some(if i % 3 == 0 { "blocked" } else { "read" }.into());
            text.push_str(&String::from_utf8(seal(&mut e, &prev).unwrap()).unwrap());
            text.push('\n');
            prev = e.hash;
        }
        text.push_str("not an entry\n");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn newest_first_filtered_and_limited() {
        let dir = tempfile::tempdir().unwrap();
        let path = log(dir.path(), 30, 10);
        let all = recent(&path, &TailFilter::default(), 100).unwrap();
        assert_eq!(all.len(), 30);
        assert_eq!(all[0].request_id, "29");
        let filter = TailFilter {
            agent: Some("alice".into()),
            rule: Some("blocked".into()),
            decision: Some(Decision::Deny),
            host: None,
        };
        let ids: Vec<String> = recent(&path, &filter, 3)
            .unwrap()
            .into_iter()
            .map(|e| e.request_id)
            .collect();
        assert_eq!(ids, ["24", "18", "12"]);
    }

    #[test]
    fn only_the_end_of_a_long_log_is_read() {
        let dir = tempfile::tempdir().unwrap();
        // About 2.5 MiB: the first entries are outside the window, a cut line is skipped.
        let path = log(dir.path(), 500, 5000);
        let got = recent(&path, &TailFilter::default(), 1000).unwrap();
        assert!(got.len() > 100 && got.len() < 300, "{}", got.len());
        assert_eq!(got[0].request_id, "499");
        assert!(
            recent(&dir.path().join("missing"), &TailFilter::default(), 5)
                .unwrap()
                .is_empty()
        );
    }
}
