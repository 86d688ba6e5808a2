//! Token budgets against agents and streams: each agent has its own budget, a compressed
//! answer is read decoded, and an agent that hangs up mid-stream still spends what was
//! reported.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::support::Harness;
use crate::support::agent::Proto;
use crate::support::audit_log;
use crate::support::llm_providers::anthropic_messages;
use crate::support::upstream::{BoxError, Handler, full};

const AGENT_RULES: &str = r#"
agents:
  alice: { token: "file:$FILES/tokens/alice" }
  bob: { token: "file:$FILES/tokens/bob" }
rules:
  - id: messages
    method: POST
    url: https://api.anthropic.com/v1/messages
    limits: { tokens: 1000/hour }
    decision: allow
"#;

/// Anthropic's answer (1116 tokens), gzip-compressed as a provider may send it.
fn gzipped_messages() -> Handler {
    Arc::new(|req: Request<Incoming>| {
        Box::pin(async move {
            let _ = req.into_body().collect().await;
            let plain = anthropic_messages(false)
                .into_body()
                .collect()
                .await
                .unwrap();
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(&plain.to_bytes()).unwrap();
            Response::builder()
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(full(e.finish().unwrap()))
                .unwrap()
        })
    })
}

/// Budgets are per agent by default: alice spending hers leaves bob's whole; a compressed
/// answer is read decoded.
#[tokio::test]
async fn each_agent_has_its_own_budget_and_compressed_answers_are_read() {
    let h = Harness::new()
        .upstream(&["api.anthropic.com"], gzipped_messages())
        .file("tokens/alice", "alice-token-0123456789")
        .file("tokens/bob", "bob-token-9876543210")
        .rules("llm.yaml", AGENT_RULES)
        .start()
        .await;
    let alice = h
        .keyward
        .agent()
        .with_credentials("alice", "alice-token-0123456789");
    let bob = h
        .keyward
        .agent()
        .with_credentials("bob", "bob-token-9876543210");
    let call = || {
        Request::post("https://api.anthropic.com/v1/messages")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(
                b"{\"model\":\"claude-test\",\"max_tokens\":8,\"messages\":[]}",
            )))
            .unwrap()
    };
    assert_eq!(alice.send(Proto::H1, call()).await.status, StatusCode::OK);
    let refused = alice.send(Proto::H2, call()).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.reason(), "token budget spent");
    assert!(refused.headers.contains_key("retry-after"));
    assert_eq!(bob.send(Proto::H2, call()).await.status, StatusCode::OK);
    assert_eq!(h.upstream().count(), 2, "alice's refused call never left");

    let audit = h.keyward.running.handles().audit().unwrap().clone();
    let path = h.keyward.audit_path();
    let entries = audit_log::wait_for(&audit, &path, 3, |e| e["rule"] == "messages").await;
    let seen: Vec<(Value, Value, Value)> = entries
        .iter()
        .filter(|e| e["rule"] == "messages")
        .map(|e| {
            (
                e["agent"].clone(),
                e["decision"].clone(),
                e["tokens_in"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (json!("alice"), json!("allow"), json!(1110)),
            (json!("alice"), json!("rate_limited"), Value::Null),
            (json!("bob"), json!("allow"), json!(1110)),
        ]
    );
}

/// A stream that sends `message_start` (30 input tokens, 1 output) and then nothing more.
fn stalled_stream() -> Handler {
    Arc::new(|req: Request<Incoming>| {
        Box::pin(async move {
            let _ = req.into_body().collect().await;
            let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n";
            let first = futures_util::stream::iter([Ok::<_, BoxError>(Frame::data(
                Bytes::from_static(start.as_bytes()),
            ))]);
            let body = StreamBody::new(first.chain(futures_util::stream::pending()));
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(BodyExt::boxed(body))
                .unwrap()
        })
    })
}

/// An agent that hangs up mid-stream: its entry carries the usage reported so far, and
/// that usage is spent from the budget.
#[tokio::test]
async fn usage_reported_before_the_agent_hangs_up_is_recorded_and_spent() {
    let h = Harness::new()
        .upstream(&["api.anthropic.com"], stalled_stream())
        .rules(
            "llm.yaml",
            "rules:\n  - id: messages\n    method: POST\n    url: https://api.anthropic.com/v1/messages\n    limits: { tokens: 30/hour }\n    decision: allow\n",
        )
        .start()
        .await;
    let agent = h.agent();
    let tcp = agent.connect("api.anthropic.com:443").await.unwrap();
    let tls = agent
        .tls(tcp, "api.anthropic.com", &[b"http/1.1"])
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let req = Request::post("/v1/messages")
        .header("host", "api.anthropic.com")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(b"{\"stream\":true}")))
        .unwrap();
    let mut body = sender.send_request(req).await.unwrap().into_body();
    let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(frame.data_ref().unwrap()).contains("message_start"));
    drop(body);
    drop(sender);
    conn.abort();

    let audit = h.keyward.running.handles().audit().unwrap().clone();
    let path = h.keyward.audit_path();
    let entries = audit_log::wait_for(&audit, &path, 1, |e| e["rule"] == "messages").await;
    let entry = entries.iter().find(|e| e["rule"] == "messages").unwrap();
    assert_eq!(
        (&entry["tokens_in"], &entry["tokens_out"]),
        (&json!(30), &json!(1))
    );
    // 31 tokens of 30/hour are spent (before the entry was written): the next request is
    // refused before the upstream.
    let refused = h
        .agent()
        .send(
            Proto::H1,
            Request::post("https://api.anthropic.com/v1/messages")
                .body(Full::new(Bytes::from_static(b"{}")))
                .unwrap(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.reason(), "token budget spent");
    assert_eq!(h.upstream().count(), 1);
}
