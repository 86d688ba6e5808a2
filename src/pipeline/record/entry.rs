//! The closing entry of an exchange, built from its context: the decision and rule, what
//! was forwarded or refused, and for an exchange that ended before a response, where it was
//! and who ended it. Also the entries of refusals outside any exchange and of queries to the
//! jail's DNS.

use std::net::SocketAddr;

use crate::audit::{AuditEntry, Decision as AuditDecision, Mode as AuditMode, WouldRecord};
use crate::pipeline::exchange::{Exchange, Outcome, RequestId, Stage};
use crate::pipeline::refusal::Refusal;
use crate::policy::{Mode, ShadowOutcome, Verdict};

use super::{DnsQuery, Refused};

/// The scheme of a DNS query's entry.
const DNS_SCHEME: &str = "dns";
/// The longest socket address text: `[` + 39 (IPv6) + `%` + 10 (scope) + `]:` + 5.
const ADDRESS_TEXT_MAX: usize = 58;
/// The port of a DNS query's entry: the port the jail's queries are sent to.
const DNS_PORT: u16 = 53;

/// The entry of a query to the jail's DNS: scheme `dns`, the query type as the method, the
/// name as the host (whole: DNS bounds it to 255 bytes), port 53 and an empty path.
pub fn dns(q: DnsQuery<'_>) -> AuditEntry {
    let id = RequestId::new();
    let client = address_text(q.client);
    let mut entry = AuditEntry::new(
        id.as_str(),
        client,
        q.qtype,
        DNS_SCHEME,
        q.name,
        DNS_PORT,
        "",
    );
    entry.agent = q.agent.cloned();
    entry.decision = q.decision;
    entry.reason = Some(q.reason);
    entry.duration_ms = q.duration_ms;
    entry
}

/// The entry of a refusal outside any exchange: host `-` and port 0 when no target is
/// known yet (the proxy port), and then scheme `-` too.
pub(crate) fn refused(r: Refused<'_>, id: &RequestId) -> AuditEntry {
    let (host, port, scheme) = match r.place.target {
        Some(t) => (t.host.to_string(), t.port, r.place.scheme.as_str()),
        None => ("-".to_owned(), 0, "-"),
    };
    let client = address_text(r.place.client);
    let mut entry = AuditEntry::new(id.as_str(), client, r.method, scheme, host, port, r.path);
    entry.agent = r.place.agent.cloned();
    entry.decision = r.decision;
    entry.reason = Some(r.reason);
    entry.status = r.status;
    entry
}

