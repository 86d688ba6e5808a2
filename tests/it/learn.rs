//! Learn mode end to end: a scripted agent (Python `requests`) works through keyward run
//! with `learn`, against two hosts with ids in paths and JSON bodies; what the rules would
//! deny or hold is forwarded and recorded as `would`; `keyward rules suggest` drafts rules
//! from the log that pass `keyward check` and `keyward test`, and keyward running the
//! draft allows the same session again and denies a new host and a new path shape.

mod guards;
mod modes;

use std::process::{Command, Output};

use http::StatusCode;

use crate::support::agent::Proto;
use crate::support::upstream::echo;
use crate::support::{ADMIN_TOKEN, Harness, admin_get_as};

/// The agent's own credential, sent in an `Authorization` header: never in the log or draft.
const AGENT_TOKEN: &str = "agent-own-token-5b9e77c1d2";

/// The rules in force while learning: a deny rule, an approve rule, an allow rule.
const RULES: &str = "rules:
  - id: admin-blocked
    url: https://api.example.com/admin/**
    decision: deny
  - id: deploys-held
    method: PUT
    url: https://api.example.com/deploys/*
    decision: approve
  - id: issues-read
    method: GET
    url: https://api.example.com/repos/acme/issues/*
    decision: allow
";

/// The session: each line `[method, url, status]` printed as one JSON list.
const SESSION: &str = r#"
import json, os, requests
s = requests.Session()
out = []
def go(method, url, **kw):
    r = s.request(method, url, timeout=20, **kw)
    out.append([method, url, r.status_code])
go("GET", "https://api.example.com/repos/acme/issues/42")
go("GET", "https://api.example.com/repos/acme/issues/43?state=open&page=2")
go("POST", "https://api.example.com/repos/acme/issues", json={"title": "t", "labels": ["bug"]},
   headers={"Authorization": "Bearer " + os.environ["AGENT_TOKEN"]})
go("DELETE", "https://api.example.com/sessions/3f2504e0-4f89-11d3-9a0c-0305e82c3301")
go("GET", "https://api.example.com/admin/settings")
go("PUT", "https://api.example.com/deploys/7", json={"ref": "main"})
go("GET", "https://files.example.com/blobs/9fceb02d0ae598e95dc970b74767f19372d61af8")
print(json.dumps(out))
"#;

/// How many requests [`SESSION`] makes, and how many of them go to api.example.com.
const SESSION_REQUESTS: usize = 7;
const API_REQUESTS: usize = 6;

/// Runs the session through the keyward at `proxy` trusting `ca`; the statuses it saw.
async fn run_session(proxy: String, ca: std::path::PathBuf) -> Vec<u64> {
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-c", SESSION])
            .env("HTTPS_PROXY", proxy)
            .env("REQUESTS_CA_BUNDLE", ca)
            .env("AGENT_TOKEN", AGENT_TOKEN)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .output()
            .expect("python3 runs (scripts/test installs it with requests)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = serde_json::from_str(stdout.trim()).unwrap();
    lines.iter().map(|l| l[2].as_u64().unwrap()).collect()
}

fn keyward(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The entry of the request to `path` with `method`.
fn entry<'a>(entries: &'a [serde_json::Value], method: &str, path: &str) -> &'a serde_json::Value {
    entries
        .iter()
        .find(|e| e["method"] == method && e["path"] == path)
        .unwrap_or_else(|| panic!("no entry for {method} {path}: {entries:?}"))
}

