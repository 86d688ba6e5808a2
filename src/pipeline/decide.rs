//! The decision and what enforces it: whether the body must be read first, the rules'
//! verdict on the normalised request (a shadow rule that would decide otherwise is logged;
//! in learn mode a denial or hold is let through and recorded as would-be),
//! a body larger than the deciding rule inspects (413), a denial (403), and the allowing
//! rule's rate limit and token budget (429).

use http::HeaderValue;
use http::header::CONTENT_TYPE;

use crate::content_coding;
use crate::control::rate_limits::{
    CounterStore, Counters, NotTaken, Rate, budget_key, counter_key,
};
use crate::pipeline::exchange::{ConnInfo, Exchange};
use crate::pipeline::learn;
use crate::pipeline::normalise::Normalised;
use crate::pipeline::read_body::AgentBody;
use crate::pipeline::refusal::{
    Denial, GraphqlDenial, Limited, McpDenial, Refusal, Unavailable, wants_sse,
};
use crate::policy::{AgentId, BodyError, BodyNeed, Decision, RequestBody, Rule, RuleSet, Verdict};

/// The header carrying an MCP session's id (streamable HTTP), recorded with MCP calls.
pub(crate) const MCP_SESSION_HEADER: &str = "mcp-session-id";

/// Longest session id kept in the audit entry: ids are short tokens, and an agent must
/// not grow every entry with a long header.
pub(crate) const MAX_SESSION_CHARS: usize = 128;

/// Most bytes of a body too large to inspect read and discarded before the 413, so that an
/// agent still sending it reads the answer rather than a reset.
const DRAIN_CAP: usize = 16 * 1024 * 1024;

/// Whether a rule that could match inspects the body, and how much of it.
pub fn body_need(rules: &RuleSet, request: &Normalised, conn: &ConnInfo) -> BodyNeed {
    let head = request.head(conn.scheme, conn.target.port);
    rules.body_need_normalized(&request.target, &head, conn.agent.as_ref())
}

/// Whether a rule may hold the request for a person: its body is then read ahead (as for the
/// exfiltration guard), so the approver is shown a preview.
pub fn may_hold(rules: &RuleSet, request: &Normalised, conn: &ConnInfo) -> bool {
    let head = request.head(conn.scheme, conn.target.port);
    rules.approval_possible(&request.target, &head, conn.agent.as_ref())
}

/// The rules' decision, kept in the exchange for its record. In learn mode a denial or
/// hold becomes an allow, and what the rules would have decided is kept beside it.
pub fn decide(
    rules: &RuleSet,
    request: &Normalised,
    body: &AgentBody,
    conn: &ConnInfo,
    need: BodyNeed,
    exchange: &mut Exchange,
) -> Decision {
    let head = request.head(conn.scheme, conn.target.port);
    // Every `Content-Encoding` line, so a second one cannot hide a coding from the rules.
    let content_encoding = content_coding::header_list(&request.parts.headers);
    let content_type = request
        .parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let view = match body {
        AgentBody::Read { read, .. } => Some(RequestBody {
            bytes: read.head(),
            content_encoding: content_encoding.as_deref(),
            content_type,
            truncated: read.is_partial(),
        }),
        AgentBody::Empty => Some(RequestBody {
            bytes: &[],
            content_encoding: None,
            content_type: None,
            truncated: false,
        }),
        AgentBody::Unread(b) if http_body::Body::is_end_stream(b) => Some(RequestBody {
            bytes: &[],
            content_encoding: None,
            content_type: None,
            truncated: false,
        }),
        AgentBody::Unread(_) => None,
    };
    let inspect = matches!(need, BodyNeed::Inspect { .. });
    let mut decision = rules.decide_normalized(
        &request.target,
        &head,
        view.as_ref().filter(|_| inspect),
        conn.agent.as_ref(),
    );
    if let Some(shadow) = &decision.shadow {
        tracing::info!(request_id = exchange.id.as_str(), rule = ?shadow.rule, verdict = ?shadow.verdict, reason = %shadow.reason, "shadow rule would decide differently");
    }
    if decision.mcp.is_some() {
        exchange.mcp_session = request
            .parts
            .headers
            .get(MCP_SESSION_HEADER)
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .map(|v| v.chars().take(MAX_SESSION_CHARS).collect());
    }
    if exchange.learn {
        exchange.observed = Some(learn::observe(&request.parts.headers, body));
        exchange.would = learn::let_through(&mut decision);
        if let Some(would) = &exchange.would {
            tracing::info!(
                request_id = exchange.id.as_str(),
                would = %would.decision,
                rule = ?would.rule,
                reason = %would.reason,
                "learn mode: forwarding what the rules would not allow"
            );
        }
    }
    exchange.decision = Some(decision.for_record());
    decision
}

