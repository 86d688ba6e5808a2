//! `keyward run` itself (the environment it gives, the exit status it passes on) and the
//! command-line and Python clients that honour the variables: curl, wget, Python requests,
//! httpx and urllib.

use std::collections::HashMap;

use super::{GITHUB_PLACEHOLDER, Scene, require, text};
use crate::support::upstream::echo;

const ALLOWED: &str = "https://api.github.com/repos/acme/keyward";
const DENIED: &str = "https://api.github.com/repos/evil/x/issues";
const REFUSED: &str = "https://evil.example/";

#[tokio::test]
async fn keyward_run_gives_proxies_trust_and_placeholders_not_secrets() {
    let scene = Scene::start(&["api.github.com"], echo()).await;
    scene.add_rules(
        "mirror.yaml",
        "secrets:\n  mirror:\n    from: env:KEYWARD_IT_MIRROR_SOURCE\n    env: MIRROR_TOKEN\n    hosts: [mirror.test.example]\n",
    );
    let mirror_value = "real-mirror-value-from-the-operators-shell";
    let out = scene
        .run(
            |c| {
                c.env("KEYWARD_IT_MIRROR_SOURCE", mirror_value)
                    .env("GITHUB_TOKEN", "real-github-token-in-the-shell")
                    .env("NO_PROXY", "should-not-survive");
            },
            &["env"],
        )
        .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let env: HashMap<&str, &str> = stdout.lines().filter_map(|l| l.split_once('=')).collect();
    let proxy = env["HTTPS_PROXY"];
    let prefix = match scene.rules.agents.iter().next() {
        Some((agent, token)) => format!("http://{agent}:{token}@127.0.0.1:"),
        None => "http://127.0.0.1:".to_owned(),
    };
    assert!(proxy.starts_with(&prefix), "{proxy}");
    for var in [
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        assert_eq!(env[var], proxy, "{var}");
    }
    assert_eq!(env["NO_PROXY"], "");
    assert_eq!(env["no_proxy"], "");
    assert_eq!(env["GITHUB_TOKEN"], GITHUB_PLACEHOLDER);
    assert!(env["MIRROR_TOKEN"].starts_with("keyward:mirror:"));
    assert!(!env.contains_key("KEYWARD_IT_MIRROR_SOURCE"));
    assert!(!stdout.contains(mirror_value) && !stdout.contains("real-github-token"));
    let bundle = std::fs::read_to_string(env["SSL_CERT_FILE"]).unwrap();
    let ca = std::fs::read_to_string(env["NODE_EXTRA_CA_CERTS"]).unwrap();
    assert!(
        bundle.ends_with(&ca) && bundle.len() > ca.len(),
        "system roots + CA"
    );
    for var in [
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "PIP_CERT",
        "GIT_SSL_CAINFO",
    ] {
        assert_eq!(env[var], env["SSL_CERT_FILE"], "{var}");
    }
    assert_eq!(env["DENO_CERT"], env["NODE_EXTRA_CA_CERTS"]);
    assert_eq!(env["NODE_USE_ENV_PROXY"], "1");

    let out = scene.run(|_| {}, &["sh", "-c", "exit 7"]).await;
    assert_eq!(
        out.status.code(),
        Some(7),
        "the command's exit status is keyward's"
    );
}

/// Runs `client_header` (a client's command line up to its option that takes a header)
/// with the agent's `$GITHUB_TOKEN` as bearer token for [`ALLOWED`] in `keyward run`:
/// it succeeds, the echo shows the path, and the upstream got the real token.
async fn allowed_get_is_injected(scene: &Scene, client_header: &str) {
    let command = format!("{client_header} \"Authorization: Bearer $GITHUB_TOKEN\" {ALLOWED}");
    let out = scene.run(|_| {}, &["sh", "-c", &command]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["path"], "/repos/acme/keyward");
    let real = format!("Bearer {}", scene.secret("github"));
    assert_eq!(scene.last_authorization(), real, "injected upstream");
}

