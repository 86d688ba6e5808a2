//! The official MCP Python SDK on both ends, through the real proxy: an `MCPServer` over
//! HTTPS (uvicorn, a leaf of the test CA for a public-looking name that keyward pins to
//! loopback) and the SDK's `Client` going through keyward (HTTPS_PROXY, SSL_CERT_FILE). The
//! client sees a filtered tool list, its allowed call's result, a JSON-RPC error for the
//! hidden tool, a batch denied whole, and a held call's result once it is approved through
//! the admin API; the server's own log shows it executed only what keyward let through. Over
//! the handshake (a session), over the SDK's default connect mode when rules do not allow its
//! `server/discover` probe (it falls back to the handshake), and over the session-less
//! protocol the probe selects when they do.

use http::StatusCode;
use serde_json::{Value, json};

use crate::runtime::admin;
use crate::support::mcp_sdk::{self, Program, WAIT};
use crate::support::{Keyward, TestCa, audit_log, within_async};

/// The public-looking name the server is reached by (keyward pins `HOST:443` to loopback).
const HOST: &str = "mcp.example.com";

/// The rules; `SESSION_METHODS` is replaced by the methods the session rule allows.
const RULES: &str = r#"
rules:
  - id: mcp-session
    method: POST
    url: https://mcp.example.com/mcp
    mcp: { method: [SESSION_METHODS] }
    decision: allow
  - id: mcp-stream
    description: the server's SSE stream and the session's end
    method: [GET, DELETE]
    url: https://mcp.example.com/mcp
    decision: allow
  - id: mcp-search
    method: POST
    url: https://mcp.example.com/mcp
    mcp: { method: tools/call, tool: search_issues }
    decision: allow
  - id: mcp-create-issue
    description: a person reads every new issue first
    method: POST
    url: https://mcp.example.com/mcp
    mcp: { method: tools/call, tool: create_issue, arguments: { /owner: { equals: acme } } }
    approval: { timeout: 60s }
    decision: approve
  - id: mcp-delete-repo
    description: agents never delete repositories
    method: POST
    url: https://mcp.example.com/mcp
    mcp: { method: tools/call, tool: delete_repo }
    decision: deny
"#;

/// The session rule's methods for the handshake.
const HANDSHAKE: &str = "initialize, tools/list, ping, notifications/*";

/// What a client run through keyward left behind.
struct Outcome {
    /// The client's steps by name.
    steps: serde_json::Map<String, Value>,
    /// The tool calls the server executed.
    executed: Vec<Value>,
    /// The audit entries of JSON-RPC calls.
    mcp: Vec<Value>,
    /// Every audit entry.
    audit: Vec<Value>,
}

