//! The sending side of the audit trail: [`AuditHandle`], cloned into every connection
//! task, and the messages it sends to the writer task.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use super::entry::AuditEntry;
use super::writer::AuditError;

/// A message to the writer task.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "entries are sent by value, see `Entry`"
)]
pub(crate) enum Command {
    /// Seal and append this entry. Sent by value: the channel's slots are allocated in
    /// blocks and reused, where a boxed entry (just over the allocator's per-thread cache
    /// size) cost an allocation on the serving thread and a free on the writer's for every
    /// exchange.
    Entry(AuditEntry),
    /// Reply once everything sent before is written (and synced unless `Never`).
    Flush(oneshot::Sender<()>),
    /// Write what is queued, sync, stop; reply when done.
    Close(oneshot::Sender<()>),
}

/// The sending side of the audit trail, cheap to clone into every connection task.
#[derive(Debug, Clone)]
pub struct AuditHandle {
    /// The bounded channel to the writer task; its capacity is the backpressure point.
    tx: mpsc::Sender<Command>,
    /// Set by the writer: false while the log cannot be written (fail closed).
    healthy: Arc<AtomicBool>,
    /// Entries waiting on tasks for room in the full channel (see `record_detached`).
    waiting: Arc<AtomicUsize>,
    /// Those tasks, so `close` sends their entries before it stops the writer.
    detached: TaskTracker,
    /// The runtime the writer runs on, where those tasks are spawned: it outlives the
    /// serving threads' runtimes, so an entry waiting for room is not dropped with them.
    runtime: Option<tokio::runtime::Handle>,
}

/// Entries that may wait for room in a full channel before the proxy refuses new requests
/// (503): bounds the memory a writer slower than the traffic can make keyward hold.
pub const MAX_WAITING: usize = 4096;

impl AuditHandle {
    /// A handle on the writer that owns the other end of `tx`.
    pub(crate) fn new(tx: mpsc::Sender<Command>, healthy: Arc<AtomicBool>) -> Self {
        AuditHandle {
            tx,
            healthy,
            waiting: Arc::new(AtomicUsize::new(0)),
            detached: TaskTracker::new(),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// Queues `entry`, waiting while the channel is full.
    pub async fn record(&self, entry: AuditEntry) -> Result<(), AuditError> {
        self.tx
            .send(Command::Entry(entry))
            .await
            .map_err(|e| AuditError::Closed {
                request_id: request_id(e.0),
            })
    }

    /// Queues `entry` if there is room now.
    pub fn try_record(&self, entry: AuditEntry) -> Result<(), AuditError> {
        self.tx
            .try_send(Command::Entry(entry))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(c) => AuditError::Full {
                    request_id: request_id(c),
                },
                mpsc::error::TrySendError::Closed(c) => AuditError::Closed {
                    request_id: request_id(c),
                },
            })
    }

    /// Queues `entry` without waiting: at once when there is room, otherwise from a task
    /// that waits for room (so a full channel never blocks a response, and no entry is lost
    /// while the writer runs).
    pub fn record_detached(&self, entry: AuditEntry) {
        match self.tx.try_reserve() {
            Ok(permit) => permit.send(Command::Entry(entry)),
            Err(mpsc::error::TrySendError::Full(())) => {
                let runtime = self.runtime.clone().map(Ok);
                let Ok(runtime) = runtime.unwrap_or_else(tokio::runtime::Handle::try_current)
                else {
                    tracing::error!(request_id = %entry.request_id, "no runtime to wait for room in the audit channel; entry not recorded");
                    return;
                };
                let handle = self.clone();
                handle.waiting.fetch_add(1, Ordering::SeqCst);
                self.detached.spawn_on(
                    async move {
                        if let Err(error) = handle.record(entry).await {
                            tracing::error!(%error, "audit entry not recorded");
                        }
                        handle.waiting.fetch_sub(1, Ordering::SeqCst);
                    },
                    &runtime,
                );
            }
            Err(mpsc::error::TrySendError::Closed(())) => {
                tracing::error!(request_id = %entry.request_id, "audit writer stopped; entry not recorded");
            }
        }
    }

    /// False from the moment a write, fsync or rotation fails until a later write succeeds.
    /// While false the proxy must refuse new requests (fail closed).
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    /// True while more than [`MAX_WAITING`] entries wait for room in the channel: the writer
    /// is behind, and the proxy refuses new requests until it catches up.
    pub fn is_backlogged(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) > MAX_WAITING
    }

    /// Entries currently waiting for room in the channel.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Waits until every entry sent before this call is written and, unless the policy is
    /// `Never`, fsynced. Returns at once if the writer has stopped. Check
    /// [`AuditHandle::is_healthy`] afterwards to know whether the writes succeeded.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Writes everything queued (entries still waiting for room first), fsyncs, and stops
    /// the writer; other handles' later `record` calls fail with [`AuditError::Closed`].
    pub async fn close(self) {
        self.detached.close();
        self.detached.wait().await;
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

fn request_id(c: Command) -> String {
    match c {
        Command::Entry(e) => e.request_id,
        Command::Flush(_) | Command::Close(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize) -> AuditEntry {
        AuditEntry::new(
            format!("r{i}"),
            "127.0.0.1:1",
            "GET",
            "https",
            "h",
            443,
            "/",
        )
    }

    #[tokio::test]
    async fn a_full_channel_queues_on_tasks_up_to_a_bound_and_none_is_lost() {
        let (tx, mut rx) = mpsc::channel(1);
        let handle = AuditHandle::new(tx, Arc::new(AtomicBool::new(true)));
        let total = MAX_WAITING + 2;
        for i in 0..total {
            handle.record_detached(entry(i));
        }
        // One entry took the slot; the rest wait on tasks, one more than the bound.
        assert_eq!(handle.waiting(), total - 1);
        assert!(handle.is_backlogged());
        let mut ids = Vec::new();
        while ids.len() < total {
            match tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv()).await {
                Ok(Some(Command::Entry(e))) => ids.push(e.request_id),
                other => panic!("writer side got {other:?} after {} entries", ids.len()),
            }
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), total, "an entry was lost or duplicated");
        // The counter drops as each waiting task hands its entry over.
        for _ in 0..100 {
            if handle.waiting() == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(handle.waiting(), 0);
        assert!(!handle.is_backlogged());
    }
}
