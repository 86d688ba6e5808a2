//! The real `keyward` binary as a child process: stdout and stderr written to files, its
//! addresses read from its banner (bounded wait), SIGTERM to stop it, killed on drop; and its
//! open file descriptors and resident memory read from /proc. Optionally in a mount namespace
//! with its own /etc/hosts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

/// The banner line announcing the proxy's address.
const LISTENING: &str = "keyward is listening on";
/// The banner line announcing the admin API's address.
const ADMIN: &str = "Admin API: http://";

/// A `keyward` child process; dropping it kills the process.
pub struct Child {
    pub process: tokio::process::Child,
    pub pid: u32,
    /// Where agents connect, from the banner.
    pub addr: SocketAddr,
    /// Files holding everything the child wrote to stdout and stderr.
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

/// `keyward` (the binary built for these tests), to be given its arguments.
pub fn command() -> tokio::process::Command {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
}

/// Gives a `keyward serve` or `keyward run` command its files: the CA directory `work/certs`,
/// the rules in `rules`, `upstream_ca` as the upstream CA and the audit log at `audit_log`.
pub fn with_files<'c>(
    command: &'c mut std::process::Command,
    work: &Path,
    rules: &Path,
    upstream_ca: &Path,
    audit_log: &Path,
) -> &'c mut std::process::Command {
    command
        .arg("--ca-dir")
        .arg(work.join("certs"))
        .arg("--rules")
        .arg(rules)
        .arg("--upstream-ca")
        .arg(upstream_ca)
        .arg("--audit-log")
        .arg(audit_log)
}

/// A `sh -c` script: bind-mounts `$0` over /etc/hosts, then runs the remaining arguments.
pub const MOUNT_HOSTS_THEN_EXEC: &str = r#"mount --bind "$0" /etc/hosts && exec "$@""#;

/// `keyward` inside the network namespace `netns`, so its traffic leaves over that
/// namespace's links, and in a mount namespace of its own whose /etc/hosts is `hosts` (needs
/// root): names resolve through the system resolver, as DNS answers would, to addresses the
/// test chose.
pub fn command_in_netns(netns: &str, hosts: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("ip");
    command
        .args(["netns", "exec", netns, "unshare", "--mount", "sh", "-c"])
        .arg(MOUNT_HOSTS_THEN_EXEC)
        .arg(hosts)
        .arg(env!("CARGO_BIN_EXE_keyward"));
    command
}

/// Starts `command` with stdout and stderr written to `dir/stdout` and `dir/stderr`, and
/// waits for its listen address.
pub async fn spawn(mut command: tokio::process::Command, dir: &Path) -> Child {
    let (stdout, stderr) = (dir.join("stdout"), dir.join("stderr"));
    let process = command
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = process.id().unwrap();
    let addr = line_in(&stdout, LISTENING).await.parse().unwrap();
    Child {
        process,
        pid,
        addr,
        stdout,
        stderr,
    }
}

impl Child {
    /// The admin API's `host:port`, from the banner.
    pub async fn admin(&self) -> String {
        let line = line_in(&self.stdout, ADMIN).await;
        line.split_whitespace().next().unwrap().to_owned()
    }

    /// Sends SIGTERM and waits (at most 30 s) for the process to exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        tokio::time::timeout(Duration::from_secs(30), self.process.wait())
            .await
            .expect("keyward did not exit within 30 s of SIGTERM")
            .unwrap()
    }

    /// Entries of /proc/PID/fd: the file descriptors the child has open now.
    pub fn open_fds(&self) -> usize {
        open_fds(self.pid).expect("cannot read /proc/PID/fd")
    }

    /// What the child's descriptors point at, counted by kind (`socket`, `pipe`, anything
    /// else by its link target), for a failure message.
    pub fn fd_kinds(&self) -> std::collections::BTreeMap<String, usize> {
        let mut kinds = std::collections::BTreeMap::new();
        let Ok(dir) = std::fs::read_dir(format!("/proc/{}/fd", self.pid)) else {
            return kinds;
        };
        for entry in dir.flatten() {
            let target = std::fs::read_link(entry.path())
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            let kind = match target.split_once(":[") {
                Some((kind @ ("socket" | "pipe"), _)) => kind.to_owned(),
                _ => target,
            };
            *kinds.entry(kind).or_insert(0) += 1;
        }
        kinds
    }

    /// VmRSS of the child, KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid).expect("no VmRSS in /proc/PID/status")
    }
}

/// How many file descriptors process `pid` has open (entries of /proc/PID/fd).
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// VmRSS of process `pid`, KiB (from /proc/PID/status).
pub fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Waits (bounded) for a line starting with `prefix` in a file the child writes; the rest of
/// the line, trimmed.
pub async fn line_in(path: &Path, prefix: &str) -> String {
    let what = format!("keyward printing {prefix:?}");
    super::eventually(&what, Duration::from_secs(30), || {
        let text = std::fs::read_to_string(path).ok()?;
        let line = text.lines().find(|l| l.starts_with(prefix))?;
        Some(line[prefix.len()..].trim().to_owned())
    })
    .await
}
