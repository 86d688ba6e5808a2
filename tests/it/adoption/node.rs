//! Node.js through `keyward run`. `fetch` honours the proxy variables with
//! `NODE_USE_ENV_PROXY=1` from Node 22.21 / 24 on; older Node (20 here) ignores them, so the
//! test preloads undici's `EnvHttpProxyAgent` with `NODE_OPTIONS=--require`. The `https`
//! module ignores proxy variables before Node 24.5: the test preloads `global-agent`. Both
//! preloads are configuration, not code changes (docs/clients.md).

use std::path::PathBuf;

use super::{Scene, require, text};
use crate::support::upstream::echo;

const ALLOWED: &str = "https://api.github.com/repos/acme/keyward";
const DENIED: &str = "https://api.github.com/repos/evil/x/issues";
const REFUSED: &str = "https://evil.example/";

const SCRIPT: &str = r#"
const [mode, allowed, denied, refused] = process.argv.slice(1);
const auth = { authorization: 'Bearer ' + process.env.GITHUB_TOKEN };
const show = (tag, status, body) => console.log(JSON.stringify({ tag, status, body }));
async function viaFetch() {
  let r = await fetch(allowed, { headers: auth });
  show('allowed', r.status, await r.text());
  r = await fetch(denied, { method: 'POST', body: '{"title":"x"}' });
  show('denied', r.status, await r.text());
  try { await fetch(refused); show('refused', 200, ''); }
  catch (e) { show('refused', 0, String(e.cause?.cause ?? e.cause ?? e)); }
}
function request(url, method, headers, body) {
  return new Promise((resolve, reject) => {
    const req = require('node:https').request(url, { method, headers }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve([res.statusCode, text]));
    });
    req.on('error', reject);
    req.end(body);
  });
}
async function viaHttps() {
  show('allowed', ...(await request(allowed, 'GET', auth)));
  show('denied', ...(await request(denied, 'POST', {}, '{"title":"x"}')));
  try { await request(refused, 'GET', {}); show('refused', 200, ''); }
  catch (e) { show('refused', 0, String(e)); }
}
(mode === 'fetch' ? viaFetch() : viaHttps()).catch((e) => { console.error(e); process.exit(1); });
"#;

/// Where scripts/test installs undici and global-agent with npm.
fn node_modules() -> PathBuf {
    crate::support::node_modules(&["undici", "global-agent"])
}

/// Whether this Node's `fetch` reads the proxy variables under NODE_USE_ENV_PROXY=1.
fn fetch_reads_env_proxy() -> bool {
    let out = std::process::Command::new("node")
        .args(["-p", "process.versions.node"])
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&out.stdout);
    let mut parts = version
        .trim()
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    major >= 24 || (major == 22 && minor >= 21)
}

async fn check(scene: &Scene, mode: &str, node_options: Option<String>) {
    let before = scene.upstream.count();
    let out = scene
        .run(
            |c| {
                if let Some(options) = node_options {
                    c.env("NODE_OPTIONS", options)
                        .env("GLOBAL_AGENT_ENVIRONMENT_VARIABLE_NAMESPACE", "");
                }
            },
            &["node", "-e", SCRIPT, mode, ALLOWED, DENIED, REFUSED],
        )
        .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{mode}: {stderr}\n{stdout}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["status"], 200, "{mode}: {stdout}");
    assert_eq!(lines[1]["status"], 403, "{mode}: {stdout}");
    let denied = lines[1]["body"].as_str().unwrap();
    assert!(denied.contains("\"error\":\"denied\""), "{mode}: {denied}");
    let refused = lines[2]["body"].as_str().unwrap();
    assert_eq!(lines[2]["status"], 0, "{mode}: the refused CONNECT failed");
    // undici names the CONNECT status; global-agent ignores it and attempts TLS on the
    // refusal, so the client sees a TLS error instead.
    let shown = if mode == "fetch" { "403" } else { "EPROTO" };
    assert!(refused.contains(shown), "{mode}: {refused}");
    assert_eq!(scene.upstream.count(), before + 1, "{mode}");
    assert_eq!(
        scene.last_authorization(),
        format!("Bearer {}", scene.secret("github")),
        "{mode}"
    );
}

#[tokio::test]
async fn node_fetch_through_keyward_run() {
    require("node", "--version");
    let scene = Scene::start(&["api.github.com"], echo()).await;
    if fetch_reads_env_proxy() {
        check(&scene, "fetch", None).await;
        return;
    }
    let modules = node_modules();
    let preload = scene.work.path().join("undici-env-proxy.js");
    std::fs::write(
        &preload,
        format!(
            "const u = require({:?});\nu.setGlobalDispatcher(new u.EnvHttpProxyAgent());\n",
            modules.join("undici")
        ),
    )
    .unwrap();
    check(
        &scene,
        "fetch",
        Some(format!("--require {}", preload.display())),
    )
    .await;
}

#[tokio::test]
async fn node_https_through_keyward_run_with_global_agent() {
    require("node", "--version");
    let scene = Scene::start(&["api.github.com"], echo()).await;
    let bootstrap = node_modules().join("global-agent/bootstrap");
    check(
        &scene,
        "https",
        Some(format!("--require {}", bootstrap.display())),
    )
    .await;
}
