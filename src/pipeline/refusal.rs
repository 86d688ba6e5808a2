//! The one place where a failure becomes what the agent sees: a status, the
//! `keyward-decision` header and a short JSON body naming the rule or reason.

use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::body::{self, ProxyBody};
use crate::pipeline::exchange::RequestId;
use crate::upstream::UpstreamFailure;

/// Header telling the agent which decision produced a response keyward wrote itself.
pub const DECISION_HEADER: &str = "keyward-decision";

/// Why keyward answers an exchange itself instead of forwarding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The request is malformed or not a proxy request (400).
    BadRequest(String),
    /// The request line is longer than the head limit (414).
    UriTooLong(String),
    /// The body is larger than the rules inspect (413).
    TooLarge(String),
    /// The method is never forwarded, e.g. TRACE (405).
    MethodNotAllowed(String),
    /// The request names another host than its tunnel (421).
    Misdirected(String),
    /// The agent did not authenticate (407).
    ProxyAuth(String),
    /// The rule's rate limit is used up (429 with Retry-After).
    RateLimited {
        rule: String,
        retry_after: std::time::Duration,
    },
    /// Policy denied it (403).
    Denied {
        rule: Option<String>,
        reason: String,
    },
    /// Upstream failed; the status follows the failure (403 guard, 502, 504).
    Upstream(UpstreamFailure),
    /// Something keyward needs is unavailable (audit sink, a secret source): fail closed (503).
    Unavailable(String),
    /// keyward itself failed; fail closed (500).
    Internal(String),
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'a str>,
    reason: &'a str,
    request_id: &'a str,
}

impl Refusal {
    /// A policy denial with no rule (default deny).
    pub fn default_deny(reason: impl Into<String>) -> Self {
        Refusal::Denied {
            rule: None,
            reason: reason.into(),
        }
    }

    /// Status, short error kind and decision header value.
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Refusal::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", "error"),
            Refusal::UriTooLong(_) => (StatusCode::URI_TOO_LONG, "uri_too_long", "deny"),
            Refusal::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "deny"),
            Refusal::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "deny")
            }
            Refusal::Misdirected(_) => (StatusCode::MISDIRECTED_REQUEST, "misdirected", "deny"),
            Refusal::ProxyAuth(_) => (
                StatusCode::PROXY_AUTHENTICATION_REQUIRED,
                "proxy_auth_required",
                "deny",
            ),
            Refusal::Denied { .. } => (StatusCode::FORBIDDEN, "denied", "deny"),
            Refusal::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "rate_limited",
            ),
            Refusal::Upstream(UpstreamFailure::Refused(_)) => {
                (StatusCode::FORBIDDEN, "destination_refused", "deny")
            }
            Refusal::Upstream(UpstreamFailure::Timeout(_)) => {
                (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", "error")
            }
            Refusal::Upstream(_) => (StatusCode::BAD_GATEWAY, "upstream_failed", "error"),
            Refusal::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "error"),
            Refusal::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "error"),
        }
    }

    /// The reason text.
    pub fn reason(&self) -> &str {
        match self {
            Refusal::BadRequest(r)
            | Refusal::TooLarge(r)
            | Refusal::UriTooLong(r)
            | Refusal::MethodNotAllowed(r)
            | Refusal::Misdirected(r)
            | Refusal::Unavailable(r)
            | Refusal::ProxyAuth(r)
            | Refusal::Internal(r) => r,
            Refusal::Denied { reason, .. } => reason,
            Refusal::RateLimited { .. } => "rate limit exceeded",
            Refusal::Upstream(f) => f.reason(),
        }
    }

    /// The rule that decided, when one did.
    pub fn rule(&self) -> Option<&str> {
        match self {
            Refusal::Denied { rule, .. } => rule.as_deref(),
            Refusal::RateLimited { rule, .. } => Some(rule),
            _ => None,
        }
    }

    /// The JSON body of the answer.
    fn json(&self, request_id: &RequestId) -> Vec<u8> {
        serde_json::to_vec(&Body {
            error: self.parts().1,
            rule: self.rule(),
            reason: self.reason(),
            request_id: request_id.as_str(),
        })
        .unwrap_or_else(|_| b"{\"error\":\"internal\"}".to_vec())
    }

    /// The whole HTTP/1.1 answer as bytes, for a refusal written below hyper (a request
    /// line too long for hyper to parse); the connection closes after it.
    pub fn to_http1_bytes(&self, request_id: &RequestId) -> Vec<u8> {
        let (status, _, decision) = self.parts();
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
        let (status, _, decision) = self.parts();
        let json = self.json(request_id);
        let mut resp = Response::new(body::full(json));
        *resp.status_mut() = status;
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(DECISION_HEADER, HeaderValue::from_static(decision));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Refusal::RateLimited { retry_after, .. } = self {
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn denial_carries_rule_reason_and_request_id() {
        let id = RequestId::new();
        let resp = Refusal::Denied {
            rule: Some("github-create-issue".into()),
            reason: "label not allowed".into(),
        }
        .into_response(&id);
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(resp.headers()[DECISION_HEADER], "deny");
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["error"], "denied");
        assert_eq!(v["rule"], "github-create-issue");
        assert_eq!(v["reason"], "label not allowed");
        assert_eq!(v["request_id"], id.as_str());
    }

    #[test]
    fn upstream_failures_map_to_gateway_statuses() {
        let s = |f| Refusal::Upstream(f).parts().0;
        assert_eq!(
            s(UpstreamFailure::Timeout("t".into())),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(s(UpstreamFailure::Tls("t".into())), StatusCode::BAD_GATEWAY);
        assert_eq!(
            s(UpstreamFailure::Refused("t".into())),
            StatusCode::FORBIDDEN
        );
    }
}
