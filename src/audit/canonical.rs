//! The canonical form of an [`AuditEntry`] written straight from the struct: the same bytes
//! as [`super::chain::canonical_bytes`] of its JSON, without building a `serde_json::Value`.
//!
//! Sealing is on every exchange's path; going through `Value` (a string per key and value,
//! then a sorted copy) cost several times the serialization itself. Here each struct lists
//! its fields in code-point order of their names, with the entry's skip rules, so serde
//! writes the canonical bytes directly. A test checks both forms agree on every field.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

use super::decision::{Decision, Mode};
use super::entry::{ApprovalDecision, ApprovalRecord, AuditEntry};
use super::learn::{Observed, WouldRecord};
use crate::policy::{AgentId, RuleId, SecretName};

/// [`AuditEntry`] without `hash`, fields sorted by name.
#[derive(Serialize)]
pub(super) struct CanonicalEntry<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action_input: Option<SortedValue<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval: Option<CanonicalApproval<'a>>,
    bytes_in: u64,
    bytes_out: u64,
    client: &'a str,
    credentials: &'a [SecretName],
    decision: Decision,
    duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed_condition: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    graphql_batch: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    graphql_fields: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    graphql_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    graphql_operation: Option<&'a str>,
    host: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    mcp_batch: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mcp_method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mcp_session: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mcp_tool: Option<&'a str>,
    method: &'a str,
    mode: Mode,
    /// Declared in canonical order: serialized as is.
    #[serde(skip_serializing_if = "Option::is_none")]
    observed: Option<&'a Observed>,
    path: &'a str,
    port: u16,
    prev_hash: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    /// A `BTreeMap` iterates in key order: already canonical.
    redactions: &'a BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replica: Option<&'a str>,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'a RuleId>,
    scheme: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    span_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    time: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens_in: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens_out: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage_warning: Option<&'a str>,
    /// Declared in canonical order: serialized as is.
    #[serde(skip_serializing_if = "Option::is_none")]
    would: Option<&'a WouldRecord>,
}

/// A JSON value written with every object's keys in code-point order, whatever map type
/// serde_json was built with (another crate enabling `preserve_order` must not change hashes).
struct SortedValue<'a>(&'a Value);

impl Serialize for SortedValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut pairs: Vec<(&String, &Value)> = map.iter().collect();
                pairs.sort_by(|a, b| a.0.cmp(b.0));
                let mut out = s.serialize_map(Some(pairs.len()))?;
                for (k, v) in pairs {
                    out.serialize_entry(k, &SortedValue(v))?;
                }
                out.end()
            }
            Value::Array(items) => s.collect_seq(items.iter().map(SortedValue)),
            other => other.serialize(s),
        }
    }
}

/// [`ApprovalRecord`], fields sorted by name.
#[derive(Serialize)]
struct CanonicalApproval<'a> {
    at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<&'a str>,
    decision: ApprovalDecision,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

impl<'a> From<&'a AuditEntry> for CanonicalEntry<'a> {
    fn from(e: &'a AuditEntry) -> Self {
        // Destructured so that a field added to the entry fails to compile here until it
        // is placed in the canonical form too.
        let AuditEntry {
            time,
            request_id,
            agent,
            action,
            action_input,
            client,
            method,
            scheme,
            host,
            port,
            path,
            query,
            decision,
            mode,
            rule,
            reason,
            failed_condition,
            credentials,
            approval,
            status,
            bytes_in,
            bytes_out,
            redactions,
            duration_ms,
            upstream_ms,
            mcp_method,
            mcp_tool,
            mcp_batch,
            mcp_session,
            tokens_in,
            tokens_out,
            usage_warning,
            graphql_operation,
            graphql_name,
            graphql_fields,
            graphql_batch,
            would,
            observed,
            trace_id,
            span_id,
            replica,
            seq,
            prev_hash,
            hash: _,
        } = e;
        CanonicalEntry {
            action: action.as_deref(),
            action_input: action_input.as_ref().map(SortedValue),
            agent: agent.as_ref().map(AgentId::as_str),
            approval: approval.as_ref().map(CanonicalApproval::from),
            bytes_in: *bytes_in,
            bytes_out: *bytes_out,
            client,
            credentials,
            decision: *decision,
            duration_ms: *duration_ms,
            failed_condition: failed_condition.as_deref(),
            graphql_batch: *graphql_batch,
            graphql_fields: graphql_fields.as_deref(),
            graphql_name: graphql_name.as_deref(),
            graphql_operation: graphql_operation.as_deref(),
            host,
            mcp_batch: *mcp_batch,
            mcp_method: mcp_method.as_deref(),
            mcp_session: mcp_session.as_deref(),
            mcp_tool: mcp_tool.as_deref(),
            method,
            mode: *mode,
            observed: observed.as_ref(),
            path,
            port: *port,
            prev_hash,
            query: query.as_deref(),
            reason: reason.as_deref(),
            redactions,
            replica: replica.as_deref(),
            request_id,
            rule: rule.as_ref(),
            scheme,
            seq: *seq,
            span_id: span_id.as_deref(),
            status: *status,
            time,
            tokens_in: *tokens_in,
            tokens_out: *tokens_out,
            trace_id: trace_id.as_deref(),
            upstream_ms: *upstream_ms,
            usage_warning: usage_warning.as_deref(),
            would: would.as_ref(),
        }
    }
}

