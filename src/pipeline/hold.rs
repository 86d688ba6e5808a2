//! Holding a request whose decision is `approve`: unless an earlier approval's window covers
//! it, it waits for a person (the agent's connection stays open), the webhook is told, and
//! the approval record goes into the audit entry. An agent that hangs up while held
//! withdraws its pending approval.

use std::time::Duration;

use bytes::Bytes;
use http::header::ACCEPT;
use http::request::Parts;
use serde::Serialize;

use crate::audit::{ApprovalDecision, ApprovalRecord, now_rfc3339};
use crate::control::approvals::{
    Approvals, DEFAULT_TIMEOUT, NotApproved, PendingCall, PendingInfo, PendingOperation,
};
use crate::metrics::Metrics;
use crate::pipeline::decide;
use crate::pipeline::exchange::{Exchange, Stage};
use crate::pipeline::refusal::{Refusal, Unavailable};
use crate::policy::Decision;
use crate::policy::extras::Approval;
use crate::redact::{Scrubber, scrub_json_strings, scrub_text};
use crate::upstream::Upstream;

/// Bytes of the body shown to the approver.
const PREVIEW_BYTES: usize = 512;
/// Largest serialised `arguments` of an MCP call shown to the approver.
const ARGUMENTS_SHOWN: usize = 16 * 1024;
/// How long the webhook may take.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// What holding a request needs.
pub struct Hold<'a> {
    /// Where the request waits for a person.
    pub approvals: &'a Approvals,
    /// The pending-approvals gauge.
    pub metrics: &'a Metrics,
    /// The client the rule's webhook is called with.
    pub upstream: &'a Upstream,
    /// The secret values keyward knows: replaced by their placeholders in what the
    /// approver is shown (an agent may have put one in its body).
    pub known: &'a Scrubber,
}

impl Hold<'_> {
    /// Returns once approved; a denial or timeout is the refusal the agent gets. `approval`
    /// is the holding rule's (or action's) timeout and webhook.
    pub async fn for_approval(
        &self,
        exchange: &mut Exchange,
        decision: &Decision,
        approval: Option<&Approval>,
        parts: &Parts,
        body: &Bytes,
    ) -> Result<(), Refusal> {
        let conn = exchange.conn.clone();
        let rule_id = decision
            .rule
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_default();
        let agent = conn.agent.as_ref().map(|a| a.to_string());
        let call = pending_call(decision);
        // An approval's window covers the same call again: for MCP, the same tool or resource;
        // for an action, the same action.
        let action = exchange.action.clone();
        let shape = format!(
            "{}|{rule_id}|{}|{}|{}|{}",
            agent.as_deref().unwrap_or("-"),
            action.as_ref().map_or("", |a| a.name.as_str()),
            parts.method,
            parts.uri.path(),
            call.as_ref().map_or_else(String::new, |c| {
                format!(
                    "{} {}",
                    c.method,
                    c.tool.as_deref().or(c.resource.as_deref()).unwrap_or("")
                )
            })
        );
        let covered = self
            .approvals
            .window_covers(&shape)
            .await
            .map_err(|cause| {
                Refusal::Unavailable(Unavailable::SharedState {
                    what: "approval windows",
                    cause,
                })
            })?;
        if covered {
            exchange.approval = Some(ApprovalRecord {
                id: exchange.id.as_str().to_owned(),
                by: None,
                at: now_rfc3339(),
                decision: ApprovalDecision::Approved,
                reason: Some("covered by an earlier approval's window".into()),
            });
            return Ok(());
        }
        let approval = approval.cloned();
        let timeout = approval
            .as_ref()
            .and_then(|a| a.timeout)
            .unwrap_or(DEFAULT_TIMEOUT);
        let query = exchange
            .query
            .as_deref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let info = PendingInfo {
            id: exchange.id.as_str().to_owned(),
            agent,
            method: parts.method.to_string(),
            url: format!(
                "{}://{}{}{query}",
                conn.scheme.as_str(),
                conn.target,
                parts.uri.path()
            ),
            rule: rule_id.clone(),
            headers: header_names(&parts.headers),
            body_preview: preview(body, self.known),
            mcp: call.map(|c| PendingCall {
                arguments: c.arguments.map(|a| scrub_json_strings(&a, self.known)),
                ..c
            }),
            graphql: pending_operation(decision).map(|o| PendingOperation {
                variables: o.variables.map(|v| scrub_json_strings(&v, self.known)),
                ..o
            }),
            action_input: action.as_ref().and_then(|a| a.input.as_deref().cloned()),
            action: action.map(|a| a.name),
            waiting_secs: 0,
            timeout_secs: timeout.as_secs(),
        };
        let webhook = approval.and_then(|a| a.webhook);
        let announce = |info: &PendingInfo| {
            if let Some(webhook) = webhook {
                notify(self.upstream, webhook, info);
            }
            tracing::info!(request_id = %info.id, rule = %info.rule, url = %info.url, "request held for approval");
        };
        let busy = conn.activity.begin();
        self.metrics.set_pending_approvals(self.approvals.len() + 1);
        exchange.enter(Stage::Held);
        let withdraw = Withdraw {
            hold: self,
            id: exchange.id.as_str().to_owned(),
        };
        let (result, record) = self.approvals.hold(info, shape, timeout, announce).await;
        drop(withdraw);
        exchange.enter(Stage::Deciding);
        drop(busy);
        exchange.approval = Some(record);
        result.map_err(|e| match e {
            NotApproved::Unavailable(cause) => Refusal::Unavailable(Unavailable::SharedState {
                what: "approvals",
                cause,
            }),
            e => decide::denial(decision, e.into(), parts.headers.get(ACCEPT)),
        })
    }
}

