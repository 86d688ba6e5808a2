//! Where the records of held requests, the answers to them and the follow-up windows are
//! kept: this process's memory ([`MemoryApprovals`], one replica) or Redis
//! ([`RedisApprovals`], replicas). The held requests themselves always wait in the process
//! that holds them ([`Approvals`](super::Approvals)); a store decides how an answer and a
//! listing reach them.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{PendingInfo, Resolution};
use crate::control::shared_state::StateError;
use crate::control::shared_state::approvals::RedisApprovals;

/// The calls [`Approvals`](super::Approvals) makes on its store.
pub trait ApprovalStore: Send + Sync {
    /// Records a held request (what `list` shows) until `timeout`.
    fn record(
        &self,
        info: &PendingInfo,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Waits for the answer to the request `id` held here (handed to `rx`, or found in the
    /// store) until `timeout`; `None` when nobody answered.
    fn wait(
        &self,
        id: &str,
        rx: oneshot::Receiver<Resolution>,
        timeout: Duration,
    ) -> impl Future<Output = Option<Resolution>> + Send;

    /// Answers the request `id` wherever it is held; `deliver` hands an answer to a
    /// request this process holds. False when no such request waits.
    fn claim(
        &self,
        id: &str,
        resolution: Resolution,
        deliver: impl FnOnce(Resolution) -> bool + Send,
    ) -> impl Future<Output = Result<bool, StateError>> + Send;

    /// Forgets the record of a hold that ended here without an answer (in the background).
    fn finish(&self, id: &str);

    /// The requests waiting now, oldest first; `here` lists those this process holds.
    fn list(
        &self,
        here: impl FnOnce() -> Vec<PendingInfo> + Send,
    ) -> impl Future<Output = Result<Vec<PendingInfo>, StateError>> + Send;

    /// Whether an earlier approval's window covers `shape` now.
    fn window_covers(&self, shape: &str) -> impl Future<Output = Result<bool, StateError>> + Send;

    /// Lets follow-ups of `shape` pass for `window`.
    fn open_window(&self, shape: String, window: Duration) -> impl Future<Output = ()> + Send;
}

/// One replica's store: the holds are the records, answers go straight to them, and the
/// windows are a map.
#[derive(Default)]
pub struct MemoryApprovals {
    /// Request shape -> approved until.
    windows: Mutex<HashMap<String, Instant>>,
}

impl ApprovalStore for MemoryApprovals {
    async fn record(&self, _info: &PendingInfo, _timeout: Duration) -> Result<(), StateError> {
        Ok(())
    }

    async fn wait(
        &self,
        _id: &str,
        rx: oneshot::Receiver<Resolution>,
        timeout: Duration,
    ) -> Option<Resolution> {
        tokio::time::timeout(timeout, rx)
            .await
            .ok()
            .and_then(Result::ok)
    }

    async fn claim(
        &self,
        _id: &str,
        resolution: Resolution,
        deliver: impl FnOnce(Resolution) -> bool + Send,
    ) -> Result<bool, StateError> {
        Ok(deliver(resolution))
    }

    fn finish(&self, _id: &str) {}

    async fn list(
        &self,
        here: impl FnOnce() -> Vec<PendingInfo> + Send,
    ) -> Result<Vec<PendingInfo>, StateError> {
        Ok(here())
    }

    async fn window_covers(&self, shape: &str) -> Result<bool, StateError> {
        let Ok(mut windows) = self.windows.lock() else {
            return Ok(false);
        };
        let now = Instant::now();
        windows.retain(|_, until| *until > now);
        Ok(windows.contains_key(shape))
    }

    async fn open_window(&self, shape: String, window: Duration) {
        if let Ok(mut windows) = self.windows.lock() {
            windows.insert(shape, Instant::now() + window);
        }
    }
}

/// The store a proxy runs with, dispatched without boxing.
pub enum Store {
    Memory(MemoryApprovals),
    Redis(RedisApprovals),
}

impl Default for Store {
    fn default() -> Self {
        Store::Memory(MemoryApprovals::default())
    }
}

impl ApprovalStore for Store {
    async fn record(&self, info: &PendingInfo, timeout: Duration) -> Result<(), StateError> {
        match self {
            Store::Memory(m) => m.record(info, timeout).await,
            Store::Redis(r) => r.record(info, timeout).await,
        }
    }

    async fn wait(
        &self,
        id: &str,
        rx: oneshot::Receiver<Resolution>,
        timeout: Duration,
    ) -> Option<Resolution> {
        match self {
            Store::Memory(m) => m.wait(id, rx, timeout).await,
            Store::Redis(r) => r.wait(id, rx, timeout).await,
        }
    }

    async fn claim(
        &self,
        id: &str,
        resolution: Resolution,
        deliver: impl FnOnce(Resolution) -> bool + Send,
    ) -> Result<bool, StateError> {
        match self {
            Store::Memory(m) => m.claim(id, resolution, deliver).await,
            Store::Redis(r) => r.claim(id, resolution, deliver).await,
        }
    }

    fn finish(&self, id: &str) {
        match self {
            Store::Memory(m) => m.finish(id),
            Store::Redis(r) => r.finish(id),
        }
    }

    async fn list(
        &self,
        here: impl FnOnce() -> Vec<PendingInfo> + Send,
    ) -> Result<Vec<PendingInfo>, StateError> {
        match self {
            Store::Memory(m) => m.list(here).await,
            Store::Redis(r) => r.list(here).await,
        }
    }

    async fn window_covers(&self, shape: &str) -> Result<bool, StateError> {
        match self {
            Store::Memory(m) => m.window_covers(shape).await,
            Store::Redis(r) => r.window_covers(shape).await,
        }
    }

    async fn open_window(&self, shape: String, window: Duration) {
        match self {
            Store::Memory(m) => m.open_window(shape, window).await,
            Store::Redis(r) => r.open_window(shape, window).await,
        }
    }
}
