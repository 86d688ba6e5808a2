//! The admin API always authenticates: approve, deny, windows, reload and the approval list
//! refuse a missing or wrong token with 401 and change nothing; approvers are named tokens
//! whose name is the audit entry's `by`; `keyward serve` generates a private token when none
//! is configured and `keyward approvals` finds it; `keyward run` gives its command neither a
//! token nor the variables tokens are read from.

use std::path::Path;
use std::process::Stdio;

use http::StatusCode;

use crate::runtime::{Scene, admin_as, send_transfer, wait_pending};
use crate::support::child;

/// Tokens of the two approvers the tests configure.
const OPS_TOKEN: &str = "ops-approver-token-51c9e07a";
const CAROL_TOKEN: &str = "carol-approver-token-0be4d2";

/// Lines of the metrics text that count reloads.
fn reload_counts(s: &Scene) -> Vec<String> {
    s.keyward
        .running
        .handles()
        .metrics()
        .render()
        .lines()
        .filter(|l| l.starts_with("rule_reloads"))
        .map(str::to_owned)
        .collect()
}

fn approvers(dir: &Path) -> Vec<keyward::config::Approver> {
    [("ops", OPS_TOKEN), ("carol", CAROL_TOKEN)]
        .into_iter()
        .map(|(name, token)| {
            let file = dir.join(format!("{name}.token"));
            std::fs::write(&file, format!("{token}\n")).unwrap();
            keyward::config::Approver {
                name: name.into(),
                token: format!("file:{}", file.display()),
            }
        })
        .collect()
}

#[tokio::test]
async fn calls_without_a_valid_token_get_401_and_change_nothing() {
    let tokens = tempfile::tempdir().unwrap();
    let list = approvers(tokens.path());
    let s = Scene::start(|c| c.approvers = list).await;
    let addr = s.admin();
    let a = s.alice();
    let held = send_transfer(a);
    let pending = wait_pending(addr, 1).await;
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    let reloads_before = reload_counts(&s);
    let wrong = [
        None,
        Some("wrong-token-0123456789abcdef"),
        Some(&OPS_TOKEN[..OPS_TOKEN.len() - 1]),
        Some(crate::support::ADMIN_TOKEN.strip_suffix("e").unwrap()),
        Some(""),
    ];
    let calls = [
        ("POST", format!("/approvals/{id}/approve"), ""),
        (
            "POST",
            format!("/approvals/{id}/approve"),
            r#"{"for":"1h"}"#,
        ),
        ("POST", format!("/approvals/{id}/deny"), r#"{"reason":"x"}"#),
        ("POST", "/reload".to_owned(), ""),
        ("GET", "/approvals".to_owned(), ""),
        ("GET", "/metrics".to_owned(), ""),
    ];
    for token in wrong {
        for (method, path, body) in &calls {
            let (status, text) = admin_as(addr, token, method, path, body).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {token:?}: {text}"
            );
            assert!(!text.contains(&id), "nothing about the held request leaks");
        }
    }
    assert_eq!(reload_counts(&s), reloads_before, "no reload happened");
    assert_eq!(s.upstream.count(), 0, "the held request was not forwarded");
    assert!(!held.is_finished(), "the held request is still waiting");
    let still = wait_pending(addr, 1).await;
    assert_eq!(still.len(), 1);
    assert_eq!(still[0]["id"], id.as_str());

    // A named approver answers; the name is the entry's `by`, whatever the body says.
    let (status, text) = admin_as(
        addr,
        Some(OPS_TOKEN),
        "POST",
        &format!("/approvals/{id}/approve"),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(held.await.unwrap().status, StatusCode::OK);
    assert_eq!(s.upstream.count(), 1);
    let (status, _) = admin_as(
        addr,
        Some(CAROL_TOKEN),
        "POST",
        &format!("/approvals/{id}/approve"),
        r#"{"by":"somebody-else"}"#,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "`by` is no longer accepted"
    );

    // Carol denies the next one: no window was opened by the refused calls.
    let b = s.bob();
    let held = send_transfer(b);
    let pending = wait_pending(addr, 1).await;
    let id2 = pending[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = admin_as(
        addr,
        Some(CAROL_TOKEN),
        "POST",
        &format!("/approvals/{id2}/deny"),
        r#"{"reason":"not now"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(held.await.unwrap().status, StatusCode::FORBIDDEN);
    assert_eq!(s.upstream.count(), 1);

    let log = s.keyward.flushed_audit_log().await;
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by = |rid: &str| {
        entries
            .iter()
            .find(|e| e["request_id"] == rid)
            .map(|e| e["approval"]["by"].clone())
    };
    assert_eq!(by(&id), Some(serde_json::json!("ops")), "{log}");
    assert_eq!(by(&id2), Some(serde_json::json!("carol")), "{log}");
    for secret in [OPS_TOKEN, CAROL_TOKEN, crate::support::ADMIN_TOKEN] {
        assert!(!log.contains(secret), "no token in the audit log");
    }
}

/// `keyward serve` with the admin API and no token configured.
async fn serve_without_token(work: &Path) -> child::Child {
    std::fs::create_dir_all(work.join("rules")).unwrap();
    let mut command = child::command();
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--admin-listen", "127.0.0.1:0"])
        .arg("--ca-dir")
        .arg(work.join("certs"))
        .arg("--rules")
        .arg(work.join("rules"))
        .arg("--audit-log")
        .arg(work.join("audit.jsonl"))
        .env("RUST_LOG", "debug")
        .env_remove("KEYWARD_ADMIN_TOKEN");
    child::spawn(command, work).await
}

#[tokio::test]
async fn serve_generates_a_private_token_that_the_cli_finds() {
    let work = tempfile::tempdir().unwrap();
    let mut keyward = serve_without_token(work.path()).await;
    let admin = keyward.admin().await;
    let file = work.path().join("certs/admin-token");
    let banner = child::line_in(&keyward.stdout, "Admin token: in ").await;
    assert_eq!(
        Path::new(banner.split_whitespace().next().unwrap()),
        std::fs::canonicalize(&file).unwrap()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "readable by keyward's user only");
    }
    let token = std::fs::read_to_string(&file).unwrap();
    assert!(token.len() >= 40);
    let unauthorized = crate::support::admin_get(&admin, "/approvals").await;
    assert_eq!(unauthorized.status, StatusCode::UNAUTHORIZED);
    let authorized = crate::support::admin_get_as(&admin, Some(&token), "/approvals").await;
    assert_eq!(authorized.status, StatusCode::OK);

    let cli = |ca_dir: &Path| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"));
        c.args(["approvals", "--admin", &format!("http://{admin}")])
            .arg("--ca-dir")
            .arg(ca_dir)
            .arg("list")
            .env_remove("KEYWARD_ADMIN_TOKEN");
        c.output().unwrap()
    };
    let listed = cli(&work.path().join("certs"));
    assert!(listed.status.success(), "{listed:?}");
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "[]");
    let lost = cli(&work.path().join("elsewhere"));
    assert_eq!(lost.status.code(), Some(2));
    let err = String::from_utf8_lossy(&lost.stderr);
    assert!(err.contains("no admin token"), "{err}");

    assert!(keyward.terminate().await.success());
    let mut written = std::fs::read(&keyward.stdout).unwrap();
    written.extend(std::fs::read(&keyward.stderr).unwrap());
    written.extend(std::fs::read(work.path().join("audit.jsonl")).unwrap_or_default());
    assert!(
        !String::from_utf8_lossy(&written).contains(token.trim()),
        "the token is never printed or logged"
    );
    // A restart keeps the token.
    let keyward = serve_without_token(work.path()).await;
    let admin = keyward.admin().await;
    let again = crate::support::admin_get_as(&admin, Some(&token), "/approvals").await;
    assert_eq!(again.status, StatusCode::OK);
}

