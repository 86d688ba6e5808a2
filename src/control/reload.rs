//! Hot reload of the rules: on SIGHUP, on `POST /reload`, and when the rules directory
//! changes (polled, debounced; links followed, so a Kubernetes ConfigMap's `..data` swap
//! counts). A broken edit keeps the last good rules and logs every error.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::control::rules_in_force::RulesInForce;
use crate::metrics::Metrics;
use crate::policy::{CompileErrors, Summary};

/// How often the rules directory is looked at.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// The link a Kubernetes volume (ConfigMap, Secret) swaps to publish a new version.
const DATA_LINK: &str = "..data";
/// A change is applied once the directory has been stable this long (editors write twice).
const SETTLE: Duration = Duration::from_millis(300);

/// What a reload needs: the rules to swap and the metrics that count reloads.
#[derive(Clone)]
pub struct Reloader {
    rules: Arc<RulesInForce>,
    metrics: Arc<Metrics>,
}

impl Reloader {
    pub fn new(rules: Arc<RulesInForce>, metrics: Arc<Metrics>) -> Self {
        Self { rules, metrics }
    }

    /// Recompiles and swaps the rules; on error keeps the current ones. Logs and counts the
    /// outcome (`why` says what asked for it: a signal, the directory, an approver's name).
    pub fn reload_now(&self, why: &str) -> Result<Summary, CompileErrors> {
        let result = self.rules.reload();
        match &result {
            Ok(summary) => {
                self.metrics.rule_reloads(true);
                tracing::info!(why, %summary, "rules reloaded");
            }
            Err(errors) => {
                self.metrics.rule_reloads(false);
                for e in &errors.0 {
                    tracing::error!(why, error = %e, "rule error; keeping the last good rules");
                }
            }
        }
        result
    }
}

/// One rule file as last seen: name, size, modification time and the file it resolves to.
type Seen = (String, u64, SystemTime, Option<PathBuf>);

/// A fingerprint of the directory: each rule file's name, size, modification time and
/// resolved path — links followed, so a Kubernetes ConfigMap mount (`rules.yaml ->
/// ..data/rules.yaml`, `..data -> ..2026_…`) changes it when `..data` is swapped — plus
/// where `..data` points.
fn fingerprint(dir: &Path) -> (Vec<Seen>, Option<PathBuf>) {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let ext = path.extension()?.to_str()?;
            if ext != "yaml" && ext != "yml" {
                return None;
            }
            let meta = std::fs::metadata(&path).ok()?;
            Some((
                path.file_name()?.to_string_lossy().into_owned(),
                meta.len(),
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                std::fs::canonicalize(&path).ok(),
            ))
        })
        .collect();
    files.sort();
    (files, std::fs::read_link(dir.join(DATA_LINK)).ok())
}

/// Watches the rules directory until shutdown, reloading after changes settle.
pub async fn watch(reloader: Reloader, shutdown: CancellationToken) {
    let dir = reloader.rules.dir().to_path_buf();
    let mut seen = fingerprint(&dir);
    let mut ticker = tokio::time::interval(POLL_EVERY);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let now = fingerprint(&dir);
        if now == seen {
            continue;
        }
        tokio::time::sleep(SETTLE).await;
        let settled = fingerprint(&dir);
        if settled != now {
            continue;
        }
        seen = settled;
        let _ = reloader.reload_now("rules directory changed");
    }
}

/// Reloads on every SIGHUP until shutdown.
#[cfg(unix)]
pub async fn on_sighup(reloader: Reloader, shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!(
            "cannot listen for SIGHUP; reload with POST /reload or by editing the rules"
        );
        return;
    };
    loop {
        tokio::select! {
            got = hup.recv() => {
                if got.is_none() {
                    return;
                }
                let _ = reloader.reload_now("SIGHUP");
            }
            () = shutdown.cancelled() => return,
        }
    }
}
