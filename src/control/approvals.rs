//! Approval gates: a request whose decision is `approve` is held while a person approves or
//! denies it (admin API or `keyward approvals`), up to the rule's timeout; an approval may
//! cover identical follow-up requests (same agent, rule and request shape) for a while.
//! The requests held here wait in this process; their records, answers and windows live
//! behind the [`ApprovalStore`] trait: in memory ([`MemoryApprovals`]), or in Redis for
//! replicas (`state: { redis: … }`), where an answer given on any replica reaches the one
//! holding the request ([`RedisApprovals`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::audit::{ApprovalDecision, ApprovalRecord};
use crate::control::pause::Paused;
use crate::control::shared_state::StateError;
use crate::control::shared_state::approvals::RedisApprovals;
use crate::policy::AgentId;

mod store;

pub use store::{ApprovalStore, MemoryApprovals, Store};

/// Default hold when the rule sets no `approval.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Most requests one agent may have waiting at once (flooding the queue is refused).
pub const MAX_PENDING_PER_AGENT: usize = 64;

/// What a person sees about a held request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingInfo {
    pub id: String,
    pub agent: Option<String>,
    pub method: String,
    pub url: String,
    pub rule: String,
    /// The names of the request's headers, as the agent sent them (values are not shown:
    /// they may hold placeholders the approver needs no part of).
    #[serde(default)]
    pub headers: Vec<String>,
    /// The first bytes of the body as the agent sent it (agents hold placeholders, never
    /// secret values).
    pub body_preview: String,
    /// For MCP calls, the held call: its method, tool or resource, and arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcp: Option<PendingCall>,
    /// For GraphQL requests, the held operation: its type, name, fields and variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graphql: Option<PendingOperation>,
    /// For a request keyward sent for an action called over its MCP listener, the action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// That action's input as recorded (secret values replaced by their placeholders).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_input: Option<serde_json::Value>,
    /// Seconds since the request arrived.
    pub waiting_secs: u64,
    /// How long the request is held before it is denied as timed out, in seconds.
    #[serde(default)]
    pub timeout_secs: u64,
}

/// The MCP call a held request makes, as the approver sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingCall {
    /// `tools/call`, `resources/read`, ...
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// `params.arguments` as the agent sent them (agents hold placeholders, never secret
    /// values); a note in their place when they are too large to show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<serde_json::Value>,
    /// How many calls the batch holds, for a batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
}

/// The GraphQL operation a held request runs, as the approver sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingOperation {
    /// `query`, `mutation` or `subscription`; absent for a persisted query sent by hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its top-level fields (real names, not aliases).
    pub fields: Vec<String>,
    /// Its `variables` as the agent sent them; a note in their place when too large.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variables: Option<serde_json::Value>,
    /// How many operations the batch holds, for a batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
}

/// A person's answer.
#[derive(Debug, Clone)]
pub enum Resolution {
    Approved {
        by: Option<String>,
        window: Option<Duration>,
    },
    Denied {
        by: Option<String>,
        reason: Option<String>,
    },
}

struct Pending {
    info: PendingInfo,
    since: Instant,
    answer: oneshot::Sender<Resolution>,
}

/// The requests held in this process, and where records, answers and windows are kept.
#[derive(Default)]
pub struct Approvals {
    /// The requests this process holds, by id.
    pending: Mutex<HashMap<String, Pending>>,
    /// Where records, answers and windows are kept.
    store: Store,
}

/// Why a hold ended without approval.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotApproved {
    #[error("denied by approver{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Denied { reason: Option<String> },
    #[error("approval timed out")]
    TimedOut,
    #[error("too many requests of this agent are waiting for approval")]
    QueueFull,
    /// The shared store cannot record the hold or find its window: fail closed (503).
    #[error("approvals unavailable: {0}")]
    Unavailable(StateError),
}

impl Approvals {
    /// Approvals whose records, answers and windows are in the replicas' shared store.
    pub fn shared(store: RedisApprovals) -> Self {
        Self {
            pending: Mutex::default(),
            store: Store::Redis(store),
        }
    }

    /// The shared store, when configured.
    pub fn shared_store(&self) -> Option<&RedisApprovals> {
        match &self.store {
            Store::Redis(r) => Some(r),
            Store::Memory(_) => None,
        }
    }

    /// Whether an earlier approval covers this request shape now.
    pub async fn window_covers(&self, shape: &str) -> Result<bool, StateError> {
        self.store.window_covers(shape).await
    }

