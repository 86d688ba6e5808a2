//! What an MCP server answers, on its way to the agent: the results of `tools/list` and
//! `resources/list` keep only the tools and resources the rules would let the agent use, and
//! requests the server makes of the client (sampling, elicitation, roots, ping), which arrive
//! as SSE events, are decided by the rules like the agent's own calls; a request not allowed
//! is dropped from the stream and recorded. JSON answers are filtered whole (buffered up to a
//! cap), SSE answers event by event (`sse`, `body`).
//!
//! A tool is listed unless a call of it, without arguments, is denied by a rule or by the
//! default deny; a call that fails only an allowing (or approving) rule's argument conditions
//! is listed, since other arguments may be allowed. Resources likewise with `resources/read`.

mod body;
pub mod legacy;
mod records;

use std::sync::{Arc, Mutex, PoisonError};

use http::{HeaderMap, Method};
use serde_json::{Map, Value, json};

use crate::control::rules_in_force::InForce;
use crate::pipeline::exchange::{ConnInfo, RequestId};
use crate::pipeline::normalise::Normalised;
use crate::pipeline::record::Recorder;
use crate::policy::mcp::{RESOURCES_READ, TOOLS_CALL, mirrored};
use crate::policy::{
    AgentId, Decision, NormalizedTarget, RequestBody, RequestHead, Verdict, normalize_target,
};

pub use body::McpReplyBody;
pub use legacy::LegacyStreams;

/// The `tools/list` method, whose result's `tools` are filtered.
const TOOLS_LIST: &str = "tools/list";
/// The `resources/list` method, whose result's `resources` are filtered.
const RESOURCES_LIST: &str = "resources/list";

/// Most list calls awaiting their answer on one connection (a WebSocket's agent may send
/// many): a list call beyond it is refused rather than let through unfiltered.
pub const MAX_PENDING_LISTS: usize = 1024;

/// Whether `method` is one whose answer is filtered.
pub fn is_list(method: &str) -> bool {
    method == TOOLS_LIST || method == RESOURCES_LIST
}

/// What deciding an MCP server's messages needs, owned: the response outlives the request.
pub struct McpView {
    in_force: Arc<InForce>,
    target: NormalizedTarget,
    host: String,
    path: String,
    query: Option<String>,
    /// The agent's request headers as it sent them (placeholders, never injected secrets),
    /// less those mirroring its body.
    headers: HeaderMap,
    agent: Option<AgentId>,
    /// The ids of the `tools/list` and `resources/list` calls not answered yet.
    lists: Mutex<Vec<Value>>,
    /// Every answer may be a list's: the stream a client opens with `GET`, which carries the
    /// answers to calls it posted elsewhere (the HTTP+SSE transport), ids unknown here.
    unsolicited: bool,
    /// Where such a stream is registered under its endpoint, so that denials of what the
    /// agent posts there are answered on it.
    legacy: Arc<LegacyStreams>,
    /// Where a dropped server request is recorded, under the exchange's id.
    recorder: Arc<Recorder>,
    id: RequestId,
    conn: Arc<ConnInfo>,
    method: String,
}

/// Whether the request's `Accept` names `text/event-stream`.
fn accepts_sse(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/event-stream"))
}

/// What becomes of one message from the server.
#[derive(Debug, PartialEq)]
pub enum Fate {
    /// Passed on as it came.
    Keep,
    /// Passed on changed (a filtered list).
    Rewrite(Value),
    /// Not passed on (a server request the rules do not allow).
    Drop,
}

/// What [`McpView::of`] reads from the exchange.
pub struct Origin<'a> {
    pub in_force: &'a Arc<InForce>,
    pub request: &'a Normalised,
    pub decision: &'a Decision,
    pub conn: &'a Arc<ConnInfo>,
    pub recorder: &'a Arc<Recorder>,
    pub id: &'a RequestId,
    pub legacy: &'a Arc<LegacyStreams>,
}