/// The names of `headers`, each once.
fn header_names(headers: &http::HeaderMap) -> Vec<String> {
    headers.keys().map(|n| n.as_str().to_owned()).collect()
}

/// The held MCP call of `decision`, for the approver.
fn pending_call(decision: &Decision) -> Option<PendingCall> {
    let calls = decision.mcp.as_ref()?;
    let held = calls.deciding_call()?;
    let arguments = held.call.arguments.as_ref().map(|a| shown(a, "arguments"));
    Some(PendingCall {
        method: held.call.method.clone(),
        tool: held.call.tool.clone(),
        resource: held.call.resource.clone(),
        arguments,
        batch: calls.batch.then_some(calls.calls.len()),
    })
}

/// The held GraphQL operation of `decision`, for the approver.
fn pending_operation(decision: &Decision) -> Option<PendingOperation> {
    let ops = decision.graphql.as_ref()?;
    let held = ops.deciding_op()?;
    let operation = held.op.operation.as_ref();
    Some(PendingOperation {
        operation: operation.map(|o| o.kind.as_str().to_owned()),
        name: operation.and_then(|o| o.name.clone()),
        fields: operation.map(|o| o.fields.clone()).unwrap_or_default(),
        variables: held.op.variables.as_ref().map(|v| shown(v, "variables")),
        batch: ops.batch.then_some(ops.ops.len()),
    })
}

/// The first [`PREVIEW_BYTES`] of the body with the secret values keyward knows replaced
/// (before the cut, so that no part of one is shown).
fn preview(body: &Bytes, known: &Scrubber) -> String {
    let text = scrub_text(&String::from_utf8_lossy(body), known);
    let mut end = text.len().min(PREVIEW_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_owned()
}

/// `value` as the approver is shown it: itself, or a note of its size when too large.
fn shown(value: &serde_json::Value, what: &str) -> serde_json::Value {
    let size = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len());
    if size > ARGUMENTS_SHOWN {
        serde_json::Value::String(format!("({size} bytes of {what}, too large to show)"))
    } else {
        value.clone()
    }
}

/// Ends a hold however it ends: when the agent goes away (the hold is dropped) its pending
/// approval is withdrawn, so nobody is asked to approve a request no one waits for, and the
/// pending count is set again either way.
struct Withdraw<'a> {
    hold: &'a Hold<'a>,
    id: String,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        let approvals = self.hold.approvals;
        // After an answer or a timeout the hold removed it already; this finds nothing.
        approvals.withdraw(&self.id);
        self.hold.metrics.set_pending_approvals(approvals.len());
    }
}

#[derive(Serialize)]
struct WebhookMessage<'a> {
    text: String,
    approval: &'a PendingInfo,
}

/// Announces a held request; a failing webhook is logged and approves nothing.
fn notify(upstream: &Upstream, webhook: http::Uri, info: &PendingInfo) {
    let message = WebhookMessage {
        text: format!(
            "keyward: {} {}{} is waiting for approval (rule {}, id {}): keyward approvals approve {}",
            info.method,
            info.url,
            match (&info.mcp, &info.graphql) {
                (Some(c), _) => format!(
                    " ({} {})",
                    c.method,
                    c.tool.as_deref().or(c.resource.as_deref()).unwrap_or("")
                ),
                (None, Some(g)) => format!(
                    " (GraphQL {} {})",
                    g.operation.as_deref().unwrap_or("persisted query"),
                    g.fields.join(", ")
                ),
                (None, None) => String::new(),
            },
            info.rule,
            info.id,
            info.id
        ),
        approval: info,
    };
    let Ok(json) = serde_json::to_vec(&message) else {
        return;
    };
    let upstream = upstream.clone();
    let id = info.id.clone();
    tokio::spawn(async move {
        let req = http::Request::post(webhook)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(crate::body::full(json));
        let Ok(req) = req else { return };
        match tokio::time::timeout(WEBHOOK_TIMEOUT, upstream.send(req)).await {
            Ok(Ok(resp)) if resp.status().is_success() => {}
            Ok(Ok(resp)) => {
                tracing::warn!(%id, status = %resp.status(), "approval webhook refused the notification")
            }
            Ok(Err(e)) => tracing::warn!(%id, error = %e.reason(), "approval webhook failed"),
            Err(_) => tracing::warn!(%id, "approval webhook timed out"),
        }
    });
}
