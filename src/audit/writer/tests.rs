//! Writer tests: chain on disk, restart, rotation, failure → unhealthy, flush, backpressure,
//! close draining entries still waiting for room.

use std::path::{Path, PathBuf};

use super::*;
use crate::audit::chain::GENESIS_HASH;
use crate::audit::rotate::log_files;
use crate::audit::verify::verify_files;

fn entry(i: usize) -> AuditEntry {
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
    e
}

fn config(path: &Path) -> AuditConfig {
    let mut c = AuditConfig::new(path);
    c.fsync = FsyncPolicy::Never;
    c
}

fn read_entries(path: &Path) -> Vec<AuditEntry> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn write_n(cfg: AuditConfig, range: std::ops::Range<usize>) {
    let (handle, task) = AuditWriter::start(cfg).unwrap();
    for i in range {
        handle.record(entry(i)).await.unwrap();
    }
    assert!(handle.is_healthy());
    handle.close().await;
    task.await.unwrap();
}

#[tokio::test]
async fn writes_one_line_per_entry_with_a_valid_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_n(config(&path), 0..10).await;
    let entries = read_entries(&path);
    assert_eq!(entries.len(), 10);
    assert_eq!(entries[0].prev_hash, GENESIS_HASH);
    let report = verify_files(std::slice::from_ref(&path)).unwrap();
    assert_eq!((report.entries, report.starts_at_genesis), (10, true));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn restart_continues_the_chain_from_the_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_n(config(&path), 0..3).await;
    write_n(config(&path), 3..5).await;
    let entries = read_entries(&path);
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[3].prev_hash, entries[2].hash);
    assert_eq!(verify_files(&[path]).unwrap().entries, 5);
}

#[tokio::test]
async fn restart_after_rotation_continues_from_the_newest_rotated_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_n(config(&path), 0..3).await;
    // As if the writer stopped right after a rotation: the live file is empty.
    std::fs::rename(&path, dir.path().join("audit.jsonl.20260101T000000.000Z")).unwrap();
    std::fs::write(&path, b"").unwrap();
    write_n(config(&path), 3..4).await;
    let report = verify_files(&log_files(&path).unwrap()).unwrap();
    assert_eq!((report.entries, report.files), (4, 2));
}

#[tokio::test]
async fn restart_refuses_a_cut_off_last_line_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_n(config(&path), 0..3).await;
    let text = std::fs::read(&path).unwrap();
    std::fs::write(&path, &text[..text.len() - 10]).unwrap();
    let err = AuditWriter::start(config(&path)).unwrap_err().to_string();
    assert!(
        err.contains(path.to_str().unwrap()) && err.contains("line 3"),
        "{err}"
    );
}

#[tokio::test]
async fn rotation_by_size_continues_the_chain_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut cfg = config(&path);
    cfg.rotate_bytes = Some(1500);
    write_n(cfg, 0..20).await;
    let files = log_files(&path).unwrap();
    assert!(files.len() >= 4, "expected several files, got {files:?}");
    for f in &files {
        assert!(std::fs::metadata(f).unwrap().len() <= 1500, "{f:?} too big");
    }
    let first_of_second = &read_entries(&files[1])[0];
    assert_eq!(
        &first_of_second.prev_hash,
        &read_entries(&files[0]).last().unwrap().hash
    );
    let report = verify_files(&files).unwrap();
    assert_eq!((report.entries, report.starts_at_genesis), (20, true));
}

#[tokio::test]
async fn start_fails_with_the_path_when_it_lies_inside_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    for path in [
        file.join("audit.jsonl"),
        PathBuf::from("/dev/null/audit.jsonl"),
    ] {
        let err = AuditWriter::start(config(&path)).unwrap_err().to_string();
        assert!(err.contains(path.to_str().unwrap()), "{err}");
    }
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn failed_write_makes_the_handle_unhealthy() {
    // /dev/full refuses every write with ENOSPC, even for root.
    let (handle, _task) = AuditWriter::start(config(Path::new("/dev/full"))).unwrap();
    assert!(handle.is_healthy());
    handle.record(entry(0)).await.unwrap();
    handle.flush().await;
    assert!(!handle.is_healthy());
}

