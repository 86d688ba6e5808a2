//! What an MCP server answers, through the real proxy: `tools/list` results (JSON and SSE)
//! list only the tools the rules let the agent call; requests the server makes of the client
//! inside an SSE stream (on a POST's answer and on the GET stream) are decided by the rules,
//! the ones not allowed dropped and recorded; a list answered on the GET stream (the HTTP+SSE
//! transport) is filtered; a denial is answered in SSE to a client that accepts only SSE; a
//! held call shows its tool and arguments to the approver, and a denied approval reaches the
//! client as a JSON-RPC error.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::runtime::{admin, wait_pending};
use crate::support::Harness;
use crate::support::agent::{Agent, Proto, Reply};
use crate::support::audit_log;
use crate::support::upstream::{Handler, TestBody, byte_by_byte, full};

const RULES: &str = r#"
rules:
  - id: mcp-session
    method: POST
    url: https://mcp.example.com/**
    mcp: { method: [initialize, tools/list, ping, notifications/*] }
    decision: allow
  - id: mcp-search
    method: POST
    url: https://mcp.example.com/**
    mcp: { method: tools/call, tool: search_issues }
    decision: allow
  - id: mcp-create-issue
    method: POST
    url: https://mcp.example.com/**
    mcp:
      method: tools/call
      tool: create_issue
      arguments: { /owner: { equals: acme } }
    decision: allow
  - id: mcp-merge
    method: POST
    url: https://mcp.example.com/**
    mcp: { method: tools/call, tool: merge_pr }
    decision: approve
  - id: mcp-delete-repo
    method: POST
    url: https://mcp.example.com/**
    mcp: { method: tools/call, tool: delete_repo }
    decision: deny
  - id: mcp-stream
    method: GET
    url: https://mcp.example.com/**
    decision: allow
"#;

/// The tools the server has.
fn tools() -> Value {
    json!([
        {"name": "search_issues", "inputSchema": {"type": "object"}},
        {"name": "delete_repo", "inputSchema": {"type": "object"}},
        {"name": "create_issue", "inputSchema": {"type": "object"}},
        {"name": "merge_pr", "inputSchema": {"type": "object"}},
        {"name": "wipe_disk", "inputSchema": {"type": "object"}},
    ])
}

/// One JSON-RPC message as an SSE event.
fn event(message: &Value) -> String {
    format!("event: message\ndata: {message}\n\n")
}

/// A small MCP server: `/json` answers in JSON, `/sse` in SSE, where a tool call first asks
/// the client for a model sampling (no rule allows it) and a ping (allowed); `GET /sse` is the
/// server's stream, carrying an elicitation and a ping.
fn server() -> Handler {
    Arc::new(|req: Request<Incoming>| {
        Box::pin(async move {
            let sse = req.uri().path() == "/sse";
            if req.method() == http::Method::GET {
                let stream = [
                    event(
                        &json!({"jsonrpc":"2.0","id":"e1","method":"elicitation/create",
                        "params":{"message":"your password?","requestedSchema":{}}}),
                    ),
                    event(&json!({"jsonrpc":"2.0","id":"p1","method":"ping"})),
                    // The HTTP+SSE transport answers posted calls on this stream.
                    event(&json!({"jsonrpc":"2.0","id":7,"result":{"tools":tools()}})),
                ]
                .concat();
                return sse_response(byte_by_byte(stream.as_bytes()));
            }
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let call: Value = serde_json::from_slice(&body).unwrap();
            let id = call["id"].clone();
            let result = match call["method"].as_str() {
                Some("tools/list") => json!({"tools": tools()}),
                _ => json!({"content": [{"type": "text", "text": "3 issues"}]}),
            };
            let answer = json!({"jsonrpc": "2.0", "id": id, "result": result});
            if !sse {
                return Response::builder()
                    .header("content-type", "application/json")
                    .body(full(answer.to_string()))
                    .unwrap();
            }
            let mut stream = String::new();
            if call["method"] == "tools/call" {
                stream += &event(
                    &json!({"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage",
                    "params":{"messages":[],"maxTokens":10}}),
                );
                stream += &event(&json!({"jsonrpc":"2.0","id":"s2","method":"ping"}));
                stream += &event(&json!({"jsonrpc":"2.0","method":"notifications/progress",
                    "params":{"progressToken":1,"progress":0.5}}));
            }
            stream += &event(&answer);
            sse_response(byte_by_byte(stream.as_bytes()))
        })
    })
}

fn sse_response(body: TestBody) -> Response<TestBody> {
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(body)
        .unwrap()
}

async fn post(agent: &Agent, path: &str, accept: &str, body: &Value) -> Reply {
    let req = Request::post(format!("https://mcp.example.com{path}"))
        .header("content-type", "application/json")
        .header("accept", accept)
        .header("mcp-session-id", "sess-42")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    agent.send(Proto::H1, req).await
}

const BOTH: &str = "application/json, text/event-stream";

/// The JSON-RPC messages of an SSE body.
fn messages(reply: &Reply) -> Vec<Value> {
    let text = String::from_utf8(reply.body.to_vec()).unwrap();
    text.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            (!data.is_empty()).then(|| serde_json::from_str(&data.join("\n")).unwrap())
        })
        .collect()
}

fn names(result: &Value) -> Vec<&str> {
    result["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn tool_lists_are_filtered_and_server_requests_are_decided() {
    let h = Harness::new()
        .upstream(&["mcp.example.com"], server())
        .rules("mcp.yaml", RULES)
        .start()
        .await;
    let agent = h.agent();
    let list = json!({"jsonrpc":"2.0","id":1,"method":"tools/list"});
    // The listed tools: callable ones, and create_issue, callable with the right arguments.
    let visible = ["search_issues", "create_issue", "merge_pr"];

    let json_list = post(&agent, "/json", BOTH, &list).await;
    assert_eq!(json_list.status, StatusCode::OK);
    assert_eq!(names(&json_list.json()), visible);
    let sse_list = post(&agent, "/sse", BOTH, &list).await;
    let events = messages(&sse_list);
    assert_eq!(events.len(), 1, "{sse_list:?}");
    assert_eq!(names(&events[0]), visible);

    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call",
        "params":{"name":"search_issues","arguments":{"q":"crash"}}});
    let answer = post(&agent, "/sse", BOTH, &call).await;
    let methods: Vec<Value> = messages(&answer)
        .iter()
        .map(|m| m.get("method").cloned().unwrap_or(m["id"].clone()))
        .collect();
    assert_eq!(
        methods,
        [json!("ping"), json!("notifications/progress"), json!(2)],
        "the sampling request no rule allows was dropped"
    );

    let stream = agent
        .send(
            Proto::H1,
            Request::get("https://mcp.example.com/sse")
                .header("accept", "text/event-stream")
                .header("mcp-session-id", "sess-42")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    let streamed = messages(&stream);
    let ids: Vec<Value> = streamed.iter().map(|m| m["id"].clone()).collect();
    assert_eq!(ids, [json!("p1"), json!(7)], "the elicitation was dropped");
    assert_eq!(
        names(&streamed[1]),
        visible,
        "a list answered on the GET stream is filtered too"
    );

    let audit = h.keyward.running.handles().audit().unwrap().clone();
    let entries = audit_log::wait_for(&audit, &h.keyward.audit_path(), 2, |e| {
        e["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("MCP server request"))
    })
    .await;
    let dropped: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| {
            e["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("MCP server request"))
        })
        .map(|e| {
            assert_eq!(e["decision"], "deny");
            assert_eq!(e["mcp_session"], "sess-42");
            (
                e["mcp_method"].as_str().unwrap(),
                e["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(dropped.len(), 2, "{dropped:?}");
    assert_eq!(dropped[0].0, "sampling/createMessage");
    assert_eq!(dropped[1].0, "elicitation/create");
    assert!(
        dropped[0].1.contains("no rule allows this request"),
        "{}",
        dropped[0].1
    );
    audit_log::verify(&h.keyward.audit_path());
}

#[tokio::test]
async fn denials_answer_in_sse_to_a_client_that_accepts_only_sse() {
    let h = Harness::new()
        .upstream(&["mcp.example.com"], server())
        .rules("mcp.yaml", RULES)
        .start()
        .await;
    let call = json!({"jsonrpc":"2.0","id":9,"method":"tools/call",
        "params":{"name":"delete_repo","arguments":{}}});
    let reply = post(&h.agent(), "/sse", "text/event-stream", &call).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "text/event-stream");
    let events = messages(&reply);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], 9);
    assert_eq!(events[0]["error"]["data"]["rule"], "mcp-delete-repo");
    assert_eq!(h.upstream().count(), 0);
}

#[tokio::test]
async fn a_held_call_shows_its_tool_and_a_denied_approval_is_a_json_rpc_error() {
    let h = Harness::new()
        .upstream(&["mcp.example.com"], server())
        .rules("mcp.yaml", RULES)
        .start()
        .await;
    let agent = h.agent();
    let call = json!({"jsonrpc":"2.0","id":"m1","method":"tools/call",
        "params":{"name":"merge_pr","arguments":{"repo":"web","pr":12}}});
    let held = tokio::spawn(async move { post(&agent, "/json", BOTH, &call).await });
    let pending = wait_pending(h.admin(), 1).await;
    assert_eq!(pending[0]["mcp"]["method"], "tools/call");
    assert_eq!(pending[0]["mcp"]["tool"], "merge_pr");
    assert_eq!(
        pending[0]["mcp"]["arguments"],
        json!({"repo":"web","pr":12})
    );
    let id = pending[0]["id"].as_str().unwrap();
    let (status, _) = admin(
        h.admin(),
        "POST",
        &format!("/approvals/{id}/deny"),
        r#"{"reason":"not during the freeze"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let reply = held.await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    let answer = reply.json();
    assert_eq!(answer["id"], "m1");
    assert_eq!(answer["error"]["data"]["rule"], "mcp-merge");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("not during the freeze"), "{message}");
    assert_eq!(h.upstream().count(), 0, "the denied call was not forwarded");
}