impl McpView {
    /// The view of an exchange whose answer the rules look into: one whose calls `mcp:`
    /// rules decided, or a `GET` (the server's SSE stream) of a URL `mcp:` rules select.
    pub fn of(origin: Origin<'_>) -> Option<McpView> {
        let Origin {
            in_force,
            request,
            decision,
            conn,
            recorder,
            id,
            legacy,
        } = origin;
        let mut unsolicited = false;
        let lists = match &decision.mcp {
            Some(calls) => calls
                .calls
                .iter()
                .filter(|c| is_list(&c.call.method))
                .filter_map(|c| c.call.id.clone())
                .collect(),
            // The stream an MCP client opens with `GET` and `Accept: text/event-stream`, or a
            // WebSocket carrying JSON-RPC both ways.
            None if request.parts.method == Method::GET
                && (accepts_sse(&request.parts.headers) || request.client_upgrade.is_some()) =>
            {
                let mut head = request.head(conn.scheme, conn.target.port);
                head.method = &Method::POST;
                let rules = &in_force.rules;
                let agent = conn.agent.as_ref();
                let stream = request.client_upgrade.is_none();
                let selected = rules.mcp_rule_matches(&request.target, &head, agent)
                    || (stream && rules.host_has_mcp_rules(&request.target, agent));
                if !selected {
                    return None;
                }
                unsolicited = request.client_upgrade.is_none();
                Vec::new()
            }
            None => return None,
        };
        // The messages decided here are not the agent's body: the headers it mirrored from
        // that body do not describe them.
        let mut headers = request.parts.headers.clone();
        headers.remove(mirrored::MCP_METHOD);
        headers.remove(mirrored::MCP_NAME);
        Some(McpView {
            in_force: in_force.clone(),
            target: request.target.clone(),
            host: request.host.clone(),
            path: request.parts.uri.path().to_owned(),
            query: request.parts.uri.query().map(str::to_owned),
            headers,
            agent: conn.agent.clone(),
            lists: Mutex::new(lists),
            unsolicited,
            legacy: legacy.clone(),
            recorder: recorder.clone(),
            id: id.clone(),
            conn: conn.clone(),
            method: request.parts.method.to_string(),
        })
    }

    /// The rules and credentials the exchange was decided under.
    pub fn in_force(&self) -> &Arc<InForce> {
        &self.in_force
    }

    /// The agent the exchange's connection belongs to.
    pub fn agent(&self) -> Option<&AgentId> {
        self.agent.as_ref()
    }

    /// The exchange's id: the id of every record made inside its connection.
    pub fn request_id(&self) -> &RequestId {
        &self.id
    }

    /// Whether JSON answers need reading (a list was asked for); SSE events always do.
    pub fn reads_json(&self) -> bool {
        !self.pending_lists().is_empty()
    }

    /// The list calls awaiting their answer.
    fn pending_lists(&self) -> std::sync::MutexGuard<'_, Vec<Value>> {
        self.lists.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers the stream this view reads under the endpoint an `endpoint` event names
    /// (the HTTP+SSE transport); `None` when it is not a `GET` stream or the endpoint is
    /// not on the stream's host.
    /// From then on the server's requests on the stream are decided as posts to the
    /// endpoint, where the agent's own calls go.
    pub fn register_endpoint(&mut self, data: &str) -> Option<legacy::Registered> {
        if !self.unsolicited {
            return None;
        }
        let host = self.conn.target.host.to_string();
        let endpoint = legacy::endpoint_of(data, &host)?;
        let (path, query) = match endpoint.split_once('?') {
            Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
            None => (endpoint.clone(), None),
        };
        // An endpoint keyward cannot read as a path is not registered: its posts are
        // refused on their own.
        let target = normalize_target(&self.host, self.conn.target.port, &path).ok()?;
        self.target = target;
        self.path = path;
        self.query = query;
        self.legacy.register(&host, &endpoint, self.agent.as_ref())
    }

    /// Notes a list call whose answer is to be filtered; false when too many await theirs.
    pub fn expect_list(&self, id: Value) -> bool {
        let mut lists = self.pending_lists();
        if lists.len() >= MAX_PENDING_LISTS {
            return false;
        }
        lists.push(id);
        true
    }

