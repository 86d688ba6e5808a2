//! One retry with a renewed token: when the upstream answers 401 to a request that carried a
//! value keyward obtains and can renew (an OAuth 2.0 access token), and the request can be
//! sent again unchanged (an idempotent method and no body), the value is dropped, a fresh one
//! obtained, and the request injected and sent once more. Anything else gets the 401 as is.

use http::request::Parts;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;

use crate::control::rules_in_force::InForce;
use crate::credentials::Injected;
use crate::pipeline::exchange::Exchange;
use crate::pipeline::read_body::AgentBody;
use crate::pipeline::refusal::Refusal;
use crate::pipeline::{forward, inject};
use crate::policy::{Decision, Rule};

/// The request as it was before injection, kept when a retry could be needed.
pub struct Replay {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
}

/// A copy of the request to send again, when it could be: an idempotent method, no body,
/// and a secret in force whose source renews (checked again after the answer).
pub fn replay(in_force: &InForce, parts: &Parts, body: &AgentBody) -> Option<Replay> {
    (in_force.credentials.has_renewing() && parts.method.is_idempotent() && body.is_empty()).then(
        || Replay {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version: parts.version,
            headers: parts.headers.clone(),
        },
    )
}

/// What sending again takes.
pub struct Again<'a> {
    pub in_force: &'a InForce,
    pub exchange: &'a mut Exchange,
    pub decision: &'a Decision,
    pub rule: Option<&'a Rule>,
    pub target: inject::Destination<'a>,
    pub upstream: &'a crate::upstream::Upstream,
    pub metrics: &'a crate::metrics::Metrics,
}

impl Replay {
    /// `resp` as it is, or the answer to the request sent again with renewed values when
    /// `resp` is a 401 to values that renew.
    pub async fn after(
        self,
        resp: Response<Incoming>,
        injected: Injected,
        again: Again<'_>,
    ) -> Result<(Response<Incoming>, Injected), Refusal> {
        let credentials = &again.in_force.credentials;
        let renewed: Vec<_> = injected
            .names
            .iter()
            .zip(&injected.values)
            .filter_map(|(name, value)| {
                let cred = credentials.get(name)?;
                cred.source.renews().then_some((cred, value))
            })
            .collect();
        if resp.status() != StatusCode::UNAUTHORIZED || renewed.is_empty() {
            return Ok((resp, injected));
        }
        drop(resp);
        for (cred, value) in renewed {
            cred.source.rejected(value);
        }
        tracing::info!(
            request_id = again.exchange.id.as_str(),
            "the upstream refused an obtained token (401): sending once more with a renewed one"
        );
        let (mut parts, ()) = Request::new(()).into_parts();
        parts.method = self.method;
        parts.uri = self.uri;
        parts.version = self.version;
        parts.headers = self.headers;
        let mut body = AgentBody::Empty;
        let injected = inject::inject(
            again.in_force,
            again.exchange,
            again.decision,
            again.rule,
            &mut parts,
            again.target,
            &mut body,
        )
        .await?;
        let resp = forward::send(
            again.upstream,
            again.metrics,
            again.exchange,
            parts,
            body,
            again.rule,
            again.in_force.placeholders(),
        )
        .await?;
        Ok((resp, injected))
    }
}