    /// Holds a request until a person answers or `timeout` passes. `shape` identifies
    /// identical follow-ups (agent, rule, method, path). `announce` is called once the
    /// hold is recorded (and can be answered), not before.
    pub async fn hold(
        &self,
        info: PendingInfo,
        shape: String,
        timeout: Duration,
        announce: impl FnOnce(&PendingInfo),
    ) -> (Result<(), NotApproved>, ApprovalRecord) {
        let id = info.id.clone();
        let (tx, rx) = oneshot::channel();
        let mut announce = Some(announce);
        let shown = {
            let Ok(mut pending) = self.pending.lock() else {
                return (
                    Err(NotApproved::QueueFull),
                    record(
                        &id,
                        None,
                        ApprovalDecision::Denied,
                        Some("approval queue unavailable".into()),
                    ),
                );
            };
            let same_agent = pending
                .values()
                .filter(|p| p.info.agent == info.agent)
                .count();
            if same_agent >= MAX_PENDING_PER_AGENT {
                return (
                    Err(NotApproved::QueueFull),
                    record(
                        &id,
                        None,
                        ApprovalDecision::Denied,
                        Some(NotApproved::QueueFull.to_string()),
                    ),
                );
            }
            // Only a shared store records the hold elsewhere (after the lock): the memory
            // path neither clones nor waits.
            let shown = match &self.store {
                Store::Redis(_) => Some(info.clone()),
                Store::Memory(_) => {
                    if let Some(announce) = announce.take() {
                        announce(&info);
                    }
                    None
                }
            };
            pending.insert(
                id.clone(),
                Pending {
                    info,
                    since: Instant::now(),
                    answer: tx,
                },
            );
            shown
        };
        if let Some(info) = shown {
            match self.store.record(&info, timeout).await {
                Ok(()) => {
                    if let Some(announce) = announce.take() {
                        announce(&info);
                    }
                }
                Err(e) => {
                    self.forget(&id);
                    let reason = Some(e.to_string());
                    let decision = ApprovalDecision::Denied;
                    return (
                        Err(NotApproved::Unavailable(e)),
                        record(&id, None, decision, reason),
                    );
                }
            }
        }
        let answer = self.store.wait(&id, rx, timeout).await;
        self.forget(&id);
        match answer {
            Some(Resolution::Approved { by, window }) => {
                if let Some(window) = window {
                    self.store.open_window(shape, window).await;
                }
                (Ok(()), record(&id, by, ApprovalDecision::Approved, None))
            }
            Some(Resolution::Denied { by, reason }) => (
                Err(NotApproved::Denied {
                    reason: reason.clone(),
                }),
                record(&id, by, ApprovalDecision::Denied, reason),
            ),
            None => (
                Err(NotApproved::TimedOut),
                record(
                    &id,
                    None,
                    ApprovalDecision::TimedOut,
                    Some("approval timed out".into()),
                ),
            ),
        }
    }

    /// Drops this process's hold of `id`, if any; whether there was one.
    fn forget(&self, id: &str) -> bool {
        self.pending
            .lock()
            .is_ok_and(|mut pending| pending.remove(id).is_some())
    }

    /// Answers a pending request, wherever it is held; false when no such request waits.
    pub async fn resolve(&self, id: &str, resolution: Resolution) -> Result<bool, StateError> {
        let deliver = |resolution| self.deliver(id, resolution);
        self.store.claim(id, resolution, deliver).await
    }

    /// Hands an answer to the request `id` when this process holds it.
    pub fn deliver(&self, id: &str, resolution: Resolution) -> bool {
        let Ok(mut pending) = self.pending.lock() else {
            return false;
        };
        match pending.remove(id) {
            Some(p) => p.answer.send(resolution).is_ok(),
            None => false,
        }
    }

    /// Withdraws the request `id` whose agent went away: nobody is asked to approve a
    /// request no one waits for (its shared record is removed in the background).
    pub fn withdraw(&self, id: &str) {
        if self.forget(id) {
            self.store.finish(id);
        }
    }

    /// Denies every request this process holds for `agent` (for every agent: `None`) with
    /// the pause's reason, as the kill switch does; how many were denied.
    pub async fn deny_paused(&self, agent: Option<&AgentId>, paused: &Paused) -> usize {
        let ids: Vec<String> = match self.pending.lock() {
            Ok(pending) => pending
                .iter()
                .filter(|(_, p)| agent.is_none_or(|a| p.info.agent.as_deref() == Some(a.as_str())))
                .map(|(id, _)| id.clone())
                .collect(),
            Err(_) => Vec::new(),
        };
        let mut denied = 0;
        for id in ids {
            let resolution = Resolution::Denied {
                by: Some(paused.by.clone()),
                reason: Some(paused.to_string()),
            };
            // The shared store unreachable: the hold here is still denied (fail closed).
            let resolved = match self.resolve(&id, resolution.clone()).await {
                Ok(found) => found,
                Err(_) => self.deliver(&id, resolution),
            };
            if resolved {
                denied += 1;
            }
        }
        denied
    }

    /// The ids this process holds.
    pub fn held_ids(&self) -> Vec<String> {
        self.pending
            .lock()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The requests waiting now, oldest first: every replica's, with a shared store.
    pub async fn list(&self) -> Result<Vec<PendingInfo>, StateError> {
        self.store.list(|| self.held_here()).await
    }

    /// The requests this process holds, oldest first.
    pub fn held_here(&self) -> Vec<PendingInfo> {
        let Ok(pending) = self.pending.lock() else {
            return Vec::new();
        };
        let mut out: Vec<(Instant, PendingInfo)> = pending
            .values()
            .map(|p| {
                let mut info = p.info.clone();
                info.waiting_secs = p.since.elapsed().as_secs();
                (p.since, info)
            })
            .collect();
        out.sort_by_key(|(since, _)| *since);
        out.into_iter().map(|(_, i)| i).collect()
    }

    /// How many requests are waiting.
    pub fn len(&self) -> usize {
        self.pending.lock().map(|p| p.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn record(
    id: &str,
    by: Option<String>,
    decision: ApprovalDecision,
    reason: Option<String>,
) -> ApprovalRecord {
    ApprovalRecord {
        id: id.to_owned(),
        by,
        at: crate::audit::now_rfc3339(),
        decision,
        reason,
    }
}

#[cfg(test)]
mod tests;
