//! The response on its way back: an accepted upgrade (101) bridged message by message,
//! hop-by-hop headers removed, and the body scrubbed of every secret keyward knows (and of
//! the deciding rule's patterns), decoded first when compressed; an MCP server's messages
//! are then decided (`mcp_reply`), and an LLM's usage read (`usage`).

use std::sync::Arc;
use std::time::Duration;

use http::header::CONTENT_TYPE;
use http::{Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;

use crate::body::{self, ProxyBody};
use crate::control::rate_limits::Counters;
use crate::control::rules_in_force::InForce;
use crate::credentials::Injected;
use crate::pipeline::exchange::Exchange;
use crate::pipeline::hop;
use crate::pipeline::mcp_reply::{McpReplyBody, McpView};
use crate::pipeline::record::Recorder;
use crate::pipeline::refusal::Refusal;
use crate::pipeline::usage::Meter;
use crate::pipeline::websocket;
use crate::policy::Rule;
use crate::redact::{self, RuleRedactedBody};
use crate::server::Lifecycle;
use crate::server::activity::ActiveBody;
use crate::upstream::UpstreamFailure;

/// What bridging an accepted upgrade needs.
pub struct Upgrade<'a> {
    /// Where the bridge task is tracked, and when it must close.
    pub lifecycle: &'a Lifecycle,
    /// How long the bridged connection may stay silent.
    pub idle: Duration,
    /// The agent's side, when it asked for an upgrade.
    pub client: Option<OnUpgrade>,
    /// Where a bridge records the messages it refuses.
    pub recorder: &'a Arc<Recorder>,
    /// The rate-limit counters a bridge's decided messages take from.
    pub counters: &'a Arc<Counters>,
}

/// What reads the answer on its way, besides redaction.
pub struct Readers {
    /// The MCP calls the request made, when it made any.
    pub mcp: Option<McpView>,
    /// Whether and how the LLM usage the answer reports is read.
    pub usage: Meter,
}

/// The response the agent receives.
pub async fn respond(
    in_force: &Arc<InForce>,
    exchange: &Exchange,
    rule: Option<&Rule>,
    injected: &Injected,
    mut resp: Response<Incoming>,
    upgrade: Upgrade<'_>,
    readers: Readers,
) -> Result<Response<ProxyBody>, Refusal> {
    let Readers {
        mut mcp,
        usage: meter,
    } = readers;
    let conn = &exchange.conn;
    let kept_upgrade = match (
        resp.status() == StatusCode::SWITCHING_PROTOCOLS,
        upgrade.client,
    ) {
        (true, Some(client)) => {
            let upstream = hyper::upgrade::on(&mut resp);
            let bridge = websocket::Bridge {
                lifecycle: upgrade.lifecycle,
                idle: upgrade.idle,
                in_force: in_force.clone(),
                recorder: upgrade.recorder.clone(),
                mcp: mcp
                    .take()
                    .map(|view| websocket::McpMessages::new(view, upgrade.counters.clone())),
            };
            websocket::bridge(bridge, exchange, client, upstream);
            resp.headers().get(header::UPGRADE).cloned()
        }
        _ => None,
    };
    let (mut parts, resp_body) = resp.into_parts();
    hop::strip(&mut parts.headers, kept_upgrade.as_ref());
    // Only keyward's own answers say what keyward decided: an upstream cannot pose as it.
    parts
        .headers
        .remove(crate::pipeline::refusal::DECISION_HEADER);
    // A HEAD answer has no body to change: its Content-Length says how large the resource
    // is (the AWS CLI and s3transfer size downloads by it), so it is kept.
    let head_length = (exchange.method == http::Method::HEAD)
        .then(|| parts.headers.get(header::CONTENT_LENGTH).cloned())
        .flatten();
    let scrubber = in_force.known_secrets(&injected.values).await;
    let rule_redaction = rule.and_then(|r| in_force.rule_redaction(r.id())).cloned();
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let json = content_type.contains("json");
    let sse = content_type.starts_with("text/event-stream");
    let mcp = mcp.filter(|view| sse || (json && view.reads_json()));
    let mcp_read = mcp.is_some();
    let usage_read = meter.reads(parts.status) && meter.decodable(&parts.headers);
    // A plain answer is read as it is (its framing kept); a compressed one decoded first.
    let usage_decode = usage_read && parts.headers.contains_key(header::CONTENT_ENCODING);
    let body = redact::scrub_response(
        &mut parts,
        body::stream(ActiveBody::new(resp_body, conn.activity.clone())),
        &scrubber,
        &exchange.redactions,
        rule_redaction.is_some() || mcp.is_some() || usage_decode,
    )
    .map_err(UpstreamFailure::from)?;
    let body = match rule_redaction {
        Some(rule_redaction) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            body::stream(RuleRedactedBody::new(
                body,
                rule_redaction,
                json,
                exchange.redactions.clone(),
            ))
        }
        None => body,
    };
    let body = match mcp {
        // MCP messages are read decoded and after redaction, as the agent will read them.
        Some(view) if sse => body::stream(McpReplyBody::sse(body, view)),
        Some(view) => body::stream(McpReplyBody::json(body, view)),
        None => body,
    };
    if mcp_read {
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    if let Some(length) = head_length {
        parts.headers.insert(header::CONTENT_LENGTH, length);
    }
    // Usage is read as the agent reads the answer: decoded, after redaction.
    let body = match usage_read {
        true => meter.observe(parts.status, &content_type, body),
        false => body,
    };
    Ok(Response::from_parts(parts, body))
}
