//! The soak: the real `keyward serve` binary as a child process for 60 s on loopback
//! (`KEYWARD_SOAK_SECONDS` overrides it for local runs), normal requests (HTTP/1.1 and h2, a
//! new tunnel each) mixed with abuse: slow heads, idle tunnels, abandoned downloads, denied
//! CONNECTs and refused non-proxy requests. Every normal request succeeds; once the abuse
//! stops and its connections close, the child's open file descriptors return to the count
//! measured after a warm-up, and its resident memory stays within a bound of the warm-up's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::support::agent::{Agent, Proto};
use crate::support::child::{self, Child};
use crate::support::raw::roundtrip;
use crate::support::upstream::{BoxError, TestBody, full};
use crate::support::{self, Handler, TestCa, Upstream};

/// How long the abuse and the normal traffic run (after the warm-up).
const SOAK: Duration = Duration::from_secs(60);
/// The same traffic before the measured run, so pools, caches and the allocator are warm.
const WARMUP: Duration = Duration::from_secs(5);
/// Open descriptors the child may have above its warm-up count once the abuse is over.
const FD_MARGIN: usize = 8;
/// Resident memory the child may have above its warm-up figure after the run.
const RSS_MARGIN_KIB: u64 = 32 * 1024;
/// How long the descriptor count may take to settle.
const SETTLE: Duration = Duration::from_secs(10);
/// How long an unchanged descriptor count counts as settled (without a target).
const STEADY: Duration = Duration::from_secs(1);
/// Longest a normal request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound on the rounds of any traffic loop (each also stops at its deadline).
const MAX_ROUNDS: usize = 1_000_000;

/// The soak's length: `KEYWARD_SOAK_SECONDS` if set, otherwise [`SOAK`].
fn soak_length() -> Duration {
    std::env::var("KEYWARD_SOAK_SECONDS")
        .ok()
        .map(|s| {
            Duration::from_secs(s.trim().parse().unwrap_or_else(|_| {
                panic!("KEYWARD_SOAK_SECONDS must be a whole number of seconds, got {s:?}")
            }))
        })
        .unwrap_or(SOAK)
}

/// `/big`: 64 MiB in 64 KiB chunks; anything else: `ok`.
fn handler() -> Handler {
    Arc::new(|req: http::Request<hyper::body::Incoming>| {
        Box::pin(async move {
            if req.uri().path() == "/big" {
                let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
                let frames = futures_util::stream::iter(
                    (0..1024).map(move |_| Ok::<_, BoxError>(Frame::data(chunk.clone()))),
                );
                let body: TestBody = BodyExt::boxed(StreamBody::new(frames));
                Response::new(body)
            } else {
                Response::new(full("ok"))
            }
        })
    })
}

/// What the traffic did.
#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    failed: AtomicUsize,
    slow_heads: AtomicUsize,
    idle_tunnels: AtomicUsize,
    abandoned_downloads: AtomicUsize,
    denied: AtomicUsize,
    refused: AtomicUsize,
    /// Abusive requests answered otherwise than expected (a denied CONNECT not 403, a
    /// non-proxy request not 400).
    unexpected: AtomicUsize,
}

impl Tally {
    fn get(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::Relaxed)
    }
}

