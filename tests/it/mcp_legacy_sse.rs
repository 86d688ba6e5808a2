//! The older HTTP+SSE transport of MCP through the real proxy: the client's `GET` stream
//! names a message endpoint; a denied post to that endpoint is answered `202` and its
//! JSON-RPC error arrives on the stream, as a server's answers do; an allowed post reaches
//! the server; a post to another session's endpoint is answered on the post (the agent
//! check is in the registry's unit tests).

use std::sync::{Arc, Mutex};
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
use crate::support::upstream::{Handler, TestBody, full};

const RULES: &str = r#"
rules:
  - id: mcp-stream
    method: GET
    url: https://mcp.example.com/sse
    decision: allow
  - id: mcp-search
    method: POST
    url: https://mcp.example.com/messages
    mcp: { method: tools/call, tool: search_issues }
    decision: allow
"#;

const ENDPOINT: &str = "/messages?session_id=5f2a";

/// A server of the HTTP+SSE transport: `GET /sse` names the endpoint and stays open;
/// posts are recorded and answered 202.
fn server(posts: Arc<Mutex<Vec<Value>>>) -> Handler {
    Arc::new(move |req: Request<Incoming>| {
        let posts = posts.clone();
        Box::pin(async move {
            if req.method() == http::Method::GET {
                let first = format!("event: endpoint\ndata: {ENDPOINT}\n\n");
                let frames = futures_util::stream::iter([Ok(Frame::data(Bytes::from(first)))])
                    .chain(futures_util::stream::pending());
                let body: TestBody = BodyExt::boxed(StreamBody::new(frames));
                return Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(body)
                    .unwrap();
            }
            let body = req.into_body().collect().await.unwrap().to_bytes();
            posts
                .lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap());
            Response::builder()
                .status(StatusCode::ACCEPTED)
                .body(full("Accepted"))
                .unwrap()
        })
    })
}

fn call(id: u32, tool: &str) -> Request<Full<Bytes>> {
    let body = json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
        "params":{"name":tool,"arguments":{}}});
    Request::post(format!("https://mcp.example.com{ENDPOINT}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// Reads the stream until it holds an event whose data parses as JSON; that JSON.
async fn next_message(body: &mut Incoming, seen: &mut Vec<u8>) -> Value {
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let text = String::from_utf8_lossy(seen).into_owned();
            let message = text
                .split("\n\n")
                .filter(|e| e.contains("event: message"))
                .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
                .find_map(|d| serde_json::from_str::<Value>(d).ok());
            if let Some(message) = message {
                return message;
            }
            let frame = body.frame().await.expect("the stream is open").unwrap();
            if let Ok(data) = frame.into_data() {
                seen.extend_from_slice(&data);
            }
        }
    })
    .await;
    found.expect("a message on the stream in time")
}

#[tokio::test]
async fn a_denied_post_is_answered_on_the_agents_stream() {
    let posts = Arc::new(Mutex::new(Vec::new()));
    let h = Harness::new()
        .upstream(&["mcp.example.com"], server(posts.clone()))
        .rules("mcp.yaml", RULES)
        .start()
        .await;
    let agent = h.agent();
    let tcp = agent.connect("mcp.example.com:443").await.unwrap();
    let tls = agent
        .tls(tcp, "mcp.example.com", &[b"http/1.1"])
        .await
        .unwrap();
    let (mut stream, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let get = Request::get("/sse")
        .header("host", "mcp.example.com")
        .header("accept", "text/event-stream")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = stream.send_request(get).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let mut seen = Vec::new();
    // The endpoint event passes first.
    let endpoint = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    seen.extend_from_slice(endpoint.data_ref().unwrap());
    assert!(String::from_utf8_lossy(&seen).contains(ENDPOINT));

    let allowed = agent.send(Proto::H1, call(1, "search_issues")).await;
    assert_eq!(allowed.status, StatusCode::ACCEPTED);

    let denied = agent.send(Proto::H1, call(2, "delete_repo")).await;
    assert_eq!(
        denied.status,
        StatusCode::ACCEPTED,
        "answered as the server would"
    );
    assert!(denied.body.is_empty(), "{:?}", denied.body);
    assert_eq!(denied.headers["keyward-decision"], "deny");
    let error = next_message(&mut body, &mut seen).await;
    assert_eq!(error["id"], 2);
    assert_eq!(error["error"]["code"], -32001);
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("tools/call delete_repo"), "{message}");

    // No stream is open on another session's endpoint: that denial is answered on the post.
    let mut other = call(3, "wipe_disk");
    *other.uri_mut() = "https://mcp.example.com/messages?session_id=other"
        .parse()
        .unwrap();
    let own = agent.send(Proto::H2, other).await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.json()["id"], 3);

    let posts = posts.lock().unwrap();
    assert_eq!(posts.len(), 1, "only the allowed call reached the server");
    assert_eq!(posts[0]["params"]["name"], "search_issues");
}
