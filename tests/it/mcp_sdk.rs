//! The official MCP Python SDK on both ends, through the real proxy: an `MCPServer` over
//! HTTPS (uvicorn, a leaf of the test CA for a public-looking name that keyward pins to
//! loopback) and the SDK's `Client` going through keyward (HTTPS_PROXY, SSL_CERT_FILE). The
//! client sees a filtered tool list, its allowed call's result, a JSON-RPC error for the
//! hidden tool, a batch denied whole, and a held call's result once it is approved through
//! the admin API; the server's own log shows it executed only what keyward let through.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use http::StatusCode;
use serde_json::{Value, json};

use crate::runtime::admin;
use crate::support::{Keyward, TestCa, audit_log, eventually, within_async};

/// The public-looking name the server is reached by (keyward pins `HOST:443` to loopback).
const HOST: &str = "mcp.example.com";

/// How long a program may take to start, and the client to finish its run.
const WAIT: Duration = Duration::from_secs(60);

const RULES: &str = r#"
rules:
  - id: mcp-session
    method: POST
    url: https://mcp.example.com/mcp
    mcp: { method: [initialize, tools/list, ping, notifications/*] }
    decision: allow
  - id: mcp-stream
    description: the server's SSE stream and the session's end
    method: [GET, DELETE]
    url: https://mcp.example.com/mcp
    decision: allow
  - id: mcp-search
    method: POST
    url: https://mcp.example.com/mcp
    mcp: { method: tools/call, tool: search_issues }
    decision: allow
  - id: mcp-create-issue
    description: a person reads every new issue first
    method: POST
    url: https://mcp.example.com/mcp
    mcp: { method: tools/call, tool: create_issue, arguments: { /owner: { equals: acme } } }
    approval: { timeout: 60s }
    decision: approve
  - id: mcp-delete-repo
    description: agents never delete repositories
    method: POST
    url: https://mcp.example.com/mcp
    mcp: { method: tools/call, tool: delete_repo }
    decision: deny
"#;

/// A Python program of this test, its output in files; killed by its PID when dropped, so a
/// failed assertion leaves nothing running.
struct Program {
    child: tokio::process::Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Program {
    /// Starts `python3 support/mcp_sdk/SCRIPT ARGS` with output under `dir/SCRIPT.*` and no
    /// proxy variables but those in `env`.
    fn spawn(script: &str, args: &[&str], env: &[(&str, &Path)], dir: &Path) -> Program {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/mcp_sdk");
        let (stdout, stderr) = (
            dir.join(format!("{script}.out")),
            dir.join(format!("{script}.err")),
        );
        let mut command = tokio::process::Command::new("python3");
        command.arg(path.join(script)).args(args);
        for name in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"] {
            command.env_remove(name);
        }
        for name in [
            "ALL_PROXY",
            "all_proxy",
            "NO_PROXY",
            "no_proxy",
            "SSL_CERT_DIR",
        ] {
            command.env_remove(name);
        }
        let child = command
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Program {
            child,
            stdout,
            stderr,
        }
    }

    /// What it printed so far, both streams, for a failure message.
    fn output(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "stdout:\n{}\nstderr:\n{}",
            read(&self.stdout),
            read(&self.stderr)
        )
    }

    /// Its exit status if it has ended.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Waits (bounded) for it to end by itself.
    async fn finish(&mut self) -> ExitStatus {
        match tokio::time::timeout(WAIT, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!("not done within {WAIT:?}: {}", self.output()),
        }
    }

    /// Kills it by its PID and reaps it (bounded).
    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(WAIT, self.child.wait()).await;
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The SDK's server on loopback with a leaf of `ca` for [`HOST`], logging the tool calls it
/// executes to `log`; its address, read from the port it prints.
async fn start_server(ca: &TestCa, dir: &Path, log: &Path) -> (Program, SocketAddr) {
    let (cert, key) = ca.leaf_files(&[HOST], dir);
    let args = [cert.to_str(), key.to_str(), log.to_str(), Some(HOST)].map(Option::unwrap);
    let server = Program::spawn("server.py", &args, &[], dir);
    let port = eventually("the MCP server printing its port", WAIT, || {
        let text = std::fs::read_to_string(&server.stdout).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("listening on "))?
            .trim()
            .parse::<u16>()
            .ok()
    })
    .await;
    (server, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// The client's steps by name (a step printed twice keeps its last value).
fn steps(stdout: &Path) -> serde_json::Map<String, Value> {
    std::fs::read_to_string(stdout)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|s| Some((s["step"].as_str()?.to_owned(), s["value"].clone())))
        .collect()
}

/// The tool calls the server executed, from its log.
fn executed(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn the_mcp_sdk_client_and_server_through_keyward() {
    let have_sdk = std::process::Command::new("python3")
        .args(["-c", "import mcp.server.mcpserver, uvicorn, httpx2"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        have_sdk,
        "python3 with the mcp package is required (scripts/test installs it)"
    );
    let work = tempfile::tempdir().unwrap();
    let rules = work.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("mcp.yaml"), RULES).unwrap();
    let log = work.path().join("executed.jsonl");

    let ca = TestCa::new();
    let (server, addr) = start_server(&ca, work.path(), &log).await;
    let keyward = Keyward::in_front_of(&ca, HOST, addr, |c| c.rules_dir = rules).await;
    let admin_addr = keyward.running.admin_addr().unwrap();

    let proxy = PathBuf::from(keyward.proxy_url());
    let env = [
        ("HTTPS_PROXY", proxy.as_path()),
        ("SSL_CERT_FILE", &keyward.ca_path),
    ];
    let url = format!("https://{HOST}/mcp");
    let mut client = Program::spawn("client.py", &[&url], &env, work.path());

    // The client waits on its create_issue call while the approver looks at it.
    let pending = within_async(WAIT, async || {
        if client.exited().is_some() {
            return Some(Vec::new());
        }
        let (_, text) = admin(admin_addr, "GET", "/approvals", "").await;
        let list: Vec<Value> = serde_json::from_str(&text).unwrap();
        (!list.is_empty()).then_some(list)
    })
    .await
    .unwrap_or_default();
    assert_eq!(pending.len(), 1, "one held call: {}", client.output());
    assert_eq!(pending[0]["rule"], "mcp-create-issue");
    assert_eq!(pending[0]["mcp"]["tool"], "create_issue");
    assert_eq!(
        pending[0]["mcp"]["arguments"],
        json!({"owner":"acme","repo":"web","title":"Login fails"})
    );
    assert!(
        executed(&log).iter().all(|c| c["tool"] != "create_issue"),
        "the held call waits in keyward"
    );
    let id = pending[0]["id"].as_str().unwrap();
    let (status, _) = admin(
        admin_addr,
        "POST",
        &format!("/approvals/{id}/approve"),
        "{}",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let status = client.finish().await;
    assert!(status.success(), "the client failed: {}", client.output());

    let steps = steps(&client.stdout);
    let session = steps["initialize"]["session"].as_str().unwrap().to_owned();
    assert_eq!(steps["initialize"]["server"], "keyward-test-github");
    assert_eq!(
        steps["tools"],
        json!(["create_issue", "search_issues"]),
        "the denied tool is not listed"
    );
    assert_eq!(
        steps["search_issues"],
        json!({"text": "2 issues in acme/web match 'login bug'", "is_error": false})
    );
    let denied = &steps["delete_repo"];
    assert_eq!(denied["code"], -32001, "{denied}");
    assert_eq!(
        denied["message"],
        "keyward denied tools/call delete_repo: denied by rule `mcp-delete-repo`: agents never delete repositories (rule mcp-delete-repo)"
    );
    assert_eq!(denied["data"]["rule"], "mcp-delete-repo");
    let batch = &steps["batch"];
    assert_eq!(batch["status"], 200, "{batch}");
    assert_eq!(batch["decision"], "deny");
    let answers = batch["body"].as_array().unwrap();
    let ids: Vec<&Value> = answers.iter().map(|a| &a["id"]).collect();
    assert_eq!(ids, [&json!("b1"), &json!("b2")], "{batch}");
    for answer in answers {
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("batch element 1 (tools/call delete_repo)"),
            "{message}"
        );
        assert_eq!(answer["error"]["data"]["rule"], "mcp-delete-repo");
    }
    assert_eq!(
        steps["create_issue"],
        json!({"text": "opened acme/web#7: Login fails", "is_error": false})
    );

    assert_eq!(
        executed(&log),
        [
            json!({"tool":"search_issues","arguments":{"owner":"acme","repo":"web","query":"login bug"}}),
            json!({"tool":"create_issue","arguments":{"owner":"acme","repo":"web","title":"Login fails"}}),
        ],
        "the server executed only the allowed and the approved call"
    );

    let audit = keyward.running.handles().audit().unwrap().clone();
    let entries = audit_log::wait_for(&audit, &keyward.audit_path(), 7, |e| {
        e["mcp_method"].is_string()
    })
    .await;
    let mcp: Vec<&Value> = entries
        .iter()
        .filter(|e| e["mcp_method"].is_string())
        .collect();
    let find = |method: &str, tool: Option<&str>, decision: &str| {
        let found: Vec<&&Value> = mcp
            .iter()
            .filter(|e| e["mcp_method"] == method && e["decision"] == decision)
            .filter(|e| tool.is_none_or(|t| e["mcp_tool"] == t))
            .collect();
        assert!(
            !found.is_empty(),
            "no {decision} entry for {method} {tool:?}: {mcp:#?}"
        );
        found
    };
    assert!(find("initialize", None, "allow")[0]["mcp_session"].is_null());
    find("notifications/initialized", None, "allow");
    find("tools/list", None, "allow");
    find("tools/call", Some("search_issues"), "allow");
    let delete = find("tools/call", Some("delete_repo"), "deny");
    assert_eq!(delete.len(), 2, "the call and the batch: {delete:#?}");
    assert_eq!(delete[0]["rule"], "mcp-delete-repo");
    assert_eq!(delete[1]["mcp_batch"], 2);
    let held = find("tools/call", Some("create_issue"), "approve");
    assert_eq!(held[0]["rule"], "mcp-create-issue");
    assert_eq!(held[0]["approval"]["decision"], "approved");
    assert_eq!(held[0]["approval"]["by"], "admin");
    assert_eq!(held[0]["status"], 200);
    assert!(
        mcp.iter()
            .filter(|e| e["mcp_method"] != "initialize")
            .all(|e| e["mcp_session"] == session.as_str()),
        "every call after initialize names the session {session}: {mcp:#?}"
    );
    audit_log::verify(&keyward.audit_path());
    server.stop().await;
}
