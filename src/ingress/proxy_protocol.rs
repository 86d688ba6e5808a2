//! The proxy protocol on a client connection: `CONNECT host:port` opens an intercepted
//! tunnel, absolute-form `http://` requests go through the pipeline, anything else is 400.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::{Ingress, tunnel};
use crate::body::{self, ProxyBody};
use crate::pipeline::HeadFinding;
use crate::pipeline::exchange::{ConnInfo, Exchange, Outcome, RequestId, Scheme};
use crate::pipeline::record::{Place, Refused, refusal_decision};
use crate::pipeline::refusal::{BadRequest, Denial, Refusal};
use crate::policy::AgentId;
use crate::server::accept::Slot;
use crate::server::activity::Activity;
use crate::target::{Host, Target};
use crate::upstream::{PrivateAllowance, UpstreamError, guard};

/// The client connection a proxy request came on.
pub struct Client {
    /// The agent's socket address.
    pub addr: SocketAddr,
    /// Idle tracking for the connection (and the tunnel it may become).
    pub activity: Arc<Activity>,
    /// Its place under the connection limit, which a tunnel takes over.
    pub slot: Slot,
}

/// Serves one request read from a client connection.
pub async fn handle(
    ingress: Arc<Ingress>,
    conn: Client,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let client = conn.addr;
    let agent = match ingress
        .rules
        .current()
        .agents
        .authenticate(req.headers().get(http::header::PROXY_AUTHORIZATION))
        .await
    {
        Ok(agent) => agent,
        Err(e) => {
            return Ok(refuse_unpinned(
                &ingress,
                client,
                None,
                &req,
                Refusal::from(e),
            ));
        }
    };
    match classify(&req) {
        Ok(ProxyTarget::Connect(target)) => match req.extensions().get::<HeadFinding>() {
            Some(finding) => {
                let refusal = Refusal::from(finding.clone());
                Ok(refuse_unpinned(
                    &ingress,
                    client,
                    agent.as_ref(),
                    &req,
                    refusal,
                ))
            }
            None => Ok(connect(ingress, conn, agent, req, target)),
        },
        Ok(ProxyTarget::Plain(target)) => {
            let conn = Arc::new(ConnInfo {
                client,
                target,
                scheme: Scheme::Http,
                sni_mismatch: None,
                activity: conn.activity,
                pause: ingress.pauses.watch(agent.as_ref()),
                agent,
            });
            ingress.pipeline.clone().handle(conn, req).await
        }
        Err(refusal) => Ok(refuse_unpinned(
            &ingress,
            client,
            agent.as_ref(),
            &req,
            refusal,
        )),
    }
}

/// What a request on the proxy port asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyTarget {
    /// `CONNECT host:port`: a tunnel to intercept.
    Connect(Target),
    /// An absolute-form `http://` request to forward (port 80 unless named).
    Plain(Target),
}

/// Sorts a proxy-port request: `CONNECT host:port`, an absolute-form `http://` request, or
/// a 400 (origin-form, `https://` in absolute form, a CONNECT target with a scheme, a
/// target that does not parse). Looks at the method and URI only, never the body.
pub fn classify<B>(req: &Request<B>) -> Result<ProxyTarget, Refusal> {
    if req.method() == Method::CONNECT {
        if let Some(scheme) = req.uri().scheme_str() {
            return Err(BadRequest::ConnectWithScheme {
                uri: req.uri().clone(),
                scheme: scheme.to_owned(),
            }
            .into());
        }
        let raw = req.uri().authority().map_or("", |a| a.as_str());
        return Target::parse_authority(raw)
            .map(ProxyTarget::Connect)
            .map_err(|source| {
                BadRequest::ConnectTarget {
                    raw: raw.to_owned(),
                    source,
                }
                .into()
            });
    }
    match req.uri().scheme_str() {
        Some("http") => {
            let authority = req.uri().authority().ok_or(BadRequest::NoAuthority)?;
            Target::parse_with_default(authority.as_str(), Some(80))
                .map(ProxyTarget::Plain)
                .map_err(|source| {
                    BadRequest::PlainTarget {
                        authority: authority.to_string(),
                        source,
                    }
                    .into()
                })
        }
        Some(scheme) => Err(BadRequest::AbsoluteScheme(scheme.to_owned()).into()),
        None => Err(BadRequest::NotProxyRequest.into()),
    }
}

