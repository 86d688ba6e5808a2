//! The records an MCP server's messages leave: the audit entry of a dropped server request or
//! unreadable message, and of a message decided inside an exchange's connection.

use crate::audit::Decision as AuditDecision;
use crate::pipeline::decide::{MAX_SESSION_CHARS, MCP_SESSION_HEADER};
use crate::pipeline::record::{Place, Refused, refused_entry};
use crate::policy::{Decision, McpCall, RuleId, Verdict};

use super::McpView;

impl McpView {
    /// The audit entry of a dropped server request.
    pub(super) fn record(&self, decision: &Decision) {
        let call = decision.mcp.as_ref().and_then(|c| c.deciding_call());
        let label = call.map_or_else(|| "a request".to_owned(), |c| c.call.label());
        let verdict = match decision.verdict {
            Verdict::Approve => "needs an approval, which a server request cannot wait for",
            _ => "was denied",
        };
        let reason = format!(
            "MCP server request {label} {verdict}, dropped: {}",
            decision.reason
        );
        self.record_drop(reason, decision.rule.as_ref(), call.map(|c| &c.call));
    }

    /// The audit entry of a server message that looks like JSON but does not parse.
    pub fn record_unreadable(&self) {
        let reason = "MCP server message dropped: it looks like JSON but does not parse";
        self.record_drop(reason.to_owned(), None, None);
    }

    /// A dropped message's log line and audit entry, under the exchange's id.
    fn record_drop(&self, reason: String, rule: Option<&RuleId>, call: Option<&McpCall>) {
        tracing::warn!(
            request_id = self.id.as_str(),
            target = %self.conn.target,
            %reason,
            "MCP server message dropped"
        );
        self.record_message(AuditDecision::Deny, reason, rule, call);
    }

    /// The audit entry of one message decided inside the exchange's connection, under the
    /// exchange's id.
    pub fn record_message(
        &self,
        decision: AuditDecision,
        reason: String,
        rule: Option<&RuleId>,
        call: Option<&McpCall>,
    ) {
        let refused = Refused {
            place: Place::of(&self.conn),
            method: &self.method,
            path: &self.path,
            decision,
            reason,
            status: None,
        };
        let mut entry = refused_entry(refused, &self.id);
        entry.rule = rule.cloned();
        if let Some(call) = call {
            entry.mcp_method = Some(call.method.clone());
            entry.mcp_tool = call.tool.clone();
        }
        entry.mcp_session = self.headers.get(MCP_SESSION_HEADER).map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .chars()
                .take(MAX_SESSION_CHARS)
                .collect()
        });
        self.recorder.write(entry);
    }
}