    /// The fate of one JSON-RPC message (or batch) from the server.
    pub fn fate(&self, message: &Value) -> Fate {
        match message {
            Value::Array(items) => {
                let mut changed = false;
                let mut kept = Vec::with_capacity(items.len());
                for item in items {
                    match self.fate_one(item) {
                        Fate::Keep => kept.push(item.clone()),
                        Fate::Rewrite(v) => {
                            changed = true;
                            kept.push(v);
                        }
                        Fate::Drop => changed = true,
                    }
                }
                match (changed, kept.is_empty()) {
                    (false, _) => Fate::Keep,
                    (true, true) => Fate::Drop,
                    (true, false) => Fate::Rewrite(Value::Array(kept)),
                }
            }
            one => self.fate_one(one),
        }
    }

    /// The fate of one message object.
    fn fate_one(&self, message: &Value) -> Fate {
        let Value::Object(object) = message else {
            return Fate::Keep;
        };
        if object.get("method").is_some_and(Value::is_string) && object.contains_key("id") {
            return self.server_request(message);
        }
        let asked = self.unsolicited
            || object.get("id").is_some_and(|id| {
                let mut lists = self.pending_lists();
                let at = lists.iter().position(|l| l == id);
                at.map(|at| lists.swap_remove(at)).is_some()
            });
        let Some(Value::Object(result)) = object.get("result").filter(|_| asked) else {
            return Fate::Keep;
        };
        let mut result = result.clone();
        let changed = self.filter_list(&mut result, "tools", "name", TOOLS_CALL)
            | self.filter_list(&mut result, "resources", "uri", RESOURCES_READ);
        if !changed {
            return Fate::Keep;
        }
        let mut object = object.clone();
        object.insert("result".to_owned(), Value::Object(result));
        Fate::Rewrite(Value::Object(object))
    }

    /// Drops the entries of `result[list]` whose `key` the agent may not use with `method`;
    /// true when one was dropped.
    fn filter_list(
        &self,
        result: &mut Map<String, Value>,
        list: &str,
        key: &str,
        method: &str,
    ) -> bool {
        let Some(Value::Array(entries)) = result.get_mut(list) else {
            return false;
        };
        let before = entries.len();
        entries.retain(|entry| {
            let Some(name) = entry.get(key).and_then(Value::as_str) else {
                return false;
            };
            let params = match method {
                TOOLS_CALL => json!({ "name": name }),
                _ => json!({ "uri": name }),
            };
            let call = json!({ "jsonrpc": "2.0", "id": 0, "method": method, "params": params });
            let decision = self.decide(&call);
            decision.verdict != Verdict::Deny || decision.failed_condition.is_some()
        });
        entries.len() != before
    }

    /// A request of the server's, decided like a call of the agent's to the same URL: one
    /// not allowed (denied, or needing an approval no one can give inside a stream) is
    /// dropped and recorded.
    fn server_request(&self, message: &Value) -> Fate {
        let decision = self.decide(message);
        if decision.verdict == Verdict::Allow {
            return Fate::Keep;
        }
        self.record(&decision);
        Fate::Drop
    }

    /// The rules' decision on `message` as the body of a `POST` to the exchange's URL.
    fn decide(&self, message: &Value) -> Decision {
        let Ok(bytes) = serde_json::to_vec(message) else {
            return Decision::deny("the server's message could not be serialised");
        };
        self.decide_bytes(&bytes)
    }

    /// The rules' decision on `bytes` as the body of a `POST` to the exchange's URL.
    pub fn decide_bytes(&self, bytes: &[u8]) -> Decision {
        let head = RequestHead {
            method: &Method::POST,
            scheme: self.conn.scheme,
            host: &self.host,
            port: self.conn.target.port,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
        };
        let body = RequestBody {
            bytes,
            content_encoding: None,
            content_type: Some("application/json"),
            truncated: false,
        };
        self.in_force
            .rules
            .decide_normalized(&self.target, &head, Some(&body), self.agent.as_ref())
    }
}
