//! The request path, top to bottom, for plain-HTTP and decrypted-HTTPS requests alike:
//! checks, pinning, policy decision (reading the body when a rule or the exfiltration guard
//! must see it), credential injection, the exfiltration guard, forwarding, response
//! redaction, and one closing audit entry per exchange (written by the exchange's guard when
//! the agent goes away before the end).

mod checks;
mod forward;
mod hold;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use http::header::CONTENT_TYPE;
use http::{Request, Response, StatusCode, Version, header};
use http_body::Body as _;
use hyper::body::Incoming;

use crate::activity::ActiveBody;
use crate::body::{self, ProxyBody};
use crate::closing_body::ClosingBody;
use crate::content_coding;
use crate::credentials::{self, ExfilGuard, Injected};
use crate::exchange::{ConnInfo, Exchange, Outcome, Scheme, Stage};
use crate::hop;
use crate::limits::{Rate, counter_key};
use crate::policy::{
    BodyError, BodyNeed, Decision, RequestBody, RequestHead, RuleSet, Verdict, normalize_target,
};
use crate::proxy::Shared;
use crate::redact::{self, RuleRedactedBody};
use crate::refusal::{Denial, Refusal, Unavailable};
use crate::request_body::{Prefetched, prefetch};
use crate::upstream::{PrivateAllowance, UpstreamFailure};
use crate::websocket;

/// Bytes of a request body read ahead so the exfiltration guard can see them when no rule
/// inspects the body; the rest streams, scanned as it passes.
const SCAN_CAP: usize = 1024 * 1024;

/// Serves one request: always answers, never fails.
pub async fn handle(
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let mut exchange = Exchange::start(conn, req.method().clone(), req.uri(), shared.recorder());
    let agent_version = req.version();
    let mut resp = match process(&shared, &mut exchange, req).await {
        Ok(resp) => {
            exchange.status = Some(resp.status());
            resp.map(|b| body::stream(ClosingBody::new(b, exchange)))
        }
        Err(refusal) => {
            // A malformed request ends its connection: what follows on the wire cannot be
            // trusted to start where the parser thinks it does.
            let close = refusal.closes_connection();
            let mut resp = refusal.into_response(&exchange.id);
            if close && agent_version != Version::HTTP_2 {
                resp.headers_mut()
                    .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
            }
            exchange.status = Some(resp.status());
            exchange.set_outcome(Outcome::Refused(refusal));
            exchange.finish();
            resp
        }
    };
    if agent_version != Version::HTTP_2 {
        *resp.version_mut() = Version::HTTP_11;
    }
    Ok(resp)
}

/// Most bytes of a body too large to inspect read and discarded before the 413, so that an
/// agent still sending it reads the answer rather than a reset.
const DRAIN_CAP: usize = 16 * 1024 * 1024;

/// Whether the request was denied because its body is larger than the deciding rule
/// inspects (and that rule's limit): a rule that inspects the body sees a partial read as
/// too large before any condition, so a denial naming such a rule is always that one.
fn too_large(rules: &RuleSet, decision: &Decision, read: &Prefetched) -> Option<BodyError> {
    let max_size = decision
        .rule
        .as_ref()
        .and_then(|id| rules.rule(id))
        .and_then(|rule| rule.body())
        .map(|body| body.max_size)?;
    (decision.verdict == Verdict::Deny && read.is_partial() && read.head().len() > max_size)
        .then_some(BodyError::TooLarge { max_size })
}

/// The agent's body: untouched, or read ahead.
enum AgentBody {
    Unread(Incoming),
    Read(Prefetched),
}

