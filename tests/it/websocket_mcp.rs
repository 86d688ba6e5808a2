//! JSON-RPC over a WebSocket whose URL `mcp:` rules select, through the real proxy: each
//! agent message is decided per call (an allowed call reaches the server and is answered, a
//! denied one or a batch holding one is answered with JSON-RPC errors and never forwarded, a
//! denied notification closes with 1008, a call needing approval is refused), `tools/list`
//! answers list only the tools the agent may call, a server request no rule allows is dropped,
//! and every decided message is audited. Real tungstenite client and server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::support::harness::Running;
use crate::support::{Handler, Harness, audit_log, within};

const RULES: &str = r#"
rules:
  - id: ws-open
    method: GET
    url: https://mcp.example.com/ws
    decision: allow
  - id: mcp-session
    method: POST
    url: https://mcp.example.com/ws
    mcp: { method: [initialize, tools/list, notifications/initialized] }
    decision: allow
  - id: mcp-search
    method: POST
    url: https://mcp.example.com/ws
    mcp: { method: tools/call, tool: search_issues }
    decision: allow
  - id: mcp-merge
    method: POST
    url: https://mcp.example.com/ws
    mcp: { method: tools/call, tool: merge_pr }
    decision: approve
  - id: mcp-delete-repo
    method: POST
    url: https://mcp.example.com/ws
    mcp: { method: tools/call, tool: delete_repo }
    decision: deny
"#;

/// How long a test waits for a message or for the server's side to end.
const WAIT: Duration = Duration::from_secs(10);

/// What the server received: every text message, and how many connections ended.
#[derive(Default)]
struct Heard {
    messages: Vec<Value>,
    ended: usize,
}

/// A small MCP server over WebSocket: answers `tools/list` with four tools, a `tools/call`
/// with the tool's name, and before answering `search_issues` asks the client for a model
/// sampling (no rule allows it); notifications get no answer.
fn server(heard: Arc<Mutex<Heard>>) -> Handler {
    Arc::new(move |mut req: Request<hyper::body::Incoming>| {
        let heard = heard.clone();
        Box::pin(async move {
            let key = req.headers().get("sec-websocket-key").cloned().unwrap();
            let accept =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let upgraded = on_upgrade.await.unwrap();
                let mut ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                while let Some(Ok(msg)) = ws.next().await {
                    let Message::Text(text) = msg else { continue };
                    let call: Value = serde_json::from_str(&text).unwrap();
                    heard.lock().unwrap().messages.push(call.clone());
                    for answer in answers(&call) {
                        if ws.send(Message::text(answer.to_string())).await.is_err() {
                            break;
                        }
                    }
                }
                heard.lock().unwrap().ended += 1;
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("upgrade", "websocket")
                .header("connection", "upgrade")
                .header("sec-websocket-accept", accept)
                .body(crate::support::upstream::full(Bytes::new()))
                .unwrap()
        })
    })
}

/// The server's messages in answer to `call`.
fn answers(call: &Value) -> Vec<Value> {
    let Some(id) = call.get("id") else {
        return Vec::new();
    };
    match call["method"].as_str().unwrap() {
        "tools/list" => vec![json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [
            {"name": "search_issues"}, {"name": "delete_repo"},
            {"name": "merge_pr"}, {"name": "wipe_disk"},
        ]}})],
        "tools/call" if call["params"]["name"] == "search_issues" => vec![
            json!({"jsonrpc": "2.0", "id": "s-1", "method": "sampling/createMessage",
                   "params": {"messages": []}}),
            json!({"jsonrpc": "2.0", "id": id,
                   "result": {"content": [{"type": "text", "text": "search_issues ran"}]}}),
        ],
        _ => vec![json!({"jsonrpc": "2.0", "id": id, "result": {}})],
    }
}

type AgentWs = WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

async fn setting(heard: &Arc<Mutex<Heard>>) -> Running {
    setting_with(heard, RULES).await
}

async fn setting_with(heard: &Arc<Mutex<Heard>>, rules: &str) -> Running {
    Harness::new()
        .upstream(&["mcp.example.com"], server(heard.clone()))
        .rules("mcp.yaml", rules)
        .start()
        .await
}

