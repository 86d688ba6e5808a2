//! Absolute-form plain `http://` requests, and what else the proxy port refuses with 400.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;

use crate::support::Harness;
use crate::support::harness::Running;
use crate::support::upstream::echo;

/// keyward in front of a plain-HTTP echo upstream for plain.example, which is allowed over
/// plain HTTP if `allowed`.
async fn plain_example(allowed: bool) -> Running {
    let h = Harness::new().plain_upstream(&["plain.example"], echo());
    let h = if allowed { h.allow("plain.example") } else { h };
    h.start().await
}

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

#[tokio::test]
async fn absolute_form_http_is_forwarded_to_a_pinned_upstream() {
    let h = plain_example(true).await;
    let (keyward, upstream) = (&h.keyward, h.upstream());
    let req = Request::post("http://plain.example/submit?q=1")
        .header("host", "plain.example")
        .header("proxy-connection", "keep-alive")
        .body(Full::new(Bytes::from_static(b"hello")))
        .unwrap();
    let reply = keyward.agent().plain(req).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let echoed = reply.json();
    assert_eq!(echoed["path"], "/submit");
    assert_eq!(echoed["body"], "hello");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "/submit?q=1", "origin-form upstream");
    assert!(!seen[0].headers.contains_key("proxy-connection"));
}

#[tokio::test]
async fn non_proxy_requests_and_https_absolute_form_are_400() {
    let h = plain_example(true).await;
    let (keyward, upstream) = (&h.keyward, h.upstream());
    let agent = keyward.agent();
    let origin = Request::get("/")
        .header("host", "plain.example")
        .body(empty())
        .unwrap();
    let reply = agent.plain(origin).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.reason().contains("not a proxy request"));
    let https = Request::get("https://plain.example/")
        .body(empty())
        .unwrap();
    let reply = agent.plain(https).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.reason().contains("CONNECT"));
    let fronted = Request::get("http://plain.example/")
        .header("host", "other.example")
        .body(empty())
        .unwrap();
    let reply = agent.plain(fronted).await;
    assert_eq!(reply.status, StatusCode::MISDIRECTED_REQUEST);
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn trace_and_track_are_refused() {
    let h = plain_example(true).await;
    let (keyward, upstream) = (&h.keyward, h.upstream());
    for method in ["TRACE", "TRACK"] {
        let req = Request::builder()
            .method(method)
            .uri("http://plain.example/")
            .body(empty())
            .unwrap();
        let reply = keyward.agent().plain(req).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(reply.headers["keyward-decision"], "deny");
    }
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn default_deny_for_plain_http_names_the_reason() {
    let h = plain_example(false).await;
    let (keyward, upstream) = (&h.keyward, h.upstream());
    let req = Request::get("http://plain.example/").body(empty()).unwrap();
    let reply = keyward.agent().plain(req).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let json = reply.json();
    assert_eq!(json["error"], "denied");
    assert!(reply.reason().contains("no rule allows"), "{json}");
    assert_eq!(upstream.count(), 0);
}
