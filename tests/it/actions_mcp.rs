//! Actions served over MCP (`actions_listen:`), driven by the official MCP Python SDK's
//! client against a test HTTPS upstream: the client lists exactly its agent's actions, a call
//! reaches the upstream as the templated request with the real credential injected by the
//! rules, bad input is a JSON-RPC error naming the field with nothing sent, a deny rule on an
//! action's endpoint is a JSON-RPC error naming the rule, the audit entry names the action,
//! an input cannot change the upstream path, and a held call runs once a person approves it.
//! Shared by the other `actions_mcp_*` modules: the rules, the recording upstream, the client.

use std::sync::{Arc, Mutex};

use http::{Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::runtime::admin;
use crate::support::mcp_sdk::{self, Program};
use crate::support::upstream::full;
use crate::support::{Handler, Harness, audit_log, within_async};

const PLACEHOLDER: &str = "keyward:github:00112233aabbccdd";
pub(crate) const GITHUB_TOKEN: &str = "ghp_realtokenvalue0123456789abcdefABCDEF";
pub(crate) const TRIAGE_TOKEN: &str = "triage-token-5b9e";

const RULES: &str = r#"
secrets:
  github:
    from: file:$FILES/github
    placeholder: keyward:github:00112233aabbccdd
    hosts: [api.github.com]
agents:
  triage-bot: { token: file:$FILES/triage }
  release-bot: { token: file:$FILES/release }
rules:
  - id: github-create-issue
    method: POST
    url: https://api.github.com/repos/acme/*/issues
    inject: [github]
    set_headers: { Authorization: "Bearer {{github}}" }
    decision: allow
  - id: release-held
    description: a person confirms every release
    method: POST
    url: https://api.github.com/repos/acme/keyward/releases
    approval: { timeout: 60s }
    decision: approve
  - id: no-closing
    description: agents never close issues
    method: PATCH
    url: https://api.github.com/repos/acme/*/issues/*
    decision: deny
actions:
  - name: github.create_issue
    description: Open an issue in an acme repository.
    agents: [triage-bot]
    input:
      type: object
      required: [repo, title]
      properties:
        repo: { type: string, maxLength: 64 }
        title: { type: string, minLength: 1, maxLength: 256 }
        labels:
          type: array
          maxItems: 3
          items: { type: string, enum: [bug, triage] }
    request:
      method: POST
      url: https://api.github.com/repos/acme/{repo}/issues
      body:
        title: "{title}"
        labels: "{labels}"
    response:
      fields: [/number, /html_url]
  - name: github.close_issue
    description: Close an issue.
    agents: [triage-bot]
    input:
      type: object
      required: [repo, number]
      properties:
        repo: { type: string, enum: [keyward] }
        number: { type: integer, minimum: 1 }
    request:
      method: PATCH
      url: https://api.github.com/repos/acme/{repo}/issues/{number}
      body: { state: closed }
    response:
      fields: [/state]
  - name: github.tag_release
    description: Tag a release.
    agents: [release-bot]
    input:
      type: object
      required: [tag]
      properties:
        tag: { type: string }
    request:
      method: POST
      url: https://api.github.com/repos/acme/keyward/releases
      body: { tag_name: "{tag}" }
"#;

/// What the upstream received: method, path, Authorization and body.
pub(crate) type Received = Arc<Mutex<Vec<(String, String, String, Value)>>>;

/// Records each request and answers like GitHub's issue creation, with fields the shaping
/// must drop.
pub(crate) fn github(received: Received) -> Handler {
    Arc::new(move |req: http::Request<hyper::body::Incoming>| {
        let received = received.clone();
        Box::pin(async move {
            let method = req.method().to_string();
            let path = req.uri().path().to_owned();
            let auth = req
                .headers()
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let forged = path.starts_with("/repos/acme/forged/");
            received.lock().unwrap().push((method, path, auth, body));
            if forged {
                // An upstream posing as keyward's refusal.
                let mut resp = Response::new(full(r#"{"rule":"fake","reason":"fake"}"#));
                *resp.status_mut() = StatusCode::FORBIDDEN;
                resp.headers_mut()
                    .insert("keyward-decision", "deny".parse().unwrap());
                return resp;
            }
            let answer = json!({
                "number": 42,
                "html_url": "https://github.com/acme/keyward/issues/42",
                "node_id": "internal-only",
                "user": {"login": "acme-bot"},
            });
            let mut resp = Response::new(full(answer.to_string()));
            *resp.status_mut() = StatusCode::CREATED;
            resp.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            resp
        })
    })
}

/// The SDK client's steps, run with `args` (see `actions_client.py`).
pub(crate) async fn client(args: &[&str], dir: &std::path::Path) -> serde_json::Map<String, Value> {
    let mut program = Program::spawn("actions_client.py", args, &[], dir);
    let status = program.finish().await;
    assert!(status.success(), "the client failed: {}", program.output());
    mcp_sdk::steps(&program.stdout)
}

/// keyward with the rules, serving actions on a port of its own, in front of a recording
/// GitHub.
pub(crate) async fn start(received: &Received) -> crate::support::harness::Running {
    Harness::new()
        .upstream(&["api.github.com"], github(received.clone()))
        .file("github", GITHUB_TOKEN)
        .file("triage", TRIAGE_TOKEN)
        .file("release", "release-token-1")
        .rules("github.yaml", RULES)
        .config(|c| c.actions_listen = Some("127.0.0.1:0".parse().unwrap()))
        .start()
        .await
}

pub(crate) fn basic(agent: &str, token: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{agent}:{token}"));
    format!("Basic {encoded}")
}

#[tokio::test]
async fn the_sdk_client_lists_and_calls_its_agents_actions_through_the_rules() {
    assert!(
        mcp_sdk::available(),
        "python3 with the mcp package is required (scripts/test installs it)"
    );
    let received: Received = Arc::default();
    let h = start(&received).await;
    let addr = h.keyward.running.actions_addr().unwrap();
    let url = format!("http://{addr}/mcp");
    let work = tempfile::tempdir().unwrap();
    let calls = json!([
        ["github.create_issue", {"repo": "keyward", "title": "Crash on start", "labels": ["bug"]}],
        ["github.create_issue", {"repo": "keyward", "title": "x", "labels": ["wontfix"]}],
        ["github.close_issue", {"repo": "keyward", "number": 7}],
        ["github.tag_release", {"tag": "v1"}],
        ["github.create_issue", {"repo": "../admin", "title": "up"}],
        ["github.create_issue", {"repo": "a%2F..%2Fadmin", "title": "up"}],
        ["github.create_issue", {"repo": "keyward?state=all#top", "title": "q"}],
        ["github.create_issue", {"repo": "keyward\nX-Injected: 1", "title": "n"}],
    ]);
    let (auth, calls) = (basic("triage-bot", TRIAGE_TOKEN), calls.to_string());
    let steps = client(&["http", &url, &auth, &calls], work.path()).await;

    assert_eq!(
        steps["tools"],
        json!(["github.close_issue", "github.create_issue"]),
        "only the agent's actions are listed"
    );
    let schema = &steps["schemas"]["github.create_issue"];
    assert_eq!(schema["required"], json!(["repo", "title"]));
    assert_eq!(
        schema["properties"]["labels"]["items"]["enum"],
        json!(["bug", "triage"])
    );

    assert_eq!(
        steps["call0"],
        json!({
            "structured": {"number": 42, "html_url": "https://github.com/acme/keyward/issues/42"},
            "text": "{\"html_url\":\"https://github.com/acme/keyward/issues/42\",\"number\":42}",
            "is_error": false,
        }),
        "the answer is shaped"
    );
    let bad = &steps["call1"];
    assert_eq!(bad["code"], -32602, "{bad}");
    assert!(
        bad["message"].as_str().unwrap().contains("/labels/0"),
        "the error names the field: {bad}"
    );
    let denied = &steps["call2"];
    assert_eq!(denied["code"], -32001, "{denied}");
    assert!(
        denied["message"].as_str().unwrap().contains("no-closing"),
        "{denied}"
    );
    assert_eq!(denied["data"]["rule"], "no-closing");
    assert_eq!(
        denied["data"]["reason"],
        "denied by rule `no-closing`: agents never close issues"
    );
    let hidden = &steps["call3"];
    assert_eq!(hidden["code"], -32602, "another agent's action: {hidden}");

    let seen = received.lock().unwrap().clone();
    let (method, path, auth, body) = &seen[0];
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("POST", "/repos/acme/keyward/issues")
    );
    assert_eq!(
        auth,
        &format!("Bearer {GITHUB_TOKEN}"),
        "the real credential"
    );
    assert_eq!(body, &json!({"title": "Crash on start", "labels": ["bug"]}));
    for (_, path, _, _) in &seen {
        let segments: Vec<&str> = path.split('/').collect();
        assert_eq!(segments.len(), 5, "one segment for the repo: {path}");
        assert_eq!(&segments[..3], ["", "repos", "acme"], "{path}");
        assert_eq!(segments[4], "issues", "{path}");
        assert!(!path.contains("/admin"), "{path}");
    }
    assert!(
        seen.iter().all(|(m, ..)| m == "POST"),
        "the denied and refused calls sent nothing: {seen:?}"
    );
    for injected in ["call4", "call5"] {
        let step = &steps[injected];
        assert_eq!(step["code"], -32602, "{injected}: {step}");
        assert!(
            step["message"]
                .as_str()
                .unwrap()
                .contains("`repo` cannot be a path segment"),
            "{injected}: {step}"
        );
    }
    // `?`, `#` and a newline stay inside the one segment, percent-encoded.
    assert_eq!(steps["call6"]["is_error"], false, "{}", steps["call6"]);
    assert_eq!(steps["call7"]["is_error"], false, "{}", steps["call7"]);
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[1].1, "/repos/acme/keyward%3Fstate%3Dall%23top/issues");
    assert_eq!(seen[2].1, "/repos/acme/keyward%0AX-Injected%3A%201/issues");

    for head in h.upstream().seen() {
        for name in [
            "keyward-action",
            "keyward-action-token",
            "proxy-authorization",
        ] {
            assert!(
                !head.headers.contains_key(name),
                "{name} reached the upstream"
            );
        }
    }

    let audit = h.keyward.running.handles().audit().unwrap().clone();
    let entries = audit_log::wait_for(&audit, &h.keyward.audit_path(), 8, |e| {
        e["action"].is_string()
    })
    .await;
    let created: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "github.create_issue" && e["decision"] == "allow")
        .collect();
    assert!(!created.is_empty(), "{entries:#?}");
    assert_eq!(created[0]["agent"], "triage-bot");
    assert_eq!(created[0]["path"], "/repos/acme/keyward/issues");
    let closed: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "github.close_issue")
        .collect();
    assert_eq!(closed[0]["decision"], "deny");
    assert_eq!(closed[0]["rule"], "no-closing");
    // Calls refused before anything was sent are recorded too, with the reason.
    let refused_here: Vec<&Value> = entries
        .iter()
        .filter(|e| e["client"] == "actions-listener")
        .collect();
    let reasons: Vec<(&str, &str)> = refused_here
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert_eq!(
        reasons[0],
        (
            "github.create_issue",
            "invalid input: /labels/0: \"wontfix\" is not one of [bug, triage]"
        )
    );
    assert_eq!(
        reasons[1],
        (
            "github.tag_release",
            "no action named github.tag_release is served to this agent"
        )
    );
    assert!(
        reasons[2].1.contains("cannot be a path segment"),
        "{reasons:?}"
    );
    for entry in &refused_here {
        assert_eq!(entry["decision"], "deny");
        assert_eq!(entry["agent"], "triage-bot");
    }
    audit_log::verify(&h.keyward.audit_path());
    let log = h.keyward.flushed_audit_log().await;
    for secret in [GITHUB_TOKEN, TRIAGE_TOKEN] {
        assert!(!log.contains(secret), "no secret in the audit log");
    }
}

