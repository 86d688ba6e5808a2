//! mint_bench: leaf-certificate minting at scale. The release keyward binary runs as a child
//! process with a rule that admits `*.mint.example`; the client opens a CONNECT tunnel and
//! completes a TLS handshake with SNI `hN.mint.example` for N distinct hosts, so keyward mints
//! a leaf for each, through its bounded certificate cache at the default capacity. keyward's
//! VmRSS is sampled every second; the question is whether it stays flat once the cache is
//! full. See docs/benchmarks.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

#[path = "loadgen/process.rs"]
#[expect(dead_code, reason = "loadgen uses the rest of its process helpers")]
mod process;

use process::{ChildProcess, clock_ticks, cpu_ticks, locate, rss_kib};

/// The parent domain of every host the benchmark connects to.
const DOMAIN: &str = "mint.example";
/// Longest one CONNECT + handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest the whole run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(3600);
/// RSS sampling period, and the most samples kept.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
const MAX_SAMPLES: usize = 3600;
/// Largest CONNECT response head accepted.
const MAX_CONNECT_HEAD: usize = 8 * 1024;
/// How long keyward may take to print its banner.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Leaf minting for many distinct hosts through keyward's certificate cache.
#[derive(Parser)]
struct Args {
    /// Distinct host names to handshake with (one leaf minted for each).
    #[arg(long, default_value_t = 100_000)]
    hosts: usize,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// The keyward binary [default: `keyward` next to this example's directory].
    #[arg(long)]
    keyward: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        (1..=10_000_000).contains(&args.hosts),
        "--hosts must be 1..=10000000"
    );
    anyhow::ensure!(
        (1..=1000).contains(&args.concurrency),
        "--concurrency must be 1..=1000"
    );
    let exe = locate(args.keyward.clone())?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args, exe))
}

/// keyward's VmRSS when a given number of handshakes had completed.
struct Point {
    hosts: usize,
    elapsed: Duration,
    rss_kib: u64,
    keyward_ticks: u64,
}

async fn run(args: Args, exe: PathBuf) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let kw = Keyward::start(&exe, dir.path())?;
    let capacity = ::keyward::Config::default().cert_cache_capacity;
    eprintln!(
        "keyward {} (pid {}) on {}, RUST_LOG=warn, cert_cache_capacity {capacity} (default); \
         {} hosts, {} in flight",
        exe.display(),
        kw.pid,
        kw.addr,
        args.hosts,
        args.concurrency
    );
    let connector = connector(&kw.ca_pem)?;
    let ticks_per_second = clock_ticks();

    // Every second: keyward's VmRSS.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (stop, done, samples, pid) = (stop.clone(), done.clone(), samples.clone(), kw.pid);
        tokio::spawn(async move {
            let t0 = Instant::now();
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            for _ in 0..MAX_SAMPLES {
                tick.tick().await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let point = (t0.elapsed(), done.load(Ordering::Relaxed), rss_kib(pid));
                samples.lock().unwrap().push(point);
            }
        })
    };

    let step = milestone_step(args.hosts);
    let t0 = Instant::now();
    let mut points = vec![Point {
        hosts: 0,
        elapsed: Duration::ZERO,
        rss_kib: rss_kib(kw.pid),
        keyward_ticks: cpu_ticks(kw.pid),
    }];
    let (mut errors, mut first_error) = (0u64, None);
    let addr = kw.addr;
    let results = futures_util::stream::iter(0..args.hosts)
        .map(|i| {
            let connector = connector.clone();
            async move { handshake(addr, &connector, &format!("h{i}.{DOMAIN}")).await }
        })
        .buffer_unordered(args.concurrency);
    let outcome = tokio::time::timeout(RUN_TIMEOUT, async {
        let mut results = std::pin::pin!(results);
        let mut completed = 0usize;
        while let Some(result) = results.next().await {
            completed += 1;
            done.store(completed as u64, Ordering::Relaxed);
            if let Err(err) = result {
                errors += 1;
                first_error.get_or_insert(format!("{err:#}"));
            }
            if completed.is_multiple_of(step) || completed == args.hosts {
                let point = Point {
                    hosts: completed,
                    elapsed: t0.elapsed(),
                    rss_kib: rss_kib(kw.pid),
                    keyward_ticks: cpu_ticks(kw.pid),
                };
                eprintln!(
                    "{completed} hosts in {:.1} s, keyward VmRSS {:.1} MiB",
                    point.elapsed.as_secs_f64(),
                    mib(point.rss_kib)
                );
                points.push(point);
            }
        }
    })
    .await;
    let elapsed = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    sampler.await?;
    if outcome.is_err() {
        bail!("the run did not finish within {RUN_TIMEOUT:?}");
    }
    let samples = samples.lock().unwrap().clone();
    report(
        &args,
        capacity,
        elapsed,
        &points,
        &samples,
        ticks_per_second,
    );
    let minted = minted(kw.admin).await;
    println!(
        "\nleaves minted (keyward's leaf_certificates_minted): {}; errors: {errors}{}",
        minted.map_or_else(|e| format!("unknown ({e:#})"), |n| n.to_string()),
        first_error.map_or(String::new(), |e| format!(" (first: {e})"))
    );
    drop(kw);
    Ok(())
}

