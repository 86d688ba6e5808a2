//! Requests refused for what their head or body leaves ambiguous, through the running proxy
//! with hand-written bytes: a CONNECT target with a scheme, a `#` in a request target,
//! `Content-Length` beside `Transfer-Encoding` (400); a request line over the head limit
//! (414); a chunked body over the inspection limit (413); a JSON body with a duplicated key
//! on an inspected path (403). Each answer carries its reason and has an audit entry, and
//! nothing reaches the upstream.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;

use crate::path_spellings::{assert_refused, entry};
use crate::support::Harness;
use crate::support::agent::Proto;
use crate::support::raw::{entries_with_reason, in_tunnel, on_proxy_port};
use crate::support::widgets::{HOST, PLAIN, Rig};

const LIMIT: usize = 16 * 1024;

const RULES: &str = r#"rules:
  - id: issues-{host}
    method: POST
    url: "*://{host}/issues"
    body:
      max_size: 1KiB
      json:
        /labels/*: { one_of: [bug, triage] }
    decision: allow
  - id: read-{host}
    method: GET
    url: "*://{host}/**"
    decision: allow
"#;

async fn rig() -> Rig {
    let mut harness = Harness::new().config(|c| c.limits.max_header_bytes = LIMIT);
    for host in [HOST, PLAIN] {
        harness = harness.rules(&format!("{host}.yaml"), &RULES.replace("{host}", host));
    }
    Rig::start(harness).await
}

/// `bytes` in a tunnel to the HTTPS host (target `path`) and on the proxy port to the plain
/// host (target `http://plain…path`), each checked as a refusal.
async fn refused_both_ways(rig: &Rig, head: &str, path: &str, rest: &str, status: u16, why: &str) {
    let tunnel = format!("{head} {path} HTTP/1.1\r\nHost: {HOST}\r\n{rest}");
    let reply = in_tunnel(&rig.keyward, "api.widgets.example:443", tunnel.as_bytes()).await;
    assert_refused(&rig.keyward, &reply, status, why).await;
    let plain = format!("{head} http://{PLAIN}{path} HTTP/1.1\r\nHost: {PLAIN}\r\n{rest}");
    let reply = on_proxy_port(&rig.keyward, plain.as_bytes()).await;
    assert_refused(&rig.keyward, &reply, status, why).await;
}

#[tokio::test]
async fn a_connect_target_with_a_scheme_is_refused() {
    let rig = rig().await;
    for target in [
        "https://api.widgets.example:443",
        "http://api.widgets.example:443",
    ] {
        let bytes = format!("CONNECT {target} HTTP/1.1\r\nHost: api.widgets.example:443\r\n\r\n");
        let reply = on_proxy_port(&rig.keyward, bytes.as_bytes()).await;
        assert_refused(&rig.keyward, &reply, 400, "carries a scheme").await;
    }
    rig.assert_none_reached();
}

#[tokio::test]
async fn a_fragment_in_a_request_target_is_refused() {
    let rig = rig().await;
    for path in ["/repos/x#/../admin", "/issues#", "/a?q=1#frag"] {
        refused_both_ways(
            &rig,
            "GET",
            path,
            "Connection: close\r\n\r\n",
            400,
            "contains `#`",
        )
        .await;
    }
    let connect =
        "CONNECT api.widgets.example:443#x HTTP/1.1\r\nHost: api.widgets.example:443\r\n\r\n";
    let reply = on_proxy_port(&rig.keyward, connect.as_bytes()).await;
    assert_eq!(reply.statuses(), vec![400], "{reply:?}");
    rig.assert_none_reached();
}

#[tokio::test]
async fn content_length_beside_transfer_encoding_is_refused_in_either_order() {
    let rig = rig().await;
    let body = "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    for framing in [
        format!(
            "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
            body.len()
        ),
        format!(
            "Transfer-Encoding: chunked\r\nContent-Length: {}\r\n",
            body.len()
        ),
    ] {
        let rest = format!("Content-Type: application/json\r\n{framing}\r\n{body}");
        refused_both_ways(
            &rig,
            "POST",
            "/issues",
            &rest,
            400,
            "both Content-Length and Transfer-Encoding",
        )
        .await;
    }
    rig.assert_none_reached();
}

#[tokio::test]
async fn a_request_line_over_the_head_limit_is_414() {
    let rig = rig().await;
    let long = format!("/{}", "a".repeat(LIMIT + 100));
    let mut ids = Vec::new();
    for (tunnel, bytes) in [
        (true, format!("GET {long} HTTP/1.1\r\nHost: {HOST}\r\n\r\n")),
        (
            false,
            format!("GET http://{PLAIN}{long} HTTP/1.1\r\nHost: {PLAIN}\r\n\r\n"),
        ),
    ] {
        let reply = if tunnel {
            in_tunnel(&rig.keyward, "api.widgets.example:443", bytes.as_bytes()).await
        } else {
            on_proxy_port(&rig.keyward, bytes.as_bytes()).await
        };
        assert_eq!(
            reply.statuses(),
            vec![414],
            "{}",
            &reply.text[..reply.text.len().min(400)]
        );
        assert!(reply.closed);
        let json = crate::path_spellings::json_of(&reply);
        assert_eq!(json["error"], "uri_too_long", "{json}");
        assert!(
            json["reason"]
                .as_str()
                .unwrap()
                .contains("16384-byte head limit"),
            "{json}"
        );
        ids.push(json["request_id"].as_str().unwrap().to_owned());
    }
    // Written when each connection ends, just after the agent read the answer.
    let logged = entries_with_reason(&rig.keyward, "request line longer than", 2).await;
    assert_eq!(logged.len(), 2, "{logged:#?}");
    for id in &ids {
        let e = logged
            .iter()
            .find(|e| e["request_id"] == id.as_str())
            .unwrap();
        assert_eq!(e["status"], 414, "{e}");
    }
    // A long line under the limit is still served.
    let ok = format!(
        "GET /{} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n",
        "a".repeat(LIMIT / 2)
    );
    let reply = in_tunnel(&rig.keyward, "api.widgets.example:443", ok.as_bytes()).await;
    assert_eq!(reply.statuses(), vec![200]);
    assert_eq!(rig.reached(), 1);
}

#[tokio::test]
async fn a_chunked_body_over_the_inspection_limit_is_413() {
    let rig = rig().await;
    let chunk = format!("{:x}\r\n{}\r\n", 4096, "x".repeat(4096));
    let body = format!("{}0\r\n\r\n", chunk.repeat(64));
    let rest = format!(
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{body}"
    );
    refused_both_ways(
        &rig,
        "POST",
        "/issues",
        &rest,
        413,
        "body too large to inspect (limit 1024 bytes)",
    )
    .await;
    // Over HTTP/2 too.
    let req = Request::post(format!("https://{HOST}/issues"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(vec![b'x'; 256 * 1024])))
        .unwrap();
    let reply = rig.keyward.agent().send(Proto::H2, req).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{reply:?}");
    let json = reply.json();
    assert!(
        json["reason"].as_str().unwrap().contains("body too large"),
        "{json}"
    );
    assert_eq!(
        entry(&rig.keyward, json["request_id"].as_str().unwrap()).await["status"],
        413
    );
    rig.assert_none_reached();
}

#[tokio::test]
async fn a_json_body_with_a_duplicated_key_on_an_inspected_path_is_refused() {
    let rig = rig().await;
    for (body, pointer) in [
        (r#"{"labels":["bug"],"labels":["wontfix"]}"#, "/labels"),
        (r#"{"labels":[{"x":1,"x":2}]}"#, "/labels/0/x"),
    ] {
        let rest = format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let why = format!("`{pointer}` more than once");
        refused_both_ways(&rig, "POST", "/issues", &rest, 403, &why).await;
        let req = Request::post(format!("https://{HOST}/issues"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let reply = rig.keyward.agent().send(Proto::H2, req).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
        assert!(reply.reason().contains(&why));
    }
    assert_eq!(rig.reached(), 0, "{:?}", rig.tls.seen());
    // A duplicate the rule does not look at changes nothing it decides on.
    let body = r#"{"title":"a","title":"b","labels":["bug"]}"#;
    let bytes = format!(
        "POST /issues HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let reply = in_tunnel(&rig.keyward, "api.widgets.example:443", bytes.as_bytes()).await;
    assert_eq!(reply.statuses(), vec![200], "{reply:?}");
}
