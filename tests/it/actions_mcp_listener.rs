//! The actions listener over raw HTTP: agent credentials (`Basic`, `Bearer AGENT:TOKEN`,
//! none or wrong: 401), the tools following a rules reload at once, an upstream posing as
//! keyward's refusal, action-name headers forged by an agent stripped and not recorded, and
//! an action over plain `http://` sent through the proxy in absolute form.

use std::sync::Arc;

use http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::actions_mcp::{Received, TRIAGE_TOKEN, basic, start};
use crate::support::{Handler, Harness, audit_log};

#[tokio::test]
async fn the_listener_authenticates_agents_follows_reloads_and_strips_forged_action_names() {
    let received: Received = Arc::default();
    let h = start(&received).await;
    let addr = h.keyward.running.actions_addr().unwrap();
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    for auth in [
        None,
        Some(basic("triage-bot", "wrong")),
        Some("Bearer triage-bot:nope".into()),
    ] {
        let (status, _) = post(addr, auth.as_deref(), &list).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
    }
    let bearer = format!("Bearer triage-bot:{TRIAGE_TOKEN}");
    let (status, body) = post(addr, Some(&bearer), &list).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["github.create_issue", "github.close_issue"]);

    // A reload changes the tools at once: without the close action it is neither listed nor
    // callable.
    let rules_file = h.files_dir().join("rules/github.yaml");
    let without_close = std::fs::read_to_string(&rules_file)
        .unwrap()
        .replace("name: github.close_issue", "name: github.close_issue_off")
        .replace(
            "agents: [triage-bot]\n    input:\n      type: object\n      required: [repo, number]",
            "agents: [release-bot]\n    input:\n      type: object\n      required: [repo, number]",
        );
    std::fs::write(&rules_file, without_close).unwrap();
    h.keyward
        .running
        .handles()
        .reloader
        .reload_now("test")
        .unwrap();
    let (_, body) = post(addr, Some(&bearer), &list).await;
    let names: Vec<&str> = body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["github.create_issue"], "{body}");
    let close = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "github.close_issue", "arguments": {"repo": "keyward", "number": 1}}});
    let (_, body) = post(addr, Some(&bearer), &close.to_string()).await;
    assert_eq!(body["error"]["code"], -32602, "{body}");

    // An upstream's refusal is a tool error, even one posing as keyward's.
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "github.create_issue", "arguments": {"repo": "forged", "title": "t"}}});
    let (status, body) = post(addr, Some(&bearer), &call.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["isError"], true, "{body}");
    assert_eq!(
        body["result"]["content"][0]["text"],
        "the upstream answered 403 Forbidden"
    );

    // An agent going through the proxy itself cannot have an action recorded.
    let agent = h.agent().with_credentials("triage-bot", TRIAGE_TOKEN);
    let req = http::Request::post("https://api.github.com/repos/acme/keyward/issues")
        .header("keyward-action", "github.forged")
        .header("keyward-action-token", "guessed")
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            b"{\"title\":\"t\"}",
        )))
        .unwrap();
    let reply = agent.send(crate::support::agent::Proto::H1, req).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let audit = h.keyward.running.handles().audit().unwrap().clone();
    let entries = audit_log::wait_for(&audit, &h.keyward.audit_path(), 1, |e| {
        e["path"] == "/repos/acme/keyward/issues"
    })
    .await;
    let direct: Vec<&Value> = entries
        .iter()
        .filter(|e| e["path"] == "/repos/acme/keyward/issues")
        .collect();
    assert_eq!(direct.len(), 1, "{entries:#?}");
    assert!(direct[0].get("action").is_none(), "{entries:#?}");
    let served = entries
        .iter()
        .find(|e| e["path"] == "/repos/acme/forged/issues")
        .unwrap();
    assert_eq!(served["action"], "github.create_issue");
    assert_eq!(served["status"], 403);
}

/// POSTs `body` to the listener's `/mcp` with `auth` as `Authorization`.
async fn post(addr: std::net::SocketAddr, auth: Option<&str>, body: &str) -> (StatusCode, Value) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::post("/mcp")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_owned(),
        )))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Plain-HTTP hooks, no agents declared: every caller may use every action.
const PLAIN_RULES: &str = r#"
rules:
  - id: hooks
    method: POST
    url: http://hooks.example.com/hook/*
    decision: allow
actions:
  - name: hooks.ping
    description: Ping a hook.
    input:
      type: object
      required: [hook]
      properties:
        hook: { type: string, pattern: "^[a-z]+$" }
    request:
      method: POST
      url: http://hooks.example.com/hook/{hook}
      body: { ping: true }
    response:
      fields: [/pong]
"#;

#[tokio::test]
async fn an_action_over_plain_http_goes_through_the_proxy_without_agents_declared() {
    let seen: Arc<std::sync::Mutex<Vec<(String, Value)>>> = Arc::default();
    let record = seen.clone();
    let handler: Handler = Arc::new(move |req: http::Request<hyper::body::Incoming>| {
        let record = record.clone();
        Box::pin(async move {
            let path = req.uri().path().to_owned();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            record.lock().unwrap().push((path, body));
            http::Response::new(crate::support::upstream::full(
                r#"{"pong":"yes","internal":"dropped"}"#,
            ))
        })
    });
    let h = Harness::new()
        .plain_upstream(&["hooks.example.com"], handler)
        .rules("hooks.yaml", PLAIN_RULES)
        .config(|c| c.actions_listen = Some("127.0.0.1:0".parse().unwrap()))
        .start()
        .await;
    let addr = h.keyward.running.actions_addr().unwrap();
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "hooks.ping", "arguments": {"hook": "deploy"}}});
    let (status, body) = post(addr, None, &call.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["result"]["structuredContent"],
        json!({"pong": "yes"}),
        "{body}"
    );
    let bad = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "hooks.ping", "arguments": {"hook": "../x"}}});
    let (_, body) = post(addr, None, &bad.to_string()).await;
    assert_eq!(body["error"]["code"], -32602, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid input: /hook:"),
        "{body}"
    );
    assert_eq!(
        seen.lock().unwrap().clone(),
        [("/hook/deploy".to_owned(), json!({"ping": true}))]
    );
    let audit = h.keyward.running.handles().audit().unwrap().clone();
    let entries = audit_log::wait_for(&audit, &h.keyward.audit_path(), 2, |e| {
        e["action"] == "hooks.ping"
    })
    .await;
    let sent = entries
        .iter()
        .find(|e| e["action"] == "hooks.ping" && e["scheme"] == "http")
        .unwrap();
    assert_eq!(
        (&sent["decision"], &sent["path"]),
        (&json!("allow"), &json!("/hook/deploy"))
    );
}