/// Normal traffic and abuse against `agent.proxy` until `until`.
async fn traffic(agent: &Agent, until: Instant, tally: &Arc<Tally>) {
    let mut workers = Vec::new();
    for proto in [Proto::H1, Proto::H2] {
        let (agent, tally) = (agent.clone(), tally.clone());
        workers.push(tokio::spawn(async move {
            for _ in 0..MAX_ROUNDS {
                if Instant::now() >= until {
                    break;
                }
                let reply = tokio::time::timeout(
                    REQUEST_TIMEOUT,
                    agent.get(proto, "https://api.example.com/ok"),
                )
                .await;
                match reply {
                    Ok(r) if r.status == StatusCode::OK && &r.body[..] == b"ok" => {
                        tally.ok.fetch_add(1, Ordering::Relaxed)
                    }
                    _ => tally.failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    // Slow heads: 50 connections that never finish their head, again and again.
    let (addr, t) = (agent.proxy, tally.clone());
    workers.push(tokio::spawn(async move {
        for _ in 0..MAX_ROUNDS {
            if Instant::now() >= until {
                break;
            }
            let mut conns = Vec::new();
            for _ in 0..50 {
                if let Ok(mut c) = TcpStream::connect(addr).await {
                    let _ = c
                        .write_all(b"CONNECT api.example.com:443 HTTP/1.1\r\nHo")
                        .await;
                    conns.push(c);
                }
            }
            t.slow_heads.fetch_add(conns.len(), Ordering::Relaxed);
            // Held past keyward's 500 ms head timeout.
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    }));
    // Idle tunnels, abandoned downloads, denied CONNECTs, refused non-proxy requests.
    let (agent, t) = (agent.clone(), tally.clone());
    workers.push(tokio::spawn(async move {
        for _ in 0..MAX_ROUNDS {
            if Instant::now() >= until {
                break;
            }
            let mut held = Vec::new();
            for _ in 0..20 {
                if let Ok(tcp) = agent.connect("api.example.com:443").await
                    && let Ok(tls) = agent.tls(tcp, "api.example.com", &[b"http/1.1"]).await
                {
                    held.push(tls);
                }
            }
            t.idle_tunnels.fetch_add(held.len(), Ordering::Relaxed);
            let tcp = agent.connect("api.example.com:443").await.unwrap();
            let tls = agent
                .tls(tcp, "api.example.com", &[b"http/1.1"])
                .await
                .unwrap();
            let (mut s, c) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                    .await
                    .unwrap();
            tokio::spawn(c);
            let req = Request::get("/big")
                .header("host", "api.example.com")
                .body(Full::new(Bytes::new()))
                .unwrap();
            if let Ok(resp) = s.send_request(req).await {
                let mut body = resp.into_body();
                let _ = body.frame().await; // read a little, then walk away
                t.abandoned_downloads.fetch_add(1, Ordering::Relaxed);
            }
            match agent.connect("denied.example:443").await {
                Err(reply) if reply.status == StatusCode::FORBIDDEN => {
                    t.denied.fetch_add(1, Ordering::Relaxed)
                }
                _ => t.unexpected.fetch_add(1, Ordering::Relaxed),
            };
            let tcp = TcpStream::connect(agent.proxy).await.unwrap();
            let reply = roundtrip(
                tcp,
                b"GET /not-a-proxy-request HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                Duration::from_secs(5),
            )
            .await;
            if reply.statuses() == [400] {
                t.refused.fetch_add(1, Ordering::Relaxed);
            } else {
                t.unexpected.fetch_add(1, Ordering::Relaxed);
            }
            // The tunnels stay idle a while before the agent walks away from them.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }));
    for w in workers {
        w.await.unwrap();
    }
}

/// Polls the child's open descriptors for at most [`SETTLE`]: returns as soon as the count is
/// at most `target` or, without a target, once it has not changed for [`STEADY`]. The last
/// count read.
async fn settle(child: &Child, target: Option<usize>) -> usize {
    let mut last = child.open_fds();
    let mut steady_since = Instant::now();
    support::within(SETTLE, || {
        let now = child.open_fds();
        if now != last {
            (last, steady_since) = (now, Instant::now());
        }
        let settled = match target {
            Some(t) => last <= t,
            None => steady_since.elapsed() >= STEADY,
        };
        settled.then_some(())
    })
    .await;
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_traffic_survives_abuse_and_nothing_leaks() {
    let ca = TestCa::new();
    let upstream =
        Upstream::https(&ca, &["api.example.com"], &[b"h2", b"http/1.1"], handler()).await;
    let work = tempfile::tempdir().unwrap();
    let rules = work.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let config = work.path().join("keyward.yaml");
    std::fs::write(
        &config,
        "limits:\n  header_read_timeout: 500ms\n  idle_timeout: 1s\n",
    )
    .unwrap();
    let mut command = child::command();
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--admin-listen", "127.0.0.1:0"])
        .arg("--config")
        .arg(&config);
    let audit_log = work.path().join("audit.jsonl");
    child::with_files(
        command.as_std_mut(),
        work.path(),
        &rules,
        &ca.path,
        &audit_log,
    )
    .arg("--resolve")
    .arg(format!("api.example.com:443:{}", upstream.addr))
    .args(["--allow", "api.example.com"])
    .env("RUST_LOG", "info");
    let mut keyward = child::spawn(command, work.path()).await;
    if child::open_fds(keyward.pid).is_none() {
        // keyward is non-dumpable: only root (CAP_SYS_PTRACE) may list its descriptors.
        println!(
            "note: cannot read keyward's /proc/PID/fd as this user; soak skipped (CI runs it as root)"
        );
        return;
    }
    let admin = keyward.admin().await;
    let agent = Agent::new(keyward.addr, &work.path().join("certs/ca.pem"));
    let fds_at_start = keyward.open_fds();

    // Warm-up: the same mix, then wait for its connections to close.
    let warm_tally = Arc::new(Tally::default());
    traffic(&agent, Instant::now() + WARMUP, &warm_tally).await;
    assert_eq!(
        Tally::get(&warm_tally.failed),
        0,
        "normal requests failed in the warm-up"
    );
    let fds_warm = settle(&keyward, None).await;
    let rss_warm = keyward.rss_kib();

    // The soak, with the child's descriptors and memory sampled every second.
    let length = soak_length();
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let until = started + length;
    let (peak_fds, peak_rss) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicU64::new(0)));
    let pid = keyward.pid;
    let sampler = {
        let (peak_fds, peak_rss) = (peak_fds.clone(), peak_rss.clone());
        tokio::spawn(async move {
            for _ in 0..length.as_secs() + 1 {
                if Instant::now() >= until {
                    break;
                }
                if let Some(n) = child::open_fds(pid) {
                    peak_fds.fetch_max(n, Ordering::Relaxed);
                }
                if let Some(kib) = child::rss_kib(pid) {
                    peak_rss.fetch_max(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    traffic(&agent, until, &tally).await;
    let ran = started.elapsed();
    sampler.await.unwrap();

    let (ok, failed) = (Tally::get(&tally.ok), Tally::get(&tally.failed));
    assert_eq!(
        failed, 0,
        "{failed} normal requests failed during the abuse ({ok} succeeded)"
    );
    assert!(ok > 50, "only {ok} normal requests succeeded");
    assert_eq!(
        Tally::get(&tally.unexpected),
        0,
        "denied or refused requests were answered otherwise than 403 / 400"
    );
    assert!(Tally::get(&tally.denied) > 0 && Tally::get(&tally.refused) > 0);

    // Every abusive connection ends: the descriptors return to the warm-up count.
    let fds_after = settle(&keyward, Some(fds_warm + FD_MARGIN)).await;
    assert!(
        fds_after <= fds_warm + FD_MARGIN,
        "keyward holds {fds_after} descriptors after the soak, {fds_warm} after the warm-up \
         (margin {FD_MARGIN}): {:?}",
        keyward.fd_kinds()
    );
    let rss_after = keyward.rss_kib();
    assert!(
        rss_after <= rss_warm + RSS_MARGIN_KIB,
        "keyward's VmRSS grew from {rss_warm} KiB after the warm-up to {rss_after} KiB \
         (bound: +{RSS_MARGIN_KIB} KiB)"
    );

    // Still healthy, and it stops cleanly.
    let health = support::admin_get(&admin, "/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    let status = keyward.terminate().await;
    assert!(status.success(), "keyward exits 0 on SIGTERM: {status}");
    let stderr = std::fs::read_to_string(&keyward.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "keyward panicked: {stderr}");

    println!(
        "soak: {:.1} s, {ok} normal requests succeeded, {failed} failed; abuse: {} slow heads, \
         {} idle tunnels, {} abandoned downloads, {} denied CONNECTs, {} refused requests",
        ran.as_secs_f64(),
        Tally::get(&tally.slow_heads),
        Tally::get(&tally.idle_tunnels),
        Tally::get(&tally.abandoned_downloads),
        Tally::get(&tally.denied),
        Tally::get(&tally.refused),
    );
    println!(
        "soak: open fds {fds_at_start} at start, {fds_warm} after warm-up, peak {} during, \
         {fds_after} after (margin {FD_MARGIN})",
        peak_fds.load(Ordering::Relaxed)
    );
    println!(
        "soak: VmRSS {rss_warm} KiB after warm-up, peak {} KiB during, {rss_after} KiB after \
         (bound {} KiB)",
        peak_rss.load(Ordering::Relaxed),
        rss_warm + RSS_MARGIN_KIB
    );
}
