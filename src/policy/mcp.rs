//! MCP over streamable HTTP: a rule's `mcp:` selector and the JSON-RPC calls of a body.
//!
//! A body is read as JSON-RPC 2.0 when it is one request object (`"jsonrpc": "2.0"` and a
//! string `method`) or a non-empty array of them; anything else (responses, other JSON,
//! not JSON) is not a call, and `mcp:` rules do not match it.

use std::fmt;

use serde_json::Value;

use crate::policy::decision::Verdict;
use crate::policy::ids::RuleId;
use crate::policy::rule::Check;

/// The JSON-RPC method of `tools/call`, the one method whose calls name a tool.
pub const TOOLS_CALL: &str = "tools/call";

/// The JSON-RPC method of `prompts/get`, which carries `params.arguments` too.
pub const PROMPTS_GET: &str = "prompts/get";

/// The JSON-RPC method of `resources/read`, the one method whose calls name a resource.
pub const RESOURCES_READ: &str = "resources/read";

/// A JSON-RPC method name as a rule writes it: exact, or a prefix ending in `/*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MethodPattern {
    /// `tools/call`: this method only.
    Exact(String),
    /// `notifications/*`: every method under `notifications/` (the prefix keeps the `/`).
    Prefix(String),
}

impl MethodPattern {
    /// Parses one entry of `mcp.method:`; `None` when it is empty, has whitespace, or a
    /// `*` anywhere but a final `/*`.
    pub fn parse(text: &str) -> Option<MethodPattern> {
        if text.is_empty() || text.chars().any(char::is_whitespace) {
            return None;
        }
        match text.strip_suffix('*') {
            Some(prefix) if prefix.ends_with('/') && !prefix.contains('*') && prefix.len() > 1 => {
                Some(MethodPattern::Prefix(prefix.to_owned()))
            }
            Some(_) => None,
            None if text.contains('*') => None,
            None => Some(MethodPattern::Exact(text.to_owned())),
        }
    }

    /// Does `method` match?
    pub fn matches(&self, method: &str) -> bool {
        match self {
            MethodPattern::Exact(m) => m == method,
            MethodPattern::Prefix(p) => method.starts_with(p.as_str()),
        }
    }
}

impl fmt::Display for MethodPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MethodPattern::Exact(m) => f.write_str(m),
            MethodPattern::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

/// A rule's compiled `mcp:` section.
#[derive(Clone, Debug)]
pub struct McpSelector {
    /// `method:`; `None` admits every method.
    pub methods: Option<Vec<MethodPattern>>,
    /// `tool:` names of `tools/call`; `None` admits every tool.
    pub tools: Option<Vec<String>>,
    /// `resource:` URIs of `resources/read` (exact, or a prefix ending in `*`); `None` admits
    /// every resource.
    pub resources: Option<Vec<ResourcePattern>>,
    /// `arguments:` conditions on `params.arguments`.
    pub arguments: Vec<Check>,
}

impl McpSelector {
    /// `Ok(())` when the call matches the method and tool lists, else why not.
    pub fn matches(&self, call: &McpCall) -> Result<(), String> {
        if let Some(methods) = &self.methods
            && !methods.iter().any(|m| m.matches(&call.method))
        {
            return Err(format!("mcp method {} does not match", call.method));
        }
        if let Some(tools) = &self.tools {
            match &call.tool {
                Some(tool) if tools.iter().any(|t| t == tool) => {}
                Some(tool) => return Err(format!("mcp tool {tool} does not match")),
                None => return Err("the call names no tool".to_owned()),
            }
        }
        if let Some(resources) = &self.resources {
            match &call.resource {
                Some(uri) if resources.iter().any(|r| r.matches(uri)) => {}
                Some(uri) => return Err(format!("mcp resource {uri} does not match")),
                None => return Err("the call names no resource".to_owned()),
            }
        }
        Ok(())
    }

    /// `mcp tools/call create_issue|delete_repo`, as shown in traces.
    pub fn text(&self) -> String {
        let methods = self.methods.as_ref().map_or_else(
            || "*".to_owned(),
            |m| {
                m.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("|")
            },
        );
        let mut text = format!("mcp {methods}");
        if let Some(tools) = &self.tools {
            text = format!("{text} {}", tools.join("|"));
        }
        if let Some(resources) = &self.resources {
            let uris: Vec<String> = resources.iter().map(ToString::to_string).collect();
            text = format!("{text} {}", uris.join("|"));
        }
        text
    }
}

/// A resource URI as a rule writes it: exact, or a prefix ending in `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourcePattern {
    /// `file:///repo/README.md`: this URI only.
    Exact(String),
    /// `file:///repo/docs/*`: every URI starting with `file:///repo/docs/`.
    Prefix(String),
}

