//! Approval holds through the running proxy: approved (once, then a follow-up window),
//! denied, timed out, announced to a webhook, answered from the CLI, and bounded per agent.

use std::time::Duration;

use http::StatusCode;

use crate::runtime::{Scene, admin, post, send_transfer, wait_pending};
use crate::support::agent::Proto;
use crate::support::upstream::echo;
use crate::support::{Harness, within};

#[tokio::test]
async fn held_requests_are_approved_denied_or_time_out_through_the_admin_api() {
    let s = Scene::start(|_| {}).await;
    let addr = s.admin();
    // Approved once, then identical follow-ups pass for the window.
    let a = s.alice();
    let held = send_transfer(a);
    let pending = wait_pending(addr, 1).await;
    assert_eq!(pending[0]["rule"], "transfer");
    assert_eq!(pending[0]["agent"], "alice");
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = admin(
        addr,
        "POST",
        &format!("/approvals/{id}/approve"),
        r#"{"for":"1m"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(held.await.unwrap().status, StatusCode::OK);
    assert_eq!(s.upstream.count(), 1, "forwarded once");
    assert_eq!(
        s.alice()
            .send(Proto::H1, post("https://api.example.com/transfer"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        s.upstream.count(),
        2,
        "the follow-up window covered the second request"
    );

    // Denied: 403 with the reason; several pending at once.
    let mut held = Vec::new();
    for _ in 0..5 {
        let b = s.bob();
        held.push(send_transfer(b));
    }
    for p in wait_pending(addr, 5).await {
        let id = p["id"].as_str().unwrap();
        let (status, _) = admin(
            addr,
            "POST",
            &format!("/approvals/{id}/deny"),
            r#"{"reason":"not today"}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    for h in held {
        let reply = h.await.unwrap();
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert!(reply.reason().contains("not today"));
    }
    // Timed out (the rule's timeout is 2s).
    let reply = s
        .bob()
        .send(Proto::H1, post("https://api.example.com/transfer"))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()["reason"], "approval timed out");
    assert_eq!(s.upstream.count(), 2);
    let log = s.keyward.flushed_audit_log().await;
    assert!(
        log.contains("\"by\":\"admin\""),
        "the name of the approving token is in the audit log"
    );
    assert!(log.contains("\"decision\":\"timed_out\""));
}

#[tokio::test]
async fn one_agent_cannot_flood_the_approval_queue() {
    let s = Scene::start(|_| {}).await;
    let limit = keyward::control::approvals::MAX_PENDING_PER_AGENT;
    let mut held = Vec::new();
    for _ in 0..limit {
        let a = s.alice();
        held.push(send_transfer(a));
    }
    wait_pending(s.admin(), limit).await;
    let refused = s
        .alice()
        .send(Proto::H1, post("https://api.example.com/transfer"))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.reason().contains("too many requests"));
    // Another agent is not blocked by alice's queue.
    let b = s.bob();
    let bob = send_transfer(b);
    wait_pending(s.admin(), limit + 1).await;
    for p in s.keyward.running.handles().approvals().held_here() {
        s.keyward.running.handles().approvals().deliver(
            &p.id,
            keyward::control::approvals::Resolution::Denied {
                by: None,
                reason: None,
            },
        );
    }
    for h in held {
        assert_eq!(h.await.unwrap().status, StatusCode::FORBIDDEN);
    }
    assert_eq!(bob.await.unwrap().status, StatusCode::FORBIDDEN);
    assert_eq!(s.upstream.count(), 0);
}

#[tokio::test]
async fn held_requests_are_announced_to_the_webhook_and_approvable_from_the_cli() {
    let h = Harness::new()
        .upstream(&["api.example.com", "hooks.example.com"], echo())
        .rules(
            "api.yaml",
            "rules:\n  - id: transfer\n    method: POST\n    url: https://api.example.com/transfer\n    approval: { timeout: 30s, webhook: 'https://hooks.example.com/notify' }\n    decision: approve\n",
        )
        .start()
        .await;
    let (keyward, upstream) = (&h.keyward, h.upstream());
    let agent = keyward.agent();
    let held = send_transfer(agent);
    let admin_addr = keyward.running.admin_addr().unwrap();
    let pending = wait_pending(admin_addr, 1).await;
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    within(Duration::from_secs(2), || {
        upstream
            .seen()
            .iter()
            .any(|s| s.uri == "/notify")
            .then_some(())
    })
    .await;
    assert!(
        upstream
            .seen()
            .iter()
            .any(|s| s.uri == "/notify" && s.method == "POST"),
        "the webhook was told"
    );
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args([
            "approvals",
            "--admin",
            &format!("http://{admin_addr}"),
            "approve",
            &id,
            "--for",
            "5m",
        ])
        .arg("--token-file")
        .arg(keyward.dir.path().join("admin-token.configured"))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(held.await.unwrap().status, StatusCode::OK);
    let list = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args([
            "approvals",
            "--admin",
            &format!("http://{admin_addr}"),
            "list",
        ])
        .arg("--token-file")
        .arg(keyward.dir.path().join("admin-token.configured"))
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&list.stdout).trim(), "[]");
}
