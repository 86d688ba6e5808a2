//! Progress lines while phases run (stderr) and the final summary (stdout, Markdown tables
//! ready to paste into docs/benchmarks.md).

use crate::memory::{Big, Idle};
use crate::stats::{Run, latencies, mib};

/// One phase on one path.
struct Row {
    phase: &'static str,
    path: &'static str,
    run: Run,
}

/// Everything measured in one run.
pub struct Results {
    seconds: f64,
    concurrency: usize,
    rate: u32,
    /// The upstream's ALPN and keyward's audit setting, for the header line.
    setup: String,
    rows: Vec<Row>,
    /// Idle-tunnel rounds (the second shows whether closed tunnels' memory is reused).
    pub idle: Vec<Idle>,
    pub big: Option<Big>,
    pub big_direct: Option<Big>,
    /// Lines and bytes of keyward's audit log at the end (None: the log was off).
    pub audit: Option<(u64, u64)>,
}

impl Results {
    pub fn new(seconds: f64, concurrency: usize, rate: u32, setup: String) -> Self {
        Self {
            seconds,
            concurrency,
            rate,
            setup,
            rows: Vec::new(),
            idle: Vec::new(),
            big: None,
            big_direct: None,
            audit: None,
        }
    }

    pub fn add(&mut self, phase: &'static str, path: &'static str, run: Run) {
        let [p50, p99, p999] = latencies(&run);
        eprintln!(
            "{phase:>26} {path:<8} {:>9.0} req/s  p50 {p50}  p99 {p99}  p99.9 {p999}  errors {}  CPU s: proxy {:.2} loadgen {:.2} other {:.2}",
            run.rate(),
            run.errors,
            run.keyward_cpu,
            run.loadgen_cpu,
            run.other_cpu,
        );
        self.rows.push(Row { phase, path, run });
    }

    pub fn report_idle(&self) {
        for (round, idle) in self.idle.iter().enumerate() {
            eprintln!(
                "{:>26} {} of {} open; keyward RSS {} -> {} ({:.1} KiB per tunnel), {} after closing",
                format!("idle tunnels, round {}", round + 1),
                idle.opened,
                idle.wanted,
                mib(idle.rss_before),
                mib(idle.rss_open),
                idle.kib_per_tunnel(),
                mib(idle.rss_closed),
            );
        }
    }

    pub fn report_big(&self) {
        for (path, big) in [("direct", &self.big_direct), ("keyward", &self.big)] {
            if let Some(big) = big {
                eprintln!(
                    "{:>26} {path:<8} {:.0} MB/s ({} bytes in {:.2} s){}",
                    "large stream",
                    big.mb_per_s(),
                    big.bytes,
                    big.elapsed.as_secs_f64(),
                    big.error
                        .as_ref()
                        .map(|e| format!("; error: {e}"))
                        .unwrap_or_default(),
                );
            }
        }
    }

    /// The run of `phase` on `path` ("direct", "keyward" or "hudsucker").
    pub fn run(&self, phase: &str, path: &str) -> Option<&Run> {
        self.rows
            .iter()
            .find(|r| r.phase == phase && r.path == path)
            .map(|r| &r.run)
    }

    pub fn print_summary(&self) {
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        println!();
        println!(
            "{} connections, {} s per phase, fixed rate {} req/s; keyward run with RUST_LOG=warn; \
             {}; {cores} cores shared by the client, the upstream and keyward.",
            self.concurrency, self.seconds, self.rate, self.setup
        );
        println!();
        println!(
            "| phase | path | requests | req/s | p50 | p99 | p99.9 | errors | proxy CPU s | req per proxy CPU-s | loadgen CPU s | other CPU s | vs direct |"
        );
        println!(
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        );
        for row in &self.rows {
            let run = &row.run;
            let vs = match (row.path, self.run(row.phase, "direct")) {
                ("keyward" | "hudsucker", Some(d)) => format!(
                    "{:.2}× req/s, p99 {:+.3} ms",
                    run.rate() / d.rate().max(1e-9),
                    (run.percentile(99.0).as_secs_f64() - d.percentile(99.0).as_secs_f64()) * 1e3
                ),
                _ => String::new(),
            };
            let [p50, p99, p999] = latencies(run);
            let phase = match row.phase {
                "fixed rate" => format!("fixed rate {}/s", self.rate),
                other => other.to_owned(),
            };
            println!(
                "| {phase} | {} | {} | {:.0} | {p50} | {p99} | {p999} | {} | {:.2} | {} | {:.2} | {:.2} | {vs} |",
                row.path,
                run.requests(),
                run.rate(),
                run.errors,
                run.keyward_cpu,
                run.per_keyward_cpu()
                    .map_or_else(|| "–".to_owned(), |v| format!("{v:.0}")),
                run.loadgen_cpu,
                run.other_cpu,
            );
        }
        println!();
        println!("| memory and streaming | value |");
        println!("| --- | --- |");
        if let Some(big) = &self.big_direct {
            println!(
                "| {} MiB stream, direct | {:.0} MB/s |",
                big.bytes >> 20,
                big.mb_per_s()
            );
        }
        if let Some(big) = &self.big {
            println!(
                "| {} MiB stream, through keyward | {:.0} MB/s, keyward CPU {:.2} s |",
                big.bytes >> 20,
                big.mb_per_s(),
                big.keyward_cpu
            );
            println!(
                "| keyward VmRSS before / max during / after the stream | {} / {} / {} |",
                mib(big.rss_before),
                mib(big.rss_max),
                mib(big.rss_after)
            );
        }
        for (round, idle) in self.idle.iter().enumerate() {
            let round = round + 1;
            println!(
                "| idle tunnels round {round} (CONNECT + TLS, nothing sent) | {} of {} opened in {:.2} s |",
                idle.opened,
                idle.wanted,
                idle.open_time.as_secs_f64()
            );
            println!(
                "| round {round}: keyward VmRSS before / with tunnels open / 1 s after closing | {} / {} / {} |",
                mib(idle.rss_before),
                mib(idle.rss_open),
                mib(idle.rss_closed)
            );
            println!(
                "| round {round}: keyward VmRSS growth per idle tunnel | {:.1} KiB |",
                idle.kib_per_tunnel()
            );
        }
        if let Some((lines, bytes)) = self.audit {
            println!(
                "| keyward's audit log at the end of the run | {lines} entries, {} ({:.0} bytes per entry) |",
                mib(bytes / 1024),
                bytes as f64 / lines.max(1) as f64
            );
        }
        self.print_errors();
    }

    fn print_errors(&self) {
        let mut any = false;
        for row in &self.rows {
            if let Some(e) = &row.run.first_error {
                if !any {
                    println!();
                    any = true;
                }
                println!("first error, {} {}: {e}", row.phase, row.path);
            }
        }
        for e in self.idle.iter().filter_map(|i| i.first_error.as_ref()) {
            println!("first error, idle tunnels: {e}");
        }
        for big in [&self.big_direct, &self.big].into_iter().flatten() {
            if let Some(e) = &big.error {
                println!("large stream error: {e}");
            }
        }
    }
}
