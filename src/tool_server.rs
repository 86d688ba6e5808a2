//! keyward as an MCP server: the JSON-RPC side of serving a catalogue of tools (the actions
//! of the rule files) to an agent, over any transport (`streamable` for streamable HTTP, `stdio`
//! for newline-delimited messages). It speaks the handshake era of MCP (`initialize`, then
//! `tools/list` and `tools/call`; `ping`), answers `server/discover` with "method not found"
//! so that newer clients fall back to the handshake, and accepts batches (each element
//! answered, notifications not). What a tool does, and whether the agent may use it, is the
//! [`Catalog`]'s: this module only frames.

pub mod stdio;
pub mod streamable;

use std::future::Future;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::policy::AgentId;

/// The protocol versions of the handshake era this server speaks, oldest first.
pub const PROTOCOL_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// JSON-RPC: the message is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC: no such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC: the parameters are wrong (an unknown tool, input failing its schema).
pub const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC: the message is not JSON.
pub const PARSE_ERROR: i64 = -32700;

/// Most elements of a batch handled: a larger batch is refused whole.
pub const MAX_BATCH: usize = 64;

/// A tool as `tools/list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolInfo {
    pub name: String,
    pub description: String,
    #[serde(rename = "inputSchema")]
    pub input_schema: Value,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// The tool ran: its (shaped) result.
    Done(Value),
    /// The tool ran and failed (the upstream answered an error): shown to the model as a
    /// tool error (`isError: true`), not a protocol error.
    Failed(String),
    /// The call was refused before anything was sent: a JSON-RPC error (bad input, an
    /// unknown or hidden tool, a policy denial, an approval not given).
    Refused(RpcError),
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }
}

/// What the server serves: the tools an agent may use, and running one.
pub trait Catalog: Send + Sync {
    /// The tools `agent` may use, in a stable order.
    fn tools(&self, agent: Option<&AgentId>) -> Vec<ToolInfo>;
    /// Runs `name` with `arguments` for `agent`.
    fn call(
        &self,
        agent: Option<&AgentId>,
        name: &str,
        arguments: Value,
    ) -> impl Future<Output = CallOutcome> + Send;
}

/// The JSON-RPC dispatcher over a catalogue.
pub struct ToolServer<C> {
    catalog: C,
    /// The name and version the server gives in `initialize`.
    name: &'static str,
}

impl<C: Catalog> ToolServer<C> {
    pub fn new(catalog: C) -> Self {
        ToolServer {
            catalog,
            name: "keyward",
        }
    }

    /// The catalogue served.
    pub fn catalog(&self) -> &C {
        &self.catalog
    }

