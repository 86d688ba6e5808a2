//! `keyward env` for a keyward already running: its `sh` output sourced by a shell makes
//! curl go through keyward with the placeholder; `json` and `docker` carry the same settings.

use std::process::Command;

use super::{GITHUB_PLACEHOLDER, require, text};
use crate::support::rules::example_rules;
use crate::support::upstream::echo;
use crate::support::{Keyward, TestCa, Upstream};

fn keyward_env(keyward: &Keyward, rules: &std::path::Path, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("env")
        .args(["--proxy", &keyward.proxy_url()])
        .arg("--ca-dir")
        .arg(keyward.ca_path.parent().unwrap())
        .arg("--rules")
        .arg(rules)
        .args(extra)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    stdout
}

#[tokio::test]
async fn keyward_env_output_points_a_shell_at_a_running_keyward() {
    require("curl", "--version");
    let rules = example_rules();
    let ca = TestCa::new();
    let upstream = Upstream::https(&ca, &["api.github.com"], &[b"http/1.1"], echo()).await;
    let path = rules.path();
    let keyward = Keyward::start(&ca, &[("api.github.com:443", upstream.addr)], &[], |c| {
        c.rules_dir = path
    })
    .await;

    let json: serde_json::Value =
        serde_json::from_str(&keyward_env(&keyward, &rules.path(), &["--format", "json"])).unwrap();
    // When the rules declare an agent, its proxy credentials are in the URL.
    let expected = match rules.agents.iter().next() {
        Some((agent, token)) => keyward
            .proxy_url()
            .replace("http://", &format!("http://{agent}:{token}@")),
        None => keyward.proxy_url(),
    };
    assert_eq!(json["HTTPS_PROXY"], expected);
    assert_eq!(json["GITHUB_TOKEN"], GITHUB_PLACEHOLDER);
    assert_eq!(json["NO_PROXY"], "");

    let docker = keyward_env(
        &keyward,
        &rules.path(),
        &["--format", "docker", "--certs-at", "/etc/keyward/certs"],
    );
    assert!(
        docker.contains("\nSSL_CERT_FILE=/etc/keyward/certs/bundle.pem\n"),
        "{docker}"
    );
    assert!(docker.contains("\nNODE_EXTRA_CA_CERTS=/etc/keyward/certs/ca.pem\n"));

    let sh = keyward_env(&keyward, &rules.path(), &[]);
    let script = format!(
        "{sh}curl -sS --max-time 20 --fail-with-body -H \"Authorization: Bearer $GITHUB_TOKEN\" \
         https://api.github.com/repos/acme/keyward\necho\n\
         curl -sS --max-time 20 -X POST -d '{{}}' https://api.github.com/repos/evil/x/issues"
    );
    let client = tokio::task::spawn_blocking(move || {
        Command::new("sh").args(["-c", &script]).output().unwrap()
    })
    .await
    .unwrap();
    let (stdout, stderr) = text(&client);
    assert!(client.status.success(), "{stderr}");
    let first: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["path"], "/repos/acme/keyward");
    assert!(stdout.contains("\"error\":\"denied\""), "{stdout}");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    let real = format!("Bearer {}", rules.values["github"]);
    assert_eq!(seen[0].headers["authorization"], real.as_str());
    for value in rules.values.values() {
        assert!(!stdout.contains(value.as_str()) && !sh.contains(value.as_str()));
    }
}
