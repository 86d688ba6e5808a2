//! Signed verification of hand-built logs: edits, cuts, forged checkpoints, another key,
//! and two replicas checked together.

use std::path::PathBuf;

use ed25519_dalek::SigningKey;

use super::*;
use crate::audit::AuditEntry;
use crate::audit::chain::{GENESIS_HASH, seal};
use crate::audit::checkpoint::{CheckpointError, Signer};

/// Builds one replica's log: `e` an entry, `c` a checkpoint.
struct Log {
    replica: String,
    signer: Signer,
    tip: String,
    seq: u64,
    lines: Vec<String>,
}

impl Log {
    fn new(replica: &str, seed: u8) -> Self {
        Log {
            replica: replica.into(),
            signer: Signer::new(SigningKey::from_bytes(&[seed; 32])),
            tip: GENESIS_HASH.into(),
            seq: 0,
            lines: Vec::new(),
        }
    }

    fn write(&mut self, plan: &str) -> &mut Self {
        for step in plan.chars() {
            if step == 'e' {
                self.seq += 1;
                let mut e = AuditEntry::new(
                    format!("r{}", self.seq),
                    "127.0.0.1:1",
                    "GET",
                    "https",
                    "h",
                    443,
                    "/",
                );
                e.replica = Some(self.replica.clone());
                e.seq = Some(self.seq);
                let line = seal(&mut e, &self.tip).unwrap();
                self.tip = e.hash.clone();
                self.lines.push(String::from_utf8(line).unwrap());
            } else {
                let (line, hash) = self
                    .signer
                    .line(&self.replica, self.seq, &self.tip, "t".into())
                    .unwrap();
                self.tip = hash;
                self.lines.push(String::from_utf8(line).unwrap());
            }
        }
        self
    }

    fn key(&self) -> VerifyingKey {
        self.signer.key.verifying_key()
    }
}

fn files(dir: &Path, name: &str, parts: &[&[String]]) -> Vec<PathBuf> {
    parts
        .iter()
        .enumerate()
        .map(|(i, lines)| {
            let path = dir.join(format!("{name}.{i}"));
            let mut text = lines.join("\n");
            text.push('\n');
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

fn broken(result: Result<SignedReport, VerifyError>) -> (String, u64, BreakReason) {
    match result {
        Err(VerifyError::Broken { path, line, reason }) => (
            path.file_name().unwrap().to_string_lossy().into_owned(),
            line,
            reason,
        ),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

#[test]
fn a_signed_log_verifies_and_its_tail_is_reported_unsigned() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::new("kw-a", 1);
    log.write("eeceec").write("ee");
    let paths = files(dir.path(), "a", &[&log.lines]);
    let report = verify_signed(&paths, &log.key()).unwrap();
    let r = &report.replicas[0];
    assert_eq!((r.entries, r.checkpoints, r.signed_seq), (6, 2, 4));
    assert_eq!(r.unsigned_tail.as_ref().map(|t| (t.0, t.2)), Some((2, 7)));
    assert!(
        report
            .to_string()
            .contains("unsigned tail: replica kw-a: 2 entries"),
        "{report}"
    );
}

#[test]
fn a_forged_checkpoint_or_another_key_is_named_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::new("kw-a", 1);
    log.write("eec");
    let mut forged = log.lines.clone();
    let mut v: Value = serde_json::from_str(&forged[2]).unwrap();
    v["seq"] = Value::from(5);
    v["hash"] = Value::from(crate::audit::chain::expected_hash(&v).unwrap());
    forged[2] = v.to_string();
    let paths = files(dir.path(), "a", &[&forged]);
    let (_, line, reason) = broken(verify_signed(&paths, &log.key()));
    assert_eq!(line, 3);
    assert_eq!(
        reason,
        BreakReason::Checkpoint(CheckpointError::BadSignature)
    );

    let paths = files(dir.path(), "b", &[&log.lines]);
    let other = SigningKey::from_bytes(&[9; 32]).verifying_key();
    let (_, line, reason) = broken(verify_signed(&paths, &other));
    assert_eq!(line, 3);
    assert!(matches!(
        reason,
        BreakReason::Checkpoint(CheckpointError::OtherKey { .. })
    ));
}

#[test]
fn a_file_cut_before_its_checkpoint_is_proved_by_the_next_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::new("kw-a", 1);
    log.write("eeec");
    let first = log.lines.clone();
    log.lines.clear();
    log.write("eec");
    let cut = &first[..1];
    let paths = files(dir.path(), "a", &[cut, &log.lines]);
    let (file, line, reason) = broken(verify_signed(&paths, &log.key()));
    assert_eq!((file.as_str(), line), ("a.1", 1));
    assert_eq!(
        reason,
        BreakReason::EntriesMissing {
            replica: "kw-a".into(),
            from: 2,
            to: 3
        }
    );
}

#[test]
fn two_replicas_are_grouped_and_a_log_without_checkpoints_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Log::new("kw-a", 1);
    a.write("eec");
    let mut b = Log::new("kw-b", 1);
    b.write("ece");
    let a_files = files(dir.path(), "a", &[&a.lines[..1], &a.lines[1..]]);
    let b_files = files(dir.path(), "b", &[&b.lines]);
    let given = vec![a_files[0].clone(), b_files[0].clone(), a_files[1].clone()];
    let report = verify_signed(&given, &a.key()).unwrap();
    let names: Vec<&str> = report.replicas.iter().map(|r| r.replica.as_str()).collect();
    assert_eq!(names, ["kw-a", "kw-b"]);
    assert_eq!(report.replicas[0].files.len(), 2);

    let mut c = Log::new("kw-c", 1);
    c.write("ee");
    let c_files = files(dir.path(), "c", &[&c.lines]);
    assert!(matches!(
        verify_signed(&c_files, &a.key()),
        Err(VerifyError::Unsigned { .. })
    ));
}
