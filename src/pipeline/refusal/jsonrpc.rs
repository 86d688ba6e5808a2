//! A policy denial of MCP calls, answered inside MCP: HTTP 200 with one JSON-RPC error per
//! call that has an id (an array for a batch), so the MCP client shows the denial instead
//! of a transport failure. Notifications have no id and get no answer; a body of
//! notifications only is answered `202 Accepted` without a body, as MCP servers do. A
//! client that accepts only `text/event-stream` gets the same answer as one SSE event.

use serde::Serialize;
use serde_json::Value;

use crate::pipeline::exchange::RequestId;
use crate::policy::{McpDecision, RuleId};

/// The JSON-RPC error code of a keyward denial: in the range JSON-RPC leaves to servers
/// (-32000 to -32099), beside the codes MCP servers use themselves.
pub const DENIED_CODE: i64 = -32001;

/// A denial of a JSON-RPC body, whole: the deciding rule and reason, and every call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpDenial {
    /// The rule that denied the request (for a batch, the denied element's).
    pub rule: Option<RuleId>,
    /// The request's reason (for a batch, naming the denied element).
    pub reason: String,
    /// The calls and how each was decided.
    pub calls: McpDecision,
    /// Answer as an SSE stream: the request's `Accept` names `text/event-stream` and not
    /// `application/json`.
    pub sse: bool,
    /// The errors went out on the client's stream (the HTTP+SSE transport): the request
    /// itself is answered `202 Accepted` without a body, as such servers answer posts.
    pub answered_on_stream: bool,
}

/// Whether a request with this `Accept` header is answered in SSE rather than JSON.
pub fn wants_sse(accept: Option<&http::HeaderValue>) -> bool {
    let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let types: Vec<String> = accept
        .split(',')
        .filter_map(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    let json = types
        .iter()
        .any(|t| t == "application/json" || t == "application/*" || t == "*/*");
    !json && types.iter().any(|t| t == "text/event-stream")
}

/// One JSON-RPC message as an SSE event, as streamable-HTTP servers send it.
pub fn sse_event(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 24);
    out.extend_from_slice(b"event: message\ndata: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    out
}

/// One JSON-RPC error response.
#[derive(Serialize)]
struct ErrorResponse<'a> {
    jsonrpc: &'static str,
    id: &'a Value,
    error: ErrorObject<'a>,
}

/// Its `error` member.
#[derive(Serialize)]
struct ErrorObject<'a> {
    code: i64,
    message: String,
    data: ErrorData<'a>,
}

/// What keyward adds to the error, the same facts as its 403 body.
#[derive(Serialize)]
struct ErrorData<'a> {
    decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'a RuleId>,
    reason: &'a str,
    request_id: &'a str,
}

impl McpDenial {
    /// The JSON-RPC answer; `None` when no call has an id (nothing to answer).
    pub fn body(&self, request_id: &RequestId) -> Option<Vec<u8>> {
        let rule = self
            .rule
            .as_ref()
            .map_or_else(String::new, |r| format!(" (rule {r})"));
        let errors: Vec<ErrorResponse<'_>> = self
            .calls
            .calls
            .iter()
            .filter_map(|c| {
                let id = c.call.id.as_ref()?;
                Some(ErrorResponse {
                    jsonrpc: "2.0",
                    id,
                    error: ErrorObject {
                        code: DENIED_CODE,
                        message: format!(
                            "keyward denied {}: {}{rule}",
                            c.call.label(),
                            self.reason
                        ),
                        data: ErrorData {
                            decision: "deny",
                            rule: self.rule.as_ref(),
                            reason: &self.reason,
                            request_id: request_id.as_str(),
                        },
                    },
                })
            })
            .collect();
        let json = match errors.as_slice() {
            [] => return None,
            [one] if !self.calls.batch => serde_json::to_vec(one),
            all => serde_json::to_vec(all),
        };
        Some(json.unwrap_or_else(|_| {
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"keyward denied the request"}}"#.to_vec()
        }))
    }
}
