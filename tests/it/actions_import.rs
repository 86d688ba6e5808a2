//! `keyward actions import`: a GitHub-style OpenAPI document becomes a draft that passes
//! `keyward check`, and the drafted action, served over MCP, reaches the test upstream as
//! the templated request with the credential the rules inject.

use std::sync::Arc;

use serde_json::json;

use crate::actions_mcp::{GITHUB_TOKEN, Received, client, github};
use crate::support::Harness;
use crate::support::mcp_sdk;

const SPEC: &str = r##"
openapi: 3.0.3
info: { title: GitHub, version: "1.1" }
servers: [{ url: "https://api.github.com" }]
paths:
  /repos/{owner}/{repo}/issues:
    parameters:
      - { name: owner, in: path, required: true, schema: { type: string, pattern: "^[a-z]+$" } }
      - { name: repo, in: path, required: true, schema: { type: string } }
    post:
      operationId: createIssue
      summary: Create an issue
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: "#/components/schemas/NewIssue" }
      responses:
        "201":
          description: created
          content:
            application/json:
              schema:
                type: object
                properties: { number: { type: integer }, html_url: { type: string } }
    get:
      operationId: listIssues
      responses: { "200": { description: ok } }
components:
  schemas:
    NewIssue:
      type: object
      required: [title]
      properties:
        title: { type: string, maxLength: 256 }
        labels: { type: array, items: { type: string } }
"##;

const RULES: &str = r#"
secrets:
  github:
    from: file:$FILES/github
    placeholder: keyward:github:00112233aabbccdd
    hosts: [api.github.com]
rules:
  - id: github-issues
    method: POST
    url: https://api.github.com/repos/{owner}/{repo}/issues
    inject: [github]
    set_headers: { Authorization: "Bearer {{github}}" }
    decision: allow
"#;

fn keyward(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
async fn an_imported_openapi_operation_is_checked_and_served_end_to_end() {
    let work = tempfile::tempdir().unwrap();
    let spec = work.path().join("github.openapi.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let out = keyward(&[
        "actions",
        "import",
        spec.to_str().unwrap(),
        "--only",
        "createIssue",
        "--prefix",
        "gh",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let draft = String::from_utf8(out.stdout).unwrap();
    assert!(draft.contains("name: gh.create_issue"), "{draft}");
    assert!(!draft.contains("list_issues"), "--only keeps one operation");

    let rules = work.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("actions.yaml"), &draft).unwrap();
    let check = keyward(&["check", rules.to_str().unwrap()]);
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    let broken = work.path().join("swagger.yaml");
    std::fs::write(&broken, "swagger: '2.0'\npaths: {}\n").unwrap();
    let refused = keyward(&["actions", "import", broken.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not an OpenAPI 3 document"));

    assert!(
        mcp_sdk::available(),
        "python3 with the mcp package is required (scripts/test installs it)"
    );
    let received: Received = Arc::default();
    let h = Harness::new()
        .upstream(&["api.github.com"], github(received.clone()))
        .file("github", GITHUB_TOKEN)
        .rules("github.yaml", RULES)
        .rules("actions.yaml", &draft)
        .config(|c| c.actions_listen = Some("127.0.0.1:0".parse().unwrap()))
        .start()
        .await;
    let url = format!("http://{}/mcp", h.keyward.running.actions_addr().unwrap());
    let calls = json!([
        ["gh.create_issue", {"owner": "acme", "repo": "keyward", "title": "Crash", "labels": ["bug"]}],
        ["gh.create_issue", {"owner": "Acme!", "repo": "keyward", "title": "Crash"}],
    ]);
    let steps = client(&["http", &url, "-", &calls.to_string()], work.path()).await;
    assert_eq!(steps["tools"], json!(["gh.create_issue"]));
    assert_eq!(
        steps["call0"]["structured"],
        json!({"number": 42, "html_url": "https://github.com/acme/keyward/issues/42"})
    );
    assert_eq!(
        steps["call1"]["code"], -32602,
        "the pattern is kept: {}",
        steps["call1"]
    );
    let seen = received.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "the refused input sent nothing");
    let (method, path, auth, body) = &seen[0];
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("POST", "/repos/acme/keyward/issues")
    );
    assert_eq!(auth, &format!("Bearer {GITHUB_TOKEN}"));
    assert_eq!(body, &json!({"title": "Crash", "labels": ["bug"]}));
}