#[tokio::test]
async fn a_learned_session_drafts_rules_that_allow_it_again_and_nothing_new() {
    let h = Harness::new()
        .upstream(&["api.example.com"], echo())
        .upstream(&["files.example.com"], echo())
        .rules("in-force.yaml", RULES)
        .config(|c| c.learn = true)
        .start()
        .await;
    let statuses = run_session(h.keyward.proxy_url(), h.keyward.ca_path.clone()).await;
    assert_eq!(
        statuses,
        vec![200; SESSION_REQUESTS],
        "learn mode forwards all of it"
    );
    assert_eq!(h.upstreams[0].count(), API_REQUESTS);
    assert_eq!(h.upstreams[1].count(), 1);

    let log = h.keyward.flushed_audit_log().await;
    assert!(
        !log.contains(AGENT_TOKEN),
        "the agent's credential is not in the log"
    );
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["scheme"] == "https")
        .collect();
    assert_eq!(entries.len(), SESSION_REQUESTS, "{log}");
    assert!(
        entries
            .iter()
            .all(|e| e["mode"] == "learn" && e["decision"] == "allow")
    );
    let admin = entry(&entries, "GET", "/admin/settings");
    assert_eq!(admin["would"]["decision"], "deny");
    assert_eq!(admin["would"]["rule"], "admin-blocked");
    assert!(
        admin.get("rule").is_none(),
        "a denial forwards with no rule: {admin}"
    );
    let held = entry(&entries, "PUT", "/deploys/7");
    assert_eq!(
        (&held["would"]["decision"], &held["rule"]),
        (&"approve".into(), &"deploys-held".into())
    );
    let files = entry(
        &entries,
        "GET",
        "/blobs/9fceb02d0ae598e95dc970b74767f19372d61af8",
    );
    assert!(
        files["would"]["reason"]
            .as_str()
            .unwrap()
            .contains("no rule"),
        "{files}"
    );
    let read = entry(&entries, "GET", "/repos/acme/issues/42");
    assert!(
        read.get("would").is_none() && read["rule"] == "issues-read",
        "{read}"
    );
    let post = entry(&entries, "POST", "/repos/acme/issues");
    assert_eq!(
        post["observed"]["json_fields"],
        serde_json::json!(["labels", "title"])
    );
    assert_eq!(
        post["observed"]["auth"],
        serde_json::json!(["authorization"])
    );
    crate::support::audit_log::verify(&h.keyward.audit_path());
    let metrics = admin_get_as(&h.admin().to_string(), Some(ADMIN_TOKEN), "/metrics").await;
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(metrics.contains("keyward_learn_mode 1"), "{metrics}");
    assert!(
        metrics.contains(r#"keyward_learn_let_through_total{decision="deny"} 4"#),
        "{metrics}"
    );

    let audit = h.keyward.audit_path();
    let suggest = keyward(&[
        "rules".as_ref(),
        "suggest".as_ref(),
        "--from".as_ref(),
        audit.as_os_str(),
    ]);
    assert!(suggest.status.success(), "{}", text(&suggest));
    let draft = String::from_utf8(suggest.stdout.clone()).unwrap();
    assert!(
        !draft.contains(AGENT_TOKEN),
        "the agent's credential is not in the draft"
    );
    for want in [
        "https://api.example.com/repos/acme/issues/{issue}",
        "https://api.example.com/sessions/{session}",
        "https://files.example.com/blobs/{blob}",
        "# JSON body fields seen: labels, title",
        "# query parameters seen: page, state",
        "authorization; their values are not recorded",
        "rule `admin-blocked`",
    ] {
        assert!(draft.contains(want), "missing {want:?} in:\n{draft}");
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("draft.yaml"), &draft).unwrap();
    for command in ["check", "test"] {
        let out = keyward(&[command.as_ref(), dir.path().as_os_str()]);
        assert!(
            out.status.success(),
            "keyward {command}: {}\n{draft}",
            text(&out)
        );
    }

    let replay = Harness::new()
        .upstream(&["api.example.com"], echo())
        .upstream(&["files.example.com"], echo())
        .rules("draft.yaml", &draft)
        .start()
        .await;
    let statuses = run_session(replay.keyward.proxy_url(), replay.keyward.ca_path.clone()).await;
    assert_eq!(
        statuses,
        vec![200; SESSION_REQUESTS],
        "the draft allows the session\n{draft}"
    );
    let agent = replay.agent();
    let new_shape = agent
        .get(
            Proto::H1,
            "https://api.example.com/repos/acme/issues/42/comments",
        )
        .await;
    assert_eq!(new_shape.status, StatusCode::FORBIDDEN);
    let new_host = agent
        .connect("elsewhere.example.com:443")
        .await
        .unwrap_err();
    assert_eq!(new_host.status, StatusCode::FORBIDDEN);
    assert_eq!(replay.upstreams[0].count(), API_REQUESTS);
    assert_eq!(replay.upstreams[1].count(), 1);
}
