//! The actions of the rules in force as an MCP tool catalogue: `tools/list` shows the actions
//! an agent may use, and `tools/call` validates the input, renders the request and sends it
//! through keyward's own proxy port ([`ProxyClient`]), so the rules decide it, approvals hold
//! it, credentials are injected, redaction applies and the audit records it as for any
//! proxied request. The rules are read afresh on every call, so a reload takes effect at once.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use serde_json::{Map, Value, json};

use super::handoff::{HandedCall, Handoff, recorded_input};
use super::schema::{Kind, Schema};
use super::via_proxy::{Answer, ProxyClient};
use super::{Action, CallError, refusal_record};
use crate::audit::AuditEntry;
use crate::control::rules_in_force::RulesInForce;
use crate::pipeline::record::Recorder;
use crate::pipeline::refusal::{DECISION_HEADER, DENIED_CODE};
use crate::policy::AgentId;
use crate::policy::decision::Verdict;
use crate::tool_server::{CallOutcome, Catalog, INVALID_PARAMS, RpcError, ToolInfo};

/// Serves the actions of the rules in force.
pub struct ActionCatalog {
    /// Read on every call (reload-aware).
    rules: Arc<RulesInForce>,
    /// Keyward's own proxy port.
    client: ProxyClient,
    /// How the pipeline learns a request's action and input.
    handoff: Arc<Handoff>,
    /// Writes the entries of calls refused before a request was sent.
    recorder: Arc<Recorder>,
}

impl ActionCatalog {
    pub fn new(
        rules: Arc<RulesInForce>,
        client: ProxyClient,
        handoff: Arc<Handoff>,
        recorder: Arc<Recorder>,
    ) -> Self {
        Self {
            rules,
            client,
            handoff,
            recorder,
        }
    }

    /// Records a call refused before sending, and refuses it with `code`.
    fn refuse(&self, entry: AuditEntry, code: i64, message: String) -> CallOutcome {
        self.recorder.write(entry);
        refused(code, message)
    }