/// Starts the SDK's server, keyward in front of it with the rules (the session rule allowing
/// `session_methods`), and the SDK's client in `mode` through keyward; approves the client's
/// held call through the admin API while it waits; checks the audit chain.
async fn run(session_methods: &str, mode: &str) -> Outcome {
    assert!(
        mcp_sdk::available(),
        "python3 with the mcp package is required (scripts/test installs it)"
    );
    let work = tempfile::tempdir().unwrap();
    let rules = work.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let yaml = RULES.replace("SESSION_METHODS", session_methods);
    std::fs::write(rules.join("mcp.yaml"), yaml).unwrap();
    let log = work.path().join("executed.jsonl");

    let ca = TestCa::new();
    let (server, addr) = mcp_sdk::start_server(&ca, HOST, work.path(), &log).await;
    // No host allowance: the rules alone decide, the default deny included.
    let pin = format!("{HOST}:443");
    let keyward = Keyward::start(&ca, &[(&pin, addr)], &[], |c| c.rules_dir = rules).await;
    let admin_addr = keyward.running.admin_addr().unwrap();
    let (proxy, trust) = (keyward.proxy_url(), keyward.ca_path.display().to_string());
    let env = [("HTTPS_PROXY", proxy.as_str()), ("SSL_CERT_FILE", &trust)];
    let url = format!("https://{HOST}/mcp");
    let mut client = Program::spawn("client.py", &[&url, mode], &env, work.path());

    // The client waits on its create_issue call while the approver looks at it.
    let pending = within_async(WAIT, async || {
        if client.exited().is_some() {
            return Some(Vec::new());
        }
        let (_, text) = admin(admin_addr, "GET", "/approvals", "").await;
        let list: Vec<Value> = serde_json::from_str(&text).unwrap();
        (!list.is_empty()).then_some(list)
    })
    .await
    .unwrap_or_default();
    assert_eq!(pending.len(), 1, "one held call: {}", client.output());
    assert_eq!(pending[0]["rule"], "mcp-create-issue");
    assert_eq!(pending[0]["mcp"]["tool"], "create_issue");
    assert_eq!(
        pending[0]["mcp"]["arguments"],
        json!({"owner":"acme","repo":"web","title":"Login fails"})
    );
    assert!(
        mcp_sdk::executed(&log)
            .iter()
            .all(|c| c["tool"] != "create_issue"),
        "the held call waits in keyward"
    );
    let id = pending[0]["id"].as_str().unwrap();
    let (status, _) = admin(
        admin_addr,
        "POST",
        &format!("/approvals/{id}/approve"),
        "{}",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let status = client.finish().await;
    assert!(status.success(), "the client failed: {}", client.output());

    let audit = keyward.running.handles().audit().unwrap().clone();
    let entries = audit_log::wait_for(&audit, &keyward.audit_path(), 6, |e| {
        e["mcp_method"].is_string()
    })
    .await;
    audit_log::verify(&keyward.audit_path());
    server.stop().await;
    Outcome {
        steps: mcp_sdk::steps(&client.stdout),
        executed: mcp_sdk::executed(&log),
        mcp: entries
            .iter()
            .filter(|e| e["mcp_method"].is_string())
            .cloned()
            .collect(),
        audit: entries,
    }
}

impl Outcome {
    /// The audit entries of `method` (and `tool`) with `decision`; at least one.
    fn entries(&self, method: &str, tool: Option<&str>, decision: &str) -> Vec<&Value> {
        let found: Vec<&Value> = self
            .mcp
            .iter()
            .filter(|e| e["mcp_method"] == method && e["decision"] == decision)
            .filter(|e| tool.is_none_or(|t| e["mcp_tool"] == t))
            .collect();
        assert!(
            !found.is_empty(),
            "no {decision} entry for {method} {tool:?}: {:#?}",
            self.mcp
        );
        found
    }

    /// What every mode shares: the list without the denied tool, the allowed call's result,
    /// the JSON-RPC error for the hidden tool, the batch denied whole naming its element, the
    /// approved call's result, the server executing only those two calls, and the audit.
    fn assert_decided_alike(&self) {
        let steps = &self.steps;
        assert_eq!(
            steps["tools"],
            json!(["create_issue", "search_issues"]),
            "the denied tool is not listed"
        );
        assert_eq!(
            steps["search_issues"],
            json!({"text": "2 issues in acme/web match 'login bug'", "is_error": false})
        );
        let denied = &steps["delete_repo"];
        assert_eq!(denied["code"], -32001, "{denied}");
        assert_eq!(
            denied["message"],
            "keyward denied tools/call delete_repo: denied by rule `mcp-delete-repo`: agents never delete repositories (rule mcp-delete-repo)"
        );
        assert_eq!(denied["data"]["rule"], "mcp-delete-repo");
        let batch = &steps["batch"];
        assert_eq!(batch["status"], 200, "{batch}");
        assert_eq!(batch["decision"], "deny");
        let answers = batch["body"].as_array().unwrap();
        let ids: Vec<&Value> = answers.iter().map(|a| &a["id"]).collect();
        assert_eq!(ids, [&json!("b1"), &json!("b2")], "{batch}");
        for answer in answers {
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("batch element 1 (tools/call delete_repo)"),
                "{message}"
            );
            assert_eq!(answer["error"]["data"]["rule"], "mcp-delete-repo");
        }
        let mirrored = &steps["mirrored"];
        assert_eq!(mirrored["status"], 403, "{mirrored}");
        assert_eq!(mirrored["decision"], "deny");
        assert_eq!(
            mirrored["body"]["reason"],
            "the Mcp-Name header does not match the body's params.name"
        );
        assert_eq!(
            steps["create_issue"],
            json!({"text": "opened acme/web#7: Login fails", "is_error": false})
        );
        assert_eq!(
            self.executed,
            [
                json!({"tool":"search_issues","arguments":{"owner":"acme","repo":"web","query":"login bug"}}),
                json!({"tool":"create_issue","arguments":{"owner":"acme","repo":"web","title":"Login fails"}}),
            ],
            "the server executed only the allowed and the approved call"
        );

        let mirrored: Vec<&Value> = self
            .audit
            .iter()
            .filter(|e| e["reason"] == mirrored["body"]["reason"])
            .collect();
        assert_eq!(mirrored.len(), 1, "{:#?}", self.audit);
        assert_eq!(mirrored[0]["decision"], "deny");
        assert_eq!(mirrored[0]["status"], 403);
        self.entries("tools/list", None, "allow");
        self.entries("tools/call", Some("search_issues"), "allow");
        let delete = self.entries("tools/call", Some("delete_repo"), "deny");
        assert_eq!(delete.len(), 2, "the call and the batch: {delete:#?}");
        assert_eq!(delete[0]["rule"], "mcp-delete-repo");
        assert_eq!(delete[1]["mcp_batch"], 2);
        let held = self.entries("tools/call", Some("create_issue"), "approve");
        assert_eq!(held[0]["rule"], "mcp-create-issue");
        assert_eq!(held[0]["approval"]["decision"], "approved");
        assert_eq!(held[0]["approval"]["by"], "admin");
        assert_eq!(held[0]["status"], 200);
    }

    /// Every call after `initialize` names the session the server opened.
    fn assert_session(&self) {
        let session = self.steps["initialize"]["session"].as_str().unwrap();
        assert_eq!(self.steps["initialize"]["server"], "keyward-test-github");
        assert!(self.entries("initialize", None, "allow")[0]["mcp_session"].is_null());
        self.entries("notifications/initialized", None, "allow");
        let after: Vec<&Value> = self
            .mcp
            .iter()
            .filter(|e| {
                !["initialize", "server/discover"].contains(&e["mcp_method"].as_str().unwrap())
            })
            .collect();
        assert!(
            after.iter().all(|e| e["mcp_session"] == session),
            "every call after initialize names the session {session}: {after:#?}"
        );
    }
}

