//! Every path of a request writes exactly one audit entry — upstream failure, a client that
//! goes away mid-response, bad requests, 407 and 400 on the proxy port (also counted in the
//! metrics) — and the log verifies and tails with the CLI.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;

use crate::support::agent::Proto;
use crate::support::upstream::{BoxError, TestBody, echo};
use crate::support::{Handler, Keyward, TestCa, Upstream, eventually_async};

/// A body that sends one chunk and then never ends.
fn endless() -> Handler {
    Arc::new(|_req| {
        Box::pin(async move {
            let first = futures_util::stream::once(async {
                Ok::<_, BoxError>(Frame::data(Bytes::from_static(b"partial")))
            });
            let body: TestBody = BodyExt::boxed(StreamBody::new(
                first.chain(futures_util::stream::pending()),
            ));
            Response::new(body)
        })
    })
}

async fn entries(keyward: &Keyward, at_least: usize) -> Vec<serde_json::Value> {
    let audit = keyward.running.handles().audit().unwrap().clone();
    let what = format!("{at_least} audit entries");
    eventually_async(&what, Duration::from_secs(2), async || {
        audit.flush().await;
        let text = std::fs::read_to_string(keyward.audit_path()).unwrap_or_default();
        (text.lines().count() >= at_least).then(|| {
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        })
    })
    .await
}

use futures_util::StreamExt;

#[tokio::test]
async fn failures_and_disconnects_each_leave_one_entry() {
    let ca = TestCa::new();
    let rogue = TestCa::new();
    let untrusted = Upstream::https(&rogue, &["bad.example"], &[b"http/1.1"], echo()).await;
    let slow = Upstream::https(&ca, &["slow.example"], &[b"http/1.1"], endless()).await;
    let keyward = Keyward::start(
        &ca,
        &[
            ("bad.example:443", untrusted.addr),
            ("slow.example:443", slow.addr),
        ],
        &["bad.example", "slow.example"],
        |_| {},
    )
    .await;
    let agent = keyward.agent();
    assert_eq!(
        agent.get_status(Proto::H1, "https://bad.example/").await,
        StatusCode::BAD_GATEWAY
    );
    // The agent reads the head and the first chunk, then goes away.
    let tcp = agent.connect("slow.example:443").await.unwrap();
    let tls = agent
        .tls(tcp, "slow.example", &[b"http/1.1"])
        .await
        .unwrap();
    let (mut s, c) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    let conn = tokio::spawn(c);
    let req = http::Request::get("/stream")
        .header("host", "slow.example")
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let resp = s.send_request(req).await.unwrap();
    let mut body = resp.into_body();
    let _ = body.frame().await;
    drop(body);
    drop(s);
    conn.abort();
    let all = entries(&keyward, 2).await;
    assert_eq!(all.len(), 2, "{all:?}");
    let failed = all.iter().find(|e| e["host"] == "bad.example").unwrap();
    assert_eq!(failed["decision"], "error");
    assert_eq!(failed["status"], 502);
    let gone = all.iter().find(|e| e["host"] == "slow.example").unwrap();
    assert_eq!(gone["decision"], "allow");
    assert_eq!(
        gone["bytes_out"], 7,
        "counted what reached the agent before it left"
    );

    // The CLI verifies the chain and tails it readably.
    let path = keyward.audit_path();
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["audit", "verify"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let tail = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["audit", "tail", "--decision", "error", "--file"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&tail.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("bad.example"), "{text}");
    // An edited entry breaks the chain, and verify says where.
    let edited =
        std::fs::read_to_string(&path)
            .unwrap()
            .replacen("\"status\":502", "\"status\":200", 1);
    std::fs::write(&path, edited).unwrap();
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["audit", "verify"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("audit.jsonl:1: hash mismatch"),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

#[tokio::test]
async fn refusals_on_the_proxy_port_are_recorded_and_counted_like_exchanges() {
    let s = crate::runtime::Scene::start(|_| {}).await;
    // 407 for a CONNECT and for a plain request without credentials; 400 for an agent that
    // authenticated but sent an origin-form request.
    let connect = s
        .keyward
        .agent()
        .connect("api.example.com:443")
        .await
        .unwrap_err();
    assert_eq!(connect.status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    let plain = s
        .keyward
        .agent()
        .plain(
            http::Request::get("http://api.example.com/x")
                .body(http_body_util::Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(plain.status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    let origin = s
        .alice()
        .plain(
            http::Request::get("/not-a-proxy-request")
                .header("host", "api.example.com")
                .body(http_body_util::Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(origin.status, StatusCode::BAD_REQUEST);
    let origin_id = origin.json()["request_id"].as_str().unwrap().to_owned();

    let all = entries(&s.keyward, 3).await;
    assert_eq!(all.len(), 3, "{all:#?}");
    for e in &all {
        assert_eq!(
            (&e["scheme"], &e["host"], &e["port"]),
            (&"-".into(), &"-".into(), &0.into())
        );
    }
    let denied: Vec<_> = all.iter().filter(|e| e["status"] == 407).collect();
    assert_eq!(denied.len(), 2, "{all:#?}");
    assert!(
        denied
            .iter()
            .all(|e| e["decision"] == "deny" && e.get("agent").is_none())
    );
    let bad = all
        .iter()
        .find(|e| e["request_id"] == origin_id.as_str())
        .unwrap();
    assert_eq!(bad["decision"], "error", "{bad}");
    assert_eq!(bad["status"], 400, "{bad}");
    assert_eq!(bad["agent"], "alice", "{bad}");
    assert_eq!(bad["path"], "/not-a-proxy-request", "{bad}");

    let (status, text) = crate::runtime::admin(s.admin(), "GET", "/metrics", "").await;
    assert_eq!(status, StatusCode::OK);
    for (labels, count) in [
        (r#"{decision="deny",rule="",agent=""}"#, "2"),
        (r#"{decision="error",rule="",agent="alice"}"#, "1"),
    ] {
        let line = format!("keyward_requests_total{labels} {count}");
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    assert_eq!(s.upstream.count(), 0);
}
