//! Learn mode from the command line and beside shadow rules: `keyward run --learn` warns,
//! forwards a request to a host no rule names and records it as a would-be denial;
//! `--learn` with `--proxy` is refused; a shadow rule that disagrees records its would-be
//! verdict and rule in the entry's `would`, in enforcing mode too.

use http::StatusCode;

use crate::adoption::{Scene, require, text};
use crate::support::Harness;
use crate::support::agent::Proto;
use crate::support::upstream::echo;

#[tokio::test]
async fn keyward_run_learn_forwards_an_unknown_host_and_records_the_would_be_denial() {
    require("curl", "--version");
    let scene = Scene::start(&["unlisted.example.com"], echo()).await;
    let audit = scene.work.path().join("audit.jsonl");
    let curl = "curl -sS --max-time 20 --fail-with-body https://unlisted.example.com/items/5";
    let out = scene
        .run(
            |c| {
                c.arg("--learn").arg("--audit-log").arg(&audit);
            },
            &["sh", "-c", curl],
        )
        .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("learn mode"), "the start warns: {stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["path"], "/items/5");
    assert_eq!(scene.upstream.count(), 1);
    let entries = crate::support::audit_log::read(&audit);
    let entry = entries.iter().find(|e| e["path"] == "/items/5").unwrap();
    assert_eq!(
        (&entry["decision"], &entry["mode"]),
        (&"allow".into(), &"learn".into())
    );
    assert_eq!(entry["would"]["decision"], "deny", "{entry}");

    let refused = scene
        .run(
            |c| {
                c.arg("--learn").arg("--proxy").arg("http://127.0.0.1:9");
            },
            &["true"],
        )
        .await;
    assert!(!refused.status.success());
    assert!(
        text(&refused)
            .1
            .contains("--learn applies to the keyward `run` starts")
    );
}

#[tokio::test]
async fn a_disagreeing_shadow_rule_records_its_would_be_verdict_and_rule() {
    let h = Harness::new()
        .upstream(&["api.example.com"], echo())
        .rules(
            "shadow.yaml",
            "rules:\n  - id: reads\n    method: GET\n    url: https://api.example.com/**\n    decision: allow\n  - id: no-exports\n    mode: shadow\n    url: https://api.example.com/exports/**\n    decision: deny\n",
        )
        .start()
        .await;
    let reply = h
        .agent()
        .get(Proto::H1, "https://api.example.com/exports/1")
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "a shadow rule is not enforced"
    );
    let log = h.keyward.flushed_audit_log().await;
    let entry: serde_json::Value = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .find(|e: &serde_json::Value| e["path"] == "/exports/1")
        .unwrap();
    assert_eq!(
        (&entry["mode"], &entry["rule"]),
        (&"shadow".into(), &"reads".into())
    );
    assert_eq!(entry["would"]["decision"], "deny", "{entry}");
    assert_eq!(entry["would"]["rule"], "no-exports");
    crate::support::audit_log::verify(&h.keyward.audit_path());
}