#[tokio::test]
async fn the_mcp_sdk_client_and_server_through_keyward_over_a_session() {
    let outcome = run(HANDSHAKE, "legacy").await;
    outcome.assert_decided_alike();
    outcome.assert_session();
    assert!(
        outcome
            .mcp
            .iter()
            .all(|e| e["mcp_method"] != "server/discover")
    );
}

#[tokio::test]
async fn the_sdk_default_client_falls_back_to_a_session_when_rules_deny_its_discover_probe() {
    let outcome = run(HANDSHAKE, "auto").await;
    let probe = outcome.entries("server/discover", None, "deny");
    assert_eq!(probe.len(), 1, "one probe: {probe:#?}");
    assert!(probe[0]["rule"].is_null(), "the default deny: {}", probe[0]);
    outcome.assert_decided_alike();
    outcome.assert_session();
}

#[tokio::test]
async fn the_sdk_default_client_and_server_without_a_session_when_rules_allow_discover() {
    let outcome = run(&format!("server/discover, {HANDSHAKE}"), "auto").await;
    let connected = &outcome.steps["initialize"];
    assert!(connected["session"].is_null(), "no session: {connected}");
    assert_eq!(connected["protocol"], "2026-07-28");
    outcome.entries("server/discover", None, "allow");
    assert!(outcome.mcp.iter().all(|e| e["mcp_method"] != "initialize"));
    assert!(outcome.mcp.iter().all(|e| e["mcp_session"].is_null()));
    outcome.assert_decided_alike();
}