#[tokio::test]
async fn curl_through_keyward_run() {
    require("curl", "--version");
    let scene = Scene::start(&["api.github.com"], echo()).await;
    let curl = "curl -sS --max-time 20 --fail-with-body";
    allowed_get_is_injected(&scene, &format!("{curl} -H")).await;

    let denied = format!("{curl} -X POST -d '{{\"title\":\"x\"}}' {DENIED}");
    let out = scene.run(|_| {}, &["sh", "-c", &denied]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(22),
        "curl's HTTP-error exit passed on: {stderr}"
    );
    assert!(stdout.contains("\"error\":\"denied\""), "{stdout}");

    let out = scene
        .run(|_| {}, &["sh", "-c", &format!("{curl} {REFUSED}")])
        .await;
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("403"), "CONNECT refusal shown: {stderr}");
    assert_eq!(scene.upstream.count(), 1);
}

#[tokio::test]
async fn wget_through_keyward_run() {
    require("wget", "--version");
    let scene = Scene::start(&["api.github.com"], echo()).await;
    // Debian's wget is built with GnuTLS, which ignores SSL_CERT_FILE: name the bundle.
    let wget = "wget -q -O - --timeout=20 --content-on-error --ca-certificate=\"$SSL_CERT_FILE\"";
    allowed_get_is_injected(&scene, &format!("{wget} --header")).await;

    let denied = format!("{wget} --post-data '{{\"title\":\"x\"}}' {DENIED}");
    let out = scene.run(|_| {}, &["sh", "-c", &denied]).await;
    let (stdout, _) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(8),
        "wget's server-error exit passed on"
    );
    assert!(stdout.contains("\"error\":\"denied\""), "{stdout}");
    assert_eq!(scene.upstream.count(), 1);
}

/// One library's allowed, denied and refused requests, as JSON lines.
const PYTHON: &str = r#"
import json, os, sys
lib = sys.argv[1]
allowed, denied, refused = sys.argv[2:5]
auth = {"Authorization": "Bearer " + os.environ["GITHUB_TOKEN"]}
def show(tag, status, body):
    print(json.dumps({"tag": tag, "status": status, "body": body}))
if lib == "requests":
    import requests
    r = requests.get(allowed, headers=auth, timeout=20); show("allowed", r.status_code, r.text)
    r = requests.post(denied, json={"title": "x"}, timeout=20); show("denied", r.status_code, r.text)
    try: requests.get(refused, timeout=20); show("refused", 200, "")
    except requests.exceptions.ProxyError as e: show("refused", 0, str(e))
elif lib == "httpx":
    import httpx
    with httpx.Client(timeout=20) as c:
        r = c.get(allowed, headers=auth); show("allowed", r.status_code, r.text)
        r = c.post(denied, json={"title": "x"}); show("denied", r.status_code, r.text)
        try: c.get(refused); show("refused", 200, "")
        except httpx.ProxyError as e: show("refused", 0, str(e))
else:
    import urllib.request, urllib.error
    def call(url, data=None):
        req = urllib.request.Request(url, data=data, headers=auth)
        try:
            with urllib.request.urlopen(req, timeout=20) as r: return r.status, r.read().decode()
        except urllib.error.HTTPError as e: return e.code, e.read().decode()
    show("allowed", *call(allowed))
    show("denied", *call(denied, b'{"title": "x"}'))
    try: call(refused); show("refused", 200, "")
    except urllib.error.URLError as e: show("refused", 0, str(e))
"#;

#[tokio::test]
async fn python_requests_httpx_and_urllib_through_keyward_run() {
    require("python3", "--version");
    let scene = Scene::start(&["api.github.com"], echo()).await;
    let real = format!("Bearer {}", scene.secret("github"));
    for lib in ["requests", "httpx", "urllib"] {
        let before = scene.upstream.count();
        let out = scene
            .run(
                |_| {},
                &["python3", "-c", PYTHON, lib, ALLOWED, DENIED, REFUSED],
            )
            .await;
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{lib}: {stderr}\n{stdout}");
        let lines: Vec<serde_json::Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["status"], 200, "{lib}: {stdout}");
        let echoed: serde_json::Value =
            serde_json::from_str(lines[0]["body"].as_str().unwrap()).unwrap();
        assert_eq!(echoed["path"], "/repos/acme/keyward", "{lib}");
        assert_eq!(lines[1]["status"], 403, "{lib}: {stdout}");
        assert!(
            lines[1]["body"]
                .as_str()
                .unwrap()
                .contains("\"error\":\"denied\""),
            "{lib}"
        );
        assert!(
            lines[2]["body"].as_str().unwrap().contains("403"),
            "{lib}: {stdout}"
        );
        assert_eq!(scene.upstream.count(), before + 1, "{lib}");
        assert_eq!(scene.last_authorization(), real, "{lib}");
    }
}
