//! One audit entry: the record of a single decision, one JSON object per line of the log.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::decision::{Decision, Mode};
use super::learn::{Observed, WouldRecord};
use super::timestamp;
use crate::policy::{RuleId, SecretName};

/// How a pending approval ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalDecision {
    /// A person approved the request (or an approval window covered it).
    Approved,
    /// A person denied the request.
    Denied,
    /// Nobody answered before the rule's timeout.
    TimedOut,
}

/// Who decided a held request, when, and why: the approval gate's part of the entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// The pending approval's id, as shown by `keyward approvals list`.
    pub id: String,
    /// The person (admin token holder or CLI user) who answered; `None` for a timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// When the answer (or the timeout) happened, RFC 3339 UTC with milliseconds.
    pub at: String,
    /// How the approval ended.
    pub decision: ApprovalDecision,
    /// The reason given with a denial (or an approval note).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The record of one decision. Field order here is the order in the log line; the hash is
/// computed over a canonical (sorted-key) form, see [`super::chain`].
///
/// There is deliberately no field for headers or bodies: an entry can never carry a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When the decision was made: RFC 3339, UTC, milliseconds (`2026-11-25T19:15:00.123Z`).
    pub time: String,
    /// The id the agent also sees in refusals, to join its logs with ours.
    pub request_id: String,
    /// The authenticated agent, when agents are declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<crate::policy::AgentId>,
    /// The client's socket address (`127.0.0.1:52814`).
    pub client: String,
    /// The HTTP method as sent.
    pub method: String,
    /// `http` or `https`; `dns` for a query to a jail's DNS.
    pub scheme: String,
    /// The target host (from CONNECT / absolute-form, pinned to SNI and Host).
    pub host: String,
    /// The target port.
    pub port: u16,
    /// The normalised path the rules matched.
    pub path: String,
    /// The query string with values redacted by the caller unless a rule keeps them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// What keyward did.
    pub decision: Decision,
    /// Enforced or shadow.
    pub mode: Mode,
    /// The id of the rule that decided, if a rule did (default deny has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleId>,
    /// Why, in words (also sent to the agent on refusal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The rule condition that did not hold (e.g. `/labels/0 one_of [bug, triage]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_condition: Option<String>,
    /// Names of the secrets injected; never their values.
    #[serde(default)]
    pub credentials: Vec<SecretName>,
    /// The approval gate's record, when the request was held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalRecord>,
    /// The upstream response status (or the status keyward answered with).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Request body bytes received from the agent.
    pub bytes_in: u64,
    /// Response body bytes sent to the agent.
    pub bytes_out: u64,
    /// Redactions applied to the response, by pattern or secret name, with counts.
    #[serde(default)]
    pub redactions: BTreeMap<String, u64>,
    /// Time from request head to the end of the response, in milliseconds.
    pub duration_ms: f64,
    /// Time spent waiting on the upstream, in milliseconds, when it was contacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_ms: Option<f64>,
    /// The JSON-RPC method of the MCP call that decided (for a batch, the denied or held
    /// element's, else the first's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_method: Option<String>,
    /// The tool that call named (`tools/call` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_tool: Option<String>,
    /// The number of calls of a JSON-RPC batch (absent for a single call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_batch: Option<u64>,
    /// The `Mcp-Session-Id` request header of an MCP call, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_session: Option<String>,
    /// LLM input tokens the response reported (prompt, plus cache reads and writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_in: Option<u64>,
    /// LLM output tokens the response reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_out: Option<u64>,
    /// Why the usage of a response under a token budget could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_warning: Option<String>,
    /// The type of the GraphQL operation that decided (for a batch, the denied or held
    /// element's, else the first's); absent for a persisted query sent by hash alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql_operation: Option<String>,
    /// That operation's name, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql_name: Option<String>,
    /// That operation's top-level fields (real names, not aliases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql_fields: Option<Vec<String>>,
    /// The number of operations of a GraphQL batch (absent for a single operation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql_batch: Option<u64>,
    /// The action (`github.create_issue`) a request served over keyward's MCP listener
    /// carried out; set only for requests keyward itself sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// That action's input as the agent gave it, with every secret value keyward knows
    /// replaced by its placeholder (a note of its size when over 8 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_input: Option<serde_json::Value>,
    /// What the rules would have decided: the denial or hold learn mode let through, or
    /// the outcome of shadow rules that disagree with the enforced one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would: Option<WouldRecord>,
    /// The names a request carried (JSON body fields, credential fields), in learn mode only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Observed>,
    /// The trace id of the agent's `traceparent` header (32 hex digits), when it sent a
    /// valid one: the entry joins the agent's trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The span id of that header: the agent's span that sent the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// The keyward instance that wrote the entry (`audit.replica`, default the host name);
    /// set by the writer, so one cluster's logs can be told apart and verified together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    /// The entry's number in its replica's chain (1 for the first entry); set by the
    /// writer. A checkpoint signs the count, so entries cut from the end are detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The hash of the previous entry (64 zeros for the first entry of a log).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and this entry's canonical bytes; set by the writer.
    pub hash: String,
}

