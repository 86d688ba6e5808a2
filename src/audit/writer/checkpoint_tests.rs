//! Writer tests with a signing key: checkpoints by count, by time, before each rotation and
//! at shutdown, `seq` continued across a restart, and the key never in the log.

use std::path::Path;

use ed25519_dalek::SigningKey;

use super::*;
use crate::audit::checkpoint::Signer;
use crate::audit::checkpoint::schedule::{CheckpointConfig, KeySource};
use crate::audit::checkpoint::verify::verify_signed;
use crate::audit::rotate::log_files;

const SEED: [u8; 32] = [7; 32];

fn signed_config(path: &Path, every: u64) -> AuditConfig {
    let mut c = AuditConfig::new(path);
    c.fsync = FsyncPolicy::Never;
    c.replica = Some("kw-test".into());
    let mut checkpoints = CheckpointConfig::new(KeySource::Spec("env:UNUSED".into()));
    checkpoints.every_entries = every;
    c.checkpoints = Some(checkpoints);
    c
}

fn entry(i: usize) -> AuditEntry {
    AuditEntry::new(
        format!("r{i}"),
        "10.0.0.1:4000",
        "GET",
        "https",
        "h",
        443,
        "/",
    )
}

async fn write_n(cfg: AuditConfig, n: usize) {
    let signer = Signer::new(SigningKey::from_bytes(&SEED));
    let (handle, task) = AuditWriter::start_signed(cfg, Some(signer)).unwrap();
    for i in 0..n {
        handle.record(entry(i)).await.unwrap();
    }
    handle.close().await;
    task.await.unwrap();
}

fn kinds(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            if l.contains(r#""kind":"checkpoint""#) {
                'c'
            } else {
                'e'
            }
        })
        .collect()
}

fn key() -> ed25519_dalek::VerifyingKey {
    SigningKey::from_bytes(&SEED).verifying_key()
}

#[tokio::test]
async fn checkpoints_follow_every_n_entries_and_close_the_log_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_n(signed_config(&path, 3), 7).await;
    assert_eq!(kinds(&path), "eeeceeecec");
    let report = verify_signed(std::slice::from_ref(&path), &key()).unwrap();
    let r = &report.replicas[0];
    assert_eq!(
        (r.replica.as_str(), r.entries, r.checkpoints, r.signed_seq),
        ("kw-test", 7, 3, 7)
    );
    assert_eq!(r.unsigned_tail, None);
    let text = std::fs::read_to_string(&path).unwrap();
    let hex: String = SEED.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!text.contains(&hex), "the signing key is in the log");
}

#[tokio::test]
async fn a_restart_continues_seq_and_signs_what_it_found_unsigned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    // Two unsigned entries left by a writer without a key, then two more with one.
    let mut plain = signed_config(&path, 3);
    plain.checkpoints = None;
    let (handle, task) = AuditWriter::start(plain).unwrap();
    for i in 0..2 {
        handle.record(entry(i)).await.unwrap();
    }
    handle.close().await;
    task.await.unwrap();
    write_n(signed_config(&path, 3), 2).await;
    assert_eq!(kinds(&path), "eeeec");
    let report = verify_signed(std::slice::from_ref(&path), &key()).unwrap();
    assert_eq!(report.replicas[0].signed_seq, 4);
}

#[tokio::test]
async fn each_rotated_file_ends_with_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut cfg = signed_config(&path, 1000);
    cfg.rotate_bytes = Some(1200);
    write_n(cfg, 12).await;
    let files = log_files(&path).unwrap();
    assert!(files.len() >= 3, "{files:?}");
    for f in &files {
        assert!(
            kinds(f).ends_with('c'),
            "{} does not end with a checkpoint: {}",
            f.display(),
            kinds(f)
        );
    }
    let report = verify_signed(&files, &key()).unwrap();
    assert_eq!(
        (report.replicas[0].entries, report.replicas[0].signed_seq),
        (12, 12)
    );
}

#[tokio::test(start_paused = true)]
async fn a_checkpoint_is_written_once_the_interval_passes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut cfg = signed_config(&path, 1000);
    if let Some(c) = cfg.checkpoints.as_mut() {
        c.interval = Duration::from_secs(60);
    }
    let signer = Signer::new(SigningKey::from_bytes(&SEED));
    let (handle, task) = AuditWriter::start_signed(cfg, Some(signer)).unwrap();
    handle.record(entry(0)).await.unwrap();
    handle.flush().await;
    assert_eq!(kinds(&path), "e");
    tokio::time::sleep(Duration::from_secs(61)).await;
    handle.flush().await;
    assert_eq!(kinds(&path), "ec");
    handle.close().await;
    task.await.unwrap();
    assert_eq!(kinds(&path), "ec", "nothing unsigned left at shutdown");
}