    /// Answers one message (an object or a batch); `None` when nothing is to be answered
    /// (notifications only).
    pub async fn handle(&self, agent: Option<&AgentId>, message: Value) -> Option<Value> {
        match message {
            Value::Array(items) if items.is_empty() => Some(error_response(
                Value::Null,
                RpcError::new(INVALID_REQUEST, "an empty batch"),
            )),
            Value::Array(items) if items.len() > MAX_BATCH => Some(error_response(
                Value::Null,
                RpcError::new(
                    INVALID_REQUEST,
                    format!("a batch of more than {MAX_BATCH} messages"),
                ),
            )),
            Value::Array(items) => {
                let mut answers = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(answer) = self.handle_one(agent, item).await {
                        answers.push(answer);
                    }
                }
                (!answers.is_empty()).then_some(Value::Array(answers))
            }
            one => self.handle_one(agent, one).await,
        }
    }

    /// Answers bytes as they came: a message that is not JSON gets a parse error.
    pub async fn handle_bytes(&self, agent: Option<&AgentId>, bytes: &[u8]) -> Option<Value> {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(message) => self.handle(agent, message).await,
            Err(e) => Some(error_response(
                Value::Null,
                RpcError::new(PARSE_ERROR, format!("not JSON: {e}")),
            )),
        }
    }

    /// One request, notification or response object.
    async fn handle_one(&self, agent: Option<&AgentId>, message: Value) -> Option<Value> {
        let Value::Object(mut object) = message else {
            return Some(error_response(
                Value::Null,
                RpcError::new(INVALID_REQUEST, "a message must be a JSON object"),
            ));
        };
        let id = object.remove("id");
        let method = match object.remove("method") {
            Some(Value::String(method)) => method,
            // A response (to a request this server never makes) or junk without a method.
            None if id.is_some()
                && (object.contains_key("result") || object.contains_key("error")) =>
            {
                return None;
            }
            _ => {
                return Some(error_response(
                    id.unwrap_or(Value::Null),
                    RpcError::new(INVALID_REQUEST, "a request needs a string method"),
                ));
            }
        };
        if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return id.map(|id| {
                error_response(
                    id,
                    RpcError::new(INVALID_REQUEST, "jsonrpc must be \"2.0\""),
                )
            });
        }
        let params = object.remove("params").unwrap_or(Value::Null);
        // Notifications (no id) are never answered: `notifications/initialized`,
        // `notifications/cancelled` and the like need nothing from a server with no state.
        let id = id?;
        let result = self.call_method(agent, &method, params).await;
        Some(match result {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err(error) => error_response(id, error),
        })
    }

    /// The result of `method`.
    async fn call_method(
        &self,
        agent: Option<&AgentId>,
        method: &str,
        params: Value,
    ) -> Result<Value, RpcError> {
        match method {
            "initialize" => Ok(self.initialize(&params)),
            "ping" => Ok(json!({})),
            "tools/list" => Ok(json!({ "tools": self.catalog.tools(agent) })),
            "tools/call" => self.tools_call(agent, params).await,
            other => Err(RpcError::new(
                METHOD_NOT_FOUND,
                format!("method {other} is not served by keyward"),
            )),
        }
    }

    /// The handshake: the client's version when this server speaks it, else the newest.
    fn initialize(&self, params: &Value) -> Value {
        let asked = params.get("protocolVersion").and_then(Value::as_str);
        let newest = PROTOCOL_VERSIONS[PROTOCOL_VERSIONS.len() - 1];
        let version = asked
            .filter(|v| PROTOCOL_VERSIONS.contains(v))
            .unwrap_or(newest);
        json!({
            "protocolVersion": version,
            "capabilities": { "tools": { "listChanged": false } },
            "serverInfo": { "name": self.name, "version": env!("CARGO_PKG_VERSION") },
            "instructions": "Each tool is an action governed by keyward's rules: calls may be \
                denied, or held for a person's approval; errors name the rule and reason.",
        })
    }

    /// `tools/call`: the tool's result as text and as structured content.
    async fn tools_call(&self, agent: Option<&AgentId>, params: Value) -> Result<Value, RpcError> {
        let Value::Object(mut params) = params else {
            return Err(RpcError::new(INVALID_PARAMS, "tools/call needs params"));
        };
        let Some(Value::String(name)) = params.remove("name") else {
            return Err(RpcError::new(
                INVALID_PARAMS,
                "tools/call needs a string params.name",
            ));
        };
        let arguments = match params.remove("arguments") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(arguments @ Value::Object(_)) => arguments,
            Some(_) => {
                return Err(RpcError::new(
                    INVALID_PARAMS,
                    "params.arguments must be an object",
                ));
            }
        };
        match self.catalog.call(agent, &name, arguments).await {
            CallOutcome::Done(result) => {
                let text = serde_json::to_string(&result).unwrap_or_default();
                let mut answer = json!({
                    "content": [{ "type": "text", "text": text }],
                    "isError": false,
                });
                if result.is_object() {
                    answer["structuredContent"] = result;
                }
                Ok(answer)
            }
            CallOutcome::Failed(why) => Ok(json!({
                "content": [{ "type": "text", "text": why }],
                "isError": true,
            })),
            CallOutcome::Refused(error) => Err(error),
        }
    }
}

/// A JSON-RPC error response.
fn error_response(id: Value, error: RpcError) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": error })
}

#[cfg(test)]
mod tests;