impl AuditEntry {
    /// An entry stamped with the current time, decision `deny` in `enforce` mode (the
    /// fail-closed default) and empty counters; callers set the rest before recording.
    /// `prev_hash` and `hash` are filled in by the writer.
    pub fn new(
        request_id: impl Into<String>,
        client: impl Into<String>,
        method: impl Into<String>,
        scheme: impl Into<String>,
        host: impl Into<String>,
        port: u16,
        path: impl Into<String>,
    ) -> Self {
        AuditEntry {
            time: timestamp::now_rfc3339(),
            request_id: request_id.into(),
            agent: None,
            client: client.into(),
            method: method.into(),
            scheme: scheme.into(),
            host: host.into(),
            port,
            path: path.into(),
            query: None,
            decision: Decision::Deny,
            mode: Mode::Enforce,
            rule: None,
            reason: None,
            failed_condition: None,
            credentials: Vec::new(),
            approval: None,
            status: None,
            bytes_in: 0,
            bytes_out: 0,
            redactions: BTreeMap::new(),
            duration_ms: 0.0,
            upstream_ms: None,
            mcp_method: None,
            mcp_tool: None,
            mcp_batch: None,
            mcp_session: None,
            tokens_in: None,
            tokens_out: None,
            usage_warning: None,
            graphql_operation: None,
            graphql_name: None,
            graphql_fields: None,
            graphql_batch: None,
            action: None,
            action_input: None,
            would: None,
            observed: None,
            trace_id: None,
            span_id: None,
            replica: None,
            seq: None,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_entry() -> AuditEntry {
        let mut e = AuditEntry::new("r1", "127.0.0.1:5000", "POST", "https", "api.x", 443, "/a");
        e.agent = Some("bot".into());
        e.query = Some("q=[redacted]".into());
        e.rule = Some("r".into());
        e.reason = Some("why".into());
        e.failed_condition = Some("/x equals 1".into());
        e.credentials = vec!["github".into()];
        e.approval = Some(ApprovalRecord {
            id: "ap1".into(),
            by: Some("alice".into()),
            at: "2026-11-25T19:15:00.123Z".into(),
            decision: ApprovalDecision::Approved,
            reason: Some("ok".into()),
        });
        e.status = Some(201);
        e.redactions.insert("github".into(), 2);
        e.upstream_ms = Some(1.5);
        e.would = Some(crate::audit::WouldRecord {
            decision: Decision::Deny,
            failed_condition: None,
            reason: "no rule allows this request".into(),
            rule: None,
        });
        e.observed = Some(crate::audit::Observed {
            auth: vec!["authorization".into()],
            json_fields: vec!["title".into()],
        });
        e
    }

    #[test]
    fn none_fields_are_skipped_and_defaults_are_fail_closed() {
        let e = AuditEntry::new("r1", "127.0.0.1:5000", "GET", "https", "h", 443, "/");
        let v = serde_json::to_value(&e).unwrap();
        let obj = v.as_object().unwrap();
        for absent in [
            "agent",
            "query",
            "rule",
            "reason",
            "failed_condition",
            "approval",
        ] {
            assert!(!obj.contains_key(absent), "{absent} serialized while None");
        }
        assert_eq!(obj["decision"], "deny");
        assert_eq!(obj["mode"], "enforce");
    }

    #[test]
    fn entry_round_trips_through_json() {
        let e = full_entry();
        let back: AuditEntry = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }

    /// Rule ids and secret names are typed in the entry and plain strings in the log: a
    /// line written before they were typed reads back and writes out byte for byte.
    #[test]
    fn ids_are_plain_strings_in_the_log() {
        let line = r#"{"time":"2026-11-25T19:15:00.123Z","request_id":"r1","client":"127.0.0.1:5000","method":"POST","scheme":"https","host":"api.x","port":443,"path":"/a","decision":"allow","mode":"enforce","rule":"github-create-issue","credentials":["github","aws"],"bytes_in":0,"bytes_out":0,"redactions":{},"duration_ms":1.5,"prev_hash":"p","hash":"h"}"#;
        let e: AuditEntry = serde_json::from_str(line).unwrap();
        assert_eq!(e.rule, Some(RuleId::new("github-create-issue")));
        assert_eq!(
            e.credentials,
            vec![SecretName::new("github"), SecretName::new("aws")]
        );
        assert_eq!(serde_json::to_string(&e).unwrap(), line);
    }

    #[test]
    fn entry_never_serializes_authorization_or_header_fields() {
        let v = serde_json::to_value(full_entry()).unwrap();
        let mut keys = Vec::new();
        collect_keys(&v, &mut keys);
        for key in keys {
            let k = key.to_ascii_lowercase();
            assert!(
                !k.contains("authorization") && !k.contains("header") && !k.contains("cookie"),
                "entry serializes a header-like field {key:?}"
            );
        }
    }

    fn collect_keys(v: &serde_json::Value, out: &mut Vec<String>) {
        if let Some(m) = v.as_object() {
            out.extend(m.keys().cloned());
        }
        let children: Vec<&serde_json::Value> = match v {
            serde_json::Value::Object(m) => m.values().collect(),
            serde_json::Value::Array(a) => a.iter().collect(),
            _ => Vec::new(),
        };
        children.into_iter().for_each(|c| collect_keys(c, out));
    }
}
