//! The request phases: closed-loop keep-alive and new-connection-per-request, and open-loop
//! fixed rate. Every loop is bounded by a deadline and a count; every network wait by a
//! timeout.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use tokio::task::JoinSet;

use crate::client::{self, Dialer, Sender};
use crate::keyward::{Meter, Reading};
use crate::stats::Run;

/// Longest wait for one connection or request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed connection attempt.
const RETRY_PAUSE: Duration = Duration::from_millis(10);
/// Most requests one worker sends in a phase, whatever the deadline.
const MAX_REQUESTS_PER_WORKER: u32 = 2_000_000;

/// How long and how wide a phase is.
#[derive(Clone, Copy)]
pub struct Plan {
    pub concurrency: usize,
    pub duration: Duration,
}

/// Whether a closed-loop worker reuses its connection.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    KeepAlive,
    NewConnection,
}

/// `work`, or an error after `limit`.
pub async fn bounded<T>(
    limit: Duration,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| anyhow!("timed out after {limit:?}"))?
}

/// A new connection that has answered one request (warms TLS, keyward's leaf cache and its
/// upstream pool); None when it could not be opened (the worker retries).
async fn warm(dialer: &Dialer) -> Option<Sender> {
    bounded(REQUEST_TIMEOUT, async {
        let mut sender = dialer.h1().await?;
        client::post_items(&mut sender).await?;
        Ok(sender)
    })
    .await
    .ok()
}

/// `n` warm connections, opened concurrently.
async fn warm_connections(dialer: &Dialer, n: usize) -> Vec<Option<Sender>> {
    let mut set = JoinSet::new();
    for _ in 0..n {
        let dialer = dialer.clone();
        set.spawn(async move { warm(&dialer).await });
    }
    let mut senders = Vec::with_capacity(n);
    while let Some(joined) = set.join_next().await {
        senders.push(joined.ok().flatten());
    }
    senders
}

/// The workers' runs merged into the phase's, timed from `start` (the phase's wall time) and
/// charged the CPU time the meter saw since `before`.
async fn gather(mut set: JoinSet<Run>, start: Instant, meter: Meter, before: Reading) -> Run {
    let mut total = Run::default();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(run) => total.merge(run),
            Err(err) => total.fail(err),
        }
    }
    total.finish(Instant::now().saturating_duration_since(start));
    meter.charge(before, &mut total);
    total
}

/// The worker's kept-alive connection, or a new one; `None` (the failure recorded in `run`)
/// when connecting fails.
async fn sender_or_connect(
    sender: &mut Option<Sender>,
    dialer: &Dialer,
    run: &mut Run,
) -> Option<Sender> {
    if let Some(s) = sender.take() {
        return Some(s);
    }
    match bounded(REQUEST_TIMEOUT, dialer.h1()).await {
        Ok(s) => Some(s),
        Err(err) => {
            run.fail(format!("connect: {err:#}"));
            None
        }
    }
}

/// `plan.concurrency` workers sending requests back to back until the deadline.
pub async fn closed_loop(dialer: &Dialer, plan: Plan, mode: Mode, meter: Meter) -> Run {
    let senders = match mode {
        Mode::KeepAlive => warm_connections(dialer, plan.concurrency).await,
        Mode::NewConnection => {
            let _ = warm(dialer).await;
            (0..plan.concurrency).map(|_| None).collect()
        }
    };
    let before = meter.read();
    let start = Instant::now();
    let end = start + plan.duration;
    let mut set = JoinSet::new();
    for sender in senders {
        let dialer = dialer.clone();
        set.spawn(closed_worker(dialer, sender, mode, end));
    }
    gather(set, start, meter, before).await
}

async fn closed_worker(
    dialer: Dialer,
    mut sender: Option<Sender>,
    mode: Mode,
    end: Instant,
) -> Run {
    let mut run = Run::default();
    for _ in 0..MAX_REQUESTS_PER_WORKER {
        if Instant::now() >= end {
            break;
        }
        let t0 = Instant::now();
        let Some(mut s) = sender_or_connect(&mut sender, &dialer, &mut run).await else {
            tokio::time::sleep(RETRY_PAUSE).await;
            continue;
        };
        if mode == Mode::KeepAlive {
            // A reconnection is not part of the request's latency here.
            let t0 = Instant::now();
            match bounded(REQUEST_TIMEOUT, client::post_items(&mut s)).await {
                Ok(_) => {
                    run.record(t0.elapsed());
                    sender = Some(s);
                }
                Err(err) => run.fail(format!("{err:#}")),
            }
        } else {
            match bounded(REQUEST_TIMEOUT, client::post_items(&mut s)).await {
                Ok(_) => run.record(t0.elapsed()),
                Err(err) => run.fail(format!("{err:#}")),
            }
        }
    }
    run
}

/// Open loop: `rate` requests/s in total, spread evenly over `plan.concurrency` keep-alive
/// connections. A request that had to wait for a slow predecessor is charged from its
/// scheduled time (no coordinated omission).
pub async fn fixed_rate(dialer: &Dialer, plan: Plan, rate: u32, meter: Meter) -> Run {
    let senders = warm_connections(dialer, plan.concurrency).await;
    let rate = f64::from(rate.max(1));
    let interval = Duration::from_secs_f64(plan.concurrency as f64 / rate);
    let gap = Duration::from_secs_f64(1.0 / rate);
    let before = meter.read();
    let start = Instant::now() + Duration::from_millis(20);
    let end = start + plan.duration;
    let mut set = JoinSet::new();
    for (i, sender) in senders.into_iter().enumerate() {
        let first = start + gap * i as u32;
        set.spawn(paced_worker(dialer.clone(), sender, first, interval, end));
    }
    gather(set, start, meter, before).await
}

async fn paced_worker(
    dialer: Dialer,
    mut sender: Option<Sender>,
    first: Instant,
    interval: Duration,
    end: Instant,
) -> Run {
    let mut run = Run::default();
    for k in 0..MAX_REQUESTS_PER_WORKER {
        let due = first + interval * k;
        if due >= end {
            break;
        }
        // Behind schedule, the wait for the previous request is part of this one's latency.
        // On time, the clock starts when the timer fires: tokio's timer rounds up to the
        // next millisecond, and that lateness belongs to the tool, not to the server.
        let behind = Instant::now() >= due;
        tokio::time::sleep_until(due.into()).await;
        let start = if behind { due } else { Instant::now() };
        let Some(mut s) = sender_or_connect(&mut sender, &dialer, &mut run).await else {
            continue;
        };
        match bounded(REQUEST_TIMEOUT, client::post_items(&mut s)).await {
            Ok(_) => {
                run.record(start.elapsed());
                sender = Some(s);
            }
            Err(err) => run.fail(format!("{err:#}")),
        }
    }
    run
}
