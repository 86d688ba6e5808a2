//! Real clients through keyward: the `curl` binary and Python `requests`, each trusting
//! keyward's CA and reaching a pinned HTTPS upstream; denied hosts show keyward's reason.

use std::process::Command;

use crate::support::Harness;
use crate::support::upstream::echo;

fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs a blocking client off the async runtime.
async fn run(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn curl_through_keyward() {
    assert!(
        have("curl", "--version"),
        "curl is required (scripts/test installs it)"
    );
    let h = Harness::new()
        .upstream_alpn(&["api.github.com"], &[b"h2", b"http/1.1"], echo())
        .allow("api.github.com")
        .start()
        .await;
    let (keyward, upstream) = (&h.keyward, h.upstream());
    for version in ["--http1.1", "--http2"] {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "--max-time",
            "20",
            version,
            "--proxy",
            &keyward.proxy_url(),
            "--cacert",
        ])
        .arg(&keyward.ca_path)
        .args([
            "-H",
            "Accept: application/json",
            "https://api.github.com/repos/acme/app",
        ])
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy");
        let out = run(cmd).await;
        assert!(
            out.status.success(),
            "curl {version}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["path"], "/repos/acme/app");
    }
    let mut denied = Command::new("curl");
    denied
        .args([
            "-sS",
            "--max-time",
            "20",
            "--proxy",
            &keyward.proxy_url(),
            "--cacert",
        ])
        .arg(&keyward.ca_path)
        .args(["https://evil.example/"]);
    let out = run(denied).await;
    assert!(!out.status.success(), "CONNECT to a denied host must fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("403"),
        "curl shows the CONNECT status: {stderr}"
    );
    assert_eq!(upstream.count(), 2);
}

#[tokio::test]
async fn python_requests_through_keyward() {
    assert!(have("python3", "--version"), "python3 is required");
    let h = Harness::new()
        .upstream(&["api.github.com"], echo())
        .allow("api.github.com")
        .start()
        .await;
    let (keyward, upstream) = (&h.keyward, h.upstream());
    let script = r#"
import json, sys, requests
r = requests.post("https://api.github.com/repos/acme/app/issues", json={"title": "from python"}, timeout=20)
print(json.dumps({"status": r.status_code, "body": r.json()}))
try:
    requests.get("https://evil.example/", timeout=20)
    print("UNEXPECTED SUCCESS")
except requests.exceptions.ProxyError as e:
    print("denied:", e)
"#;
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script])
        .env("HTTPS_PROXY", keyward.proxy_url())
        .env("REQUESTS_CA_BUNDLE", &keyward.ca_path)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    let out = run(cmd).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = stdout.lines().next().unwrap();
    let json: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(json["status"], 200);
    assert_eq!(json["body"]["method"], "POST");
    assert_eq!(json["body"]["body"], "{\"title\": \"from python\"}");
    assert!(
        stdout.contains("denied:") && stdout.contains("403"),
        "{stdout}"
    );
    assert_eq!(upstream.count(), 1);
}
