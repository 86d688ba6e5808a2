//! An agent that hangs up at any point of an exchange still leaves exactly one audit entry
//! saying where it was: while its request is held for approval (nothing is forwarded and the
//! pending approval is withdrawn), while keyward waits for the upstream's response, and
//! while keyward reads the request body; and one still held when keyward's shutdown grace
//! period runs out is recorded before the shutdown returns.

use std::sync::Arc;
use std::time::Duration;

use http::Response;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_rustls::client::TlsStream;

use crate::runtime::wait_pending;
use crate::support::agent::Proto;
use crate::support::audit_log;
use crate::support::harness::Running;
use crate::support::upstream::full;
use crate::support::{Handler, Harness, Keyward, TestCa, Upstream, within};

const RULES: &str = r#"
rules:
  - id: transfer
    method: POST
    url: https://api.example.com/transfer
    decision: approve
  - id: slow
    method: GET
    url: https://api.example.com/slow
    decision: allow
  - id: upload
    method: POST
    url: https://api.example.com/upload
    body: { must_not_match: ["(?:forbidden)"] }
    decision: allow
  - id: read
    method: GET
    url: https://api.example.com/read/**
    decision: allow
"#;

/// An upstream whose `/slow` answers only when `release` is notified (`arrived` tells the
/// test it is waiting); anything else is answered at once.
struct Scene {
    _ca: TestCa,
    _files: tempfile::TempDir,
    upstream: Upstream,
    keyward: Keyward,
    arrived: Arc<Notify>,
    release: Arc<Notify>,
}

impl Scene {
    async fn start() -> Scene {
        Scene::start_with(|_| {}).await
    }

