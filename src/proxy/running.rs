//! What stays reachable from outside a proxy: the handles the CLI's banner, signal handling
//! and tests use, and the proxy once it runs on a task.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::audit::AuditHandle;
use crate::ca::ServerConfigCache;
use crate::control::approvals::Approvals;
use crate::control::pause::Pauses;
use crate::control::reload::Reloader;
use crate::control::rules_in_force::RulesInForce;
use crate::control::shared_state::SharedState;
use crate::metrics::Metrics;
use crate::pipeline::record::Recorder;
use crate::server::Lifecycle;

/// What stays reachable from outside a proxy once it runs: for the CLI's banner and signal
/// handling, and for tests that inspect it.
#[derive(Clone)]
pub struct Handles {
    /// The rules in force (and their directory).
    pub rules: Arc<RulesInForce>,
    /// Reloads the rules (SIGHUP).
    pub reloader: Reloader,
    /// The record writer, and through it the audit trail.
    pub recorder: Arc<Recorder>,
    /// Requests held for a person.
    pub approvals: Arc<Approvals>,
    /// The state replicas share, when configured.
    pub state: Option<SharedState>,
    /// Counters and gauges (`/metrics`).
    pub metrics: Arc<Metrics>,
    /// The leaf certificates served to agents.
    pub certs: Arc<ServerConfigCache>,
    /// Shutdown, the grace period's end, the connection tasks.
    pub lifecycle: Lifecycle,
    /// Paused agents (the kill switch).
    pub pauses: Arc<Pauses>,
}

impl Handles {
    /// The audit trail, when it is on.
    pub fn audit(&self) -> Option<&AuditHandle> {
        self.recorder.audit()
    }

    /// Requests held for a person.
    pub fn approvals(&self) -> &Approvals {
        &self.approvals
    }

    /// The leaf certificate cache.
    pub fn certs(&self) -> &ServerConfigCache {
        &self.certs
    }

    /// Counters and gauges.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// A proxy running on a task.
pub struct RunningProxy {
    pub(super) addr: SocketAddr,
    pub(super) admin: Option<SocketAddr>,
    pub(super) actions: Option<SocketAddr>,
    pub(super) handles: Handles,
    pub(super) handle: JoinHandle<()>,
}

impl RunningProxy {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What stays reachable while it runs (for inspection).
    pub fn handles(&self) -> &Handles {
        &self.handles
    }

    /// The admin API's address, when it is on.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin
    }

    /// The actions listener's address, when actions are served.
    pub fn actions_addr(&self) -> Option<SocketAddr> {
        self.actions
    }

    /// Stops accepting and waits for the drain to finish and every audit entry to be
    /// written and synced.
    pub async fn shutdown(self) {
        self.handles.lifecycle.shutdown().cancel();
        let _ = self.handle.await;
    }
}
