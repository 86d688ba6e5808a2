//! What a phase measured: request count, errors, wall time, and a latency histogram (all
//! latencies kept, sorted once for percentiles); plus the CPU either process spent.

use std::fmt::Display;
use std::time::Duration;

/// One phase's results.
#[derive(Default)]
pub struct Run {
    /// Latency of each successful request.
    pub latencies: Vec<Duration>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Wall time from the phase's start to its last request's end.
    pub elapsed: Duration,
    /// The proxy's (keyward's, or the --baseline's) CPU seconds (user + system) during the phase.
    pub keyward_cpu: f64,
    /// This process's CPU seconds (client + upstream) during the phase.
    pub loadgen_cpu: f64,
    /// CPU seconds every other process on the machine used during the phase (noise).
    pub other_cpu: f64,
}

impl Run {
    pub fn record(&mut self, latency: Duration) {
        self.latencies.push(latency);
    }

    pub fn fail(&mut self, why: impl Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(why.to_string());
        }
    }

    /// Folds a worker's results into this one.
    pub fn merge(&mut self, other: Run) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// Sorts the latencies; call once before asking for percentiles.
    pub fn finish(&mut self, elapsed: Duration) {
        self.latencies.sort_unstable();
        self.elapsed = elapsed;
    }

    pub fn requests(&self) -> u64 {
        self.latencies.len() as u64
    }

    pub fn rate(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Nearest-rank percentile (`q` in 0..=100) of the sorted latencies.
    pub fn percentile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = (q / 100.0 * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    /// Requests per keyward CPU-second (None when keyward was not on the path).
    pub fn per_keyward_cpu(&self) -> Option<f64> {
        (self.keyward_cpu > 0.05).then(|| self.requests() as f64 / self.keyward_cpu)
    }
}

/// `0.214 ms`, `12.3 ms`.
pub fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1e3;
    if v < 10.0 {
        format!("{v:.3} ms")
    } else {
        format!("{v:.1} ms")
    }
}

/// A run's p50, p99 and p99.9 latencies, each as [`ms`] writes it.
pub fn latencies(run: &Run) -> [String; 3] {
    [50.0, 99.0, 99.9].map(|p| ms(run.percentile(p)))
}

/// KiB as `12.3 MiB`.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
