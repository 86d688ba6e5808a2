//! An action's own terms, enforced on the request it becomes, on top of the rules: its
//! `decision: approve` holds a call the rules allow (the approver sees the action and its
//! input with secret values replaced), its `limits:` refuse calls beyond them, a deny rule
//! still stops it before any hold, and the audit entry records the action's input redacted.
//! Driven by the official MCP Python SDK's client against a recording upstream.

use std::sync::Arc;

use http::StatusCode;
use serde_json::{Value, json};

use crate::actions_mcp::{GITHUB_TOKEN, Received, TRIAGE_TOKEN, basic, client, github};
use crate::runtime::admin;
use crate::support::mcp_sdk::{self, Program};
use crate::support::{Harness, audit_log, within_async};

const PLACEHOLDER: &str = "keyward:github:00112233aabbccdd";

const RULES: &str = r#"
secrets:
  github:
    from: file:$FILES/github
    placeholder: keyward:github:00112233aabbccdd
    hosts: [api.github.com]
agents:
  triage-bot: { token: file:$FILES/triage }
rules:
  - id: github-issues
    method: POST
    url: https://api.github.com/repos/acme/*/issues
    inject: [github]
    set_headers: { Authorization: "Bearer {{github}}" }
    decision: allow
  - id: no-deleting
    description: agents never delete repositories
    method: DELETE
    url: https://api.github.com/repos/acme/*
    decision: deny
actions:
  - name: github.file_incident
    description: Open an incident issue; a person confirms each.
    input:
      type: object
      required: [title]
      properties:
        title: { type: string, maxLength: 256 }
    request:
      method: POST
      url: https://api.github.com/repos/acme/incidents/issues
      body: { title: "{title}" }
    response:
      fields: [/number]
    decision: approve
    approval: { timeout: 60s }
  - name: github.comment
    description: Open a small issue, at most twice an hour.
    input:
      type: object
      required: [title]
      properties:
        title: { type: string }
    request:
      method: POST
      url: https://api.github.com/repos/acme/widgets/issues
      body: { title: "{title}" }
    response:
      fields: [/number]
    limits: { rate: 2/hour }
  - name: github.delete_repo
    description: Delete a repository, once a person confirms.
    input:
      type: object
      required: [repo]
      properties:
        repo: { type: string, enum: [scratch] }
    request:
      method: DELETE
      url: https://api.github.com/repos/acme/{repo}
    decision: approve
"#;

async fn start(received: &Received) -> crate::support::harness::Running {
    Harness::new()
        .upstream(&["api.github.com"], github(received.clone()))
        .file("github", GITHUB_TOKEN)
        .file("triage", TRIAGE_TOKEN)
        .rules("github.yaml", RULES)
        .config(|c| c.actions_listen = Some("127.0.0.1:0".parse().unwrap()))
        .start()
        .await
}

fn require_sdk() {
    assert!(
        mcp_sdk::available(),
        "python3 with the mcp package is required (scripts/test installs it)"
    );
}

#[tokio::test]
async fn an_actions_own_approval_holds_a_call_the_rules_allow_and_shows_its_input_redacted() {
    require_sdk();
    let received: Received = Arc::default();
    let h = start(&received).await;
    let url = format!("http://{}/mcp", h.keyward.running.actions_addr().unwrap());
    let work = tempfile::tempdir().unwrap();
    // The agent found the real token somewhere and pastes it into the title.
    let title = format!("token {GITHUB_TOKEN} leaked in CI");
    let calls = json!([["github.file_incident", {"title": title}]]).to_string();
    let auth = basic("triage-bot", TRIAGE_TOKEN);
    let args = ["http", url.as_str(), &auth, &calls];
    let mut program = Program::spawn("actions_client.py", &args, &[], work.path());
    let pending = within_async(mcp_sdk::WAIT, async || {
        if program.exited().is_some() {
            return Some(Vec::new());
        }
        let (_, text) = admin(h.admin(), "GET", "/approvals", "").await;
        let list: Vec<Value> = serde_json::from_str(&text).unwrap();
        (!list.is_empty()).then_some(list)
    })
    .await
    .unwrap_or_default();
    assert_eq!(pending.len(), 1, "one held call: {}", program.output());
    let held = &pending[0];
    assert_eq!(held["rule"], "github-issues", "the rule that allows it");
    assert_eq!(held["action"], "github.file_incident");
    let shown = format!("token {PLACEHOLDER} leaked in CI");
    assert_eq!(held["action_input"], json!({ "title": shown }));
    let text = held.to_string();
    assert!(!text.contains(GITHUB_TOKEN), "no secret shown: {text}");
    assert!(
        held["body_preview"].as_str().unwrap().contains(PLACEHOLDER),
        "{held}"
    );
    assert_eq!(received.lock().unwrap().len(), 0, "held, not sent");
    let id = held["id"].as_str().unwrap();
    let (status, _) = admin(h.admin(), "POST", &format!("/approvals/{id}/approve"), "{}").await;
    assert_eq!(status, StatusCode::OK);
    let status = program.finish().await;
    assert!(status.success(), "the client failed: {}", program.output());
    let steps = mcp_sdk::steps(&program.stdout);
    assert_eq!(
        steps["call0"]["structured"],
        json!({"number": 42}),
        "{steps:?}"
    );
    let seen = received.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "sent once, after the approval: {seen:?}");
    assert_eq!(seen[0].1, "/repos/acme/incidents/issues");
    assert_eq!(seen[0].2, format!("Bearer {GITHUB_TOKEN}"));
    let audit = h.keyward.running.handles().audit().unwrap().clone();
    let entries = audit_log::wait_for(&audit, &h.keyward.audit_path(), 1, |e| {
        e["action"] == "github.file_incident"
    })
    .await;
    let entry = entries
        .iter()
        .find(|e| e["action"] == "github.file_incident")
        .unwrap();
    assert_eq!(entry["decision"], "approve", "{entry}");
    assert_eq!(entry["approval"]["decision"], "approved", "{entry}");
    assert_eq!(entry["action_input"], json!({ "title": shown }));
    audit_log::verify(&h.keyward.audit_path());
    let log = h.keyward.flushed_audit_log().await;
    assert!(!log.contains(GITHUB_TOKEN), "no secret in the audit log");
    assert!(
        !log.contains(TRIAGE_TOKEN),
        "no agent token in the audit log"
    );
}