/// A tungstenite client through keyward's CONNECT to wss://mcp.example.com/ws.
async fn connect(h: &Running) -> AgentWs {
    let agent = h.agent();
    let tcp = agent.connect("mcp.example.com:443").await.unwrap();
    let tls = agent
        .tls(tcp, "mcp.example.com", &[b"http/1.1"])
        .await
        .unwrap();
    let req = "wss://mcp.example.com/ws".into_client_request().unwrap();
    let (ws, resp) = tokio_tungstenite::client_async(req, tls).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws
}

/// Sends one JSON message and returns the next JSON message the agent gets.
async fn call(ws: &mut AgentWs, message: Value) -> Value {
    ws.send(Message::text(message.to_string())).await.unwrap();
    next(ws).await
}

/// The next text message, as JSON.
async fn next(ws: &mut AgentWs) -> Value {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message in time")
            .expect("the connection is open")
            .unwrap();
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// The methods and tools the server received.
fn heard_calls(heard: &Arc<Mutex<Heard>>) -> Vec<String> {
    let heard = heard.lock().unwrap();
    heard
        .messages
        .iter()
        .map(|m| match m["params"]["name"].as_str() {
            Some(tool) => format!("{} {tool}", m["method"].as_str().unwrap()),
            None => m["method"].as_str().unwrap_or("?").to_owned(),
        })
        .collect()
}

#[tokio::test]
async fn websocket_json_rpc_is_decided_per_call_and_lists_filtered() {
    let heard = Arc::new(Mutex::new(Heard::default()));
    let h = setting(&heard).await;
    let mut ws = connect(&h).await;

    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}});
    assert_eq!(call(&mut ws, init).await["id"], 1);

    let list = call(
        &mut ws,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["search_issues", "merge_pr"], "{list}");

    // The server asks for a sampling first: no rule allows it, so the agent never sees it.
    let search = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                        "params": {"name": "search_issues", "arguments": {}}});
    let answer = call(&mut ws, search).await;
    assert_eq!(
        answer["id"], 3,
        "the sampling request was dropped: {answer}"
    );
    assert_eq!(answer["result"]["content"][0]["text"], "search_issues ran");

    let delete = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                        "params": {"name": "delete_repo", "arguments": {}}});
    let denied = call(&mut ws, delete).await;
    assert_eq!(denied["id"], 4);
    assert_eq!(denied["error"]["code"], -32001);
    assert_eq!(denied["error"]["data"]["rule"], "mcp-delete-repo");
    let message = denied["error"]["message"].as_str().unwrap();
    assert!(message.contains("tools/call delete_repo"), "{message}");

    let merge = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                       "params": {"name": "merge_pr", "arguments": {}}});
    let held = call(&mut ws, merge).await;
    assert_eq!(held["id"], 5);
    let reason = held["error"]["data"]["reason"].as_str().unwrap();
    assert!(reason.contains("approval"), "{reason}");

    let batch = json!([
        {"jsonrpc": "2.0", "id": 6, "method": "tools/call",
         "params": {"name": "search_issues", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
         "params": {"name": "delete_repo", "arguments": {}}},
    ]);
    let denied = call(&mut ws, batch).await;
    let errors = denied
        .as_array()
        .expect("a batch is answered with an array");
    assert_eq!(errors.len(), 2);
    assert!(
        errors.iter().all(|e| e["error"]["code"] == -32001),
        "{denied}"
    );
    let reason = errors[0]["error"]["data"]["reason"].as_str().unwrap();
    assert!(reason.contains("batch element 1"), "{reason}");

    // Still open: an allowed call after the denials goes through.
    let again = json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call",
                       "params": {"name": "search_issues", "arguments": {}}});
    assert_eq!(call(&mut ws, again).await["id"], 8);
    ws.close(None).await.unwrap();
    let ended = within(WAIT, || (heard.lock().unwrap().ended >= 1).then_some(())).await;
    assert!(ended.is_some(), "the server's side ended");

    assert_eq!(
        heard_calls(&heard),
        [
            "initialize",
            "tools/list",
            "tools/call search_issues",
            "tools/call search_issues"
        ],
        "nothing denied reached the server"
    );

    let audit = h.keyward.running.handles().audit().unwrap().clone();
    let path = h.keyward.audit_path();
    let entries = audit_log::wait_for(&audit, &path, 8, |e| e["mcp_method"].is_string()).await;
    let seen: Vec<(&str, &str, &str)> = entries
        .iter()
        .filter(|e| e["mcp_method"].is_string())
        .map(|e| {
            (
                e["decision"].as_str().unwrap(),
                e["mcp_method"].as_str().unwrap(),
                e["mcp_tool"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("allow", "initialize", "-"),
            ("allow", "tools/list", "-"),
            ("allow", "tools/call", "search_issues"),
            ("deny", "sampling/createMessage", "-"),
            ("deny", "tools/call", "delete_repo"),
            ("deny", "tools/call", "merge_pr"),
            ("deny", "tools/call", "delete_repo"),
            ("allow", "tools/call", "search_issues"),
            ("deny", "sampling/createMessage", "-"),
        ]
    );
    audit_log::verify(&path);
}

#[tokio::test]
async fn a_denied_websocket_notification_closes_with_1008_and_is_never_forwarded() {
    let heard = Arc::new(Mutex::new(Heard::default()));
    let h = setting(&heard).await;
    for message in [
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {}}),
        json!({"not": "json-rpc"}),
    ] {
        let mut ws = connect(&h).await;
        ws.send(Message::text(message.to_string())).await.unwrap();
        let code = loop {
            match tokio::time::timeout(WAIT, ws.next())
                .await
                .expect("a close in time")
            {
                Some(Ok(Message::Close(frame))) => break frame.map(|f| f.code),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => break None,
            }
        };
        assert_eq!(code, Some(CloseCode::Policy), "{message}");
    }
    let ended = within(WAIT, || (heard.lock().unwrap().ended >= 2).then_some(())).await;
    assert!(ended.is_some(), "the server's sides ended");
    assert!(
        heard.lock().unwrap().messages.is_empty(),
        "nothing was forwarded"
    );
    let audit = h.keyward.running.handles().audit().unwrap().clone();
    let path = h.keyward.audit_path();
    let closed = |e: &Value| {
        e["reason"].as_str().is_some_and(|r| {
            r.starts_with("websocket message from the agent refused, closed with 1008: denied")
        })
    };
    let entries = audit_log::wait_for(&audit, &path, 2, closed).await;
    assert_eq!(entries.iter().filter(|e| closed(e)).count(), 2);
}

