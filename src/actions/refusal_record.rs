//! The audit entry of a served action's call refused before any request was sent (an input
//! failing its schema, a value no template may carry, an action the agent may not use, the
//! action's own deny): one entry naming the action, its input as recorded, the agent and the
//! reason, with the action's method and host, and the decision `deny`.

use serde_json::Value;

use crate::actions::Action;
use crate::audit::{AuditEntry, Decision};
use crate::pipeline::exchange::RequestId;
use crate::policy::AgentId;

/// The client column of these entries: the call came over the actions listener.
pub const CLIENT: &str = "actions-listener";
/// The longest tool name an entry keeps of a call naming no served action.
const MAX_NAME: usize = 128;

/// The entry of `action`'s call with `input` (as recorded) refused for `reason`.
pub fn of_action(
    action: &Action,
    agent: Option<&AgentId>,
    reason: &str,
    input: &Value,
) -> AuditEntry {
    let url = &action.request().url;
    let port = url
        .authority
        .port_u16()
        .unwrap_or(if url.scheme == "https" { 443 } else { 80 });
    let mut entry = AuditEntry::new(
        RequestId::new().as_str(),
        CLIENT,
        action.request().method.as_str(),
        url.scheme.as_str(),
        url.authority.host(),
        port,
        "-",
    );
    fill(&mut entry, action.name(), agent, reason);
    entry.action_input = Some(input.clone());
    entry
}

/// The entry of a call naming `name`, which is no action served to the agent.
pub fn of_unknown(name: &str, agent: Option<&AgentId>, reason: &str) -> AuditEntry {
    let mut entry = AuditEntry::new(RequestId::new().as_str(), CLIENT, "-", "-", "-", 0, "-");
    let kept: String = name.chars().take(MAX_NAME).collect();
    fill(&mut entry, &kept, agent, reason);
    entry
}

fn fill(entry: &mut AuditEntry, name: &str, agent: Option<&AgentId>, reason: &str) {
    entry.action = Some(name.to_owned());
    entry.agent = agent.cloned();
    entry.decision = Decision::Deny;
    entry.reason = Some(reason.to_owned());
}