/// Answers a CONNECT: 403 before any handshake when nothing could allow the target,
/// otherwise 200 and the tunnel is intercepted once the connection is handed over.
fn connect(
    ingress: Arc<Ingress>,
    client: Client,
    agent: Option<AgentId>,
    req: Request<Incoming>,
    target: Target,
) -> Response<ProxyBody> {
    let Client {
        addr: client,
        activity,
        slot,
    } = client;
    let conn = Arc::new(ConnInfo {
        client,
        target: target.clone(),
        scheme: Scheme::Https,
        sni_mismatch: None,
        activity: activity.clone(),
        agent: agent.clone(),
        pause: ingress.pauses.watch(agent.as_ref()),
    });
    if let Some(refusal) = early_refusal(&ingress, &target, agent.as_ref()) {
        let recorder = ingress.recorder.clone();
        let mut exchange = Exchange::start(conn, Method::CONNECT, req.uri(), recorder);
        let resp = refusal.into_response(&exchange.id);
        exchange.status = Some(resp.status());
        exchange.set_outcome(Outcome::Refused(refusal));
        exchange.finish();
        return resp;
    }
    let pause = conn.pause.clone();
    let on_upgrade = hyper::upgrade::on(req);
    let tunnel_ingress = ingress.clone();
    // The tunnel holds the connection's place under the limit for as long as it is open.
    let place = slot.take();
    ingress.lifecycle.tasks().spawn(async move {
        let _place = place;
        match on_upgrade.await {
            Ok(upgraded) => {
                let ingress = tunnel_ingress;
                tunnel::serve_tunnel(ingress, client, target, agent, upgraded, activity, pause)
                    .await
            }
            Err(err) => tracing::debug!(%client, %target, error = %err, "CONNECT upgrade failed"),
        }
    });
    let mut resp = Response::new(body::empty());
    *resp.status_mut() = StatusCode::OK;
    resp
}

/// Refusals decided from the CONNECT line alone: the agent (or every agent) is paused, no
/// rule could match the host and port (not in learn mode), or
/// an IP literal the destination guard refuses (and the operator did not pin) that no rule
/// which could match opens with `allow_private:` (each request is still checked when dialled).
fn early_refusal(ingress: &Ingress, target: &Target, agent: Option<&AgentId>) -> Option<Refusal> {
    if let Err(paused) = ingress.pauses.check(agent) {
        return Some(Refusal::Denied {
            rule: None,
            reason: paused.into(),
        });
    }
    let active = ingress.rules.current();
    let host = target.host.to_string();
    if !ingress.learn && !active.rules.admits_connect(&host, target.port, agent) {
        return Some(Refusal::default_deny(Denial::NoRuleFor(target.clone())));
    }
    if let Host::Ip(ip) = target.host
        && !ingress.is_pinned(target)
        && let Some(reason) = guard::refusal_reason(ip)
        && !PrivateAllowance::new(
            &active
                .rules
                .connect_allow_private(&host, target.port, agent),
        )
        .covers(ip)
    {
        return Some(Refusal::Upstream(
            crate::upstream::UpstreamFailure::Refused(UpstreamError::RefusedLiteral {
                target: target.clone(),
                reason,
            }),
        ));
    }
    None
}

/// Answers a request that has no usable target, with its audit entry and log line.
pub(super) fn refuse_unpinned(
    ingress: &Ingress,
    client: SocketAddr,
    agent: Option<&AgentId>,
    req: &Request<Incoming>,
    refusal: Refusal,
) -> Response<ProxyBody> {
    let place = Place {
        client,
        target: None,
        scheme: Scheme::Http,
        agent,
    };
    let id = RequestId::new();
    let refused = Refused {
        place,
        method: req.method().as_str(),
        path: req.uri().path(),
        decision: refusal_decision(&refusal),
        reason: refusal.reason().to_owned(),
        status: Some(refusal.parts().status.as_u16()),
    };
    ingress.recorder.refused(refused, &id);
    let mut resp = refusal.into_response(&id);
    if matches!(refusal, Refusal::BadRequest(_)) {
        // What follows a malformed request on the wire cannot be trusted to start where
        // the parser thinks it does.
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    resp
}
