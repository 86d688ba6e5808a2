//! The memory phases: one large streamed body with keyward's RSS sampled every 100 ms, and
//! many idle tunnels held open. Bounded in time and count like the request phases.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::client::{self, Dialer};
use crate::keyward::{Meter, rss_kib};
use crate::phases::{REQUEST_TIMEOUT, bounded};

/// Longest wait for the large body.
const BIG_TIMEOUT: Duration = Duration::from_secs(120);
/// RSS sampling period, and the most samples taken.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
const MAX_SAMPLES: u32 = 3_000;
/// Tunnels being opened at once in the idle-tunnel phase.
const OPEN_PARALLELISM: usize = 32;

/// One large body read and discarded.
#[derive(Default)]
pub struct Big {
    pub bytes: u64,
    pub elapsed: Duration,
    pub error: Option<String>,
    /// keyward's VmRSS (KiB) before, at most during, and 500 ms after the transfer.
    pub rss_before: u64,
    pub rss_max: u64,
    pub rss_after: u64,
    pub keyward_cpu: f64,
}

impl Big {
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// GET `/big?bytes=N` on a new connection; samples keyward's RSS every 100 ms if `watch`.
pub async fn big_stream(dialer: &Dialer, bytes: u64, meter: Meter, watch: bool) -> Big {
    let pid = meter.keyward_pid();
    let mut big = Big {
        rss_before: if watch { rss_kib(pid) } else { 0 },
        ..Big::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = watch.then(|| tokio::spawn(sample_rss(pid, stop.clone())));
    let before = meter.read();
    let t0 = Instant::now();
    let result = bounded(BIG_TIMEOUT, async {
        let mut sender = dialer.h1().await?;
        client::get(&mut sender, &format!("/big?bytes={bytes}")).await
    })
    .await;
    big.elapsed = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    big.keyward_cpu = meter.keyward_seconds_since(&before);
    match result {
        Ok(n) => big.bytes = n,
        Err(err) => big.error = Some(format!("{err:#}")),
    }
    if let Some(sampler) = sampler {
        big.rss_max = sampler.await.unwrap_or(0).max(big.rss_before);
        tokio::time::sleep(Duration::from_millis(500)).await;
        big.rss_after = rss_kib(pid);
    }
    big
}

async fn sample_rss(pid: u32, stop: Arc<AtomicBool>) -> u64 {
    let mut max = 0;
    for _ in 0..MAX_SAMPLES {
        max = max.max(rss_kib(pid));
        if stop.load(Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    max
}

/// Idle tunnels held open at once.
#[derive(Default)]
pub struct Idle {
    pub wanted: usize,
    pub opened: usize,
    pub errors: u64,
    pub first_error: Option<String>,
    pub open_time: Duration,
    /// keyward's VmRSS (KiB) before opening, 1 s after opening, 1 s after closing.
    pub rss_before: u64,
    pub rss_open: u64,
    pub rss_closed: u64,
}

impl Idle {
    pub fn kib_per_tunnel(&self) -> f64 {
        (self.rss_open as f64 - self.rss_before as f64) / self.opened.max(1) as f64
    }
}

/// Opens `n` CONNECT tunnels through keyward, completes TLS in each, sends nothing, waits
/// ~1 s, reads keyward's RSS, closes them all.
pub async fn idle_tunnels(dialer: &Dialer, n: usize, pid: u32) -> Idle {
    let mut idle = Idle {
        wanted: n,
        rss_before: rss_kib(pid),
        ..Idle::default()
    };
    let t0 = Instant::now();
    let gate = Arc::new(Semaphore::new(OPEN_PARALLELISM));
    let mut set = JoinSet::new();
    for _ in 0..n {
        let dialer = dialer.clone();
        let gate = gate.clone();
        set.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            bounded(REQUEST_TIMEOUT, dialer.tls()).await
        });
    }
    let mut tunnels = Vec::with_capacity(n);
    while let Some(joined) = set.join_next().await {
        let failure = match joined {
            Ok(Ok(tls)) => {
                tunnels.push(tls);
                continue;
            }
            Ok(Err(err)) => format!("{err:#}"),
            Err(err) => err.to_string(),
        };
        idle.errors += 1;
        idle.first_error.get_or_insert(failure);
    }
    idle.open_time = t0.elapsed();
    idle.opened = tunnels.len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    idle.rss_open = rss_kib(pid);
    drop(tunnels);
    tokio::time::sleep(Duration::from_secs(1)).await;
    idle.rss_closed = rss_kib(pid);
    idle
}