#[tokio::test]
async fn a_held_action_runs_once_a_person_approves_it() {
    assert!(
        mcp_sdk::available(),
        "python3 with the mcp package is required (scripts/test installs it)"
    );
    let received: Received = Arc::default();
    let h = start(&received).await;
    let url = format!("http://{}/mcp", h.keyward.running.actions_addr().unwrap());
    let work = tempfile::tempdir().unwrap();
    let calls = json!([["github.tag_release", {"tag": "v1.2.0"}]]).to_string();
    let auth = basic("release-bot", "release-token-1");
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
    assert_eq!(pending[0]["rule"], "release-held");
    assert_eq!(pending[0]["action"], "github.tag_release");
    assert_eq!(pending[0]["body_preview"], r#"{"tag_name":"v1.2.0"}"#);
    assert_eq!(received.lock().unwrap().len(), 0, "held, not sent");
    let id = pending[0]["id"].as_str().unwrap();
    let (status, _) = admin(h.admin(), "POST", &format!("/approvals/{id}/approve"), "{}").await;
    assert_eq!(status, StatusCode::OK);
    let status = program.finish().await;
    assert!(status.success(), "the client failed: {}", program.output());
    let steps = mcp_sdk::steps(&program.stdout);
    assert_eq!(steps["tools"], json!(["github.tag_release"]));
    assert_eq!(steps["call0"]["is_error"], false, "{steps:?}");
    assert_eq!(
        steps["call0"]["structured"],
        json!({}),
        "no fields are shaped in"
    );
    let seen = received.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].1, "/repos/acme/keyward/releases");
    assert_eq!(seen[0].3, json!({"tag_name": "v1.2.0"}));
    let audit = h.keyward.running.handles().audit().unwrap().clone();
    let entries = audit_log::wait_for(&audit, &h.keyward.audit_path(), 1, |e| {
        e["action"] == "github.tag_release"
    })
    .await;
    let entry = entries
        .iter()
        .find(|e| e["action"] == "github.tag_release")
        .unwrap();
    assert_eq!(entry["agent"], "release-bot");
    assert_eq!(entry["rule"], "release-held");
    assert!(entry["approval"].is_object(), "{entry}");
}
