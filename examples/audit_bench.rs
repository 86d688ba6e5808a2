//! Writer throughput: entries/s for each fsync policy, one producer awaiting `record`.
//!
//! Try it:
//!     cargo run --release --example audit_bench             # 200000 entries per policy
//!     cargo run --release --example audit_bench -- 50000 /tmp/audit-bench   # keep the logs

#![allow(clippy::print_stdout, reason = "an example that reports numbers")]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use keyward::audit::{
    AuditConfig, AuditEntry, AuditWriter, Decision, FsyncPolicy, log_files, verify_files,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200_000);
    let keep = args.next().map(PathBuf::from);
    let scratch = tempfile::tempdir()?;
    let dir = keep.unwrap_or_else(|| scratch.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;

    let policies = [
        ("never", FsyncPolicy::Never),
        ("interval-1s", FsyncPolicy::Interval(Duration::from_secs(1))),
        ("always", FsyncPolicy::Always),
    ];
    for (name, fsync) in policies {
        let mut config = AuditConfig::new(dir.join(format!("{name}.jsonl")));
        config.fsync = fsync;
        config.rotate_bytes = Some(64 << 20);
        let path = config.path.clone();
        let (handle, task) = AuditWriter::start(config)?;
        let started = Instant::now();
        for i in 0..n {
            handle.record(sample(i)).await?;
        }
        handle.flush().await;
        let elapsed = started.elapsed();
        handle.close().await;
        task.await?;
        let report = verify_files(&log_files(&path)?)?;
        let bytes: u64 = log_files(&path)?
            .iter()
            .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
            .sum();
        println!(
            "{name:<12} {n} entries in {:.2}s = {:.0} entries/s ({} bytes/entry, {} files, verified {})",
            elapsed.as_secs_f64(),
            n as f64 / elapsed.as_secs_f64(),
            bytes / n.max(1) as u64,
            report.files,
            report.entries,
        );
    }
    Ok(())
}

/// A realistic entry; every 1000th has non-ASCII and control characters in its path.
fn sample(i: usize) -> AuditEntry {
    let path = if i.is_multiple_of(1000) {
        format!("/repos/acme/ünïcode-✓/issues/{i}\u{7}\t\"q\"")
    } else {
        format!("/repos/acme/widgets/issues/{i}")
    };
    let mut e = AuditEntry::new(
        format!("req-{i:08x}"),
        "127.0.0.1:52814",
        "POST",
        "https",
        "api.github.com",
        443,
        path,
    );
    e.agent = Some("triage-bot".into());
    e.query = Some("state=[redacted]".into());
    e.decision = if i.is_multiple_of(7) {
        Decision::Deny
    } else {
        Decision::Allow
    };
    e.rule = Some("github-create-issue".into());
    e.reason = Some("matched rule github-create-issue".into());
    e.credentials = vec!["github".into()];
    e.status = Some(201);
    e.bytes_in = 512;
    e.bytes_out = 2048;
    e.redactions.insert("github".into(), (i % 3) as u64);
    e.duration_ms = (i as f64) * 0.0137 + 0.5;
    e.upstream_ms = Some((i as f64) / 7.0);
    e
}
