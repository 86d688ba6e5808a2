//! The approvals console in a real browser (headless Chromium from Debian, driven by
//! playwright-core): a held request appears without a reload with what a person needs to
//! decide, a click approves it and the agent's request completes; a denial's reason reaches
//! the agent; a missing or wrong token sees nothing; the kill switch pauses and resumes an
//! agent; the feed filters by agent, rule and decision; per-rule counters count; the page
//! loads nothing from elsewhere and breaks no rule of its CSP; a screenshot shows it.

use std::time::Duration;

use http::StatusCode;
use serde_json::json;

use crate::runtime::{send_transfer, wait_pending};
use crate::support::agent::Proto;
use crate::support::browser::Browser;
use crate::support::harness::Running;
use crate::support::upstream::echo;
use crate::support::{Agent, Harness};
use bytes::Bytes;
use http_body_util::Full;

/// The approver the tests sign in as.
pub(crate) const OPS_TOKEN: &str = "ops-approver-token-3f8a61c2d9";

const RULES: &str = r#"
agents:
  alice: { token: "file:$FILES/tokens/alice" }
  bob: { token: "file:$FILES/tokens/bob" }
rules:
  - id: read
    description: Agents read the catalogue
    method: GET
    url: https://api.example.com/read/**
    decision: allow
  - id: transfer
    description: Moving money needs a person
    method: POST
    url: https://api.example.com/transfer
    approval: { timeout: 60s }
    decision: approve
"#;

/// keyward with the rules above, agents alice and bob, and the approver `ops`.
pub(crate) async fn start() -> Running {
    let harness = Harness::new()
        .upstream(&["api.example.com"], echo())
        .file("tokens/alice", "alice-token-0123456789")
        .file("tokens/bob", "bob-token-9876543210")
        .file("tokens/ops", OPS_TOKEN)
        .rules("api.yaml", RULES);
    let ops = harness.files_dir().join("tokens/ops");
    harness
        .config(move |c| {
            c.approvers = vec![keyward::config::Approver {
                name: "ops".into(),
                token: format!("file:{}", ops.display()),
            }]
        })
        .start()
        .await
}

pub(crate) fn alice(h: &Running) -> Agent {
    h.agent()
        .with_credentials("alice", "alice-token-0123456789")
}

fn bob(h: &Running) -> Agent {
    h.agent().with_credentials("bob", "bob-token-9876543210")
}

pub(crate) fn console_url(h: &Running) -> String {
    format!("http://{}/console", h.admin())
}

/// A browser on the console, signed in as `ops`.
pub(crate) async fn signed_in(h: &Running) -> Browser {
    let mut browser = Browser::open(&console_url(h)).await;
    let login = browser
        .run(json!({"do": "login", "token": OPS_TOKEN}))
        .await;
    assert_eq!(login["signed_in"], true, "{login}");
    assert!(login["who"].as_str().unwrap().contains("ops"), "{login}");
    browser
}

/// The page broke no CSP rule, threw nothing and asked no other origin for anything.
pub(crate) async fn assert_clean(browser: &mut Browser) {
    let (problems, elsewhere) = browser.problems().await;
    assert!(problems.is_empty(), "page problems: {problems:?}");
    assert!(
        elsewhere.is_empty(),
        "requests to other origins: {elsewhere:?}"
    );
}

/// The audit entry of request `id`, once written.
async fn entry_of(h: &Running, id: &str) -> serde_json::Value {
    let text = h.keyward.flushed_audit_log().await;
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["request_id"] == id && e.get("decision").is_some())
        .unwrap_or_else(|| panic!("no audit entry for {id}"))
}

#[tokio::test]
async fn a_held_request_appears_without_a_reload_and_a_click_approves_it() {
    let h = start().await;
    let mut browser = signed_in(&h).await;
    // The page is open before the request is held: it must appear by itself.
    let agent = alice(&h);
    let held = tokio::spawn(async move {
        let req = http::Request::post("https://api.example.com/transfer")
            .header("content-type", "application/json")
            .header("x-job", "nightly-payout")
            .body(Full::new(Bytes::from_static(b"{\"amount\":5}")))
            .unwrap();
        agent.send(Proto::H1, req).await
    });
    let pending = wait_pending(h.admin(), 1).await;
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    let card = browser
        .run(json!({"do": "wait_card", "url": "https://api.example.com:443/transfer"}))
        .await;
    let text = card["text"].as_str().unwrap();
    for shown in [
        "POST",
        "alice",
        "transfer",
        "Moving money needs a person",
        "content-type, x-job",
        "Times out in",
    ] {
        assert!(text.contains(shown), "{shown:?} not in the card: {text}");
    }
    // The body preview is pretty-printed JSON.
    assert_eq!(card["body"], "{\n  \"amount\": 5\n}");
    assert_eq!(h.upstream().count(), 0);
    browser
        .run(json!({"do": "approve", "url": "/transfer", "window": "once"}))
        .await;
    let reply = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(h.upstream().count(), 1);
    let entry = entry_of(&h, &id).await;
    assert_eq!(entry["decision"], "approve");
    assert_eq!(entry["approval"]["by"], "ops");
    // The feed shows the answered request; the rule's counter counted it.
    let feed = browser
        .run(json!({"do": "feed", "rule": "transfer", "expect": 1}))
        .await;
    let row = feed["rows"][0].as_array().unwrap();
    assert!(row.iter().any(|c| c == "approve"), "{feed}");
    assert!(
        row.iter()
            .any(|c| c.as_str().unwrap().contains("answered by ops")),
        "{feed}"
    );
    let counts = browser
        .run(json!({"do": "counts", "rule": "transfer", "decision": "approve", "expect": 1}))
        .await;
    assert_eq!(counts["counts"]["approve"], 1, "{counts}");
    assert_clean(&mut browser).await;
    browser.close().await;
}