#[tokio::test]
async fn websocket_calls_take_from_their_rules_rate_limits() {
    let heard = Arc::new(Mutex::new(Heard::default()));
    let rules = RULES.replace(
        "mcp: { method: tools/call, tool: search_issues }\n    decision: allow",
        "mcp: { method: tools/call, tool: search_issues }\n    decision: allow\n    limits: { rate: 2/hour, burst: 2 }",
    );
    assert_ne!(rules, RULES);
    let h = setting_with(&heard, &rules).await;
    let mut ws = connect(&h).await;
    let search = |id: u32| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "search_issues", "arguments": {}}})
    };
    assert!(call(&mut ws, search(1)).await["result"].is_object());
    assert!(call(&mut ws, search(2)).await["result"].is_object());
    let limited = call(&mut ws, search(3)).await;
    assert_eq!(limited["id"], 3);
    assert_eq!(limited["error"]["data"]["rule"], "mcp-search");
    let reason = limited["error"]["data"]["reason"].as_str().unwrap();
    assert!(reason.contains("rate limit of rule mcp-search"), "{reason}");
    ws.close(None).await.unwrap();
    let ended = within(WAIT, || (heard.lock().unwrap().ended >= 1).then_some(())).await;
    assert!(ended.is_some(), "the server's side ended");
    assert_eq!(
        heard_calls(&heard).len(),
        2,
        "the limited call was not forwarded"
    );
}