    /// The `Proxy-Authorization` keyward's client sends for `agent`.
    async fn proxy_auth(&self, agent: Option<&AgentId>) -> Result<Option<HeaderValue>, String> {
        let Some(agent) = agent else {
            return Ok(None);
        };
        let current = self.rules.current();
        let Some((id, token)) = current.agents.credentials_for(Some(agent.as_str())).await? else {
            return Ok(None);
        };
        let mut plain = zeroize::Zeroizing::new(format!("{id}:").into_bytes());
        plain.extend_from_slice(token.expose());
        let encoded = zeroize::Zeroizing::new(format!("Basic {}", STANDARD.encode(&*plain)));
        let mut value = HeaderValue::from_str(&encoded).map_err(|_| "agent token".to_owned())?;
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

impl Catalog for ActionCatalog {
    fn tools(&self, agent: Option<&AgentId>) -> Vec<ToolInfo> {
        let current = self.rules.current();
        current
            .rules
            .actions()
            .iter()
            .filter(|a| a.applies_to(agent))
            .map(|a| ToolInfo {
                name: a.name().to_owned(),
                description: a.description().to_owned(),
                input_schema: schema_json(a.input()),
            })
            .collect()
    }

    async fn call(&self, agent: Option<&AgentId>, name: &str, arguments: Value) -> CallOutcome {
        let current = self.rules.current();
        let Some(action) = current
            .rules
            .actions()
            .iter()
            .find(|a| a.name() == name && a.applies_to(agent))
        else {
            let why = format!("no action named {name} is served to this agent");
            let entry = refusal_record::of_unknown(name, agent, &why);
            return self.refuse(entry, INVALID_PARAMS, why);
        };
        let known = current.known_secrets(&[]).await;
        let input = Arc::new(recorded_input(&arguments, &known));
        if let Some(why) = own_refusal(action) {
            let entry = refusal_record::of_action(action, agent, &why, &input);
            return self.refuse(entry, DENIED_CODE, why);
        }
        let mut req = match action.build(&arguments) {
            Ok(req) => req,
            Err(e) => {
                let why = match e {
                    CallError::Input(e) => format!("invalid input: {e}"),
                    CallError::Render(e) => e.to_string(),
                };
                let entry = refusal_record::of_action(action, agent, &why, &input);
                return self.refuse(entry, INVALID_PARAMS, why);
            }
        };
        let handed = HandedCall {
            name: action.name().to_owned(),
            input: Some(input),
        };
        let _ticket = match self.handoff.hand(handed, req.headers_mut()) {
            Ok(ticket) => ticket,
            Err(e) => return CallOutcome::Failed(e.to_string()),
        };
        let auth = match self.proxy_auth(agent).await {
            Ok(auth) => auth,
            Err(why) => return CallOutcome::Failed(why),
        };
        match self.client.send(req, auth).await {
            Ok(answer) => outcome(action, answer),
            Err(e) => CallOutcome::Failed(e.to_string()),
        }
    }
}

/// What an answer of the proxy means for the call.
fn outcome(action: &Action, answer: Answer) -> CallOutcome {
    let by_keyward = answer.headers.contains_key(DECISION_HEADER);
    if answer.status.is_success() {
        return match action.shape().apply(&answer.body) {
            Ok(shaped) => CallOutcome::Done(shaped),
            Err(e) => CallOutcome::Failed(format!("the upstream's answer: {e}")),
        };
    }
    let refusal: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    if by_keyward && answer.status.is_client_error() {
        let reason = refusal["reason"].as_str().unwrap_or("refused");
        let decision = answer
            .headers
            .get(DECISION_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("deny");
        let mut message = format!("keyward refused {}: {reason}", action.name());
        if let Some(rule) = refusal["rule"].as_str() {
            message.push_str(&format!(" (rule {rule})"));
        }
        let mut error = RpcError::new(DENIED_CODE, message);
        error.data = Some(json!({
            "decision": decision,
            "rule": refusal["rule"],
            "reason": reason,
            "request_id": refusal["request_id"],
        }));
        return CallOutcome::Refused(error);
    }
    match by_keyward {
        true => CallOutcome::Failed(format!(
            "keyward answered {}: {}",
            answer.status,
            refusal["reason"].as_str().unwrap_or("")
        )),
        false => CallOutcome::Failed(format!("the upstream answered {}", answer.status)),
    }
}

/// Why the action's own `decision: deny` refuses every call before anything is sent. Its
/// `approval:` and `limits:` are enforced where the request it becomes is decided
/// (`pipeline::action_terms`), on top of the rules.
fn own_refusal(action: &Action) -> Option<String> {
    (action.verdict() == Some(Verdict::Deny)).then(|| {
        format!(
            "keyward refused {}: the action's decision is deny",
            action.name()
        )
    })
}

fn refused(code: i64, message: String) -> CallOutcome {
    CallOutcome::Refused(RpcError::new(code, message))
}

/// The JSON Schema of a compiled schema node, as `tools/list` shows it.
pub fn schema_json(schema: &Schema) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), json!(schema.kind.name()));
    if let Some(d) = &schema.description {
        out.insert("description".into(), json!(d));
    }
    if let Some(values) = &schema.one_of {
        out.insert("enum".into(), Value::Array(values.clone()));
    }
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            out.insert(key.into(), value);
        }
    };
    match &schema.kind {
        Kind::Object {
            properties,
            required,
            additional,
        } => {
            let props: Map<String, Value> = properties
                .iter()
                .map(|(n, s)| (n.clone(), schema_json(s)))
                .collect();
            put("properties", Some(Value::Object(props)));
            put("required", (!required.is_empty()).then(|| json!(required)));
            put("additionalProperties", Some(json!(additional)));
        }
        Kind::String {
            pattern,
            min_length,
            max_length,
        } => {
            put("pattern", pattern.as_ref().map(|p| json!(p.as_str())));
            put("minLength", min_length.map(|n| json!(n)));
            put("maxLength", max_length.map(|n| json!(n)));
        }
        Kind::Integer(b) => {
            put("minimum", b.minimum.map(whole));
            put("maximum", b.maximum.map(whole));
        }
        Kind::Number(b) => {
            put("minimum", b.minimum.map(|n| json!(n)));
            put("maximum", b.maximum.map(|n| json!(n)));
        }
        Kind::Boolean => {}
        Kind::Array {
            items,
            min_items,
            max_items,
        } => {
            put("items", Some(schema_json(items)));
            put("minItems", min_items.map(|n| json!(n)));
            put("maxItems", max_items.map(|n| json!(n)));
        }
    }
    Value::Object(out)
}

/// An integer bound as a JSON integer when it is whole (`1`, not `1.0`).
fn whole(n: f64) -> Value {
    serde_json::Number::from_i128(n as i128)
        .filter(|_| n.fract() == 0.0 && n.abs() < 9.0e15)
        .map_or_else(|| json!(n), Value::Number)
}

#[cfg(test)]
mod tests;
