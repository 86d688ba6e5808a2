//! The official MCP Python SDK's programs in `mcp_sdk/` as child processes: the server
//! (`MCPServer` over HTTPS on a loopback port it prints) and the client (through a proxy, one
//! JSON line per step); each killed by its PID when dropped, every wait bounded.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::TestCa;

/// How long a program may take to start, and the client to finish its run.
pub const WAIT: Duration = Duration::from_secs(60);

/// Proxy and trust variables the programs must not inherit from the developer's shell.
const INHERITED: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// Whether python3 can import the SDK's server, uvicorn and httpx2.
pub fn available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import mcp.server.mcpserver, uvicorn, httpx2"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A Python program of the SDK tests, its output in files; killed by its PID when dropped,
/// so a failed assertion leaves nothing running.
pub struct Program {
    child: tokio::process::Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Program {
    /// Starts `python3 mcp_sdk/SCRIPT ARGS` with output under `dir/SCRIPT.{out,err}`, and of
    /// the proxy and trust variables only those in `env`.
    pub fn spawn(script: &str, args: &[&str], env: &[(&str, &str)], dir: &Path) -> Program {
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/mcp_sdk");
        let stdout = dir.join(format!("{script}.out"));
        let stderr = dir.join(format!("{script}.err"));
        let mut command = tokio::process::Command::new("python3");
        command.arg(scripts.join(script)).args(args);
        for name in INHERITED {
            command.env_remove(name);
        }
        let child = command
            .envs(env.iter().copied())
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
    pub fn output(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "stdout:\n{}\nstderr:\n{}",
            read(&self.stdout),
            read(&self.stderr)
        )
    }

    /// Its exit status if it has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Waits (at most [`WAIT`]) for it to end by itself.
    pub async fn finish(&mut self) -> ExitStatus {
        match tokio::time::timeout(WAIT, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!("not done within {WAIT:?}: {}", self.output()),
        }
    }

    /// Kills it by its PID and reaps it (bounded).
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(WAIT, self.child.wait()).await;
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The SDK's server on loopback with a leaf of `ca` for `host`, logging the tool calls it
/// executes to `log`; its address, read from the port it prints (bounded wait).
pub async fn start_server(
    ca: &TestCa,
    host: &str,
    dir: &Path,
    log: &Path,
) -> (Program, SocketAddr) {
    let (cert, key) = ca.leaf_files(&[host], dir);
    let args = [cert.to_str(), key.to_str(), log.to_str(), Some(host)].map(Option::unwrap);
    let server = Program::spawn("server.py", &args, &[], dir);
    let port = super::eventually("the MCP server printing its port", WAIT, || {
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
pub fn steps(stdout: &Path) -> serde_json::Map<String, Value> {
    std::fs::read_to_string(stdout)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|s| Some((s["step"].as_str()?.to_owned(), s["value"].clone())))
        .collect()
}

/// The tool calls the server executed, from its log.
pub fn executed(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
