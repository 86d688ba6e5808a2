//! The refusal's rendering: statuses, the decision header, and reason texts and JSON
//! bodies word for word as agents and audit readers have always seen them.

use super::*;
use http_body_util::BodyExt;

#[tokio::test]
async fn denial_carries_rule_reason_and_request_id() {
    let id = RequestId::new();
    let resp = Refusal::Denied {
        rule: Some("github-create-issue".into()),
        reason: Denial::Policy("label not allowed".into()),
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
    use crate::upstream::{Timeout, TlsFailure, UpstreamError};
    let s = |f| Refusal::Upstream(f).parts().status;
    assert_eq!(
        s(UpstreamFailure::Timeout(Timeout::ResponseHead(
            std::time::Duration::from_secs(1)
        ))),
        StatusCode::GATEWAY_TIMEOUT
    );
    assert_eq!(
        s(UpstreamFailure::Tls(TlsFailure::Failed("t".into()))),
        StatusCode::BAD_GATEWAY
    );
    assert_eq!(
        s(UpstreamFailure::Refused(UpstreamError::Refused {
            target: "t".into(),
            addr: [127, 0, 0, 1].into(),
            reason: "loopback",
        })),
        StatusCode::FORBIDDEN
    );
}

/// Every typed cause renders the text the agent was sent when causes were strings.
#[test]
fn typed_causes_render_the_same_reason_texts() {
    use crate::credentials::agents::AuthError;
    use crate::target::{Target, TargetError};
    use crate::upstream::{ProtocolFailure, Timeout, TlsFailure};

    let target = Target::parse_authority("api.example.com:443").unwrap();
    let cases: Vec<(Refusal, &str)> = vec![
        (
            BadRequest::ConnectWithScheme {
                uri: "http://a.example:80/".parse().unwrap(),
                scheme: "http".into(),
            }
            .into(),
            "CONNECT target http://a.example:80/ carries a scheme (http://); send CONNECT host:port",
        ),
        (
            BadRequest::ConnectTarget {
                raw: "a:b".into(),
                source: TargetError::Port("b".into()),
            }
            .into(),
            "invalid CONNECT target \"a:b\": invalid port \"b\"",
        ),
        (
            BadRequest::NoAuthority.into(),
            "absolute-form URI without a host",
        ),
        (
            BadRequest::AbsoluteScheme("https".into()).into(),
            "absolute-form https:// requests are refused; use CONNECT for HTTPS",
        ),
        (
            BadRequest::NotProxyRequest.into(),
            "not a proxy request: send CONNECT host:port or an absolute-form http:// URI",
        ),
        (
            BadRequest::TransferEncoding("gzip, chunked".into()).into(),
            "Transfer-Encoding \"gzip, chunked\" is refused; only `chunked` is accepted",
        ),
        (
            BadRequest::Authority {
                what: "Host header",
                raw: "a:x".into(),
                source: TargetError::Port("x".into()),
            }
            .into(),
            "invalid Host header \"a:x\": invalid port \"x\"",
        ),
        (
            MethodRefused::Echo(http::Method::TRACE).into(),
            "TRACE is refused",
        ),
        (
            Misdirected::NotTunnelTarget {
                what: "Host header",
                raw: "b.example".into(),
                target: target.clone(),
            }
            .into(),
            "Host header b.example does not match the tunnel target api.example.com:443",
        ),
        (
            Unavailable::AuditBacklogged.into(),
            "audit log writer is behind; retry shortly",
        ),
        (
            Refusal::default_deny(Denial::NoRuleFor(target)),
            "no rule allows requests to api.example.com:443",
        ),
        (
            Refusal::TooLarge(BodyError::TooLarge { max_size: 1024 }),
            "body too large to inspect (limit 1024 bytes)",
        ),
        (AuthError::Rejected.into(), "unknown agent or wrong token"),
        (
            UpstreamFailure::Timeout(Timeout::ResponseHead(std::time::Duration::from_secs(30)))
                .into(),
            "upstream did not answer within 30s",
        ),
        (
            UpstreamFailure::Tls(TlsFailure::Untrusted("UnknownIssuer".into())).into(),
            "upstream certificate not trusted: UnknownIssuer",
        ),
        (
            UpstreamFailure::Protocol(ProtocolFailure::AmbiguousFraming("two Content-Length"))
                .into(),
            "upstream response framing is ambiguous (two Content-Length); not forwarded",
        ),
    ];
    for (refusal, text) in cases {
        assert_eq!(refusal.reason(), text, "{refusal:?}");
    }
}

/// The JSON body keeps its field names, order and plain-string rule id.
#[test]
fn the_json_body_is_unchanged() {
    let id = RequestId::new();
    let refusal = Refusal::RateLimited {
        rule: "search".into(),
        retry_after: std::time::Duration::from_secs(1),
        limit: Limited::Rate,
    };
    assert_eq!(
        String::from_utf8(refusal.json(&id)).unwrap(),
        format!(
            "{{\"error\":\"rate_limited\",\"rule\":\"search\",\"reason\":\"rate limit exceeded\",\"request_id\":\"{}\"}}",
            id.as_str()
        )
    );
    assert_eq!(refusal.parts().decision, Decision::RateLimited);
    assert_eq!(
        Refusal::from(BadRequest::NoHost).parts().decision,
        Decision::Error
    );
}

/// A denial of one MCP call without a rule (the default deny).
fn mcp_denial(batch: bool, ids: &[Option<serde_json::Value>]) -> Refusal {
    use crate::policy::{McpCall, McpCallDecision, McpDecision, Verdict};
    let calls = ids
        .iter()
        .enumerate()
        .map(|(index, id)| McpCallDecision {
            call: McpCall {
                index,
                id: id.clone(),
                method: "tools/call".into(),
                tool: Some("merge".into()),
                resource: None,
                arguments: None,
            },
            verdict: Verdict::Deny,
            rule: None,
            reason: "no rule allows this request".into(),
        })
        .collect();
    Refusal::McpDenied(McpDenial {
        sse: false,
        answered_on_stream: false,
        rule: None,
        reason: "no rule allows this request".into(),
        calls: McpDecision {
            batch,
            calls,
            deciding: 0,
        },
    })
}

#[tokio::test]
async fn an_mcp_denial_is_a_json_rpc_error_with_the_call_id() {
    let id = RequestId::new();
    let refusal = mcp_denial(false, &[Some(serde_json::json!("x-1"))]);
    assert_eq!(refusal.reason(), "no rule allows this request");
    let resp = refusal.into_response(&id);
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[DECISION_HEADER], "deny");
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"jsonrpc":"2.0","id":"x-1","error":{"code":DENIED_CODE,
            "message":"keyward denied tools/call merge: no rule allows this request",
            "data":{"decision":"deny","reason":"no rule allows this request","request_id":id.as_str()}}})
    );
}

#[tokio::test]
async fn a_denied_batch_answers_each_call_with_an_id_and_notifications_not_at_all() {
    let id = RequestId::new();
    let resp = mcp_denial(true, &[None, Some(serde_json::json!(9))]).into_response(&id);
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v[0]["id"], 9);

    let resp = mcp_denial(true, &[None]).into_response(&id);
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert!(resp.headers().get(header::CONTENT_TYPE).is_none());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(bytes.is_empty());
}

/// A spent token budget answers 429 naming the rule, the reason and the wait.
#[test]
fn a_spent_token_budget_is_a_429_with_retry_after() {
    let id = RequestId::new();
    let refusal = Refusal::RateLimited {
        rule: "llm".into(),
        retry_after: std::time::Duration::from_millis(2500),
        limit: Limited::Tokens,
    };
    let resp = refusal.into_response(&id);
    assert_eq!(resp.status(), http::StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()[http::header::RETRY_AFTER], "3");
    assert_eq!(
        String::from_utf8(refusal.json(&id)).unwrap(),
        format!(
            "{{\"error\":\"rate_limited\",\"rule\":\"llm\",\"reason\":\"token budget spent\",\"request_id\":\"{}\"}}",
            id.as_str()
        )
    );
}