impl<'a> From<&'a ApprovalRecord> for CanonicalApproval<'a> {
    fn from(a: &'a ApprovalRecord) -> Self {
        let ApprovalRecord {
            id,
            by,
            at,
            decision,
            reason,
        } = a;
        CanonicalApproval {
            at,
            by: by.as_deref(),
            decision: *decision,
            id,
            reason: reason.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::canonical_bytes;

    fn every_field_set() -> AuditEntry {
        let mut e = AuditEntry::new("r1", "127.0.0.1:5000", "POST", "https", "api.x", 443, "/a");
        e.time = "2026-11-25T19:15:00.123Z".into();
        e.agent = Some("bot \"q\" \u{1}é".into());
        e.query = Some("q=[redacted]".into());
        e.decision = Decision::Approve;
        e.mode = Mode::Shadow;
        e.rule = Some("r".into());
        e.reason = Some("why\n\t\\".into());
        e.failed_condition = Some("/x equals 1".into());
        e.credentials = vec!["github".into(), "aws".into()];
        e.approval = Some(ApprovalRecord {
            id: "ap1".into(),
            by: Some("alice".into()),
            at: "2026-11-25T19:15:00.123Z".into(),
            decision: ApprovalDecision::Approved,
            reason: Some("ok".into()),
        });
        e.status = Some(201);
        e.bytes_in = 12;
        e.bytes_out = 34;
        e.redactions.insert("raw".into(), 2);
        e.redactions.insert("base64".into(), 1);
        e.duration_ms = 12.345;
        e.upstream_ms = Some(1.5);
        e.mcp_method = Some("tools/call".into());
        e.mcp_tool = Some("create_issue".into());
        e.mcp_batch = Some(2);
        e.mcp_session = Some("s-1".into());
        e.tokens_in = Some(1200);
        e.tokens_out = Some(34);
        e.usage_warning = Some("no usage reported".into());
        e.graphql_operation = Some("mutation".into());
        e.graphql_name = Some("Delete".into());
        e.graphql_fields = Some(vec!["deleteRepository".into(), "viewer".into()]);
        e.graphql_batch = Some(3);
        e.action = Some("github.create_issue".into());
        e.action_input = Some(serde_json::json!({"z": [{"b": 1, "a": "é\n"}], "a": 1.5}));
        e.would = Some(WouldRecord {
            decision: Decision::Deny,
            failed_condition: Some("/x equals 1".into()),
            reason: "no rule allows it".into(),
            rule: Some("deny-x".into()),
        });
        e.observed = Some(Observed {
            auth: vec!["authorization".into()],
            json_fields: vec!["labels".into(), "title".into()],
        });
        e.replica = Some("kw-0".into());
        e.seq = Some(42);
        e.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
        e.span_id = Some("00f067aa0ba902b7".into());
        e.prev_hash = "ab".repeat(32);
        e.hash = "ignored".into();
        e
    }

    fn direct(e: &AuditEntry) -> Vec<u8> {
        serde_json::to_vec(&CanonicalEntry::from(e)).unwrap()
    }

    fn via_value(e: &AuditEntry) -> Vec<u8> {
        canonical_bytes(serde_json::to_value(e).unwrap()).unwrap()
    }

    #[test]
    fn direct_form_equals_the_sorted_json_of_a_full_entry() {
        let e = every_field_set();
        assert_eq!(
            String::from_utf8(direct(&e)).unwrap(),
            String::from_utf8(via_value(&e)).unwrap()
        );
    }

    #[test]
    fn direct_form_equals_the_sorted_json_of_a_bare_entry() {
        let mut e = AuditEntry::new("r2", "[::1]:1", "GET", "http", "h", 80, "/");
        e.approval = Some(ApprovalRecord {
            id: "ap2".into(),
            by: None,
            at: "t".into(),
            decision: ApprovalDecision::TimedOut,
            reason: None,
        });
        assert_eq!(direct(&e), via_value(&e));
        e.approval = None;
        assert_eq!(direct(&e), via_value(&e));
        e.mode = Mode::Learn;
        e.would = Some(WouldRecord {
            decision: Decision::Approve,
            failed_condition: None,
            reason: "approval required".into(),
            rule: None,
        });
        e.observed = Some(Observed::default());
        assert_eq!(direct(&e), via_value(&e));
    }
}
