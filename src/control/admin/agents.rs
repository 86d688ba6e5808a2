//! The kill switch's routes of the admin API: list the declared agents with their pause,
//! pause or resume one agent (`/agents/{name}/pause`, `/agents/{name}/resume`) or every
//! agent (`/agents/pause`, `/agents/resume`). Pausing ends what the agent has open and
//! denies its held requests; the pause and the resume are each recorded in the audit trail
//! (who, whom, why).

use std::net::SocketAddr;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use super::{AdminState, json, read_json};
use crate::body::ProxyBody;
use crate::control::pause::{PauseEvent, PauseRecord, Scope};
use crate::control::shared_state::pauses::{self, Change, Held};
use crate::policy::AgentId;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PauseBody {
    reason: Option<String>,
}

/// One declared agent, as `GET /agents` lists it.
#[derive(Serialize)]
struct AgentState<'a> {
    name: &'a str,
    paused: bool,
    /// The agent's own pause, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pause: Option<&'a PauseRecord>,
}

/// `GET /agents`: every declared agent and its pause, and the pause of all agents.
pub(super) fn list(shared: &AdminState) -> Response<ProxyBody> {
    json(StatusCode::OK, &snapshot(shared))
}

/// Every declared agent and its pause, and the pause of all agents (`{"all", "agents"}`).
pub(super) fn snapshot(shared: &AdminState) -> serde_json::Value {
    let pauses = shared.pauses.list();
    let in_force = shared.rules.current();
    let agents: Vec<AgentState<'_>> = in_force
        .agents
        .names()
        .map(|name| {
            let pause = pauses.agents.get(name.as_str());
            AgentState {
                name: name.as_str(),
                paused: pause.is_some() || pauses.all.is_some(),
                pause,
            }
        })
        .collect();
    serde_json::json!({"all": pauses.all, "agents": agents})
}

/// The scope a path names: `None` for `all`, or the agent; `None` for an undeclared agent.
fn scope(shared: &AdminState, name: Option<&str>) -> Option<Scope> {
    let Some(name) = name else {
        return Some(Scope::All);
    };
    let in_force = shared.rules.current();
    let agent = in_force.agents.names().find(|a| a.as_str() == name)?;
    Some(Scope::Agent(agent.clone()))
}

/// The answer for an agent no rule file declares (404).
fn undeclared(name: Option<&str>) -> Response<ProxyBody> {
    let name = name.unwrap_or_default();
    json(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"error": format!("no agent {name} is declared")}),
    )
}

/// `POST /agents[/{name}]/pause`: refuses the agent's new requests, ends its connections,
/// tunnels and upgraded streams, denies its held requests.
pub(super) async fn pause(
    shared: &AdminState,
    peer: SocketAddr,
    who: &str,
    name: Option<&str>,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let body: PauseBody = match read_json(req).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    pause_with(shared, peer, who, name, body.reason).await
}

/// Pauses the agent `name` (all agents for `None`) for `reason`, as `who`.
async fn pause_with(
    shared: &AdminState,
    peer: SocketAddr,
    who: &str,
    name: Option<&str>,
    reason: Option<String>,
) -> Response<ProxyBody> {
    let Some(scope) = scope(shared, name) else {
        return undeclared(name);
    };
    let reason = reason.filter(|r| !r.trim().is_empty());
    let paused = shared.pauses.pause(&scope, who, reason.clone());
    let held = Held {
        by: who.to_owned(),
        reason,
    };
    let replicas = announce(shared, &Change::of(&scope, Some(held))).await;
    let agent = match &scope {
        Scope::Agent(a) => Some(a),
        Scope::All => None,
    };
    let denied = shared.approvals.deny_paused(agent, &paused).await;
    tracing::warn!(by = %who, reason = %paused, held_denied = denied, "agents paused");
    let path = path_of(name, "pause");
    let why = format!("pause: {paused} ({denied} held requests denied)");
    record(shared, peer, agent, &path, true, why);
    json(
        StatusCode::OK,
        &serde_json::json!({"paused": name.unwrap_or("all"), "by": who, "held_denied": denied, "replicas": replicas}),
    )
}

/// Records and announces `change` to the other replicas, when a shared state is configured:
/// `"shared"` once announced, `"not shared: …"` when Redis cannot be reached (this replica
/// is changed all the same), `"none"` without a shared state.
async fn announce(shared: &AdminState, change: &Change) -> String {
    let Some(state) = &shared.state else {
        return "none".to_owned();
    };
    match pauses::publish(state, change).await {
        Ok(()) => "shared".to_owned(),
        Err(e) => {
            tracing::error!(error = %e, "pause not shared with the other replicas");
            format!("not shared: {e}")
        }
    }
}

/// `POST /agents[/{name}]/resume`: the agent's requests are decided by the rules again.
pub(super) async fn resume(
    shared: &AdminState,
    peer: SocketAddr,
    who: &str,
    name: Option<&str>,
) -> Response<ProxyBody> {
    let Some(scope) = scope(shared, name) else {
        return undeclared(name);
    };
    let whom = name.unwrap_or("all");
    if !shared.pauses.resume(&scope) {
        return json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": format!("{whom} is not paused")}),
        );
    }
    let agent = match &scope {
        Scope::Agent(a) => Some(a),
        Scope::All => None,
    };
    let replicas = announce(shared, &Change::of(&scope, None)).await;
    tracing::warn!(by = %who, agents = whom, "agents resumed");
    let path = path_of(name, "resume");
    let why = format!("resume: {whom} resumed by {who}");
    record(shared, peer, agent, &path, false, why);
    json(
        StatusCode::OK,
        &serde_json::json!({"resumed": whom, "by": who, "replicas": replicas}),
    )
}

fn path_of(name: Option<&str>, verb: &str) -> String {
    match name {
        Some(name) => format!("/agents/{name}/{verb}"),
        None => format!("/agents/{verb}"),
    }
}

/// The audit entry of a pause or resume: the admin API's caller, the agent, the reason.
fn record(
    shared: &AdminState,
    caller: SocketAddr,
    agent: Option<&AgentId>,
    path: &str,
    pause: bool,
    reason: String,
) {
    (shared.record_pause)(PauseEvent {
        caller,
        agent,
        path,
        pause,
        reason,
    });
}
