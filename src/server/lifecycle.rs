//! The shutdown of one proxy as a narrow handle: the signal to stop accepting, the end of the
//! grace period, and the tracker of every connection and tunnel task.

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Cheap to clone: every clone watches and tracks the same proxy.
#[derive(Clone, Default)]
pub struct Lifecycle {
    /// Cancelled when the proxy stops accepting.
    shutdown: CancellationToken,
    /// Cancelled when the grace period is over: connections still open are closed at once,
    /// and the guards of their exchanges record them.
    stop_now: CancellationToken,
    /// Every connection and tunnel task, so shutdown can wait for them.
    tasks: TaskTracker,
}

impl Lifecycle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancelled when the proxy stops accepting.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Cancelled when shutdown stops waiting for in-flight exchanges.
    pub fn stop_now(&self) -> &CancellationToken {
        &self.stop_now
    }

    /// Where connection, tunnel and bridge tasks are spawned, so shutdown waits for them.
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }
}
