//! The file side of the writer: seals entries onto the chain, appends them, rotates by
//! size, fsyncs, and keeps the health flag. Plain blocking code, run by the writer task on
//! tokio's blocking pool. With a signing key it also seals the checkpoints
//! ([`super::checkpoint`]): by count as entries are sealed, by time when the writer wakes,
//! as the last line of a file before each rotation, and at shutdown.
//!
//! A line that cannot be written stays queued (already sealed, so the chain order is
//! fixed) and is retried first on the next attempt; a partial write is cut back off the
//! file so the log never keeps half a line.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use time::OffsetDateTime;

use super::chain;
use super::checkpoint::schedule::Schedule;
use super::entry::AuditEntry;
use super::export::ocsf;
use super::export::otlp::OtlpExport;
use super::resume::{self, ResumeError};
use super::rotate;

/// Sealed lines kept while the file cannot be written. Beyond this, new entries are
/// dropped (and logged): the proxy is already refusing requests while unhealthy.
const PENDING_LIMIT: usize = 10_000;

/// What the sink does besides appending the chain: set by the writer at start.
#[derive(Debug)]
pub struct SinkSettings {
    /// Rotate before the live file would grow past this many bytes; `None` never rotates.
    pub rotate_bytes: Option<u64>,
    /// Copy each written line to stdout.
    pub also_stdout: bool,
    /// The stdout copy is OCSF HTTP Activity rather than the log's own lines.
    pub stdout_ocsf: bool,
    /// Written into every entry.
    pub replica: String,
    /// When and with what key checkpoints are signed; `None`: no checkpoints.
    pub checkpoints: Option<Schedule>,
    /// Each sealed entry also goes to an OTLP collector.
    pub otlp: Option<OtlpExport>,
}

mod checkpointing;

/// A sealed line waiting to be written.
#[derive(Debug)]
struct Pending {
    /// The line, ending in `\n`.
    line: Vec<u8>,
    /// Its OCSF form for the stdout copy (entries only, when that format is chosen).
    copy: Option<Vec<u8>>,
    /// The file is rotated before this line (it follows a rotation's checkpoint).
    rotate_before: bool,
    /// Written to the current file even past `rotate_bytes`: a checkpoint, which belongs
    /// in the file of the entries it signs.
    keep_in_file: bool,
}

/// The open log file and the chain state.
#[derive(Debug)]
pub struct Sink {
    /// The live log file's path.
    path: PathBuf,
    /// The live file, `None` after a failed reopen (retried on the next write).
    file: Option<File>,
    /// Bytes known to be in the live file; a failed write is truncated back to this.
    len: u64,
    /// Rotate before a line would take the file past this many bytes.
    rotate_bytes: Option<u64>,
    /// Copy each written line to stdout.
    also_stdout: bool,
    /// The stdout copy is OCSF.
    stdout_ocsf: bool,
    /// Written into every entry.
    replica: String,
    /// The `seq` of the last sealed entry.
    seq: u64,
    /// Checkpoint signing, when configured.
    checkpoints: Option<Schedule>,
    /// The OTLP export, when configured.
    otlp: Option<OtlpExport>,
    /// The size the live file will have once every pending line is written (checkpoints
    /// only: it decides where a rotation's checkpoint goes).
    projected: u64,
    /// Hash of the last sealed entry (written or pending): the next entry's `prev_hash`.
    tip: String,
    /// Sealed lines not yet in the file.
    pending: VecDeque<Pending>,
    /// The file ends without a newline (see [`resume::Tip::needs_newline`]).
    needs_newline: bool,
    /// Bytes were written since the last fsync.
    dirty: bool,
    /// Timestamp of the last rotation, so rotated names stay unique and ordered.
    last_rotation: Option<OffsetDateTime>,
    /// Shared with every handle: false from a failed write/fsync/rotation until a write
    /// succeeds again.
    healthy: Arc<AtomicBool>,
    /// Entries dropped because [`PENDING_LIMIT`] was reached.
    dropped: u64,
}