#[tokio::test]
async fn a_denial_with_a_reason_reaches_the_agent_and_nothing_is_forwarded() {
    let h = start().await;
    let mut browser = signed_in(&h).await;
    let held = send_transfer(alice(&h));
    let pending = wait_pending(h.admin(), 1).await;
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    browser
        .run(json!({"do": "wait_card", "url": "/transfer"}))
        .await;
    browser
        .run(json!({"do": "deny", "url": "/transfer", "reason": "not before the audit"}))
        .await;
    let reply = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply.reason().contains("not before the audit"),
        "{}",
        reply.reason()
    );
    assert_eq!(h.upstream().count(), 0);
    let entry = entry_of(&h, &id).await;
    assert_eq!(entry["decision"], "deny");
    assert_eq!(entry["approval"]["by"], "ops");
    assert_eq!(entry["approval"]["reason"], "not before the audit");
    assert_clean(&mut browser).await;
    browser.close().await;
}

#[tokio::test]
async fn a_missing_or_wrong_token_sees_nothing() {
    let h = start().await;
    let held = send_transfer(alice(&h));
    wait_pending(h.admin(), 1).await;
    let mut browser = Browser::open(&console_url(&h)).await;
    let check_nothing_shown = async |browser: &mut Browser| {
        let view = browser.run(json!({"do": "view"})).await;
        assert_eq!(view["login_visible"], true, "{view}");
        assert_eq!(view["console_visible"], false, "{view}");
        assert_eq!(view["cards"], 0, "{view}");
        let text = view["text"].as_str().unwrap();
        assert!(
            !text.contains("/transfer") && !text.contains("alice"),
            "{text}"
        );
    };
    check_nothing_shown(&mut browser).await;
    for wrong in [
        "wrong-token-0123456789abcdef",
        &OPS_TOKEN[..OPS_TOKEN.len() - 1],
        "alice-token-0123456789",
    ] {
        let login = browser.run(json!({"do": "login", "token": wrong})).await;
        assert_eq!(login["signed_in"], false, "{login}");
        assert_eq!(login["error"], "that token is not accepted", "{login}");
        check_nothing_shown(&mut browser).await;
    }
    // The API answers nothing without a session, and changes nothing.
    for (method, url) in [
        ("GET", "/console/api/state"),
        ("GET", "/console/api/decisions"),
    ] {
        let got = browser
            .run(json!({"do": "fetch", "url": url, "method": method}))
            .await;
        assert_eq!(got["status"], 401, "{url}: {got}");
        assert!(!got["body"].as_str().unwrap().contains("transfer"), "{got}");
    }
    let id = wait_pending(h.admin(), 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = browser
        .run(json!({"do": "fetch", "url": format!("/console/api/approvals/{id}/approve"), "method": "POST", "body": {}}))
        .await;
    assert_eq!(got["status"], 401, "{got}");
    assert_eq!(wait_pending(h.admin(), 1).await.len(), 1);
    assert!(!held.is_finished());
    assert_eq!(h.upstream().count(), 0);
    held.abort();
    browser.close().await;
}

#[tokio::test]
async fn the_kill_switch_pauses_and_resumes_an_agent_from_the_console() {
    let h = start().await;
    let mut browser = signed_in(&h).await;
    let held = send_transfer(alice(&h));
    wait_pending(h.admin(), 1).await;
    browser
        .run(json!({"do": "wait_card", "url": "/transfer"}))
        .await;
    let paused = browser
        .run(json!({"do": "pause", "agent": "alice", "reason": "incident 4711"}))
        .await;
    assert_eq!(paused["state"], "paused by ops: incident 4711", "{paused}");
    // The held request ends at once with the pause; a new request is refused with it.
    let reply = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = alice(&h)
        .connect("api.example.com:443")
        .await
        .expect_err("a paused agent's CONNECT is refused");
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply.reason().contains("incident 4711"),
        "{}",
        reply.reason()
    );
    let reply = bob(&h)
        .get(Proto::H1, "https://api.example.com/read/1")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let resumed = browser.run(json!({"do": "resume", "agent": "alice"})).await;
    assert_eq!(resumed["state"], "running", "{resumed}");
    let reply = alice(&h)
        .get(Proto::H1, "https://api.example.com/read/2")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(h.upstream().count(), 2);
    // Pause and resume are audited with who did it.
    let log = h.keyward.flushed_audit_log().await;
    assert!(
        log.lines().any(|l| l.contains("/agents/alice/pause")
            && l.contains("incident 4711")
            && l.contains("ops")),
        "{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("/agents/alice/resume")),
        "{log}"
    );
    // The feed filters by agent and decision.
    let feed = browser
        .run(json!({"do": "feed", "agent": "bob", "expect": 1}))
        .await;
    assert_eq!(feed["rows"][0][1], "bob", "{feed}");
    // alice's denials: the pause itself, the held request and the tunnel it ended, the
    // refused CONNECT.
    let denied = browser
        .run(json!({"do": "feed", "agent": "alice", "decision": "deny", "expect": 4}))
        .await;
    let rows = denied["rows"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r[3].as_str().unwrap().starts_with("CONNECT")),
        "{denied}"
    );
    assert!(
        rows.iter().all(|r| r[1] == "alice" && r[2] == "deny"),
        "{denied}"
    );
    assert_clean(&mut browser).await;
    browser.close().await;
}
