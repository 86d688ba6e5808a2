//! Credential injection into request bodies (`inject_body: true`), with Content-Length fixed,
//! and refused when the rule does not ask for it.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::support::agent::Proto;
use crate::support::upstream::{echo, full};
use crate::support::{Handler, Harness};

const PLACEHOLDER: &str = "keyward:hook:00112233445566778899";
const VALUE: &str = "real-hook-secret-value-42";

/// Answers whether the body it received holds the real value, and its declared length.
fn body_checker() -> Handler {
    Arc::new(|req: http::Request<hyper::body::Incoming>| {
        Box::pin(async move {
            let declared = req
                .headers()
                .get("content-length")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let text = String::from_utf8_lossy(&body);
            let verdict = if text.contains(VALUE) {
                "real"
            } else if text.contains("keyward:") {
                "placeholder"
            } else {
                "none"
            };
            let len_ok = declared.is_none_or(|d| d == body.len().to_string());
            Response::new(full(format!("{verdict} {len_ok}")))
        })
    })
}

#[tokio::test]
async fn placeholders_in_bodies_are_injected_only_where_the_rule_says_so() {
    let h = Harness::new()
        .upstream(&["hooks.example.com"], body_checker())
        .file("hook", VALUE)
        .rules(
            "hooks.yaml",
            &format!(
                "secrets:\n  hook:\n    from: file:$FILES/hook\n    placeholder: {PLACEHOLDER}\n    hosts: [hooks.example.com]\nrules:\n  - id: post-with-body\n    method: POST\n    url: https://hooks.example.com/body\n    inject: [hook]\n    inject_body: true\n    decision: allow\n  - id: post-headers-only\n    method: POST\n    url: https://hooks.example.com/headers\n    inject: [hook]\n    decision: allow\n",
            ),
        )
        .start()
        .await;
    let (keyward, upstream) = (&h.keyward, h.upstream());
    let json = format!("{{\"token\":\"{PLACEHOLDER}\",\"n\":1}}");
    for proto in [Proto::H1, Proto::H2] {
        let req = Request::post("https://hooks.example.com/body")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(json.clone())))
            .unwrap();
        let reply = keyward.agent().send(proto, req).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            &reply.body[..],
            b"real true",
            "the upstream got the value with a matching length"
        );
    }
    let req = Request::post("https://hooks.example.com/headers")
        .body(Full::new(Bytes::from(json)))
        .unwrap();
    let reply = keyward.agent().send(Proto::H1, req).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.reason().contains("not injected by the allowing rule"));
    assert_eq!(upstream.count(), 2);
}

#[tokio::test]
async fn a_decompression_bomb_in_a_request_body_is_denied_and_not_forwarded() {
    use std::io::Write;
    let h = Harness::new()
        .upstream(&["hooks.example.com"], body_checker())
        .rules(
            "upload.yaml",
            "rules:\n  - id: upload\n    method: POST\n    url: https://hooks.example.com/upload\n    body:\n      max_size: 64KiB\n      json:\n        /kind: { one_of: [report] }\n    decision: allow\n",
        )
        .start()
        .await;
    let (keyward, upstream) = (&h.keyward, h.upstream());
    // 64 MiB of spaces around a valid document, gzip'd to well under 64 KiB.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(b"{\"kind\":\"report\"").unwrap();
    e.write_all(&vec![b' '; 64 * 1024 * 1024]).unwrap();
    e.write_all(b"}").unwrap();
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 64 * 1024);
    let req = Request::post("https://hooks.example.com/upload")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(Full::new(Bytes::from(bomb)))
        .unwrap();
    let reply = keyward.agent().send(Proto::H1, req).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
    assert!(reply.reason().contains("decoded"), "{:?}", reply.json());
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn rotated_file_secret_applies_without_restart_and_a_failing_source_fails_closed() {
    let h = Harness::new()
        .upstream(&["hooks.example.com"], echo())
        .file("hook", "first-secret-value-0001")
        .rules(
            "hooks.yaml",
            "secrets:\n  hook:\n    from: file:$FILES/hook\n    hosts: [hooks.example.com]\n  broken:\n    from: [sh, -c, 'exit 3']\n    hosts: [hooks.example.com]\nrules:\n  - id: with-hook\n    method: GET\n    url: https://hooks.example.com/hook\n    inject: [hook]\n    set_headers: { Authorization: 'Bearer {{hook}}' }\n    decision: allow\n  - id: with-broken\n    method: GET\n    url: https://hooks.example.com/broken\n    inject: [broken]\n    set_headers: { Authorization: 'Bearer {{broken}}' }\n    decision: allow\n",
        )
        .start()
        .await;
    let (keyward, upstream) = (&h.keyward, h.upstream());
    let secret_file = h.files_dir().join("hook");
    assert_eq!(
        keyward
            .agent()
            .get_status(Proto::H1, "https://hooks.example.com/hook")
            .await,
        StatusCode::OK
    );
    std::fs::write(&secret_file, "second-secret-value-0002-rotated").unwrap();
    assert_eq!(
        keyward
            .agent()
            .get_status(Proto::H1, "https://hooks.example.com/hook")
            .await,
        StatusCode::OK
    );
    let seen: Vec<String> = upstream
        .seen()
        .iter()
        .map(|s| s.headers["authorization"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        seen,
        [
            "Bearer first-secret-value-0001",
            "Bearer second-secret-value-0002-rotated"
        ]
    );
    let broken = keyward
        .agent()
        .get(Proto::H1, "https://hooks.example.com/broken")
        .await;
    assert_eq!(broken.status, StatusCode::SERVICE_UNAVAILABLE);
    let reason = broken.reason().to_owned();
    assert!(
        reason.contains("secret broken is unavailable") && reason.contains("exited with"),
        "{reason}"
    );
    assert_eq!(
        upstream.count(),
        2,
        "nothing forwarded without its credential"
    );
}

#[tokio::test]
async fn a_placeholder_over_plain_http_is_refused() {
    let copy = crate::support::rules::example_rules();
    let h = Harness::new()
        .plain_upstream(&["plain.example"], echo())
        .allow("plain.example")
        .rules_dir(copy.path())
        .start()
        .await;
    let (keyward, upstream) = (&h.keyward, h.upstream());
    let req = Request::get("http://plain.example/")
        .header("authorization", "Bearer keyward:github:7f3c9a1e5b2d4c8e")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = keyward.agent().plain(req).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.reason().contains("only over TLS"));
    assert_eq!(upstream.count(), 0);
}