/// A denial naming a rule that inspects the body, of a body read only in part, is always
/// "too large": such a rule sees a partial read as too large before any condition. The rest
/// of the body is read and discarded (up to a cap) so the agent reads the 413.
pub async fn refuse_too_large(
    rules: &RuleSet,
    decision: &Decision,
    body: AgentBody,
    timeout: std::time::Duration,
) -> Result<AgentBody, Refusal> {
    let AgentBody::Read { read, sent } = body else {
        return Ok(body);
    };
    let max_size = decision
        .rule
        .as_ref()
        .and_then(|id| rules.rule(id))
        .and_then(|rule| rule.body())
        .map(|body| body.max_size);
    let too_large = max_size.filter(|&max| {
        decision.verdict == Verdict::Deny && read.is_partial() && read.head().len() > max
    });
    if let Some(max_size) = too_large {
        read.drain(DRAIN_CAP, timeout).await;
        return Err(Refusal::TooLarge(BodyError::TooLarge { max_size }));
    }
    Ok(AgentBody::Read { read, sent })
}

/// A denial is the agent's 403, naming the rule (JSON-RPC errors for MCP calls, in SSE
/// when the request's `accept` asks only for it); otherwise the deciding rule, if any.
pub fn enforce<'r>(
    rules: &'r RuleSet,
    decision: &Decision,
    accept: Option<&HeaderValue>,
) -> Result<Option<&'r Rule>, Refusal> {
    if decision.verdict == Verdict::Deny {
        return Err(denial(decision, decision.reason.clone().into(), accept));
    }
    Ok(decision.rule.as_ref().and_then(|id| rules.rule(id)))
}

/// The refusal of a denied request, or of one whose approval ended without a yes: in the
/// protocol the client speaks (JSON-RPC errors for MCP calls), naming the rule and `reason`.
pub fn denial(decision: &Decision, reason: Denial, accept: Option<&HeaderValue>) -> Refusal {
    match (&decision.mcp, &decision.graphql) {
        (Some(calls), _) => Refusal::McpDenied(McpDenial {
            rule: decision.rule.clone(),
            reason: reason.to_string(),
            calls: calls.clone(),
            sse: wants_sse(accept),
            answered_on_stream: false,
        }),
        (None, Some(ops)) => Refusal::GraphqlDenied(GraphqlDenial {
            rule: decision.rule.clone(),
            reason: reason.to_string(),
            ops: ops.clone(),
        }),
        (None, None) => Refusal::Denied {
            rule: decision.rule.clone(),
            reason,
        },
    }
}

/// Takes one request from the deciding rule's rate limit, when it has one; for MCP calls,
/// one from each allowed call's rule (a batch of three calls takes three); for GraphQL, one
/// from each operation's rule.
pub async fn rate_limit(
    counters: &Counters,
    rules: &RuleSet,
    decision: &Decision,
    rule: Option<&Rule>,
    agent: Option<&AgentId>,
) -> Result<(), Refusal> {
    let elements: Vec<Option<&crate::policy::RuleId>> = match (&decision.mcp, &decision.graphql) {
        (Some(calls), _) => calls.calls.iter().map(|c| c.rule.as_ref()).collect(),
        (None, Some(ops)) => ops.ops.iter().map(|o| o.rule.as_ref()).collect(),
        (None, None) => return take(counters, rule, agent).await,
    };
    for id in elements {
        let rule = id.and_then(|id| rules.rule(id));
        take(counters, rule, agent)
            .await
            .map_err(|refusal| match refusal {
                Refusal::RateLimited {
                    rule,
                    retry_after,
                    limit,
                } if decision.graphql.is_some() => Refusal::GraphqlRateLimited {
                    rule,
                    retry_after,
                    limit,
                },
                other => other,
            })?;
    }
    Ok(())
}

/// Takes one request from `rule`'s rate limit, when it has one, and refuses it when the
/// rule's token budget is spent.
async fn take(
    counters: &Counters,
    rule: Option<&Rule>,
    agent: Option<&AgentId>,
) -> Result<(), Refusal> {
    let Some((rule, limits)) = rule.and_then(|r| Some((r, r.limits()?))) else {
        return Ok(());
    };
    let now = tokio::time::Instant::now();
    let refused = |not_taken, limit| match not_taken {
        NotTaken::Wait(retry_after) => Refusal::RateLimited {
            rule: rule.id().clone(),
            retry_after,
            limit,
        },
        NotTaken::Unavailable(cause) => Refusal::Unavailable(Unavailable::SharedState {
            what: match limit {
                Limited::Rate | Limited::ActionRate => "rate-limit counters",
                Limited::Tokens => "token budgets",
            },
            cause,
        }),
    };
    if let Some(budget) = &limits.tokens {
        let key = budget_key(rule.id(), limits.per, agent);
        counters
            .tokens_left(&key, budget, now)
            .await
            .map_err(|n| refused(n, Limited::Tokens))?;
    }
    if let Some(rate) = &limits.rate {
        let key = counter_key(rule.id(), limits.per, agent);
        counters
            .acquire(&key, &Rate::of(rate), now)
            .await
            .map_err(|n| refused(n, Limited::Rate))?;
    }
    Ok(())
}
