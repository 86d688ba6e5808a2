//! JSON-RPC over a WebSocket whose URL `mcp:` rules select: each agent message is decided
//! like the body of a `POST` to the upgrade's URL (per call, with the rules' rate limits),
//! and each upstream message goes through the same reading as an MCP server's answer
//! (`tools/list` and `resources/list` filtered, server requests the rules do not allow
//! dropped). A denied message with ids is answered on the socket with JSON-RPC errors and
//! not forwarded; one with nothing to answer (notifications, or not JSON-RPC at all) closes
//! the connection with the policy close code. A call needing an approval is refused: a
//! WebSocket message cannot be held while a person decides.

use std::sync::Arc;

use tokio_tungstenite::tungstenite::Message;

use crate::audit::Decision as AuditDecision;
use crate::control::rate_limits::Counters;
use crate::pipeline::decide;
use crate::pipeline::mcp_reply::{Fate, McpView, is_list};
use crate::pipeline::refusal::{Limited, McpDenial, Refusal};
use crate::policy::{Decision, Verdict};

/// What becomes of one agent message.
#[derive(Debug)]
pub enum FromAgent {
    /// Forwarded to the upstream.
    Forward(Message),
    /// Not forwarded; the agent is sent this answer instead.
    Answer(Message),
}

/// Why an agent message with nothing to answer was refused: the bridge closes both sides.
#[derive(Debug)]
pub struct Refused(pub String);

/// The MCP reading of one bridged connection.
pub struct McpMessages {
    view: McpView,
    counters: Arc<Counters>,
}

impl McpMessages {
    pub fn new(view: McpView, counters: Arc<Counters>) -> Self {
        Self { view, counters }
    }

    /// Decides an agent message; `Err` closes both sides (recorded by the bridge).
    pub async fn decide_agent(&self, msg: Message) -> Result<FromAgent, Refused> {
        let bytes = match &msg {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(data) => data,
            _ => return Ok(FromAgent::Forward(msg)),
        };
        let decision = self.view.decide_bytes(bytes);
        match decision.verdict {
            Verdict::Allow => self.allowed(msg, &decision).await,
            Verdict::Approve => {
                let reason = format!(
                    "{}; an approval cannot be waited for inside a WebSocket",
                    decision.reason
                );
                self.refuse(&decision, reason)
            }
            Verdict::Deny => {
                let reason = decision.reason.clone();
                self.refuse(&decision, reason)
            }
        }
    }

    /// An allowed message: its calls' rate limits taken, its list calls noted (so their
    /// answers are filtered), and recorded; forwarded.
    async fn allowed(&self, msg: Message, decision: &Decision) -> Result<FromAgent, Refused> {
        let rules = &self.view.in_force().rules;
        let rule = decision.rule.as_ref().and_then(|id| rules.rule(id));
        let limited =
            decide::rate_limit(&self.counters, rules, decision, rule, self.view.agent()).await;
        if let Err(Refusal::Unavailable(cause)) = &limited {
            return self.refuse(decision, cause.to_string());
        }
        if let Err(Refusal::RateLimited {
            rule,
            retry_after,
            limit,
        }) = limited
        {
            let what = match limit {
                Limited::Rate | Limited::ActionRate => "rate limit",
                Limited::Tokens => "token budget",
            };
            let reason = format!(
                "{what} of rule {rule} exceeded; retry after {} s",
                retry_after.as_secs().max(1)
            );
            return self.refuse(decision, reason);
        }
        for call in decision.mcp.iter().flat_map(|c| &c.calls) {
            let Some(id) = call.call.id.clone().filter(|_| is_list(&call.call.method)) else {
                continue;
            };
            if !self.view.expect_list(id) {
                let reason = "too many list calls await their answer".to_owned();
                return self.refuse(decision, reason);
            }
        }
        self.record(AuditDecision::Allow, decision, decision.reason.clone());
        Ok(FromAgent::Forward(msg))
    }

    /// A message not forwarded: answered with JSON-RPC errors when it has ids, otherwise
    /// the connection is closed.
    fn refuse(&self, decision: &Decision, reason: String) -> Result<FromAgent, Refused> {
        let answer = decision.mcp.as_ref().and_then(|calls| {
            let denial = McpDenial {
                rule: decision.rule.clone(),
                reason: reason.clone(),
                calls: calls.clone(),
                sse: false,
                answered_on_stream: false,
            };
            denial.body(self.view.request_id())
        });
        let text = answer.and_then(|body| String::from_utf8(body).ok());
        match text {
            Some(text) => {
                self.record(
                    AuditDecision::Deny,
                    decision,
                    format!("websocket message denied: {reason}"),
                );
                Ok(FromAgent::Answer(Message::text(text)))
            }
            None => Err(Refused(reason)),
        }
    }

    /// The audit entry of a decided message, naming its deciding call.
    fn record(&self, audit: AuditDecision, decision: &Decision, reason: String) {
        let call = decision.mcp.as_ref().and_then(|c| c.deciding_call());
        self.view
            .record_message(audit, reason, decision.rule.as_ref(), call.map(|c| &c.call));
    }

    /// An upstream message as the agent may see it; `None` when it is dropped.
    pub fn read_upstream(&self, msg: Message) -> Option<Message> {
        let bytes = match &msg {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(data) => data,
            _ => return Some(msg),
        };
        let Some(first) = bytes.iter().find(|b| !b.is_ascii_whitespace()) else {
            return Some(msg);
        };
        if !matches!(first, b'{' | b'[') {
            return Some(msg);
        }
        let Ok(value) = serde_json::from_slice(bytes) else {
            self.view.record_unreadable();
            return None;
        };
        match self.view.fate(&value) {
            Fate::Keep => Some(msg),
            Fate::Drop => None,
            Fate::Rewrite(v) => Some(match msg {
                Message::Binary(_) => Message::Binary(serde_json::to_vec(&v).ok()?.into()),
                _ => Message::text(serde_json::to_string(&v).ok()?),
            }),
        }
    }
}
