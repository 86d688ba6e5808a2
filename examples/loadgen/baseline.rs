//! `--baseline PATH`: a no-op hudsucker MITM proxy (benches/hudsucker-baseline) as a child
//! process, started like keyward (127.0.0.1:0, address read from its banner, killed on drop)
//! with a CA minted here, so the same phases can be run through it; plus the
//! keyward/hudsucker ratio in requests per proxy CPU-second.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use anyhow::Context;

use crate::ca::MintedCa;
use crate::keyward::Proxy;
use crate::report::Results;
use crate::upstream::HOST;

/// The baseline's banner line.
const LISTENING: &str = "listening on ";
/// The phases run through both proxies.
pub const PHASES: [&str; 2] = ["keep-alive", "fixed rate"];

/// Starts `exe --ca-cert --ca-key --upstream-ca --resolve bench.example:443:UPSTREAM`, with
/// a fresh CA written to `dir/baseline-ca.pem` and `dir/baseline-ca.key`.
pub fn start(
    exe: &Path,
    dir: &Path,
    upstream_ca: &Path,
    upstream: SocketAddr,
) -> anyhow::Result<Proxy> {
    let ca = MintedCa::new("keyward loadgen baseline CA")?;
    let (cert_path, key_path) = (dir.join("baseline-ca.pem"), dir.join("baseline-ca.key"));
    std::fs::write(&cert_path, &ca.pem)?;
    std::fs::write(&key_path, ca.key_pem())?;

    let mut command = Command::new(exe);
    command
        .arg("--ca-cert")
        .arg(&cert_path)
        .arg("--ca-key")
        .arg(&key_path)
        .arg("--upstream-ca")
        .arg(upstream_ca)
        .arg("--resolve")
        .arg(format!("{HOST}:443:{upstream}"));
    let mut baseline = Proxy::spawn(&mut command, exe, LISTENING).context("the baseline")?;
    baseline.ca_pem = ca.pem.into_bytes();
    Ok(baseline)
}

/// keyward's requests per CPU-second over the baseline's, per phase run through both.
pub fn print_ratios(results: &Results) {
    println!();
    println!("| phase | keyward req per CPU-s | hudsucker req per CPU-s | keyward / hudsucker |");
    println!("| --- | ---: | ---: | ---: |");
    for phase in PHASES {
        let per_cpu = |path| results.run(phase, path).and_then(|r| r.per_keyward_cpu());
        match (per_cpu("keyward"), per_cpu("hudsucker")) {
            (Some(k), Some(h)) => println!("| {phase} | {k:.0} | {h:.0} | {:.2}× |", k / h),
            _ => println!("| {phase} | – | – | – |"),
        }
    }
}
