//! Tamper tests for `verify_files`: each kind of damage is caught at the right line.

use std::path::{Path, PathBuf};

use super::*;
use crate::audit::chain::seal;
use crate::audit::entry::AuditEntry;

/// `n` sealed lines chained from `prev`, and the last hash.
fn lines(n: usize, prev: &str) -> (Vec<String>, String) {
    let mut prev = prev.to_owned();
    let mut out = Vec::new();
    for i in 0..n {
        let mut e = AuditEntry::new(
            format!("r{i}"),
            "10.0.0.1:4000",
            "GET",
            "https",
            "h",
            443,
            "/",
        );
        e.status = Some(200);
        e.duration_ms = 1.25 * i as f64;
        out.push(String::from_utf8(seal(&mut e, &prev).unwrap()).unwrap());
        prev = e.hash;
    }
    (out, prev)
}

fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&path, text).unwrap();
    path
}

fn broken_at(result: Result<VerifyReport, VerifyError>) -> (PathBuf, u64, BreakReason) {
    match result {
        Err(VerifyError::Broken { path, line, reason }) => (path, line, reason),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

#[test]
fn intact_log_verifies_from_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let (l, last) = lines(5, GENESIS_HASH);
    let path = write(dir.path(), "a", &l);
    let report = verify_files(&[path]).unwrap();
    assert_eq!(report.entries, 5);
    assert!(report.starts_at_genesis);
    assert_eq!(report.last_hash.as_deref(), Some(last.as_str()));
    assert!(report.to_string().contains("starts at genesis"));
}

#[test]
fn edited_field_is_a_hash_mismatch_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let (mut l, _) = lines(5, GENESIS_HASH);
    l[2] = l[2].replace("\"status\":200", "\"status\":201");
    let path = write(dir.path(), "a", &l);
    let (p, line, reason) = broken_at(verify_files(std::slice::from_ref(&path)));
    assert_eq!((p, line), (path, 3));
    assert!(
        matches!(reason, BreakReason::HashMismatch { .. }),
        "{reason}"
    );
}

#[test]
fn deleted_line_breaks_the_link_at_the_next_line() {
    let dir = tempfile::tempdir().unwrap();
    let (mut l, _) = lines(5, GENESIS_HASH);
    l.remove(1);
    let path = write(dir.path(), "a", &l);
    let (_, line, reason) = broken_at(verify_files(&[path]));
    assert_eq!(line, 2);
    assert!(
        matches!(reason, BreakReason::PrevHashMismatch { .. }),
        "{reason}"
    );
}

#[test]
fn swapped_lines_break_the_link_at_the_first_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let (mut l, _) = lines(5, GENESIS_HASH);
    l.swap(2, 3);
    let path = write(dir.path(), "a", &l);
    let (_, line, reason) = broken_at(verify_files(&[path]));
    assert_eq!(line, 3);
    assert!(
        matches!(reason, BreakReason::PrevHashMismatch { .. }),
        "{reason}"
    );
}

#[test]
fn truncated_last_line_is_bad_json_at_that_line() {
    let dir = tempfile::tempdir().unwrap();
    let (l, _) = lines(4, GENESIS_HASH);
    let path = write(dir.path(), "a", &l);
    let text = std::fs::read(&path).unwrap();
    std::fs::write(&path, &text[..text.len() - 40]).unwrap();
    let (_, line, reason) = broken_at(verify_files(&[path]));
    assert_eq!(line, 4);
    assert!(matches!(reason, BreakReason::BadJson(_)), "{reason}");
}

#[test]
fn chain_runs_across_files_and_reports_the_right_file() {
    let dir = tempfile::tempdir().unwrap();
    let (first, last) = lines(3, GENESIS_HASH);
    let (mut second, _) = lines(3, &last);
    let a = write(dir.path(), "a", &first);
    let b = write(dir.path(), "b", &second);
    assert_eq!(verify_files(&[a.clone(), b.clone()]).unwrap().entries, 6);
    // Files given in the wrong order break at the first line of the first file's successor.
    let (p, line, _) = broken_at(verify_files(&[b.clone(), a.clone()]));
    assert_eq!((p, line), (a.clone(), 1));
    second[1] = second[1].replace("\"r1\"", "\"rX\"");
    let b = write(dir.path(), "b", &second);
    let (p, line, _) = broken_at(verify_files(&[a, b.clone()]));
    assert_eq!((p, line), (b, 2));
}

#[test]
fn log_starting_mid_chain_verifies_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (l, _) = lines(4, GENESIS_HASH);
    let path = write(dir.path(), "a", &l[2..]);
    let report = verify_files(&[path]).unwrap();
    assert_eq!(report.entries, 2);
    assert!(!report.starts_at_genesis);
    assert!(report.to_string().contains("mid-way"), "{report}");
}

#[test]
fn no_files_and_missing_files_are_errors() {
    assert!(matches!(verify_files(&[]), Err(VerifyError::NoFiles)));
    let err = verify_files(&[PathBuf::from("/nonexistent/audit.jsonl")]).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/audit.jsonl"),
        "{err}"
    );
}