/// Milestones every 10,000 hosts (or a tenth of the run when it is shorter).
fn milestone_step(hosts: usize) -> usize {
    if hosts >= 100_000 {
        10_000
    } else {
        (hosts / 10).max(1)
    }
}

/// A TLS client trusting keyward's CA, session resumption off.
fn connector(ca_pem: &[u8]) -> anyhow::Result<TlsConnector> {
    let mut roots = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &ca_pem[..]) {
        roots.add(cert?)?;
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// `CONNECT host:443` through keyward, then a TLS handshake with SNI `host` that verifies
/// the leaf keyward presents is issued for `host` by its CA; then the connection is closed.
async fn handshake(proxy: SocketAddr, connector: &TlsConnector, host: &str) -> anyhow::Result<()> {
    let work = async {
        let mut tcp = TcpStream::connect(proxy).await.context("connecting")?;
        tcp.set_nodelay(true)?;
        tcp.write_all(
            format!("CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n").as_bytes(),
        )
        .await?;
        let mut head = Vec::with_capacity(128);
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() >= MAX_CONNECT_HEAD {
                bail!("CONNECT response head too large");
            }
            if tcp.read(&mut byte).await? == 0 {
                bail!("keyward closed the connection during CONNECT");
            }
            head.push(byte[0]);
        }
        if !head.starts_with(b"HTTP/1.1 200") {
            bail!("CONNECT {host}: {}", String::from_utf8_lossy(&head).trim());
        }
        let name = ServerName::try_from(host.to_owned())?;
        let mut tls = connector
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS handshake for {host}"))?;
        let _ = tls.shutdown().await;
        Ok(())
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, work)
        .await
        .with_context(|| format!("{host}: no handshake within {HANDSHAKE_TIMEOUT:?}"))?
}

/// keyward as a child process; dropping it kills the process.
struct Keyward {
    _process: ChildProcess,
    pid: u32,
    addr: SocketAddr,
    admin: SocketAddr,
    /// keyward's CA certificate (PEM), what the client trusts.
    ca_pem: Vec<u8>,
}