/// Why the writer could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The existing log cannot be continued.
    #[error(transparent)]
    Resume(#[from] ResumeError),
    /// The log file cannot be opened for appending.
    #[error("cannot open audit log {path} for appending: {source}")]
    Open {
        /// The log file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

impl Sink {
    /// Opens (creating, mode 0600) the log at `path` and continues its chain.
    pub fn open(
        path: &Path,
        settings: SinkSettings,
        healthy: Arc<AtomicBool>,
    ) -> Result<Sink, OpenError> {
        let tip = resume::find_tip(path)?;
        let mut checkpoints = settings.checkpoints;
        if let Some(schedule) = checkpoints.as_mut()
            && tip.ends_unsigned
        {
            schedule.count_entry();
        }
        let (file, len) = open_append(path).map_err(|source| OpenError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        healthy.store(true, Ordering::SeqCst);
        Ok(Sink {
            path: path.to_path_buf(),
            file: Some(file),
            len,
            rotate_bytes: settings.rotate_bytes,
            also_stdout: settings.also_stdout,
            stdout_ocsf: settings.stdout_ocsf,
            replica: settings.replica,
            seq: tip.seq,
            checkpoints,
            otlp: settings.otlp,
            projected: len,
            tip: tip.hash,
            pending: VecDeque::new(),
            needs_newline: tip.needs_newline,
            dirty: false,
            last_rotation: None,
            healthy,
            dropped: 0,
        })
    }

    /// Seals `entry` onto the chain and queues its line; [`Sink::write_pending`] writes it.
    pub fn push(&mut self, mut entry: AuditEntry) {
        if self.pending.len() >= PENDING_LIMIT {
            self.dropped += 1;
            tracing::error!(
                request_id = %entry.request_id, dropped = self.dropped,
                "audit log unwritable and {PENDING_LIMIT} entries queued; entry dropped"
            );
            return;
        }
        entry.replica = Some(self.replica.clone());
        entry.seq = Some(self.seq + 1);
        let mut line = match chain::seal(&mut entry, &self.tip) {
            Ok(line) => line,
            Err(e) => return self.fail("seal", &io::Error::other(e)),
        };
        let rotate_before = self.checkpoints.is_some()
            && self.rotate_bytes.is_some_and(|max| {
                self.projected > 0 && self.projected + line.len() as u64 + 1 > max
            });
        if rotate_before
            && self
                .checkpoints
                .as_ref()
                .is_some_and(Schedule::has_unsigned)
        {
            // The file's last line is to be a checkpoint of what it holds: seal one on the
            // current head, then this entry again after it.
            self.push_checkpoint();
            line = match chain::seal(&mut entry, &self.tip) {
                Ok(line) => line,
                Err(e) => return self.fail("seal", &io::Error::other(e)),
            };
        }
        line.push(b'\n');
        if rotate_before {
            self.projected = 0;
        }
        self.projected += line.len() as u64;
        self.seq += 1;
        let copy = self.stdout_ocsf.then(|| ocsf::line(&entry));
        if let Some(otlp) = &self.otlp {
            otlp.emit(&entry);
        }
        self.tip = std::mem::take(&mut entry.hash);
        self.pending.push_back(Pending {
            line,
            copy,
            rotate_before,
            keep_in_file: false,
        });
        if self.checkpoints.as_mut().is_some_and(Schedule::count_entry) {
            self.push_checkpoint();
        }
    }

    /// Sends the OTLP records still queued and stops the export (blocking, bounded).
    pub fn finish_export(&self) {
        if let Some(otlp) = &self.otlp {
            otlp.shutdown();
        }
    }

    /// Whether lines are waiting for a retry.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// How many sealed lines are waiting for a retry.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// The health flag shared with the handles.
    pub fn health_flag(&self) -> Arc<AtomicBool> {
        self.healthy.clone()
    }

    /// Whether bytes were written since the last fsync.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Appends every queued line, rotating where the size limit says so.
    pub fn write_pending(&mut self) {
        while !self.pending.is_empty() {
            if let Err(e) = self.write_some() {
                self.fail("write", &e);
                return;
            }
        }
    }

    /// fsyncs the live file if anything was written since the last fsync.
    pub fn sync(&mut self) {
        if !self.dirty {
            return;
        }
        let Some(file) = &self.file else { return };
        match file.sync_data() {
            Ok(()) => self.dirty = false,
            Err(e) => self.fail("fsync", &e),
        }
    }

    /// Writes the queued lines that fit before the next rotation (at least one).
    fn write_some(&mut self) -> io::Result<()> {
        let file = match self.file.take() {
            Some(f) => f,
            None => {
                let (f, len) = open_append(&self.path)?;
                self.len = len;
                f
            }
        };
        self.file = Some(file);
        let (first, rotate_before, keep) = self.pending.front().map_or((0, false, false), |p| {
            (p.line.len() as u64, p.rotate_before, p.keep_in_file)
        });
        let over = !keep && self.rotate_bytes.is_some_and(|max| self.len + first > max);
        if self.len > 0 && (rotate_before || over) {
            if let Some(front) = self.pending.front_mut() {
                front.rotate_before = false;
            }
            return self.rotate();
        }
        let mut buf = Vec::new();
        if self.needs_newline {
            buf.push(b'\n');
        }
        let mut count = 0;
        let mut copies = Vec::new();
        for p in &self.pending {
            let fits = p.keep_in_file
                || self
                    .rotate_bytes
                    .is_none_or(|max| self.len + (buf.len() + p.line.len()) as u64 <= max);
            if count > 0 && (!fits || p.rotate_before) {
                break;
            }
            buf.extend_from_slice(&p.line);
            if let Some(copy) = &p.copy {
                copies.extend_from_slice(copy);
            }
            count += 1;
        }
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("audit log file not open"));
        };
        if let Err(e) = file.write_all(&buf) {
            // Cut a partial line back off so the file stays a sequence of whole entries.
            if let Err(cut) = file.set_len(self.len) {
                tracing::warn!(path = %self.path.display(), error = %cut, "cannot truncate a partial audit write");
            }
            return Err(e);
        }
        self.len += buf.len() as u64;
        self.needs_newline = false;
        self.dirty = true;
        self.pending.drain(..count);
        self.succeed();
        if self.also_stdout {
            let copy = if self.stdout_ocsf { &copies } else { &buf };
            let mut out = io::stdout().lock();
            if let Err(e) = out.write_all(copy).and_then(|()| out.flush()) {
                self.fail("stdout write", &e);
            }
        }
        Ok(())
    }

    /// Renames the live file to `<path>.<timestamp>` and opens a fresh one. The chain goes on:
    /// the next entry's `prev_hash` is the last hash of the renamed file.
    fn rotate(&mut self) -> io::Result<()> {
        if let Some(file) = &self.file {
            file.sync_data()?;
        }
        let (target, at) =
            rotate::free_rotated_path(&self.path, OffsetDateTime::now_utc(), self.last_rotation);
        match std::fs::rename(&self.path, &target) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => tracing::error!(
                path = %self.path.display(),
                "audit log vanished before rotation; starting a new file (the chain will show the gap)"
            ),
            Err(e) => return Err(e),
        }
        self.last_rotation = Some(at);
        self.file = None;
        self.dirty = false;
        self.needs_newline = false;
        let (file, len) = open_append(&self.path)?;
        self.file = Some(file);
        self.len = len;
        tracing::info!(rotated = %target.display(), "audit log rotated");
        Ok(())
    }

    fn fail(&self, what: &str, error: &io::Error) {
        if self.healthy.swap(false, Ordering::SeqCst) {
            tracing::error!(path = %self.path.display(), %error, "audit {what} failed; new requests are refused until the log is writable");
        } else {
            tracing::debug!(path = %self.path.display(), %error, "audit {what} failed again");
        }
    }

    fn succeed(&self) {
        if !self.healthy.swap(true, Ordering::SeqCst) {
            tracing::warn!(path = %self.path.display(), "audit log writable again");
        }
    }
}

/// Opens `path` for appending, creating it with mode 0600; returns it with its length.
fn open_append(path: &Path) -> io::Result<(File, u64)> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    let len = file.metadata()?.len();
    Ok((file, len))
}