#[tokio::test]
async fn an_actions_own_limit_refuses_calls_beyond_it_and_a_deny_rule_stops_a_held_action() {
    require_sdk();
    let received: Received = Arc::default();
    let h = start(&received).await;
    let url = format!("http://{}/mcp", h.keyward.running.actions_addr().unwrap());
    let work = tempfile::tempdir().unwrap();
    let calls = json!([
        ["github.comment", {"title": "one"}],
        ["github.comment", {"title": "two"}],
        ["github.comment", {"title": "three"}],
        ["github.delete_repo", {"repo": "scratch"}],
        ["github.comment", {"title": 7}],
    ])
    .to_string();
    let auth = basic("triage-bot", TRIAGE_TOKEN);
    let steps = client(&["http", &url, &auth, &calls], work.path()).await;
    for call in ["call0", "call1"] {
        assert_eq!(
            steps[call]["structured"],
            json!({"number": 42}),
            "{steps:?}"
        );
    }
    let limited = &steps["call2"];
    assert_eq!(limited["code"], -32001, "{limited}");
    assert_eq!(limited["data"]["decision"], "rate_limited", "{limited}");
    assert!(
        limited["message"]
            .as_str()
            .unwrap()
            .contains("the action's rate limit exceeded"),
        "{limited}"
    );
    // The rules' deny comes before the action's own approval: nobody is asked.
    let denied = &steps["call3"];
    assert_eq!(denied["code"], -32001, "{denied}");
    assert_eq!(denied["data"]["rule"], "no-deleting", "{denied}");
    let (_, text) = admin(h.admin(), "GET", "/approvals", "").await;
    assert_eq!(text.trim(), "[]", "no pending approval");
    assert_eq!(steps["call4"]["code"], -32602, "{steps:?}");
    let seen = received.lock().unwrap().clone();
    let titles: Vec<&Value> = seen.iter().map(|r| &r.3["title"]).collect();
    assert_eq!(titles, [&json!("one"), &json!("two")], "{seen:?}");
    let audit = h.keyward.running.handles().audit().unwrap().clone();
    let entries = audit_log::wait_for(&audit, &h.keyward.audit_path(), 5, |e| {
        e["action"].is_string()
    })
    .await;
    let limited = entries
        .iter()
        .find(|e| e["decision"] == "rate_limited")
        .unwrap();
    assert_eq!(limited["action"], "github.comment", "{limited}");
    assert_eq!(limited["action_input"], json!({"title": "three"}));
    assert_eq!(limited["reason"], "the action's rate limit exceeded");
    let denied = entries
        .iter()
        .find(|e| e["action"] == "github.delete_repo")
        .unwrap();
    assert_eq!(denied["decision"], "deny", "{denied}");
    assert_eq!(denied["action_input"], json!({"repo": "scratch"}));
    assert!(denied["approval"].is_null(), "{denied}");
    let invalid = entries
        .iter()
        .find(|e| e["action_input"] == json!({"title": 7}))
        .unwrap();
    assert_eq!(
        invalid["client"], "actions-listener",
        "refused before sending"
    );
    assert_eq!(invalid["decision"], "deny", "{invalid}");
    audit_log::verify(&h.keyward.audit_path());
}
