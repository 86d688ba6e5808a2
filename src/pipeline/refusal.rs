//! The one place where a failure becomes what the agent sees: a status, the
//! `keyward-decision` header and a short JSON body naming the rule or reason.

mod bad_request;
mod cause;
mod graphql;
mod jsonrpc;

use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::audit::Decision;
use crate::body::{self, ProxyBody};
use crate::credentials::InjectError;
use crate::credentials::agents::AuthError;
use crate::pipeline::HeadFinding;
use crate::pipeline::exchange::RequestId;
use crate::pipeline::read_body::BodyReadError;
use crate::policy::{AmbiguousPath, BodyError, NormalizeError, RuleId};
use crate::upstream::UpstreamFailure;

pub use bad_request::BadRequest;
pub use cause::{Denial, MethodRefused, Misdirected, Unavailable};
pub use graphql::{GRAPHQL_DENIED_CODE, GraphqlDenial};
pub use jsonrpc::{DENIED_CODE, McpDenial, sse_event, wants_sse};

/// Header telling the agent which decision produced a response keyward wrote itself.
pub const DECISION_HEADER: &str = "keyward-decision";

/// Why keyward answers an exchange itself instead of forwarding it. Each variant keeps its
/// typed cause; [`Refusal::parts`], [`Refusal::reason`] and the JSON body render it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The request is malformed or not a proxy request (400).
    BadRequest(BadRequest),
    /// The request line is longer than the head limit (414).
    UriTooLong(String),
    /// The body is larger than the deciding rule inspects (413).
    TooLarge(BodyError),
    /// The method is never forwarded, e.g. TRACE (405).
    MethodNotAllowed(MethodRefused),
    /// The request names another host than its tunnel (421).
    Misdirected(Misdirected),
    /// The agent did not authenticate (407).
    ProxyAuth(AuthError),
    /// The rule's rate limit or token budget is used up (429 with Retry-After).
    RateLimited {
        rule: RuleId,
        retry_after: std::time::Duration,
        limit: Limited,
    },
    /// Policy denied it (403).
    Denied {
        rule: Option<RuleId>,
        reason: Denial,
    },
    /// Policy denied MCP calls: answered as JSON-RPC errors (200, or 202 when no call has
    /// an id).
    McpDenied(McpDenial),
    /// Policy denied GraphQL operations: answered as GraphQL errors (403).
    GraphqlDenied(GraphqlDenial),
    /// A GraphQL operation's rule's rate limit or token budget is used up: a GraphQL error (429 with
    /// Retry-After).
    GraphqlRateLimited {
        rule: RuleId,
        retry_after: std::time::Duration,
        limit: Limited,
    },
    /// Upstream failed; the status follows the failure (403 guard, 502, 504).
    Upstream(UpstreamFailure),
    /// Something keyward needs is unavailable (audit sink, a secret source): fail closed (503).
    Unavailable(Unavailable),
    /// keyward itself failed; fail closed (500).
    Internal(String),
}

/// Which of a rule's limits is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// `limits.rate:`, requests per window.
    Rate,
    /// `limits.tokens:`, the LLM tokens responses reported.
    Tokens,
    /// An action's own `limits.rate:`.
    ActionRate,
}

/// How a refusal is answered, besides its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// The response status.
    pub status: StatusCode,
    /// The short error kind in the JSON body (`denied`, `bad_request`).
    pub error: &'static str,
    /// The decision: sent in the [`DECISION_HEADER`] and recorded in the audit entry.
    pub decision: Decision,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'a RuleId>,
    reason: &'a str,
    request_id: &'a str,
}

impl Refusal {
    /// A policy denial with no rule (default deny).
    pub fn default_deny(reason: impl Into<Denial>) -> Self {
        Refusal::Denied {
            rule: None,
            reason: reason.into(),
        }
    }