    async fn start_with(tweak: impl FnOnce(&mut keyward::Config) + 'static) -> Scene {
        let (arrived, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let handler: Handler = {
            let (arrived, release) = (arrived.clone(), release.clone());
            Arc::new(move |req| {
                let (arrived, release) = (arrived.clone(), release.clone());
                Box::pin(async move {
                    if req.uri().path() == "/slow" {
                        arrived.notify_one();
                        release.notified().await;
                    }
                    Response::new(full("ok"))
                })
            })
        };
        let Running {
            keyward,
            mut upstreams,
            files,
            ca,
        } = Harness::new()
            .upstream(&["api.example.com"], handler)
            .rules("rules.yaml", RULES)
            .config(tweak)
            .start()
            .await;
        Scene {
            _ca: ca,
            _files: files,
            upstream: upstreams.remove(0),
            keyward,
            arrived,
            release,
        }
    }

    /// A tunnel to api.example.com with `head_and_body` written into it (HTTP/1.1).
    async fn send_raw(&self, head_and_body: &[u8]) -> TlsStream<TcpStream> {
        let agent = self.keyward.agent();
        let tcp = agent.connect("api.example.com:443").await.unwrap();
        let mut tls = agent
            .tls(tcp, "api.example.com", &[b"http/1.1"])
            .await
            .unwrap();
        tls.write_all(head_and_body).await.unwrap();
        tls.flush().await.unwrap();
        tls
    }

    /// Flushes until `at_least` entries match `which`; every entry.
    async fn entries(
        &self,
        at_least: usize,
        which: impl Fn(&serde_json::Value) -> bool,
    ) -> Vec<serde_json::Value> {
        let audit = self.keyward.running.handles().audit().unwrap().clone();
        audit_log::wait_for(&audit, &self.keyward.audit_path(), at_least, which).await
    }

    /// After the entry under test: one more request, answered and recorded, then the whole
    /// log holds exactly those two entries (nothing else was written for the first one in the
    /// meantime) and verifies.
    async fn assert_only_one_besides_a_follow_up(&self) {
        let reply = self
            .keyward
            .agent()
            .get(Proto::H1, "https://api.example.com/read/after")
            .await;
        assert_eq!(reply.status, http::StatusCode::OK);
        let all = self.entries(1, |e| e["path"] == "/read/after").await;
        assert_eq!(all.len(), 2, "{all:#?}");
        audit_log::verify(&self.keyward.audit_path());
    }
}

/// The held request of the approval tests.
const TRANSFER: &[u8] = b"POST /transfer HTTP/1.1\r\nhost: api.example.com\r\n\
    content-length: 12\r\n\r\n{\"amount\":5}";

#[tokio::test]
async fn hanging_up_while_held_for_approval_leaves_one_entry_and_forwards_nothing() {
    let s = Scene::start().await;
    let tls = s.send_raw(TRANSFER).await;
    let admin = s.keyward.running.admin_addr().unwrap();
    let pending = wait_pending(admin, 1).await;
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    drop(tls);

    let all = s.entries(1, |e| e["request_id"] == id.as_str()).await;
    let mine: Vec<_> = all
        .iter()
        .filter(|e| e["request_id"] == id.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "{all:#?}");
    let e = mine[0];
    assert_eq!(e["decision"], "error", "{e}");
    assert_eq!(e["rule"], "transfer", "{e}");
    assert_eq!(e["path"], "/transfer", "{e}");
    assert_eq!(
        e["reason"],
        "client went away while the request was held for approval; nothing was forwarded",
        "{e}"
    );
    assert!(e.get("status").is_none(), "no response was sent: {e}");
    assert_eq!(s.upstream.count(), 0, "the upstream received nothing");
    // The pending approval is withdrawn: nobody is asked about a request no one waits for.
    assert!(
        wait_pending_empty(&s).await,
        "{:?}",
        s.keyward.running.handles().approvals().held_here()
    );
    s.assert_only_one_besides_a_follow_up().await;
    assert_eq!(
        s.upstream.count(),
        1,
        "only the follow-up reached the upstream"
    );
}

/// Whether the approval queue empties (bounded wait).
async fn wait_pending_empty(s: &Scene) -> bool {
    let approvals = || s.keyward.running.handles().approvals().len();
    within(std::time::Duration::from_secs(5), || {
        (approvals() == 0).then_some(())
    })
    .await
    .is_some()
}

#[tokio::test]
async fn hanging_up_while_the_upstream_delays_leaves_one_entry() {
    let s = Scene::start().await;
    let tls = s
        .send_raw(b"GET /slow HTTP/1.1\r\nhost: api.example.com\r\n\r\n")
        .await;
    // The upstream has the request and holds its answer.
    s.arrived.notified().await;
    drop(tls);

    let all = s.entries(1, |e| e["path"] == "/slow").await;
    let mine: Vec<_> = all.iter().filter(|e| e["path"] == "/slow").collect();
    assert_eq!(mine.len(), 1, "{all:#?}");
    let e = mine[0];
    assert_eq!(e["decision"], "allow", "it was forwarded: {e}");
    assert_eq!(e["rule"], "slow", "{e}");
    assert_eq!(
        e["reason"], "client went away while waiting for the upstream's response",
        "{e}"
    );
    assert!(
        e.get("status").is_none(),
        "no response reached the agent: {e}"
    );
    // The upstream answers now; that late answer writes no second entry.
    s.release.notify_one();
    s.assert_only_one_besides_a_follow_up().await;
    assert_eq!(s.upstream.count(), 2);
}

#[tokio::test]
async fn hanging_up_during_the_body_read_leaves_one_entry() {
    let s = Scene::start().await;
    // A rule inspects the body, so keyward reads it before deciding; the agent sends 10 of
    // the 100 bytes it announced and hangs up.
    let tls = s
        .send_raw(
            b"POST /upload HTTP/1.1\r\nhost: api.example.com\r\ncontent-length: 100\r\n\r\n\
              0123456789",
        )
        .await;
    drop(tls);

    let all = s.entries(1, |e| e["path"] == "/upload").await;
    let mine: Vec<_> = all.iter().filter(|e| e["path"] == "/upload").collect();
    assert_eq!(mine.len(), 1, "{all:#?}");
    let e = mine[0];
    assert_ne!(e["decision"], "allow", "{e}");
    assert_eq!(s.upstream.count(), 0, "the upstream received nothing");
    s.assert_only_one_besides_a_follow_up().await;
}

#[tokio::test]
async fn a_request_held_when_the_grace_period_ends_is_recorded_before_shutdown_returns() {
    let s = Scene::start_with(|c| c.limits.shutdown_grace = Duration::from_millis(200)).await;
    let mut tls = s.send_raw(TRANSFER).await;
    let pending = wait_pending(s.keyward.running.admin_addr().unwrap(), 1).await;
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    let path = s.keyward.audit_path();
    let running = s.keyward.running;
    tokio::time::timeout(Duration::from_secs(10), running.shutdown())
        .await
        .expect("shutdown did not return within 10 s");

    // The writer is closed: the entry was written before shutdown returned.
    let all = audit_log::read(&path);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["request_id"], id.as_str());
    assert_eq!(all[0]["decision"], "error");
    assert_eq!(all[0]["rule"], "transfer");
    assert_eq!(
        all[0]["reason"],
        "keyward stopped (shutdown grace period over) while the request was held for \
         approval; nothing was forwarded"
    );
    audit_log::verify(&path);
    assert_eq!(s.upstream.count(), 0);
    // The agent's connection was closed without an answer.
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut tls, &mut buf),
    )
    .await
    .expect("the tunnel stayed open");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}
