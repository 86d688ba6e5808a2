//! The benchmarked process, seen from outside: where the release binary is, the child
//! process it runs as (killed on drop), and its CPU time, resident memory and open-files
//! limit read from /proc. Shared by loadgen and mint_bench (which includes this file by path).

use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, Stdio};

use anyhow::{Context, bail};

/// `--keyward PATH`, or `keyward` next to the directory holding this example's binary
/// (`target/release/examples/NAME` → `target/release/keyward`).
pub fn locate(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match explicit {
        Some(p) => p,
        None => {
            let exe = std::env::current_exe()?;
            let dir = exe.parent().context("example binary has no directory")?;
            dir.join("../keyward")
        }
    };
    if !path.is_file() {
        bail!(
            "keyward binary not found at {}; run `cargo build --release` first or pass --keyward PATH",
            path.display()
        );
    }
    Ok(path.canonicalize()?)
}

/// A benchmarked proxy as a child process; dropping the guard kills and reaps it (also on
/// panic), so the child never outlives the benchmark.
pub struct ChildProcess {
    child: std::process::Child,
    pub pid: u32,
}

impl ChildProcess {
    /// Spawns `command` (the binary `exe`) with `RUST_LOG=warn`, stdin closed, stdout piped
    /// for its banner and stderr passed through.
    pub fn spawn(command: &mut Command, exe: &Path) -> anyhow::Result<Self> {
        let child = command
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        Ok(Self {
            pid: child.id(),
            child,
        })
    }

    /// The child's stdout (once).
    pub fn take_stdout(&mut self) -> anyhow::Result<ChildStdout> {
        self.child.stdout.take().context("no stdout")
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clock ticks per second for /proc CPU times (`getconf CLK_TCK`, 100 if unknown).
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of `pid`, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is the first; utime and
    // stime are fields 14 and 15 of the whole line.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// Ticks the whole machine spent busy (all CPUs; user, nice, system, irq, softirq, steal).
pub fn machine_busy_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find_map(|l| l.strip_prefix("cpu ")) else {
        return 0;
    };
    let v: Vec<u64> = cpu
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| v.get(i)).sum()
}

/// VmRSS of `pid`, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The soft limit on open files of `pid` (from /proc/PID/limits).
pub fn open_files_limit(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