#[tokio::test]
async fn the_command_of_keyward_run_finds_no_admin_token() {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("rules")).unwrap();
    let admin_value = "run-admin-token-6a0e3f9d1c";
    let oncall_value = "run-oncall-token-2b8d7c4e5f";
    let config = work.path().join("keyward.yaml");
    std::fs::write(
        &config,
        "approvers:\n  - { name: oncall, token: env:KW_TEST_ONCALL_TOKEN }\n",
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("run")
        .arg("--config")
        .arg(&config)
        .args(["--admin-listen", "127.0.0.1:0"])
        .args(["--admin-token", "env:KW_TEST_ADMIN_TOKEN"])
        .arg("--ca-dir")
        .arg(work.path().join("certs"))
        .arg("--rules")
        .arg(work.path().join("rules"))
        .arg("--audit-log")
        .arg(work.path().join("audit.jsonl"))
        .args(["--", "env"])
        .env("KW_TEST_ADMIN_TOKEN", admin_value)
        .env("KW_TEST_ONCALL_TOKEN", oncall_value)
        .env("KEYWARD_ADMIN_TOKEN", admin_value)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(
        env.contains("HTTPS_PROXY="),
        "the command ran with the agent environment"
    );
    for forbidden in [
        "KW_TEST_ADMIN_TOKEN",
        "KW_TEST_ONCALL_TOKEN",
        "KEYWARD_ADMIN_TOKEN",
        admin_value,
        oncall_value,
        "admin-token",
    ] {
        assert!(
            !env.contains(forbidden),
            "the command saw {forbidden}:\n{env}"
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(admin_value) && !stderr.contains(oncall_value));
}