    /// Status, short error kind and decision.
    pub fn parts(&self) -> Parts {
        let (status, error, decision) = match self {
            Refusal::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", Decision::Error),
            Refusal::UriTooLong(_) => (StatusCode::URI_TOO_LONG, "uri_too_long", Decision::Deny),
            Refusal::TooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                Decision::Deny,
            ),
            Refusal::MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                Decision::Deny,
            ),
            Refusal::Misdirected(_) => (
                StatusCode::MISDIRECTED_REQUEST,
                "misdirected",
                Decision::Deny,
            ),
            Refusal::ProxyAuth(_) => (
                StatusCode::PROXY_AUTHENTICATION_REQUIRED,
                "proxy_auth_required",
                Decision::Deny,
            ),
            Refusal::Denied { .. } | Refusal::GraphqlDenied(_) => {
                (StatusCode::FORBIDDEN, "denied", Decision::Deny)
            }
            Refusal::McpDenied(denial)
                if denial.answered_on_stream
                    || denial.calls.calls.iter().all(|c| c.call.id.is_none()) =>
            {
                (StatusCode::ACCEPTED, "denied", Decision::Deny)
            }
            Refusal::McpDenied(_) => (StatusCode::OK, "denied", Decision::Deny),
            Refusal::RateLimited { .. } | Refusal::GraphqlRateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                Decision::RateLimited,
            ),
            Refusal::Upstream(UpstreamFailure::Refused(_)) => {
                (StatusCode::FORBIDDEN, "destination_refused", Decision::Deny)
            }
            Refusal::Upstream(UpstreamFailure::Timeout(_)) => (
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                Decision::Error,
            ),
            Refusal::Upstream(_) => (StatusCode::BAD_GATEWAY, "upstream_failed", Decision::Error),
            Refusal::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                Decision::Error,
            ),
            Refusal::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                Decision::Error,
            ),
        };
        Parts {
            status,
            error,
            decision,
        }
    }

    /// The reason text.
    pub fn reason(&self) -> String {
        match self {
            Refusal::BadRequest(cause) => cause.to_string(),
            Refusal::TooLarge(cause) => cause.to_string(),
            Refusal::MethodNotAllowed(cause) => cause.to_string(),
            Refusal::Misdirected(cause) => cause.to_string(),
            Refusal::ProxyAuth(cause) => cause.to_string(),
            Refusal::Unavailable(cause) => cause.to_string(),
            Refusal::Upstream(failure) => failure.reason(),
            Refusal::UriTooLong(reason) | Refusal::Internal(reason) => reason.clone(),
            Refusal::Denied { reason, .. } => reason.to_string(),
            Refusal::McpDenied(denial) => denial.reason.clone(),
            Refusal::GraphqlDenied(denial) => denial.reason.clone(),
            Refusal::RateLimited {
                limit: Limited::Rate,
                ..
            }
            | Refusal::GraphqlRateLimited {
                limit: Limited::Rate,
                ..
            } => "rate limit exceeded".to_owned(),
            Refusal::RateLimited {
                limit: Limited::Tokens,
                ..
            }
            | Refusal::GraphqlRateLimited {
                limit: Limited::Tokens,
                ..
            } => "token budget spent".to_owned(),
            Refusal::RateLimited {
                limit: Limited::ActionRate,
                ..
            }
            | Refusal::GraphqlRateLimited {
                limit: Limited::ActionRate,
                ..
            } => "the action's rate limit exceeded".to_owned(),
        }
    }

    /// The rule that decided, when one did.
    pub fn rule(&self) -> Option<&RuleId> {
        match self {
            Refusal::Denied { rule, .. } => rule.as_ref(),
            Refusal::McpDenied(denial) => denial.rule.as_ref(),
            Refusal::GraphqlDenied(denial) => denial.rule.as_ref(),
            Refusal::RateLimited { rule, .. } | Refusal::GraphqlRateLimited { rule, .. } => {
                Some(rule)
            }
            _ => None,
        }
    }

    /// Whether the connection closes after the answer: what follows a malformed request
    /// (or a body left unread) on the wire cannot be trusted to start where the parser
    /// thinks it does.
    pub fn closes_connection(&self) -> bool {
        matches!(self, Refusal::BadRequest(_) | Refusal::TooLarge(_))
    }

    /// The JSON body of the answer: JSON-RPC errors for MCP calls (empty when none has an
    /// id), else keyward's own error object.
    fn json(&self, request_id: &RequestId) -> Vec<u8> {
        if let Refusal::McpDenied(denial) = self {
            if denial.answered_on_stream {
                return Vec::new();
            }
            return denial.body(request_id).unwrap_or_default();
        }
        if let Refusal::GraphqlDenied(denial) = self {
            return denial.body(request_id);
        }
        if let Refusal::GraphqlRateLimited { rule, .. } = self {
            return graphql::rate_limited_body(rule, request_id);
        }
        serde_json::to_vec(&Body {
            error: self.parts().error,
            rule: self.rule(),
            reason: &self.reason(),
            request_id: request_id.as_str(),
        })
        .unwrap_or_else(|_| b"{\"error\":\"internal\"}".to_vec())
    }

    /// The whole HTTP/1.1 answer as bytes, for a refusal written below hyper (a request
    /// line too long for hyper to parse); the connection closes after it.
    pub fn to_http1_bytes(&self, request_id: &RequestId) -> Vec<u8> {
        let Parts {
            status, decision, ..
        } = self.parts();
        let json = self.json(request_id);
        let mut out = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\n{DECISION_HEADER}: {decision}\r\ncache-control: no-store\r\nkeyward-request-id: {}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            request_id.as_str(),
            json.len()
        )
        .into_bytes();
        out.extend_from_slice(&json);
        out
    }

    /// The response the agent receives.
    pub fn into_response(&self, request_id: &RequestId) -> Response<ProxyBody> {
        let Parts {
            status, decision, ..
        } = self.parts();
        let json = self.json(request_id);
        let empty = json.is_empty();
        let sse = matches!(self, Refusal::McpDenied(d) if d.sse) && !empty;
        let (content_type, json) = if sse {
            ("text/event-stream", jsonrpc::sse_event(&json))
        } else {
            ("application/json", json)
        };
        let mut resp = Response::new(body::full(json));
        *resp.status_mut() = status;
        let headers = resp.headers_mut();
        if !empty {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        headers.insert(DECISION_HEADER, HeaderValue::from_static(decision.as_str()));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Refusal::RateLimited { retry_after, .. }
        | Refusal::GraphqlRateLimited { retry_after, .. } = self
        {
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if matches!(self, Refusal::ProxyAuth(_)) {
            headers.insert(
                header::PROXY_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"keyward\""),
            );
        }
        if let Ok(id) = HeaderValue::from_str(request_id.as_str()) {
            headers.insert("keyward-request-id", id);
        }
        resp
    }
}

macro_rules! refusal_from {
    ($($cause:ty => $variant:ident),* $(,)?) => {
        $(
            impl From<$cause> for Refusal {
                fn from(cause: $cause) -> Self {
                    Refusal::$variant(cause.into())
                }
            }
        )*
    };
}

// Each typed cause becomes its refusal with `?` or `.map_err(Refusal::from)`.
refusal_from! {
    BadRequest => BadRequest,
    HeadFinding => BadRequest,
    NormalizeError => BadRequest,
    AmbiguousPath => BadRequest,
    BodyReadError => BadRequest,
    MethodRefused => MethodNotAllowed,
    Misdirected => Misdirected,
    AuthError => ProxyAuth,
    Unavailable => Unavailable,
    InjectError => Unavailable,
    UpstreamFailure => Upstream,
}

#[cfg(test)]
mod tests;
