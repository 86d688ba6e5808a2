//! The request path, for plain-HTTP and decrypted-HTTPS requests alike, as named phases over
//! one exchange context: admit (a paused agent is refused here), normalise, read the body,
//! decide (hold for a person, rate limit, token budget; in learn mode, let a denial or hold through), inject credentials
//! and guard against exfiltration, forward, respond (redact, bridge upgrades, read LLM
//! usage). A phase that refuses returns the [`Refusal`]; [`Pipeline::handle`]
//! answers it, and the exchange's record is written once whatever happened: at the refusal,
//! when the response body ends, or by the exchange's guard when the agent goes away.

mod action_terms;
mod admit;
mod decide;
pub mod exchange;
mod forward;
mod hold;
pub mod hop;
mod inject;
mod learn;
mod mcp_reply;
pub use mcp_reply::LegacyStreams;
mod normalise;
pub mod read_body;
pub mod record;
pub mod refusal;
mod renew;
mod respond;
mod sse;
pub mod trace_context;
mod usage;
mod websocket;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Version, header};
use hyper::body::Incoming;

use crate::body::{self, ProxyBody};
use crate::control::approvals::Approvals;
use crate::control::pause::Pauses;
use crate::control::rate_limits::Counters;
use crate::control::rules_in_force::RulesInForce;
use crate::metrics::Metrics;
use crate::server::Lifecycle;
use crate::upstream::Upstream;
use exchange::{ConnInfo, Exchange, Outcome};
use record::Recorder;
use record::closing_body::ClosingBody;
use refusal::{McpDenial, Refusal, sse_event};

pub use admit::HeadFinding;

/// The handles the phases use; each phase is given only the ones it needs.
pub struct Pipeline {
    /// The rules and credentials in force; an exchange keeps the generation it started on.
    rules: Arc<RulesInForce>,
    /// Writes every exchange's record; admission asks it whether the audit trail is healthy.
    recorder: Arc<Recorder>,
    /// The verified, pooled client requests are forwarded with.
    upstream: Upstream,
    /// Requests held for a person.
    approvals: Arc<Approvals>,
    /// Per-rule rate-limit counters.
    counters: Arc<Counters>,
    /// The MCP streams of the HTTP+SSE transport, by endpoint (shared by every thread).
    legacy_streams: Arc<LegacyStreams>,
    metrics: Arc<Metrics>,
    /// Where upgraded-connection bridges are tracked, and when they must close.
    lifecycle: Lifecycle,
    /// How long an agent may take to send its body.
    read_timeout: Duration,
    /// How long an upgraded connection may stay silent.
    idle_timeout: Duration,
    /// The calls of keyward's own actions listener: the token their requests carry and
    /// their recorded inputs.
    handoff: Arc<crate::actions::handoff::Handoff>,
    /// Learn mode: what the rules would deny or hold is forwarded and recorded.
    learn: bool,
    /// Paused agents, whose requests admission refuses.
    pauses: Arc<Pauses>,
}

/// The handles a [`Pipeline`] is built from.
pub struct PipelineParts {
    pub rules: Arc<RulesInForce>,
    pub recorder: Arc<Recorder>,
    pub upstream: Upstream,
    pub approvals: Arc<Approvals>,
    pub counters: Arc<Counters>,
    pub legacy_streams: Arc<LegacyStreams>,
    pub metrics: Arc<Metrics>,
    pub lifecycle: Lifecycle,
    pub read_timeout: Duration,
    pub idle_timeout: Duration,
    /// The calls of keyward's own actions listener.
    pub handoff: Arc<crate::actions::handoff::Handoff>,
    /// Learn mode (`--learn`).
    pub learn: bool,
    pub pauses: Arc<Pauses>,
}

impl Pipeline {
    pub fn new(parts: PipelineParts) -> Self {
        Self {
            rules: parts.rules,
            recorder: parts.recorder,
            upstream: parts.upstream,
            approvals: parts.approvals,
            counters: parts.counters,
            legacy_streams: parts.legacy_streams,
            metrics: parts.metrics,
            lifecycle: parts.lifecycle,
            read_timeout: parts.read_timeout,
            idle_timeout: parts.idle_timeout,
            handoff: parts.handoff,
            learn: parts.learn,
            pauses: parts.pauses,
        }
    }

