//! Learn mode from the command line and beside shadow rules: `keyward run --learn` warns,
//! forwards a request to a host no rule names and records it as a would-be denial, also
//! from a jail (its DNS answers the name);
//! `--learn` with `--proxy` is refused; a shadow rule that disagrees records its would-be
//! verdict and rule in the entry's `would`, in enforcing mode too; `keyward rules suggest`
//! names a missing log, a line that is not an entry, and a log with nothing to draft from.

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

#[test]
fn rules_suggest_names_what_it_cannot_draft_from() {
    let dir = tempfile::tempdir().unwrap();
    let suggest = |log: &std::path::Path, extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args(["rules", "suggest", "--from"])
            .arg(log)
            .args(extra)
            .output()
            .unwrap()
    };
    let missing = suggest(&dir.path().join("none.jsonl"), &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing).1.contains("none.jsonl"),
        "{}",
        text(&missing).1
    );

    let log = dir.path().join("audit.jsonl");
    let denied = r#"{"time":"2026-11-25T19:15:00.123Z","request_id":"r1","client":"127.0.0.1:5000","method":"GET","scheme":"https","host":"api.x","port":443,"path":"/a","decision":"deny","mode":"enforce","credentials":[],"bytes_in":0,"bytes_out":0,"redactions":{},"duration_ms":1.5,"prev_hash":"p","hash":"h"}"#;
    std::fs::write(&log, format!("{denied}\n")).unwrap();
    let nothing = suggest(&log, &[]);
    assert_eq!(nothing.status.code(), Some(2));
    assert!(
        text(&nothing).1.contains("no forwarded request"),
        "{}",
        text(&nothing).1
    );
    assert!(nothing.stdout.is_empty(), "no draft is printed");

    let allowed = denied.replace(r#""decision":"deny""#, r#""decision":"allow""#);
    std::fs::write(&log, format!("{allowed}\nnot json\n")).unwrap();
    let broken = suggest(&log, &[]);
    assert_eq!(broken.status.code(), Some(2));
    assert!(
        text(&broken)
            .1
            .contains("audit.jsonl:2: not an audit entry"),
        "{}",
        text(&broken).1
    );

    std::fs::write(&log, format!("{allowed}\n")).unwrap();
    let other = suggest(&log, &["--agent", "bot"]);
    assert!(
        text(&other).1.contains("no forwarded request of agent bot"),
        "{}",
        text(&other).1
    );
    let drafted = suggest(&log, &[]);
    assert!(drafted.status.success(), "{}", text(&drafted).1);
    assert!(text(&drafted).0.contains(r#"url: "https://api.x/a""#));
}

#[tokio::test]
async fn a_jailed_command_in_learn_mode_resolves_and_reaches_a_host_no_rule_names() {
    if !crate::jail::jail_available("learn: jail") {
        return;
    }
    let scene = Scene::start(&["unlisted.example.com"], echo()).await;
    // The default log (logs/ in the working directory): the jail hides its directory.
    let audit = scene.work.path().join("logs/audit.jsonl");
    let mut cmd = scene.keyward_run();
    cmd.arg("--jail")
        .arg("--learn")
        .arg("--")
        .args([
            "sh",
            "-c",
            "curl -sS --noproxy '*' --max-time 20 --fail-with-body https://unlisted.example.com/items/5",
        ]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("/items/5"), "{stdout}");
    assert_eq!(scene.upstream.count(), 1);
    let entries = crate::support::audit_log::read(&audit);
    let dns = entries
        .iter()
        .find(|e| e["scheme"] == "dns" && e["host"] == "unlisted.example.com" && e["method"] == "A")
        .unwrap_or_else(|| panic!("the query is recorded: {entries:#?}"));
    assert_eq!(dns["decision"], "allow");
    assert!(
        dns["reason"]
            .as_str()
            .unwrap()
            .starts_with("learn mode: no rule admits")
    );
    let request = entries.iter().find(|e| e["path"] == "/items/5").unwrap();
    assert_eq!(
        (&request["mode"], &request["would"]["decision"]),
        (&"learn".into(), &"deny".into())
    );
}
