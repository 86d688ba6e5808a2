//! `--baseline PATH`: a no-op hudsucker MITM proxy (benches/hudsucker-baseline) as a child
//! process, started like keyward (127.0.0.1:0, address read from its banner, killed on drop)
//! with a CA minted here, so the same phases can be run through it; plus the
//! keyward/hudsucker ratio in requests per proxy CPU-second.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

use crate::report::Results;
use crate::upstream::HOST;

/// The baseline's banner line.
const LISTENING: &str = "listening on ";
/// The phases run through both proxies.
pub const PHASES: [&str; 2] = ["keep-alive", "fixed rate"];

/// A running baseline proxy; dropping it kills the process.
pub struct Baseline {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    /// The CA the baseline signs leaves with (PEM), what clients trust.
    pub ca_pem: Vec<u8>,
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `exe --ca-cert --ca-key --upstream-ca --resolve bench.example:443:UPSTREAM`, with
/// a fresh CA written to `dir/baseline-ca.pem` and `dir/baseline-ca.key`.
pub fn start(
    exe: &Path,
    dir: &Path,
    upstream_ca: &Path,
    upstream: SocketAddr,
) -> anyhow::Result<Baseline> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "keyward loadgen baseline CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key)?;
    let (cert_path, key_path) = (dir.join("baseline-ca.pem"), dir.join("baseline-ca.key"));
    std::fs::write(&cert_path, cert.pem())?;
    std::fs::write(&key_path, key.serialize_pem())?;

    let child = Command::new(exe)
        .arg("--ca-cert")
        .arg(&cert_path)
        .arg("--ca-key")
        .arg(&key_path)
        .arg("--upstream-ca")
        .arg(upstream_ca)
        .arg("--resolve")
        .arg(format!("{HOST}:443:{upstream}"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let pid = child.id();
    // The guard exists before anything can fail, so the child never outlives us.
    let mut baseline = Baseline {
        child,
        pid,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ca_pem: cert.pem().into_bytes(),
    };
    let stdout = baseline.child.stdout.take().context("no stdout")?;
    baseline.addr = crate::keyward::listen_address(stdout, LISTENING).context("the baseline")?;
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