    /// Serves one request: always answers, never fails.
    pub async fn handle(
        self: Arc<Self>,
        conn: Arc<ConnInfo>,
        req: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, Infallible> {
        let recorder = self.recorder.clone();
        let mut exchange = Exchange::start(conn, req.method().clone(), req.uri(), recorder);
        exchange.trace = trace_context::of(req.headers());
        let agent_version = req.version();
        let endpoint = req.uri().path_and_query().cloned();
        let mut resp = match self.process(&mut exchange, req).await {
            Ok(resp) => {
                exchange.status = Some(resp.status());
                resp.map(|b| body::stream(ClosingBody::new(b, exchange)))
            }
            Err(mut refusal) => {
                if let (Refusal::McpDenied(denial), Some(endpoint)) = (&mut refusal, endpoint) {
                    self.answer_on_stream(&exchange, endpoint.as_str(), denial);
                }
                refuse(exchange, refusal, agent_version)
            }
        };
        if agent_version != Version::HTTP_2 {
            *resp.version_mut() = Version::HTTP_11;
        }
        Ok(resp)
    }

    /// Sends the JSON-RPC errors of a denied post on the agent's stream for that endpoint,
    /// when it has one open through keyward (the HTTP+SSE transport of MCP).
    fn answer_on_stream(&self, exchange: &Exchange, endpoint: &str, denial: &mut McpDenial) {
        if self.legacy_streams.is_empty() {
            return;
        }
        let Some(errors) = denial.body(&exchange.id) else {
            return;
        };
        let host = exchange.conn.target.host.to_string();
        let event = Bytes::from(sse_event(&errors));
        let agent = exchange.conn.agent.as_ref();
        denial.answered_on_stream = self.legacy_streams.deliver(&host, endpoint, agent, event);
    }

    /// The phases, in order.
    async fn process(
        &self,
        exchange: &mut Exchange,
        req: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, Refusal> {
        let conn = exchange.conn.clone();
        exchange.learn = self.learn;
        admit::admit(&req, &conn, &self.recorder, &self.pauses)?;
        let in_force = self.rules.current();
        let (mut request, incoming) = normalise::normalise(req, &conn, &in_force.rules)?;
        exchange.action = self.handoff.take(&mut request.parts.headers);
        let need = decide::body_need(&in_force.rules, &request, &conn);
        // Learn mode reads bodies ahead too, for the names of a JSON body's fields; so does a
        // request a rule may hold, for the approver's preview.
        let scan = !in_force.credentials.is_empty()
            || self.learn
            || decide::may_hold(&in_force.rules, &request, &conn);
        let body = read_body::read_ahead(incoming, need, scan, self.read_timeout).await?;
        let decision = decide::decide(&in_force.rules, &request, &body, &conn, need, exchange);
        let body =
            decide::refuse_too_large(&in_force.rules, &decision, body, self.read_timeout).await?;
        let accept = request.parts.headers.get(header::ACCEPT);
        let rule = decide::enforce(&in_force.rules, &decision, accept)?;
        let terms = action_terms::of(&in_force.rules, exchange.action.as_ref(), &decision)?;
        if let Some(approval) = action_terms::hold(&decision, rule, terms) {
            let known = in_force.known_secrets(&[]).await;
            let hold = hold::Hold {
                approvals: &self.approvals,
                metrics: &self.metrics,
                upstream: &self.upstream,
                known: &known,
            };
            let preview = body.preview();
            hold.for_approval(exchange, &decision, approval, &request.parts, &preview)
                .await?;
        }
        decide::rate_limit(
            &self.counters,
            &in_force.rules,
            &decision,
            rule,
            conn.agent.as_ref(),
        )
        .await?;
        let mut decision = decision;
        if let Some(terms) = terms {
            terms
                .rate_limit(&self.counters, &decision, conn.agent.as_ref())
                .await?;
            terms.add_inject(&mut decision.inject);
        }
        let mcp = mcp_reply::McpView::of(mcp_reply::Origin {
            in_force: &in_force,
            request: &request,
            decision: &decision,
            conn: &conn,
            recorder: &self.recorder,
            id: &exchange.id,
            legacy: &self.legacy_streams,
        });
        let mut body = body;
        let replay = renew::replay(&in_force, &request.parts, &body);
        let target = inject::Destination {
            host: &request.host,
            segments: &request.target.segments,
        };
        let injected = inject::inject(
            &in_force,
            exchange,
            &decision,
            rule,
            &mut request.parts,
            target,
            &mut body,
        )
        .await?;
        let resp = forward::send(
            &self.upstream,
            &self.metrics,
            exchange,
            request.parts,
            body,
            rule,
            in_force.placeholders(),
        )
        .await?;
        let (resp, injected) = match replay {
            Some(replay) => {
                let again = renew::Again {
                    in_force: &in_force,
                    exchange,
                    decision: &decision,
                    rule,
                    target,
                    upstream: &self.upstream,
                    metrics: &self.metrics,
                };
                replay.after(resp, injected, again).await?
            }
            None => (resp, injected),
        };
        let meter = usage::Meter::new(
            &self.counters,
            rule,
            conn.agent.as_ref(),
            &exchange.path,
            exchange.usage.clone(),
            exchange.id.clone(),
        );
        let upgrade = respond::Upgrade {
            lifecycle: &self.lifecycle,
            idle: self.idle_timeout,
            client: request.client_upgrade,
            recorder: &self.recorder,
            counters: &self.counters,
        };
        let readers = respond::Readers { mcp, usage: meter };
        respond::respond(&in_force, exchange, rule, &injected, resp, upgrade, readers).await
    }
}

/// The answer to a refused exchange, which records it: a malformed request also ends its
/// connection, since what follows on the wire cannot be trusted to start where the parser
/// thinks it does.
fn refuse(mut exchange: Exchange, refusal: Refusal, agent_version: Version) -> Response<ProxyBody> {
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