/// The entry for `x` as it stands now, for its closing record: the exchange's own strings
/// (path, query, reason, the names it injected) move into the entry.
pub(crate) fn build(x: &mut Exchange) -> AuditEntry {
    let target = &x.conn.target;
    let mut e = AuditEntry::new(
        x.id.as_str(),
        address_text(x.conn.client),
        x.method.as_str(),
        x.conn.scheme.as_str(),
        target.host.to_string(),
        target.port,
        std::mem::take(&mut x.path),
    );
    e.query = x.query.take();
    e.agent = x.agent.clone();
    if let Some(call) = &x.action {
        e.action = Some(call.name.clone());
        e.action_input = call.input.as_deref().cloned();
    }
    if let Some(trace) = &x.trace {
        e.trace_id = Some(trace.trace_id.clone());
        e.span_id = Some(trace.span_id.clone());
    }
    if let Some(calls) = x.decision.as_ref().and_then(|d| d.mcp.as_ref()) {
        if let Some(call) = calls.deciding_call() {
            e.mcp_method = Some(call.call.method.clone());
            e.mcp_tool = call.call.tool.clone();
        }
        e.mcp_batch = calls
            .batch
            .then(|| u64::try_from(calls.calls.len()).unwrap_or(u64::MAX));
        e.mcp_session = x.mcp_session.clone();
    }
    if let Some(ops) = x.decision.as_ref().and_then(|d| d.graphql.as_ref()) {
        if let Some(op) = ops.deciding_op().and_then(|o| o.op.operation.as_ref()) {
            e.graphql_operation = Some(op.kind.as_str().to_owned());
            e.graphql_name = op.name.clone();
            e.graphql_fields = Some(op.fields.clone());
        }
        e.graphql_batch = ops
            .batch
            .then(|| u64::try_from(ops.ops.len()).unwrap_or(u64::MAX));
    }
    if let Some(d) = &x.decision {
        e.rule = d.rule.clone();
        e.failed_condition = d.failed_condition.clone();
        if d.mode == Mode::Shadow {
            e.mode = AuditMode::Shadow;
            e.would = d.shadow.as_ref().map(shadow_would);
        }
    }
    if x.learn {
        e.mode = AuditMode::Learn;
        if x.would.is_some() {
            e.would = x.would.clone();
        }
        e.observed = x.observed.clone().filter(|o| !o.is_empty());
    }
    match &x.outcome {
        Some(Outcome::Forwarded) => {
            e.decision = forwarded(x);
            e.reason = x
                .decision
                .as_mut()
                .map(|d| std::mem::take(&mut d.reason))
                .filter(|r| !r.is_empty());
        }
        Some(Outcome::Refused(r)) => {
            e.decision = refusal_decision(r);
            if let Some(rule) = r.rule() {
                e.rule = Some(rule.clone());
            }
            e.reason = Some(r.reason());
        }
        None => {
            let (decision, reason) = abandoned(x);
            e.decision = decision;
            e.reason = Some(reason);
        }
    }
    if x.exfiltration {
        e.reason = e.reason.map(|r| format!("exfiltration attempt: {r}"));
    }
    e.credentials = std::mem::take(&mut x.credentials);
    e.approval = x.approval.take();
    e.status = x.status.map(|s| s.as_u16());
    e.bytes_in = x.bytes_in;
    e.bytes_out = x.bytes_out;
    if let Ok(t) = x.redactions.lock() {
        for (kind, n) in [
            ("raw", t.raw),
            ("url_encoded", t.url_encoded),
            ("json_escaped", t.json_escaped),
            ("base64", t.base64),
            ("rule", t.patterns),
        ] {
            if n > 0 {
                e.redactions.insert(kind.to_owned(), n);
            }
        }
    }
    if let Ok(u) = x.usage.lock() {
        e.tokens_in = u.usage.map(|u| u.input);
        e.tokens_out = u.usage.map(|u| u.output);
        e.usage_warning = u.warning.clone();
    }
    e.duration_ms = x.started.elapsed().as_secs_f64() * 1000.0;
    e.upstream_ms = x.upstream_ms;
    e
}

/// `ip:port` (`[ip]:port` for IPv6) in one allocation.
fn address_text(addr: SocketAddr) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(ADDRESS_TEXT_MAX);
    // Writing to a String cannot fail.
    let _ = write!(text, "{addr}");
    text
}

/// What shadow rules would have decided, as the entry records it.
fn shadow_would(shadow: &ShadowOutcome) -> WouldRecord {
    WouldRecord {
        decision: verdict_decision(shadow.verdict),
        failed_condition: shadow.failed_condition.clone(),
        reason: shadow.reason.clone(),
        rule: shadow.rule.clone(),
    }
}

/// The audit decision naming a rules' verdict.
pub(crate) fn verdict_decision(verdict: Verdict) -> AuditDecision {
    match verdict {
        Verdict::Allow => AuditDecision::Allow,
        Verdict::Deny => AuditDecision::Deny,
        Verdict::Approve => AuditDecision::Approve,
    }
}

/// The decision of a forwarded exchange: `approve` when a person (or a window) approved it.
fn forwarded(x: &Exchange) -> AuditDecision {
    match &x.approval {
        Some(_) => AuditDecision::Approve,
        None => AuditDecision::Allow,
    }
}

/// The decision an entry records for a refusal the agent was sent.
pub fn refusal_decision(refusal: &Refusal) -> AuditDecision {
    refusal.parts().decision
}

/// Decision and reason of an exchange that ended before a response. A request already sent
/// upstream keeps its decision (`allow`/`approve`: it was forwarded); one that was not is
/// `error`. The rule, when one decided, is in the entry either way.
fn abandoned(x: &Exchange) -> (AuditDecision, String) {
    let who = if x.recorder.is_stopped() {
        "keyward stopped (shutdown grace period over)"
    } else {
        "client went away"
    };
    match x.stage {
        Stage::Deciding => (AuditDecision::Error, format!("{who} before a response")),
        Stage::Held => (
            AuditDecision::Error,
            format!("{who} while the request was held for approval; nothing was forwarded"),
        ),
        Stage::Upstream => (
            forwarded(x),
            format!("{who} while waiting for the upstream's response"),
        ),
    }
}