#[tokio::test]
async fn failed_rotation_is_unhealthy_until_the_directory_returns() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("logs");
    std::fs::create_dir(&sub).unwrap();
    let path = sub.join("audit.jsonl");
    let mut cfg = config(&path);
    cfg.rotate_bytes = Some(1); // every entry after the first rotates
    let (handle, task) = AuditWriter::start(cfg).unwrap();
    handle.record(entry(0)).await.unwrap();
    handle.flush().await;
    assert!(handle.is_healthy());

    std::fs::remove_dir_all(&sub).unwrap();
    handle.record(entry(1)).await.unwrap();
    handle.flush().await;
    assert!(
        !handle.is_healthy(),
        "rotation into a removed directory must fail"
    );
    handle.flush().await;
    assert!(
        !handle.is_healthy(),
        "stays unhealthy while the directory is gone"
    );

    std::fs::create_dir(&sub).unwrap();
    handle.flush().await; // retries the queued entry
    assert!(handle.is_healthy());
    handle.record(entry(2)).await.unwrap();
    handle.close().await;
    task.await.unwrap();
    // Entry 0 went with the removed directory; 1 and 2 are there, chained after it.
    let report = verify_files(&log_files(&path).unwrap()).unwrap();
    assert_eq!((report.entries, report.starts_at_genesis), (2, false));
}

#[tokio::test]
async fn flushed_entries_are_in_the_file_before_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    for policy in [
        FsyncPolicy::Always,
        FsyncPolicy::Interval(Duration::from_secs(3600)),
    ] {
        let mut cfg = config(&path);
        cfg.fsync = policy;
        let (handle, _task) = AuditWriter::start(cfg).unwrap();
        handle.record(entry(7)).await.unwrap();
        handle.flush().await;
        assert_eq!(read_entries(&path).last().unwrap().request_id, "r7");
        handle.close().await;
    }
    assert_eq!(verify_files(&[path]).unwrap().entries, 2);
}

#[tokio::test]
async fn record_waits_for_room_and_keeps_every_entry_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut cfg = config(&path);
    cfg.channel_capacity = 1;
    let (handle, task) = AuditWriter::start(cfg).unwrap();
    // Nothing has run the writer yet on this single-threaded runtime: the second is refused.
    handle.try_record(entry(0)).unwrap();
    let err = handle.try_record(entry(999)).unwrap_err();
    assert!(matches!(&err, AuditError::Full { request_id } if request_id == "r999"));
    for i in 1..2000 {
        handle.record(entry(i)).await.unwrap();
    }
    handle.close().await;
    task.await.unwrap();
    let ids: Vec<String> = read_entries(&path)
        .into_iter()
        .map(|e| e.request_id)
        .collect();
    let expected: Vec<String> = (0..2000).map(|i| format!("r{i}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(verify_files(&[path]).unwrap().entries, 2000);
}

#[tokio::test]
async fn record_after_close_is_refused_with_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, task) = AuditWriter::start(config(&dir.path().join("a.jsonl"))).unwrap();
    let other = handle.clone();
    handle.close().await;
    task.await.unwrap();
    let err = other.record(entry(5)).await.unwrap_err();
    assert!(matches!(&err, AuditError::Closed { request_id } if request_id == "r5"));
    other.flush().await; // returns at once
}

#[tokio::test]
async fn zero_capacity_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir.path().join("a.jsonl"));
    cfg.channel_capacity = 0;
    assert!(matches!(
        AuditWriter::start(cfg),
        Err(AuditError::ZeroCapacity(0))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_writes_and_syncs_entries_still_waiting_for_room() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut cfg = config(&path);
    cfg.channel_capacity = 1;
    cfg.fsync = FsyncPolicy::Interval(Duration::from_secs(3600));
    let (handle, task) = AuditWriter::start(cfg).unwrap();
    let total = 300;
    for i in 0..total {
        handle.record_detached(entry(i));
    }
    assert!(handle.waiting() > 0, "the channel of one filled up");
    handle.clone().close().await;
    task.await.unwrap();
    let entries = read_entries(&path);
    let mut ids: Vec<String> = entries.iter().map(|e| e.request_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((entries.len(), ids.len()), (total, total));
    let report = verify_files(std::slice::from_ref(&path)).unwrap();
    assert_eq!(report.entries, total as u64);
    assert_eq!(handle.waiting(), 0);
}
