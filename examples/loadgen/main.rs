//! loadgen: measures keyward against direct HTTPS on the same machine, in the same run —
//! keep-alive and new-connection throughput and latency, fixed-rate latency, memory on a
//! large stream and per idle tunnel. See docs/benchmarks.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

mod baseline;
mod ca;
mod client;
mod keyward;
mod memory;
mod phases;
mod policy;
mod process;
mod report;
mod stats;
mod upstream;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::client::{Dialer, Route};
use crate::keyward::Meter;
use crate::phases::{Mode, Plan};
use crate::policy::Policy;
use crate::report::Results;

/// Rounds of the idle-tunnel phase.
const IDLE_ROUNDS: usize = 2;

/// Measures keyward against direct HTTPS, same machine, same run.
#[derive(Parser)]
struct Args {
    /// Seconds per timed phase.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Concurrent connections in the keep-alive, new-connection and fixed-rate phases.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Requests per second in the fixed-rate phase.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Size of the large streamed body, bytes.
    #[arg(long, default_value_t = 1 << 30)]
    big_bytes: u64,
    /// Idle tunnels opened at once (lowered to fit the open-files limit).
    #[arg(long, default_value_t = 1000)]
    idle_tunnels: usize,
    /// The keyward binary [default: `keyward` next to this example's directory].
    #[arg(long)]
    keyward: Option<PathBuf>,
    /// The upstream offers only http/1.1 (keyward then pools HTTP/1.1 connections instead of
    /// multiplexing one h2 connection).
    #[arg(long)]
    upstream_http1_only: bool,
    /// Run keyward with its audit log off (to see what the log costs).
    #[arg(long)]
    audit_off: bool,
    /// Run keyward with `--allow bench.example` only instead of the realistic 50-rule policy
    /// (body inspection, injection, redaction), to see what the policy costs.
    #[arg(long)]
    allow_only: bool,
    /// keyward's serving threads (`keyward serve --workers`); default: one per core.
    #[arg(long)]
    keyward_workers: Option<usize>,
    /// A no-op MITM proxy binary (benches/hudsucker-baseline) to run the keep-alive and
    /// fixed-rate phases through as well, for requests per proxy CPU-second side by side.
    #[arg(long)]
    baseline: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.seconds > 0.0 && args.seconds <= 600.0,
        "--seconds must be in (0, 600]"
    );
    anyhow::ensure!(
        (1..=1000).contains(&args.concurrency),
        "--concurrency must be 1..=1000"
    );
    let exe = keyward::locate(args.keyward.clone())?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args, exe))
}

async fn run(args: Args, exe: PathBuf) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ca = upstream::ca();
    let upstream_ca = dir.path().join("upstream-ca.pem");
    std::fs::write(&upstream_ca, &ca.pem)?;
    let upstream = upstream::start(&ca, args.upstream_http1_only).await;
    let policy = if args.allow_only {
        Policy::AllowOnly
    } else {
        Policy::Realistic
    };
    let kw = keyward::start(
        &exe,
        dir.path(),
        &upstream_ca,
        upstream.addr,
        args.audit_off,
        policy,
        args.keyward_workers,
    )?;
    eprintln!(
        "keyward {} (pid {}) on {}, RUST_LOG=warn; upstream on {}",
        exe.display(),
        kw.pid,
        kw.addr,
        upstream.addr
    );
    let direct = Dialer::new(Route::Direct(upstream.addr), ca.pem.as_bytes());
    let proxied = Dialer::new(Route::Keyward(kw.addr), &kw.ca_pem);
    let meter = Meter::new(kw.pid);
    let plan = Plan {
        concurrency: args.concurrency,
        duration: Duration::from_secs_f64(args.seconds),
    };
    let mut results = Results::new(
        args.seconds,
        args.concurrency,
        args.rate,
        format!(
            "upstream ALPN {}; keyward's policy: {}; keyward's audit log {}",
            if args.upstream_http1_only {
                "http/1.1"
            } else {
                "h2, http/1.1"
            },
            match policy {
                Policy::Realistic => format!(
                    "{} rules, every request a JSON POST whose body a rule inspects, a credential injected, JSON fields masked in the response and the response scrubbed for a pattern set and secret values",
                    policy::RULES
                ),
                Policy::AllowOnly => "--allow bench.example only".to_owned(),
            },
            if args.audit_off { "off" } else { "on" }
        ),
    );

    for (mode, name) in [
        (Mode::KeepAlive, "keep-alive"),
        (Mode::NewConnection, "new connection per request"),
    ] {
        for (path, dialer) in [("direct", &direct), ("keyward", &proxied)] {
            let run = phases::closed_loop(dialer, plan, mode, meter).await;
            results.add(name, path, run);
        }
    }
    for (path, dialer) in [("direct", &direct), ("keyward", &proxied)] {
        let run = phases::fixed_rate(dialer, plan, args.rate, meter).await;
        results.add("fixed rate", path, run);
    }
    if let Some(exe) = &args.baseline {
        let hud = baseline::start(exe, dir.path(), &upstream_ca, upstream.addr)?;
        eprintln!(
            "baseline {} (pid {}) on {}",
            exe.display(),
            hud.pid,
            hud.addr
        );
        let dialer = Dialer::new(Route::Keyward(hud.addr), &hud.ca_pem);
        let meter = Meter::new(hud.pid);
        let run = phases::closed_loop(&dialer, plan, Mode::KeepAlive, meter).await;
        results.add("keep-alive", "hudsucker", run);
        let run = phases::fixed_rate(&dialer, plan, args.rate, meter).await;
        results.add("fixed rate", "hudsucker", run);
    }

    // Idle tunnels before the large stream, so the stream's buffers do not blur the baseline.
    let fd_room = [std::process::id(), kw.pid]
        .iter()
        .filter_map(|pid| keyward::open_files_limit(*pid))
        .min()
        .unwrap_or(1024)
        .saturating_sub(256) as usize;
    let tunnels = args.idle_tunnels.min(fd_room);
    if tunnels < args.idle_tunnels {
        eprintln!(
            "open-files limit: {tunnels} idle tunnels instead of {} (raise it with `ulimit -n`)",
            args.idle_tunnels
        );
    }
    // Twice: the second round shows whether the first round's memory is reused.
    for _ in 0..IDLE_ROUNDS {
        let idle = memory::idle_tunnels(&proxied, tunnels, kw.pid).await;
        results.idle.push(idle);
    }
    results.report_idle();

    results.big_direct = Some(memory::big_stream(&direct, args.big_bytes, meter, false).await);
    results.big = Some(memory::big_stream(&proxied, args.big_bytes, meter, true).await);
    results.report_big();

    results.audit = (!args.audit_off).then(|| keyward::audit_size(dir.path()));
    results.print_summary();
    if args.baseline.is_some() {
        baseline::print_ratios(&results);
    }
    drop(kw);
    drop(upstream);
    Ok(())
}
