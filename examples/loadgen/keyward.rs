//! keyward as a child process: started from the release binary on 127.0.0.1:0, its address
//! read from its banner, killed when the guard drops (also on panic); and the meter that
//! charges CPU time to phases.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context;

use crate::policy::{self, Policy};
use crate::process::{ChildProcess, clock_ticks, cpu_ticks, machine_busy_ticks};
pub use crate::process::{locate, open_files_limit, rss_kib};
use crate::upstream::HOST;

/// How long keyward may take to print where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// The banner line announcing the listen address.
const LISTENING: &str = "keyward is listening on ";

/// A proxy running as a child process (keyward, or the --baseline); dropping it kills the
/// process.
pub struct Proxy {
    _process: ChildProcess,
    pub pid: u32,
    pub addr: SocketAddr,
    /// The CA the proxy signs leaves with (PEM), what clients trust.
    pub ca_pem: Vec<u8>,
}

impl Proxy {
    /// Spawns `command` (see [`ChildProcess::spawn`]) and reads the address it listens on
    /// from its banner line `listening ADDR`; the CA is the caller's to fill in.
    pub fn spawn(
        command: &mut Command,
        exe: &Path,
        listening: &'static str,
    ) -> anyhow::Result<Self> {
        // The guard exists before anything can fail, so the child never outlives us.
        let mut process = ChildProcess::spawn(command, exe)?;
        let addr = listen_address(process.take_stdout()?, listening)?;
        Ok(Self {
            pid: process.pid,
            _process: process,
            addr,
            ca_pem: Vec::new(),
        })
    }
}

/// Starts `keyward serve` pinned to the upstream, with `RUST_LOG=warn`, the rules of
/// `policy` in `dir/rules`; its audit log in `dir/logs`, or off (`audit: {enabled: false}`
/// in a keyward.yaml) if `audit_off`.
pub fn start(
    exe: &Path,
    dir: &Path,
    upstream_ca: &Path,
    upstream: SocketAddr,
    audit_off: bool,
    policy: Policy,
    workers: Option<usize>,
) -> anyhow::Result<Proxy> {
    let ca_dir = dir.join("certs");
    policy::write(dir, policy)?;
    let mut command = Command::new(exe);
    command.arg("serve");
    match policy {
        Policy::Realistic => command.env(policy::SECRET_ENV, policy::SECRET_VALUE),
        Policy::AllowOnly => command.args(["--allow", HOST]),
    };
    if let Some(n) = workers {
        command.arg("--workers").arg(n.to_string());
    }
    if audit_off {
        let config = dir.join("keyward.yaml");
        std::fs::write(&config, "audit:\n  enabled: false\n")?;
        command.arg("--config").arg(config);
    } else {
        command.arg("--audit-log").arg(audit_log(dir));
    }
    command
        .args(["--listen", "127.0.0.1:0"])
        .arg("--ca-dir")
        .arg(&ca_dir)
        .arg("--rules")
        .arg(dir.join("rules"))
        .arg("--upstream-ca")
        .arg(upstream_ca)
        .arg("--resolve")
        .arg(format!("{HOST}:443:{upstream}"))
        // Nothing in the working directory, nothing on fixed ports.
        .args(["--admin-listen", "127.0.0.1:0"]);
    let mut keyward = Proxy::spawn(&mut command, exe, LISTENING).context("keyward")?;
    keyward.ca_pem = std::fs::read(ca_dir.join("ca.pem")).context("reading keyward's CA")?;
    Ok(keyward)
}

/// Reads a child's stdout until a line `PREFIX ADDR`, then keeps draining it on a thread (so
/// the child never blocks on a full pipe); the address, or an error after the start timeout.
pub fn listen_address(
    stdout: std::process::ChildStdout,
    prefix: &'static str,
) -> anyhow::Result<SocketAddr> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if let Some(addr) = line.strip_prefix(prefix) {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(START_TIMEOUT)
        .context("the process did not print its listen address")?;
    addr.parse()
        .with_context(|| format!("bad address {addr:?}"))
}

/// Where keyward writes its audit log for this run.
pub fn audit_log(dir: &Path) -> PathBuf {
    dir.join("logs").join("audit.jsonl")
}

/// Lines and bytes in the audit log files (the current one and any rotated ones).
pub fn audit_size(dir: &Path) -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir(dir.join("logs")) else {
        return (0, 0);
    };
    let (mut lines, mut bytes) = (0, 0);
    for entry in entries.flatten().take(1000) {
        if let Ok(text) = std::fs::read(entry.path()) {
            lines += text.iter().filter(|b| **b == b'\n').count() as u64;
            bytes += text.len() as u64;
        }
    }
    (lines, bytes)
}

/// Charges CPU time to phases: keyward's and this process's (client + upstream).
#[derive(Clone, Copy)]
pub struct Meter {
    keyward: u32,
    ticks_per_second: f64,
}

/// CPU ticks of both processes, and of the whole machine, at one instant.
pub struct Reading {
    keyward: u64,
    loadgen: u64,
    machine: u64,
}

impl Meter {
    pub fn new(keyward: u32) -> Self {
        Self {
            keyward,
            ticks_per_second: clock_ticks(),
        }
    }

    pub fn keyward_pid(&self) -> u32 {
        self.keyward
    }

    pub fn read(&self) -> Reading {
        Reading {
            keyward: cpu_ticks(self.keyward),
            loadgen: cpu_ticks(std::process::id()),
            machine: machine_busy_ticks(),
        }
    }

    /// keyward's CPU seconds since `since`.
    pub fn keyward_seconds_since(&self, since: &Reading) -> f64 {
        cpu_ticks(self.keyward).saturating_sub(since.keyward) as f64 / self.ticks_per_second
    }

    /// Records both processes' CPU seconds since `since` in `run`.
    pub fn charge(&self, since: Reading, run: &mut crate::stats::Run) {
        let now = self.read();
        run.keyward_cpu = now.keyward.saturating_sub(since.keyward) as f64 / self.ticks_per_second;
        run.loadgen_cpu = now.loadgen.saturating_sub(since.loadgen) as f64 / self.ticks_per_second;
        let machine = now.machine.saturating_sub(since.machine) as f64 / self.ticks_per_second;
        run.other_cpu = (machine - run.keyward_cpu - run.loadgen_cpu).max(0.0);
    }
}
