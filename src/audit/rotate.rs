//! Names of rotated log files (`audit.jsonl.20261125T191500.123Z`) and listing a log's files
//! oldest first, which is the order the chain runs through them.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use time::{Duration, OffsetDateTime};

use super::timestamp;

/// A name `<path>.<timestamp>` for rotating `path` that is not taken yet. The timestamp is
/// `now`, moved forward a millisecond at a time past `after` (the previous rotation) and
/// past existing files, so names stay unique and sort in rotation order.
pub fn free_rotated_path(
    path: &Path,
    now: OffsetDateTime,
    after: Option<OffsetDateTime>,
) -> (PathBuf, OffsetDateTime) {
    let mut t = now;
    if let Some(prev) = after {
        let next = prev + Duration::milliseconds(1);
        if t < next {
            t = next;
        }
    }
    loop {
        let candidate = rotated_path(path, t);
        // `exists` is false on errors too; the rename that follows reports those.
        if !candidate.exists() {
            return (candidate, t);
        }
        t += Duration::milliseconds(1);
    }
}

/// `<path>.<compact UTC timestamp>`.
pub fn rotated_path(path: &Path, t: OffsetDateTime) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".");
    name.push(timestamp::compact_millis(t));
    PathBuf::from(name)
}

/// The rotated files of the log at `path`, oldest first (not including `path` itself).
pub fn rotated_files(path: &Path) -> io::Result<Vec<PathBuf>> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(base) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{base}.");
    let mut found = Vec::new();
    for item in std::fs::read_dir(&dir)? {
        let item = item?;
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        if name
            .strip_prefix(&prefix)
            .is_some_and(timestamp::is_compact_millis)
        {
            found.push(dir.join(name));
        }
    }
    found.sort();
    Ok(found)
}

/// Every file of the log at `path` in chain order: rotated files oldest first, then `path`
/// when it exists. This is what `keyward audit verify` checks when given the live path.
pub fn log_files(path: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = rotated_files(path)?;
    if path.exists() {
        files.push(path.to_path_buf());
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_names_are_unique_and_sort_in_rotation_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.jsonl");
        let now = OffsetDateTime::from_unix_timestamp(1_795_634_100).unwrap();
        let (first, t1) = free_rotated_path(&log, now, None);
        assert!(
            first
                .to_str()
                .unwrap()
                .ends_with("audit.jsonl.20261125T191500.000Z")
        );
        std::fs::write(&first, b"").unwrap();
        // Same millisecond again, and a clock that went backwards: both move forward.
        let (second, t2) = free_rotated_path(&log, now, Some(t1));
        std::fs::write(&second, b"").unwrap();
        let (third, _) = free_rotated_path(&log, now - Duration::seconds(5), Some(t2));
        std::fs::write(&third, b"").unwrap();
        std::fs::write(&log, b"").unwrap();
        std::fs::write(dir.path().join("audit.jsonl.bak"), b"").unwrap();
        assert_eq!(log_files(&log).unwrap(), vec![first, second, third, log]);
    }
}
