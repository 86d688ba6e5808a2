//! Decision-time benchmark: 10,000 rules over 1,000 hosts, mean and p99 per decision.
//!
//! Run: `cargo run --release --example decide_bench`

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark binary prints its figures and may stop on setup errors"
)]

use std::fmt::Write;
use std::time::Instant;

use keyward::policy::{RuleSet, SampleRequest, Source, Verdict};

const HOSTS: usize = 1_000;
const RULES: usize = 10_000;
const DECISIONS: usize = 200_000;

fn main() {
    let mut text = String::from("rules:\n");
    for i in 0..RULES {
        let host = i % HOSTS;
        let kind = i / HOSTS;
        let _ = write!(
            text,
            "  - id: r{i}\n    method: [GET, POST]\n    url: https://svc{host}.example.com/api/v{kind}/{{item}}/**\n    query: {{ limit: {{ max: 100, optional: true }} }}\n    decision: {}\n",
            if i % 7 == 0 { "deny" } else { "allow" }
        );
    }
    let started = Instant::now();
    let set = RuleSet::compile(&[Source {
        path: "bench.yaml".into(),
        text,
    }])
    .expect("compiles");
    println!("compiled {} in {:?}", set.summary(), started.elapsed());

    let requests: Vec<SampleRequest> = (0..1_000)
        .map(|i| {
            let host = (i * 7919) % HOSTS;
            let kind = (i * 31) % 12; // 10 kinds exist; 10 and 11 match nothing
            SampleRequest::parse(&format!(
                "GET https://svc{host}.example.com/api/v{kind}/thing-{i}/sub/path?limit=50"
            ))
            .expect("valid request")
        })
        .collect();

    let mut times = Vec::with_capacity(DECISIONS);
    let mut allowed = 0usize;
    for n in 0..DECISIONS {
        let request = &requests[n % requests.len()];
        let head = request.head();
        let t = Instant::now();
        let decision = set.decide(&head, None, None);
        times.push(t.elapsed().as_nanos());
        allowed += usize::from(decision.verdict == Verdict::Allow);
    }
    times.sort_unstable();
    let mean = times.iter().sum::<u128>() as f64 / times.len() as f64;
    let p99 = times[times.len() * 99 / 100];
    let p50 = times[times.len() / 2];
    println!(
        "{DECISIONS} decisions over {RULES} rules / {HOSTS} hosts: mean {:.2} µs, p50 {:.2} µs, p99 {:.2} µs ({allowed} allowed)",
        mean / 1000.0,
        p50 as f64 / 1000.0,
        p99 as f64 / 1000.0
    );
}
