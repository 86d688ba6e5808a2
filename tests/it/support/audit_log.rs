//! Reading a test's audit log: its entries as JSON, a bounded wait (flushing the writer)
//! until enough are there, and `keyward audit verify` run on it.

use std::path::Path;
use std::time::Duration;

use keyward::audit::AuditHandle;

/// How long [`wait_for`] flushes and reads before it gives up.
const WAIT: Duration = Duration::from_secs(5);

/// Every entry of the log at `path` (none when it does not exist yet).
pub fn read(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Flushes the writer until the log holds at least `at_least` entries matching `which`
/// (bounded: about 5 s), then returns every entry of the log.
pub async fn wait_for(
    audit: &AuditHandle,
    path: &Path,
    at_least: usize,
    which: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let mut found = 0;
    let all = super::within_async(WAIT, async || {
        audit.flush().await;
        let all = read(path);
        found = all.iter().filter(|e| which(e)).count();
        (found >= at_least).then_some(all)
    })
    .await;
    all.unwrap_or_else(|| {
        panic!(
            "{found} matching audit entries, expected at least {at_least}: {:?}",
            read(path)
        )
    })
}

/// Runs `keyward audit verify` on the log and asserts it passes; its summary.
pub fn verify(path: &Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["audit", "verify"])
        .arg(path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "verify failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
