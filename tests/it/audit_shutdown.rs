//! Stopping keyward loses no entry: SIGTERM to the real `keyward serve` binary under
//! keep-alive load leaves one entry per request it accepted (counted at the upstream) and one
//! for every response the clients received, in a log that verifies; and `keyward run` leaves
//! a complete log when its command exits, with the writer closing cleanly.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::time::timeout;

use crate::support::agent::{Agent, Proto};
use crate::support::audit_log;
use crate::support::child;
use crate::support::upstream::full;
use crate::support::{Handler, TestCa, Upstream, within};

/// Keep-alive clients hammering keyward when the signal comes.
const CLIENTS: usize = 20;
/// Responses the clients must have received before SIGTERM is sent, each round.
const BEFORE_SIGNAL: usize = 600;
/// Rounds of the SIGTERM test (each a new keyward, upstream and log).
const ROUNDS: usize = 4;
/// Upper bound on one client's requests in a round (it stops when keyward closes it).
const MAX_PER_CLIENT: usize = 100_000;
/// Longest a round's traffic may take to reach [`BEFORE_SIGNAL`].
const TRAFFIC_LIMIT: Duration = Duration::from_secs(60);
/// Longest the clients may take to see their connections closed after the signal.
const CLIENTS_END: Duration = Duration::from_secs(30);
/// Runs of `keyward run` in a row, each appending to the same log.
const RUNS: usize = 5;
/// What stderr must never say: the writer stopped before draining, or an entry was lost.
const WRITER_FAILURES: [&str; 3] = ["lost its blocking task", "not recorded", "panicked"];

fn ok() -> Handler {
    Arc::new(|_req| Box::pin(async { Response::new(full("ok")) }))
}

/// What the clients of one round saw.
#[derive(Default)]
struct Received {
    /// Paths answered 200 with the whole body read.
    paths: Mutex<Vec<String>>,
    count: AtomicUsize,
}

/// One keep-alive client: requests until keyward closes its connection; what it received
/// goes into `received`.
async fn client(agent: Agent, round: usize, c: usize, received: Arc<Received>) {
    let proto = if c.is_multiple_of(2) {
        Proto::H1
    } else {
        Proto::H2
    };
    let tcp = agent.connect("api.example.com:443").await.unwrap();
    let alpn: &[&[u8]] = match proto {
        Proto::H1 => &[b"http/1.1"],
        Proto::H2 => &[b"h2"],
    };
    let tls = TokioIo::new(agent.tls(tcp, "api.example.com", alpn).await.unwrap());
    enum Sender {
        H1(http1::SendRequest<Full<Bytes>>),
        H2(http2::SendRequest<Full<Bytes>>),
    }
    let mut sender = match proto {
        Proto::H1 => {
            let (s, conn) = http1::handshake(tls).await.unwrap();
            tokio::spawn(conn);
            Sender::H1(s)
        }
        Proto::H2 => {
            let (s, conn) = http2::handshake(TokioExecutor::new(), tls).await.unwrap();
            tokio::spawn(conn);
            Sender::H2(s)
        }
    };
    for i in 0..MAX_PER_CLIENT {
        let path = format!("/r{round}/c{c}/i{i}");
        let sent = match &mut sender {
            Sender::H1(s) => {
                if s.ready().await.is_err() {
                    return;
                }
                let req = Request::get(&path)
                    .header("host", "api.example.com")
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                s.send_request(req).await
            }
            Sender::H2(s) => {
                if s.ready().await.is_err() {
                    return;
                }
                let req = Request::get(format!("https://api.example.com{path}"))
                    .version(http::Version::HTTP_2)
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                s.send_request(req).await
            }
        };
        // A request refused or cut by the closing connection ends this client.
        let Ok(resp) = sent else { return };
        let status = resp.status();
        let Ok(body) = resp.into_body().collect().await else {
            return;
        };
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(&body.to_bytes()[..], b"ok", "{path}");
        received.paths.lock().unwrap().push(path);
        received.count.fetch_add(1, Ordering::SeqCst);
    }
}

/// `keyward serve` for one round, logging to `dir/audit.jsonl`.
fn serve_command(dir: &Path, ca: &TestCa, upstream: &Upstream) -> tokio::process::Command {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let mut command = child::command();
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--admin-listen", "127.0.0.1:0"])
        .arg("--ca-dir")
        .arg(dir.join("certs"))
        .arg("--rules")
        .arg(&rules)
        .arg("--upstream-ca")
        .arg(&ca.path)
        .arg("--audit-log")
        .arg(dir.join("audit.jsonl"))
        .arg("--resolve")
        .arg(format!("api.example.com:443:{}", upstream.addr))
        .args(["--allow", "api.example.com"]);
    command
}

