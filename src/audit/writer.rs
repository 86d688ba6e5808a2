//! The audit writer: one task that owns the log file, fed through a bounded channel by
//! cloneable [`AuditHandle`]s. A full channel makes `record` wait (backpressure) rather
//! than lose entries; a failed write, fsync or rotation turns [`AuditHandle::is_healthy`]
//! false so the proxy refuses new requests (503) instead of acting unrecorded.
//!
//! The task takes up to `BATCH_MAX` (512) queued messages at a time, appends their lines with
//! one write, fsyncs (on tokio's blocking pool) as the [`FsyncPolicy`] says, and after a small
//! batch pauses `COALESCE` (2 ms) so that the next one gathers what arrived meanwhile.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::checkpoint::Signer;
use super::checkpoint::schedule::{CheckpointConfig, Schedule};
use super::entry::AuditEntry;
use super::export::otlp::{OtlpConfig, OtlpError, OtlpExport};
use super::handle::{AuditHandle, Command};
use super::sink::{OpenError, Sink, SinkSettings};

/// Most messages handled per write: bounds the latency of one batch.
const BATCH_MAX: usize = 512;
/// Entries' room the batch keeps between batches (about 64 KiB); a larger batch's is
/// given back.
const BATCH_KEPT: usize = 64;
/// How long to wait before retrying queued lines when nothing new arrives.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// After a batch smaller than [`BATCH_MAX`] and than half the channel the writer pauses this long before it looks
/// again, so entries queue up and the serving threads wake it once per pause instead of once
/// per exchange (a cross-thread wake-up costs more than writing the entry). An entry waits
/// at most this long more before it is written; the agent's response never waits for it.
const COALESCE: Duration = Duration::from_millis(2);
/// Default channel capacity: entries buffered before `record` waits.
pub const DEFAULT_CHANNEL_CAPACITY: usize = 4096;

/// When written lines are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After every batch written, before the writer takes more work.
    Always,
    /// At most once per interval while there are unsynced writes, and on `flush`.
    Interval(Duration),
    /// Never; the OS writes back in its own time.
    Never,
}

/// Where and how the audit log is written.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// The live log file; rotated files sit beside it as `<path>.<timestamp>`.
    pub path: PathBuf,
    /// When to fsync.
    pub fsync: FsyncPolicy,
    /// Rotate before the live file would grow past this many bytes; `None` never rotates.
    pub rotate_bytes: Option<u64>,
    /// Entries that may wait in the channel before `record` waits too (must be > 0).
    pub channel_capacity: usize,
    /// Also write every line to stdout, for a cluster log pipeline.
    pub also_stdout: bool,
    /// The form of the stdout copy.
    pub stdout_format: LineFormat,
    /// The id written into every entry (`None`: the host name).
    pub replica: Option<String>,
    /// Signed checkpoints (`None`: none are written).
    pub checkpoints: Option<CheckpointConfig>,
    /// Export to an OTLP collector (`None`: none).
    pub otlp: Option<OtlpConfig>,
}

/// The form of the stdout copy of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineFormat {
    /// The log's own lines, chain hashes included.
    #[default]
    Keyward,
    /// OCSF HTTP Activity events ([`super::export::ocsf`]), checkpoints left out.
    Ocsf,
}

impl AuditConfig {
    /// `path` with defaults: fsync once a second, no rotation, capacity 4096, no stdout.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        AuditConfig {
            path: path.into(),
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            rotate_bytes: None,
            channel_capacity: DEFAULT_CHANNEL_CAPACITY,
            also_stdout: false,
            stdout_format: LineFormat::Keyward,
            replica: None,
            checkpoints: None,
            otlp: None,
        }
    }
}

