//! Adoption without code changes: real clients run through the `keyward run` binary (or
//! `keyward env` output) against a local HTTPS upstream pinned with `--resolve`, with the
//! example rules and file-backed secrets. Each shows the allowed request arrives with the
//! injected credential, the denied one fails with keyward's reason visible to the client,
//! and no real secret in the client's environment or output.

mod env_cmd;
mod git;
mod http_clients;
mod node;
mod pip;

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::support::rules::{ExampleRules, example_rules};
use crate::support::{Handler, TestCa, Upstream};

/// The placeholder the example rules give the GitHub token.
pub const GITHUB_PLACEHOLDER: &str = "keyward:github:7f3c9a1e5b2d4c8e";

/// An upstream answering for `hosts`, the example rules, and a working directory where
/// `keyward run` keeps its CA and audit log.
pub struct Scene {
    pub ca: TestCa,
    pub upstream: Upstream,
    pub rules: ExampleRules,
    pub work: tempfile::TempDir,
    hosts: Vec<String>,
}

impl Scene {
    pub async fn start(hosts: &[&str], handler: Handler) -> Scene {
        let ca = TestCa::new();
        let upstream = Upstream::https(&ca, hosts, &[b"h2", b"http/1.1"], handler).await;
        Scene {
            ca,
            upstream,
            rules: example_rules(),
            work: tempfile::tempdir().unwrap(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
        }
    }

    /// Adds a test-only rule file to the rules copy (never to the repository's rules/).
    pub fn add_rules(&self, file: &str, yaml: &str) {
        std::fs::write(self.rules.path().join(file), yaml).unwrap();
    }

    /// Writes a secret value to a file next to the rules copy; its path.
    pub fn secret_file(&self, name: &str, value: &str) -> PathBuf {
        let path = self.rules.dir.path().join("secrets").join(name);
        std::fs::write(&path, value).unwrap();
        path
    }

    /// The real value keyward holds for an example secret.
    pub fn secret(&self, name: &str) -> &str {
        &self.rules.values[name]
    }

    pub fn ca_dir(&self) -> PathBuf {
        self.work.path().join("certs")
    }

    /// `keyward run` with the scene's flags, before `--`.
    pub fn keyward_run(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
        cmd.current_dir(self.work.path())
            .arg("run")
            .arg("--ca-dir")
            .arg(self.ca_dir())
            .arg("--rules")
            .arg(self.rules.path())
            .arg("--upstream-ca")
            .arg(&self.ca.path);
        for host in &self.hosts {
            cmd.arg("--resolve")
                .arg(format!("{host}:443:{}", self.upstream.addr));
        }
        cmd
    }

    /// Runs `argv` through `keyward run`; `setup` may add flags or environment first.
    pub async fn run(&self, setup: impl FnOnce(&mut Command), argv: &[&str]) -> Output {
        let mut cmd = self.keyward_run();
        setup(&mut cmd);
        cmd.arg("--").args(argv);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        self.assert_no_secret(&out);
        out
    }

    /// No real secret value appears in the command's output.
    pub fn assert_no_secret(&self, out: &Output) {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for (name, value) in &self.rules.values {
            assert!(!all.contains(value.as_str()), "real {name} leaked:\n{all}");
        }
    }

    /// The `authorization` header of the upstream's last request.
    pub fn last_authorization(&self) -> String {
        let seen = self.upstream.seen();
        let last = seen.last().expect("a request reached the upstream");
        last.headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }
}

/// The output as text, for assertions and failure messages.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts a tool is installed (scripts/test installs every one these tests use).
pub fn require(program: &str, arg: &str) {
    let ok = Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "{program} is required (scripts/test installs it)");
}