fn assert_writer_closed_cleanly(stderr: &str) {
    for failure in WRITER_FAILURES {
        assert!(
            !stderr.contains(failure),
            "stderr says {failure:?}:\n{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_writes_one_entry_per_accepted_request() {
    let ca = TestCa::new();
    for round in 0..ROUNDS {
        let upstream =
            Upstream::https(&ca, &["api.example.com"], &[b"h2", b"http/1.1"], ok()).await;
        let work = tempfile::tempdir().unwrap();
        let mut keyward =
            child::spawn(serve_command(work.path(), &ca, &upstream), work.path()).await;
        let agent = Agent::new(keyward.addr, &work.path().join("certs/ca.pem"));
        let received = Arc::new(Received::default());
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| tokio::spawn(client(agent.clone(), round, c, received.clone())))
            .collect();
        // Wait (bounded) until the clients are in full swing, then signal.
        within(TRAFFIC_LIMIT, || {
            (received.count.load(Ordering::SeqCst) >= BEFORE_SIGNAL).then_some(())
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "round {round}: only {} responses within {TRAFFIC_LIMIT:?}",
                received.count.load(Ordering::SeqCst)
            )
        });
        let at_signal = received.count.load(Ordering::SeqCst);
        let status = keyward.terminate().await;
        assert!(
            status.success(),
            "round {round}: keyward exited with {status}"
        );
        for c in clients {
            timeout(CLIENTS_END, c)
                .await
                .expect("a client never saw its connection close")
                .unwrap();
        }
        let stderr = std::fs::read_to_string(&keyward.stderr).unwrap();
        assert_writer_closed_cleanly(&stderr);
        assert!(
            stderr.contains(" INFO "),
            "text log lines on stderr:\n{stderr}"
        );
        assert!(
            !stderr.contains('\u{1b}'),
            "log lines written to a file carry no terminal escape codes"
        );

        let log = work.path().join("audit.jsonl");
        let summary = audit_log::verify(&log);
        let entries = audit_log::read(&log);
        let prefix = format!("/r{round}/");
        let paths: Vec<&str> = entries
            .iter()
            .filter_map(|e| e["path"].as_str())
            .filter(|p| p.starts_with(&prefix))
            .collect();
        let unique: BTreeSet<&str> = paths.iter().copied().collect();
        assert_eq!(
            unique.len(),
            paths.len(),
            "round {round}: a request has two entries"
        );
        assert_eq!(
            paths.len(),
            entries.len(),
            "round {round}: entries for anything but the clients' requests: {entries:#?}"
        );
        for e in &entries {
            assert_eq!(e["decision"], "allow", "round {round}: {e}");
            assert_eq!(e["status"], 200, "round {round}: {e}");
        }
        let got = received.paths.lock().unwrap().clone();
        for path in &got {
            assert!(
                unique.contains(path.as_str()),
                "round {round}: no entry for {path}"
            );
        }
        let forwarded = upstream.count();
        assert_eq!(
            paths.len(),
            forwarded,
            "round {round}: every request keyward accepted (and forwarded) has one entry"
        );
        assert!(paths.len() >= got.len());
        println!(
            "sigterm round {round}: {at_signal} responses at the signal, {} in all; {forwarded} \
             requests reached the upstream; {} entries; {}",
            got.len(),
            paths.len(),
            summary.trim()
        );
    }
}

#[tokio::test]
async fn keyward_run_leaves_a_complete_log_when_its_command_exits() {
    let ca = TestCa::new();
    let upstream = Upstream::https(&ca, &["api.example.com"], &[b"http/1.1"], ok()).await;
    let work = tempfile::tempdir().unwrap();
    let rules = work.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let log = work.path().join("audit.jsonl");
    for run in 1..=RUNS {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"));
        cmd.current_dir(work.path()).arg("run");
        child::with_files(&mut cmd, work.path(), &rules, &ca.path, &log)
            .arg("--resolve")
            .arg(format!("api.example.com:443:{}", upstream.addr))
            .args(["--allow", "api.example.com", "--"])
            .args(["curl", "-sS", "--fail"])
            .arg(format!("https://api.example.com/run/{run}"));
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "run {run}: {}\n{stderr}", out.status);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ok", "run {run}");
        assert_writer_closed_cleanly(&stderr);
        // The entry is written and synced before `keyward run` exits.
        let entries = audit_log::read(&log);
        assert_eq!(entries.len(), run, "run {run}: {entries:#?}");
        let last = &entries[run - 1];
        assert_eq!(last["path"], format!("/run/{run}"), "{last}");
        assert_eq!(last["decision"], "allow", "{last}");
        assert_eq!(last["status"], 200, "{last}");
        audit_log::verify(&log);
    }
    assert_eq!(upstream.count(), RUNS);
}