/// Why the audit trail could not start or take an entry.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The log could not be opened or continued.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// `channel_capacity` was 0.
    #[error("audit channel capacity must be at least 1 (got {0})")]
    ZeroCapacity(usize),
    /// The writer has stopped (closed or its runtime shut down).
    #[error("audit writer stopped; entry {request_id} not recorded")]
    Closed {
        /// The entry that was not recorded.
        request_id: String,
    },
    /// The checkpoint signing key could not be loaded.
    #[error(transparent)]
    Key(#[from] super::checkpoint::schedule::SignerError),
    /// The OTLP exporter could not start.
    #[error(transparent)]
    Otlp(#[from] OtlpError),
    /// `try_record` found the channel full.
    #[error("audit channel full; entry {request_id} not recorded")]
    Full {
        /// The entry that was not recorded.
        request_id: String,
    },
}

/// The writer task: owns the [`Sink`] and the receiving end of the channel.
#[derive(Debug)]
pub struct AuditWriter {
    rx: mpsc::Receiver<Command>,
    fsync: FsyncPolicy,
    /// The channel's capacity: a batch near it means senders are waiting, so no pause.
    capacity: usize,
}

impl AuditWriter {
    /// Opens the log (continuing an existing chain) and spawns the writer on the current
    /// tokio runtime, without checkpoints. Fails if the file cannot be opened or its last
    /// line is corrupt.
    pub fn start(config: AuditConfig) -> Result<(AuditHandle, JoinHandle<()>), AuditError> {
        Self::start_signed(config, None)
    }

    /// [`AuditWriter::start`], signing checkpoints with `signer` as `config.checkpoints`
    /// says (the key is read by the caller: [`CheckpointConfig::load_signer`]).
    pub fn start_signed(
        config: AuditConfig,
        signer: Option<Signer>,
    ) -> Result<(AuditHandle, JoinHandle<()>), AuditError> {
        if config.channel_capacity == 0 {
            return Err(AuditError::ZeroCapacity(config.channel_capacity));
        }
        let healthy = Arc::new(AtomicBool::new(false));
        let checkpoints = match (signer, &config.checkpoints) {
            (Some(signer), Some(c)) => Some(Schedule::new(signer, c, 0)),
            _ => None,
        };
        let replica = config.replica.clone().unwrap_or_else(default_replica);
        let otlp = match &config.otlp {
            Some(c) => Some(OtlpExport::start(c, &replica)?),
            None => None,
        };
        let settings = SinkSettings {
            rotate_bytes: config.rotate_bytes,
            also_stdout: config.also_stdout,
            stdout_ocsf: config.stdout_format == LineFormat::Ocsf,
            replica,
            checkpoints,
            otlp,
        };
        let sink = Sink::open(&config.path, settings, healthy.clone())?;
        let (tx, rx) = mpsc::channel(config.channel_capacity);
        let writer = AuditWriter {
            rx,
            fsync: config.fsync,
            capacity: config.channel_capacity,
        };
        let task = tokio::spawn(writer.run(sink));
        Ok((AuditHandle::new(tx, healthy), task))
    }

    async fn run(mut self, mut sink: Sink) {
        let mut last_sync = Instant::now();
        let mut closers = Vec::new();
        // Reused from batch to batch: an entry is a kilobyte, and a growing batch would
        // move every entry taken so far each time it doubled.
        let mut entries = Vec::with_capacity(BATCH_KEPT);
        loop {
            let wake = self.next_wake(&sink, last_sync);
            let first = tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(m) => Some(m),
                    None => break,
                },
                () = sleep_until(wake) => None,
            };
            let mut flushers = Vec::new();
            let mut next = first;
            while let Some(msg) = next {
                match msg {
                    Command::Entry(e) => entries.push(e),
                    Command::Flush(reply) => flushers.push(reply),
                    Command::Close(reply) => {
                        // Stop taking new messages; the ones already queued still drain.
                        self.rx.close();
                        closers.push(reply);
                    }
                }
                next = if entries.len() + flushers.len() < BATCH_MAX {
                    self.rx.try_recv().ok()
                } else {
                    None
                };
            }
            let sync = match self.fsync {
                FsyncPolicy::Always => true,
                FsyncPolicy::Interval(every) => {
                    !flushers.is_empty() || last_sync + every <= Instant::now()
                }
                FsyncPolicy::Never => false,
            };
            let taken = entries.len() + flushers.len();
            let full = taken >= BATCH_MAX || taken * 2 >= self.capacity;
            let Some((back, emptied)) = write_batch(sink, entries, sync).await else {
                return;
            };
            sink = back;
            entries = emptied;
            entries.shrink_to(BATCH_KEPT);
            if sync {
                last_sync = Instant::now();
            }
            for reply in flushers {
                let _ = reply.send(());
            }
            if !full && closers.is_empty() {
                tokio::time::sleep(COALESCE).await;
            }
        }
        let sync = self.fsync != FsyncPolicy::Never;
        sink.checkpoint_now();
        let Some((sink, _)) = write_batch(sink, Vec::new(), sync).await else {
            return;
        };
        if sink.has_pending() {
            tracing::error!(
                lost = sink.pending_len(),
                "audit writer stopped with entries it could not write"
            );
        }
        // The collector gets what was written before the writer reports closed.
        let _ = tokio::task::spawn_blocking(move || sink.finish_export()).await;
        for reply in closers {
            let _ = reply.send(());
        }
    }

    /// When the loop must wake without a message: to retry queued lines, or to fsync
    /// writes the interval policy still owes.
    fn next_wake(&self, sink: &Sink, last_sync: Instant) -> Option<Instant> {
        let retry = sink.has_pending().then(|| Instant::now() + RETRY_DELAY);
        let sync = match self.fsync {
            FsyncPolicy::Interval(every) if sink.is_dirty() => Some(last_sync + every),
            _ => None,
        };
        [retry, sync, sink.checkpoint_deadline()]
            .into_iter()
            .flatten()
            .min()
    }
}

/// Seals and writes `entries` (after any lines still queued), then fsyncs if `sync`. Without
/// an fsync the batch is one buffered append to the page cache, done in place: a hop to the
/// blocking pool per batch cost more than the write (a third of keyward's CPU per request at
/// low rates). An fsync goes to the blocking pool. `None` if that task was lost (runtime
/// shutting down).
async fn write_batch(
    mut sink: Sink,
    mut entries: Vec<AuditEntry>,
    sync: bool,
) -> Option<(Sink, Vec<AuditEntry>)> {
    if !sync {
        for entry in entries.drain(..) {
            sink.push(entry);
        }
        sink.checkpoint_if_due();
        sink.write_pending();
        return Some((sink, entries));
    }
    let healthy = sink.health_flag();
    let job = tokio::task::spawn_blocking(move || {
        for entry in entries.drain(..) {
            sink.push(entry);
        }
        sink.checkpoint_if_due();
        sink.write_pending();
        if sync {
            sink.sync();
        }
        (sink, entries)
    });
    match job.await {
        Ok(done) => Some(done),
        Err(e) => {
            healthy.store(false, Ordering::SeqCst);
            tracing::error!(error = %e, "audit writer lost its blocking task; stopping");
            None
        }
    }
}

/// The host name, the default replica id (`keyward` when it cannot be read).
fn default_replica() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "keyward".to_owned())
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod checkpoint_tests;