impl Keyward {
    /// `keyward serve` on 127.0.0.1:0 with `dir/rules/mint.yaml` admitting `*.mint.example`,
    /// its CA and audit log under `dir`, `RUST_LOG=warn`; the addresses read from its banner.
    fn start(exe: &Path, dir: &Path) -> anyhow::Result<Keyward> {
        let rules = dir.join("rules");
        std::fs::create_dir_all(&rules)?;
        std::fs::write(
            rules.join("mint.yaml"),
            format!(
                "rules:\n  - id: any-mint-host\n    url: https://*.{DOMAIN}/**\n    decision: allow\n"
            ),
        )?;
        let ca_dir = dir.join("certs");
        let mut command = Command::new(exe);
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .arg("--ca-dir")
            .arg(&ca_dir)
            .arg("--rules")
            .arg(&rules)
            .arg("--audit-log")
            .arg(dir.join("logs").join("audit.jsonl"));
        // The guard exists before anything can fail, so the child never outlives us.
        let mut process = ChildProcess::spawn(&mut command, exe)?;
        let stdout = process.take_stdout()?;
        let unset = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut kw = Keyward {
            pid: process.pid,
            _process: process,
            addr: unset,
            admin: unset,
            ca_pem: Vec::new(),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the banner, then keeps draining stdout so keyward never blocks on the pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                for prefix in ["keyward is listening on ", "Admin API: http://"] {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        let addr = rest.split_whitespace().next().unwrap_or("").to_owned();
                        let _ = tx.send((prefix, addr));
                    }
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        while kw.addr == unset || kw.admin == unset {
            let wait = deadline.saturating_duration_since(Instant::now());
            let (prefix, addr) = rx
                .recv_timeout(wait)
                .context("keyward did not print its addresses")?;
            let addr = addr
                .parse()
                .with_context(|| format!("bad address {addr:?}"))?;
            if prefix.starts_with("keyward") {
                kw.addr = addr;
            } else {
                kw.admin = addr;
            }
        }
        kw.ca_pem = std::fs::read(ca_dir.join("ca.pem")).context("reading keyward's CA")?;
        Ok(kw)
    }
}

/// keyward's `leaf_certificates_minted` counter, from its admin API's `/metrics`.
async fn minted(admin: SocketAddr) -> anyhow::Result<u64> {
    let tcp = TcpStream::connect(admin).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let req = http::Request::get("/metrics")
        .header("host", admin.to_string())
        .body(Empty::<Bytes>::new())?;
    let resp = sender.send_request(req).await?;
    let body = resp.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.contains("leaf_certificates_minted"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
        .context("no leaf_certificates_minted in /metrics")
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The Markdown tables: RSS and rate at each milestone, then the summary.
fn report(
    args: &Args,
    capacity: usize,
    elapsed: Duration,
    points: &[Point],
    samples: &[(Duration, u64, u64)],
    ticks_per_second: f64,
) {
    let hosts = points.last().map_or(0, |p| p.hosts);
    println!(
        "\n{hosts} distinct hosts, {} in flight, cert_cache_capacity {capacity}\n",
        args.concurrency
    );
    println!(
        "| hosts | elapsed | handshakes/s since previous row | keyward CPU per handshake | keyward VmRSS |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for pair in points.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let n = (b.hosts - a.hosts).max(1) as f64;
        let secs = (b.elapsed - a.elapsed).as_secs_f64().max(1e-9);
        let cpu = b.keyward_ticks.saturating_sub(a.keyward_ticks) as f64 / ticks_per_second;
        println!(
            "| {} | {:.1} s | {:.0} | {:.0} µs | {:.1} MiB |",
            b.hosts,
            b.elapsed.as_secs_f64(),
            n / secs,
            cpu / n * 1e6,
            mib(b.rss_kib)
        );
    }
    let first = &points[0];
    let max_sampled = samples.iter().map(|s| s.2).max().unwrap_or(0);
    let max = points
        .iter()
        .map(|p| p.rss_kib)
        .max()
        .unwrap_or(0)
        .max(max_sampled);
    let at = |n: usize| {
        points
            .iter()
            .find(|p| p.hosts == n)
            .map_or("–".to_owned(), |p| format!("{:.1} MiB", mib(p.rss_kib)))
    };
    let cpu = points.last().map_or(0, |p| p.keyward_ticks) - first.keyward_ticks;
    println!();
    println!("| figure | value |");
    println!("| --- | --- |");
    println!(
        "| handshakes (CONNECT + TLS, a new host each) | {hosts} in {:.1} s: {:.0} per second |",
        elapsed.as_secs_f64(),
        hosts as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    println!(
        "| keyward CPU | {:.1} s, {:.0} µs per handshake |",
        cpu as f64 / ticks_per_second,
        cpu as f64 / ticks_per_second / hosts.max(1) as f64 * 1e6
    );
    println!(
        "| keyward VmRSS at 0 / 10k / 50k / 100k hosts | {:.1} MiB / {} / {} / {} |",
        mib(first.rss_kib),
        at(10_000),
        at(50_000),
        at(100_000)
    );
    println!(
        "| keyward VmRSS max (sampled every second, {} samples) | {:.1} MiB |",
        samples.len(),
        mib(max)
    );
    if let Some(full) = points.iter().find(|p| p.hosts >= capacity)
        && let Some(last) = points.last()
        && last.hosts > full.hosts
    {
        let after = samples
            .iter()
            .filter(|s| s.1 as usize >= full.hosts)
            .map(|s| s.2)
            .max()
            .unwrap_or(last.rss_kib)
            .max(last.rss_kib);
        println!(
            "| once the cache was full ({} hosts) to the end ({} hosts) | {:.1} MiB → {:.1} MiB (max {:.1} MiB, {:+.1} MiB) |",
            full.hosts,
            last.hosts,
            mib(full.rss_kib),
            mib(last.rss_kib),
            mib(after),
            mib(last.rss_kib) - mib(full.rss_kib)
        );
    }
}