async fn process(
    shared: &Shared,
    exchange: &mut Exchange,
    mut req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Refusal> {
    let conn = exchange.conn.clone();
    checks::check_head(&req)?;
    checks::check_method(req.method(), conn.scheme)?;
    checks::check_pinned(&conn, &req)?;
    checks::check_framing(req.headers())?;
    if !shared.audit_healthy() {
        return Err(Unavailable::AuditUnwritable.into());
    }
    if shared.audit().is_some_and(|a| a.is_backlogged()) {
        return Err(Unavailable::AuditBacklogged.into());
    }
    let active = shared.active();
    let upgrade = hop::websocket_upgrade(req.headers());
    let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    // Hop-by-hop headers go before anything else: rules judge what is forwarded, and a
    // `Connection: Authorization` from the agent cannot remove a header keyward injects.
    hop::strip(&mut parts.headers, upgrade.as_ref());
    let host = conn.target.host.to_string();
    let target = normalize_target(&host, conn.target.port, parts.uri.path())?;
    active.rules.check_spellings(&target)?;

    // Decide, reading the body first when a rule or the exfiltration guard must see it.
    let head = RequestHead {
        method: &parts.method,
        scheme: conn.scheme,
        host: &host,
        port: conn.target.port,
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
    };
    let agent = conn.agent.as_ref();
    let need = active.rules.body_need(&head, agent);
    let inspect = matches!(need, BodyNeed::Inspect { .. });
    let cap = match need {
        BodyNeed::Inspect { max_size } => max_size,
        BodyNeed::None => SCAN_CAP,
    };
    let agent_body = if (inspect || !active.credentials.is_empty()) && !body.is_end_stream() {
        let read = prefetch(body, cap, shared.config().limits.header_read_timeout).await?;
        AgentBody::Read(read)
    } else {
        AgentBody::Unread(body)
    };
    // Every `Content-Encoding` line, so a second one cannot hide a coding from the rules.
    let content_encoding = content_coding::header_list(&parts.headers);
    let view = match &agent_body {
        AgentBody::Read(p) => Some(RequestBody {
            bytes: p.head(),
            content_encoding: content_encoding.as_deref(),
            content_type: parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            truncated: p.is_partial(),
        }),
        AgentBody::Unread(b) if b.is_end_stream() => Some(RequestBody {
            bytes: &[],
            content_encoding: None,
            content_type: None,
            truncated: false,
        }),
        AgentBody::Unread(_) => None,
    };
    let decision = active
        .rules
        .decide(&head, view.as_ref().filter(|_| inspect), agent);
    if let Some(shadow) = &decision.shadow {
        tracing::info!(request_id = exchange.id.as_str(), rule = ?shadow.rule, verdict = ?shadow.verdict, reason = %shadow.reason, "shadow rule would decide differently");
    }
    exchange.decision = Some(decision.clone());
    if let AgentBody::Read(read) = &agent_body
        && let Some(too_large) = too_large(&active.rules, &decision, read)
    {
        if let AgentBody::Read(read) = agent_body {
            read.drain(DRAIN_CAP, shared.config().limits.header_read_timeout)
                .await;
        }
        return Err(Refusal::TooLarge(too_large));
    }
    match decision.verdict {
        Verdict::Allow => {}
        Verdict::Deny => {
            return Err(Refusal::Denied {
                rule: decision.rule,
                reason: decision.reason.into(),
            });
        }
        Verdict::Approve => {
            let preview = match &agent_body {
                AgentBody::Read(p) => p.head().clone(),
                AgentBody::Unread(_) => bytes::Bytes::new(),
            };
            hold::for_approval(shared, exchange, &decision, &parts, &preview).await?;
        }
    }
    let rule_id = decision.rule.clone();
    let rule = decision.rule.as_ref().and_then(|id| active.rules.rule(id));
    if let (Some(rule), Some(limits)) = (rule, rule.and_then(|r| r.limits())) {
        let key = counter_key(rule.id(), limits.per, agent);
        if let Err(retry_after) =
            shared
                .counters()
                .acquire(&key, &Rate::of(limits), tokio::time::Instant::now())
        {
            return Err(Refusal::RateLimited {
                rule: rule.id().clone(),
                retry_after,
            });
        }
    }

    // Credentials: inject the allowing rule's secrets, then refuse any placeholder left.
    let set_headers = rule.map(|r| r.set_headers()).unwrap_or(&[]);
    let mut head_bytes = match &agent_body {
        AgentBody::Read(p) => Some(p.head().clone()),
        AgentBody::Unread(_) => None,
    };
    let partial = matches!(&agent_body, AgentBody::Read(p) if p.is_partial());
    let body_target = head_bytes
        .as_mut()
        .filter(|_| rule.is_some_and(|r| r.inject_body()));
    let injected = if decision.inject.is_empty() && set_headers.is_empty() {
        Injected::default()
    } else if conn.scheme == Scheme::Http {
        return Err(Refusal::Denied {
            rule: rule_id,
            reason: Denial::CredentialsOverPlainHttp,
        });
    } else {
        credentials::inject(
            &active.credentials,
            &decision.inject,
            set_headers,
            &mut parts,
            body_target,
        )
        .await?
    };
    if partial && rule.is_some_and(|r| r.inject_body()) {
        // Only the read-ahead part was rewritten: the total length is no longer known.
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    exchange.credentials = injected.names.clone();
    let guard = ExfilGuard {
        store: &active.credentials,
    };
    if let Err(exfil) = guard.check(
        &parts,
        head_bytes.as_deref(),
        &host,
        conn.scheme == Scheme::Https,
    ) {
        exchange.exfiltration = true;
        tracing::warn!(request_id = exchange.id.as_str(), %exfil, "exfiltration attempt refused");
        return Err(Refusal::Denied {
            rule: rule_id,
            reason: exfil.into(),
        });
    }

    // Forward.
    forward::upstream_parts(&conn, &mut parts)?;
    let upstream_body = match agent_body {
        AgentBody::Unread(b) => body::stream(b),
        AgentBody::Read(p) => {
            let head = head_bytes.unwrap_or_else(|| p.head().clone());
            exchange.bytes_in = head.len() as u64;
            p.into_body(head, Some(active.placeholders().clone()))
        }
    };
    // Private destinations are dialled only when the deciding rule's `allow_private:`
    // covers them; a decision without a rule opens none.
    let allowance = PrivateAllowance::new(rule.map(|r| r.allow_private()).unwrap_or(&[]));
    let busy = conn.activity.begin();
    let sent = Instant::now();
    exchange.enter(Stage::Upstream);
    let mut resp = shared
        .upstream()
        .send_allowing(Request::from_parts(parts, upstream_body), &allowance)
        .await
        .map_err(|failure| {
            shared.metrics().upstream_error(match &failure {
                UpstreamFailure::Refused(_) => "refused",
                UpstreamFailure::Timeout(_) => "timeout",
                UpstreamFailure::Tls(_) => "tls",
                UpstreamFailure::Connect(_) => "connect",
                UpstreamFailure::Protocol(_) => "protocol",
            });
            Refusal::Upstream(failure)
        })?;
    exchange.upstream_ms = Some(sent.elapsed().as_secs_f64() * 1000.0);
    drop(busy);
    exchange.set_outcome(Outcome::Forwarded);

    let kept_upgrade = match (
        resp.status() == StatusCode::SWITCHING_PROTOCOLS,
        client_upgrade,
    ) {
        (true, Some(client)) => {
            websocket::bridge(shared, &conn, client, hyper::upgrade::on(&mut resp));
            resp.headers().get(header::UPGRADE).cloned()
        }
        _ => None,
    };
    let (mut resp_parts, resp_body) = resp.into_parts();
    hop::strip(&mut resp_parts.headers, kept_upgrade.as_ref());
    let scrubber = active.known_secrets(&injected.values).await;
    let rule_redaction = rule.and_then(|r| active.rule_redaction(r.id())).cloned();
    let body = redact::scrub_response(
        &mut resp_parts,
        body::stream(ActiveBody::new(resp_body, conn.activity.clone())),
        &scrubber,
        &exchange.redactions,
        rule_redaction.is_some(),
    )
    .map_err(UpstreamFailure::from)?;
    let body = if let Some(rule_redaction) = rule_redaction {
        let json = resp_parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        resp_parts.headers.remove(header::CONTENT_LENGTH);
        body::stream(RuleRedactedBody::new(
            body,
            rule_redaction,
            json,
            exchange.redactions.clone(),
        ))
    } else {
        body
    };
    Ok(Response::from_parts(resp_parts, body))
}
