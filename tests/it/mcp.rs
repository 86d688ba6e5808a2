//! MCP over streamable HTTP through the real proxy: allowed JSON-RPC calls reach the
//! upstream, a denied call is answered as a JSON-RPC error carrying its id and the rule (and
//! nothing reaches the upstream), a batch with one denied element is denied whole naming it,
//! and the audit entries name the MCP method, tool and session.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};

use crate::support::Harness;
use crate::support::agent::{Proto, Reply};
use crate::support::audit_log;
use crate::support::upstream::echo;

const RULES: &str = r#"
rules:
  - id: mcp-session
    method: POST
    url: https://mcp.example.com/mcp
    mcp: { method: [initialize, tools/list, notifications/*] }
    decision: allow
  - id: mcp-search
    method: POST
    url: https://mcp.example.com/mcp
    mcp: { method: tools/call, tool: search_issues }
    decision: allow
  - id: mcp-delete-repo
    description: agents never delete repositories
    method: POST
    url: https://mcp.example.com/mcp
    mcp: { method: tools/call, tool: delete_repo }
    decision: deny
"#;

const SESSION: &str = "sess-7f3c9a1e";

/// POSTs a JSON-RPC body to the MCP endpoint over HTTP/1.1 and HTTP/2 alike.
async fn post(h: &crate::support::harness::Running, proto: Proto, body: &Value) -> Reply {
    let req = Request::post("https://mcp.example.com/mcp")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", SESSION)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    h.keyward.agent().send(proto, req).await
}

fn tool_call(id: u64, tool: &str) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
        "params":{"name":tool,"arguments":{"owner":"acme","repo":"web"}}})
}

#[tokio::test]
async fn mcp_calls_are_decided_per_call_and_denials_are_json_rpc_errors() {
    let h = Harness::new()
        .upstream(&["mcp.example.com"], echo())
        .rules("mcp.yaml", RULES)
        .start()
        .await;
    let upstream = h.upstream();

    let list = post(
        &h,
        Proto::H1,
        &json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
    )
    .await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(
        list.json()["method"],
        "POST",
        "the upstream answered: {list:?}"
    );
    let search = post(&h, Proto::H2, &tool_call(2, "search_issues")).await;
    assert_eq!(search.status, StatusCode::OK);
    assert_eq!(
        upstream.count(),
        2,
        "both allowed calls reached the upstream"
    );

    let denied = post(&h, Proto::H1, &tool_call(3, "delete_repo")).await;
    assert_eq!(denied.status, StatusCode::OK);
    assert_eq!(denied.headers["keyward-decision"], "deny");
    assert_eq!(denied.headers["content-type"], "application/json");
    let answer = denied.json();
    assert_eq!(answer["jsonrpc"], "2.0");
    assert_eq!(answer["id"], 3);
    assert_eq!(answer["error"]["code"], -32001);
    assert_eq!(
        answer["error"]["message"],
        "keyward denied tools/call delete_repo: denied by rule `mcp-delete-repo`: agents never delete repositories (rule mcp-delete-repo)"
    );
    assert_eq!(answer["error"]["data"]["decision"], "deny");
    assert_eq!(answer["error"]["data"]["rule"], "mcp-delete-repo");
    assert!(answer["error"]["data"]["request_id"].is_string());
    assert_eq!(
        upstream.count(),
        2,
        "nothing of the denied call was forwarded"
    );

    let batch = json!([
        {"jsonrpc":"2.0","id":"a","method":"tools/list"},
        {"jsonrpc":"2.0","method":"notifications/initialized"},
        tool_call(4, "delete_repo"),
    ]);
    let denied = post(&h, Proto::H2, &batch).await;
    assert_eq!(denied.status, StatusCode::OK);
    let answers = denied.json();
    let answers = answers
        .as_array()
        .expect("a batch is answered with an array");
    let ids: Vec<&Value> = answers.iter().map(|a| &a["id"]).collect();
    assert_eq!(
        ids,
        [&json!("a"), &json!(4)],
        "the notification gets no answer"
    );
    for answer in answers {
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("batch element 2 (tools/call delete_repo)"),
            "{message}"
        );
        assert_eq!(answer["error"]["data"]["rule"], "mcp-delete-repo");
    }
    assert_eq!(
        upstream.count(),
        2,
        "no element of the denied batch was forwarded"
    );

    let audit = h.keyward.running.handles().audit().unwrap().clone();
    let entries = audit_log::wait_for(&audit, &h.keyward.audit_path(), 4, |e| {
        e["mcp_method"].is_string()
    })
    .await;
    let mcp: Vec<&Value> = entries
        .iter()
        .filter(|e| e["mcp_method"].is_string())
        .collect();
    let seen: Vec<(&str, &str, &str)> = mcp
        .iter()
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
            ("allow", "tools/list", "-"),
            ("allow", "tools/call", "search_issues"),
            ("deny", "tools/call", "delete_repo"),
            ("deny", "tools/call", "delete_repo"),
        ]
    );
    assert!(mcp.iter().all(|e| e["mcp_session"] == SESSION));
    assert_eq!(mcp[3]["mcp_batch"], 3);
    assert_eq!(mcp[2]["rule"], "mcp-delete-repo");
    assert!(
        mcp[3]["reason"]
            .as_str()
            .unwrap()
            .starts_with("batch element 2 (tools/call delete_repo)"),
        "{}",
        mcp[3]
    );
    audit_log::verify(&h.keyward.audit_path());
}

#[tokio::test]
async fn a_body_that_is_not_json_rpc_is_denied_by_default_with_a_403() {
    let h = Harness::new()
        .upstream(&["mcp.example.com"], echo())
        .rules("mcp.yaml", RULES)
        .start()
        .await;
    let reply = post(&h, Proto::H1, &json!({"query": "not JSON-RPC"})).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.reason(), "no rule allows this request");
    let notification = post(
        &h,
        Proto::H1,
        &json!({"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_repo"}}),
    )
    .await;
    assert_eq!(
        notification.status,
        StatusCode::ACCEPTED,
        "a denied notification gets no answer"
    );
    assert!(notification.body.is_empty());
    assert_eq!(notification.headers["keyward-decision"], "deny");
    assert_eq!(h.upstream().count(), 0);
    let audit = h.keyward.running.handles().audit().unwrap().clone();
    audit_log::wait_for(&audit, &h.keyward.audit_path(), 2, |e| {
        e["decision"] == "deny"
    })
    .await;
}
