//! Actions over stdio: the official MCP Python SDK's stdio client launches `keyward mcp`,
//! which relays to the running keyward's actions listener, so calls are decided by the same
//! rules as over HTTP; a wrong agent token is the listener's refusal, the token never echoed;
//! and `keyward serve --actions-listen` serves the rule files' actions to `keyward mcp`.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::actions_mcp::{GITHUB_TOKEN, Received, TRIAGE_TOKEN, client, start};
use crate::support::{child, mcp_sdk};

#[tokio::test]
async fn the_sdk_stdio_client_calls_actions_through_keyward_mcp() {
    assert!(
        mcp_sdk::available(),
        "python3 with the mcp package is required (scripts/test installs it)"
    );
    let received: Received = Arc::default();
    let h = start(&received).await;
    let url = format!("http://{}/mcp", h.keyward.running.actions_addr().unwrap());
    let work = tempfile::tempdir().unwrap();
    let calls = json!([
        ["github.create_issue", {"repo": "website", "title": "Broken link"}],
        ["github.close_issue", {"repo": "keyward", "number": 7}],
        ["github.create_issue", {"repo": "website"}],
    ])
    .to_string();
    let keyward = env!("CARGO_BIN_EXE_keyward");
    let args = ["stdio", keyward, &url, "triage-bot", TRIAGE_TOKEN, &calls];
    let steps = client(&args, work.path()).await;
    assert_eq!(
        steps["tools"],
        json!(["github.close_issue", "github.create_issue"])
    );
    assert_eq!(steps["call0"]["structured"]["number"], 42, "{steps:?}");
    assert_eq!(steps["call1"]["code"], -32001, "{steps:?}");
    assert_eq!(steps["call1"]["data"]["rule"], "no-closing");
    assert_eq!(steps["call2"]["code"], -32602, "{steps:?}");
    assert!(
        steps["call2"]["message"]
            .as_str()
            .unwrap()
            .contains("missing required field `title`"),
        "{steps:?}"
    );
    let seen = received.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].1, "/repos/acme/website/issues");
    assert_eq!(seen[0].2, format!("Bearer {GITHUB_TOKEN}"));
}

#[tokio::test]
async fn keyward_mcp_with_a_wrong_token_answers_requests_with_the_listeners_refusal() {
    let received: Received = Arc::default();
    let h = start(&received).await;
    let url = format!("http://{}/mcp", h.keyward.running.actions_addr().unwrap());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["mcp", "--url", &url])
        .env("KEYWARD_AGENT", "triage-bot")
        .env("KEYWARD_AGENT_TOKEN", "guessed-token-93c1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}\n")
            .await
            .unwrap();
    }
    let out = tokio::time::timeout(mcp_sdk::WAIT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success());
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["id"], 1);
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("401"), "{message}");
    assert!(
        message.contains("unknown agent or wrong token"),
        "{message}"
    );
    for stream in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains("guessed-token-93c1"));
    }
    assert_eq!(received.lock().unwrap().len(), 0);
}

#[tokio::test]
async fn keyward_serve_with_actions_listen_serves_the_rule_files_actions_to_keyward_mcp() {
    let work = tempfile::tempdir().unwrap();
    let rules = work.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/rules/actions-github.yaml"),
        rules.join("actions-github.yaml"),
    )
    .unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/rules/github.yaml"),
        rules.join("github.yaml"),
    )
    .unwrap();
    let mut command = child::command();
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--admin-listen", "127.0.0.1:0"])
        .args(["--actions-listen", "127.0.0.1:0"])
        .arg("--ca-dir")
        .arg(work.path().join("certs"))
        .arg("--rules")
        .arg(&rules)
        .arg("--audit-log")
        .arg(work.path().join("audit.jsonl"))
        .env_remove("KEYWARD_ADMIN_TOKEN");
    let mut serve = child::spawn(command, work.path()).await;
    let line = child::line_in(&serve.stdout, "Actions over MCP: http://").await;
    let endpoint = format!("http://{}", line.split_whitespace().next().unwrap());
    let mut relay = child::command()
        .args(["mcp", "--url", &endpoint])
        .env_remove("KEYWARD_AGENT")
        .env_remove("KEYWARD_AGENT_TOKEN")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = relay.stdin.take().unwrap();
        let lines = concat!(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
            "\n",
        );
        stdin.write_all(lines.as_bytes()).await.unwrap();
    }
    let out = tokio::time::timeout(mcp_sdk::WAIT, relay.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success());
    let answers: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        answers.len(),
        2,
        "the notification is not answered: {answers:?}"
    );
    assert_eq!(answers[0]["result"]["protocolVersion"], "2025-06-18");
    let tools = &answers[1]["result"]["tools"];
    assert_eq!(tools[0]["name"], "github.create_issue", "{tools}");
    assert_eq!(
        tools[0]["inputSchema"]["properties"]["repo"]["enum"],
        json!(["keyward", "website", "docs"])
    );
    assert!(serve.terminate().await.success());
}