impl ResourcePattern {
    /// Parses one entry of `mcp.resource:`; `None` when it is empty, has whitespace, or a
    /// `*` anywhere but at the end.
    pub fn parse(text: &str) -> Option<ResourcePattern> {
        if text.is_empty() || text.chars().any(char::is_whitespace) {
            return None;
        }
        match text.strip_suffix('*') {
            Some(prefix) if !prefix.is_empty() && !prefix.contains('*') => {
                Some(ResourcePattern::Prefix(prefix.to_owned()))
            }
            Some(_) => None,
            None if text.contains('*') => None,
            None => Some(ResourcePattern::Exact(text.to_owned())),
        }
    }

    /// Does `uri` match?
    pub fn matches(&self, uri: &str) -> bool {
        match self {
            ResourcePattern::Exact(u) => u == uri,
            ResourcePattern::Prefix(p) => uri.starts_with(p.as_str()),
        }
    }
}

impl fmt::Display for ResourcePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourcePattern::Exact(u) => f.write_str(u),
            ResourcePattern::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

/// One JSON-RPC call of a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpCall {
    /// Its place in a batch (0 for a single call).
    pub index: usize,
    /// Its `id`; `None` for a notification, which gets no answer.
    pub id: Option<Value>,
    /// Its `method`.
    pub method: String,
    /// `params.name` of a `tools/call`.
    pub tool: Option<String>,
    /// `params.uri` of a `resources/read`.
    pub resource: Option<String>,
    /// `params.arguments`, when present.
    pub arguments: Option<Value>,
}

impl McpCall {
    /// `tools/call create_issue`, `resources/read file:///a`, or the method alone.
    pub fn label(&self) -> String {
        match (&self.tool, &self.resource) {
            (Some(tool), _) => format!("{} {tool}", self.method),
            (None, Some(uri)) => format!("{} {uri}", self.method),
            (None, None) => self.method.clone(),
        }
    }
}

/// The JSON-RPC calls of a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpCalls {
    /// The calls, in body order.
    pub calls: Vec<McpCall>,
    /// Whether the body was an array (answered with an array).
    pub batch: bool,
}

/// Reads a JSON document as JSON-RPC calls; `Err(why not)` when it is not a request body.
pub fn calls(doc: &Value) -> Result<McpCalls, String> {
    match doc {
        Value::Array(items) if items.is_empty() => Err("the JSON-RPC batch is empty".to_owned()),
        Value::Array(items) => {
            let calls = items
                .iter()
                .enumerate()
                .map(|(i, item)| call(i, item).map_err(|e| format!("batch element {i}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(McpCalls { calls, batch: true })
        }
        other => Ok(McpCalls {
            calls: vec![call(0, other)?],
            batch: false,
        }),
    }
}

/// One request object.
fn call(index: usize, value: &Value) -> Result<McpCall, String> {
    let Value::Object(object) = value else {
        return Err("not a JSON-RPC object".to_owned());
    };
    if object.get("jsonrpc") != Some(&Value::String("2.0".to_owned())) {
        return Err("no \"jsonrpc\": \"2.0\"".to_owned());
    }
    let Some(Value::String(method)) = object.get("method") else {
        return Err("no string \"method\" (not a JSON-RPC request)".to_owned());
    };
    let params = object.get("params");
    let tool = match params.and_then(|p| p.get("name")) {
        _ if method != TOOLS_CALL => None,
        Some(Value::String(name)) => Some(name.clone()),
        _ => return Err("tools/call without a string params.name".to_owned()),
    };
    let resource = match params.and_then(|p| p.get("uri")) {
        _ if method != RESOURCES_READ => None,
        Some(Value::String(uri)) => Some(uri.clone()),
        _ => return Err("resources/read without a string params.uri".to_owned()),
    };
    Ok(McpCall {
        index,
        id: object.get("id").cloned(),
        method: method.clone(),
        tool,
        resource,
        arguments: params.and_then(|p| p.get("arguments")).cloned(),
    })
}

/// How one call of a body was decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpCallDecision {
    /// The call.
    pub call: McpCall,
    /// Its verdict (the enforced one).
    pub verdict: Verdict,
    /// The rule that decided it.
    pub rule: Option<RuleId>,
    /// Why.
    pub reason: String,
}

/// The per-call decisions of a JSON-RPC body, kept in the [`crate::policy::Decision`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpDecision {
    /// Whether the body was a batch.
    pub batch: bool,
    /// One entry per call, in body order.
    pub calls: Vec<McpCallDecision>,
    /// The index of the call whose decision is the request's.
    pub deciding: usize,
}

impl McpDecision {
    /// The call whose decision is the request's.
    pub fn deciding_call(&self) -> Option<&McpCallDecision> {
        self.calls.get(self.deciding)
    }
}

pub mod mirrored;
#[cfg(test)]
mod tests;
