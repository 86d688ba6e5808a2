//! Pauses shared by replicas: the pauses in force in a Redis hash (`keyward:pauses`, one
//! field per agent, `*` for every agent), and each pause or resume announced on a channel,
//! so a pause made on any replica reaches every replica at once: its agents' connections
//! close and its held requests are denied there too. A replica that subscribes (at start,
//! after a lost subscription) takes the hash as it is.

use std::sync::Arc;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{SharedState, StateError, Subscription, resubscribing};
use crate::control::approvals::Approvals;
use crate::control::pause::{Pauses, Scope};
use crate::policy::AgentId;

/// The hash of the pauses in force.
const KEY: &str = "keyward:pauses";
/// Where pauses and resumes are announced.
const CHANNEL: &str = "keyward:pauses:changes";
/// The hash field of the pause of every agent (not a valid agent name).
const ALL: &str = "*";

/// A pause (with who and why) or a resume, as replicas announce it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    /// The agent, or `*` for every agent.
    pub agent: String,
    /// `None`: a resume.
    pub pause: Option<Held>,
}

/// Who paused and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Held {
    pub by: String,
    pub reason: Option<String>,
}

impl Change {
    pub fn of(scope: &Scope, pause: Option<Held>) -> Self {
        let agent = match scope {
            Scope::Agent(a) => a.to_string(),
            Scope::All => ALL.to_owned(),
        };
        Self { agent, pause }
    }

    fn scope(&self) -> Scope {
        match self.agent.as_str() {
            ALL => Scope::All,
            name => Scope::Agent(AgentId::new(name)),
        }
    }
}

/// Records `change` in the hash and announces it to every replica.
pub async fn publish(state: &SharedState, change: &Change) -> Result<(), StateError> {
    let text = serde_json::to_string(change).map_err(|e| StateError::Redis(e.to_string()))?;
    let mut pipe = redis::pipe();
    pipe.atomic();
    match &change.pause {
        Some(held) => {
            let held = serde_json::to_string(held).map_err(|e| StateError::Redis(e.to_string()))?;
            pipe.hset(KEY, &change.agent, held).ignore();
        }
        None => {
            pipe.hdel(KEY, &change.agent).ignore();
        }
    }
    pipe.publish(CHANNEL, text).ignore();
    state.pipeline::<()>(&pipe).await
}

/// Applies a change made on any replica here: pauses (ending what the agent has open and
/// denying its held requests here) or resumes.
async fn apply(pauses: &Pauses, approvals: &Approvals, change: &Change) {
    let scope = change.scope();
    match &change.pause {
        Some(held) => {
            if pauses.is_paused_by(&scope, &held.by, held.reason.as_deref()) {
                return;
            }
            let paused = pauses.pause(&scope, &held.by, held.reason.clone());
            let agent = match &scope {
                Scope::Agent(a) => Some(a),
                Scope::All => None,
            };
            let denied = approvals.deny_paused(agent, &paused).await;
            tracing::warn!(reason = %paused, held_denied = denied, "agents paused on another replica");
        }
        None => {
            if pauses.resume(&scope) {
                tracing::warn!(agents = %change.agent, "agents resumed on another replica");
            }
        }
    }
}

/// Follows the replicas' pauses until `shutdown`, subscribing again (with back-off) when
/// the subscription is lost.
pub async fn listen(
    pauses: Arc<Pauses>,
    approvals: Arc<Approvals>,
    state: SharedState,
    shutdown: CancellationToken,
) {
    resubscribing(&shutdown, || {
        subscribed(&pauses, &approvals, &state, &shutdown)
    })
    .await;
}

/// One subscription's life.
async fn subscribed(
    pauses: &Pauses,
    approvals: &Approvals,
    state: &SharedState,
    shutdown: &CancellationToken,
) -> Subscription {
    let mut pubsub = match state.pubsub().await {
        Ok(p) => p,
        Err(error) => {
            tracing::debug!(%error, "pauses: cannot subscribe yet");
            return Subscription::Lost { subscribed: false };
        }
    };
    if let Err(error) = pubsub.subscribe(CHANNEL).await {
        tracing::warn!(error = %error, "pauses: subscription refused");
        return Subscription::Lost { subscribed: false };
    }
    let in_force: Vec<(String, String)> = match state.query(redis::cmd("HGETALL").arg(KEY)).await {
        Ok(all) => all,
        Err(error) => {
            tracing::warn!(%error, "pauses: cannot read the pauses in force");
            return Subscription::Lost { subscribed: true };
        }
    };
    for (agent, held) in in_force {
        if let Ok(held) = serde_json::from_str::<Held>(&held) {
            let change = Change {
                agent,
                pause: Some(held),
            };
            apply(pauses, approvals, &change).await;
        }
    }
    let mut messages = pubsub.on_message();
    loop {
        let message = tokio::select! {
            m = messages.next() => m,
            () = shutdown.cancelled() => return Subscription::ShutDown,
        };
        let Some(message) = message else {
            tracing::warn!("pauses: subscription lost; subscribing again");
            return Subscription::Lost { subscribed: true };
        };
        let Ok(payload) = message.get_payload::<String>() else {
            continue;
        };
        if let Ok(change) = serde_json::from_str::<Change>(&payload) {
            apply(pauses, approvals, &change).await;
        }
    }
}
