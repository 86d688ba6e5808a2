//! The audit channel at its smallest (capacity 1, fsync after every batch) under concurrent
//! traffic through the proxy: every request is answered correctly, the log ends with exactly
//! one entry per request and a chain that verifies, and while the channel is full another
//! agent is still served.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::time::{Instant, timeout};

use keyward::audit::handle::MAX_WAITING;
use keyward::audit::{AuditHandle, FsyncPolicy, log_files, verify_files};

use crate::support::agent::{Agent, Proto, Reply, collect};
use crate::support::upstream::echo;
use crate::support::{self, Keyward, TestCa, Upstream, within_async};

/// Connections opened at once by the first test, and requests sent on each.
const CONNECTIONS: usize = 30;
const PER_CONNECTION: usize = 10;
/// Every `DENY_EVERY`-th request of a connection goes to a denied path.
const DENY_EVERY: usize = 3;
/// Longest any one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Two agents; `/ok/**` allowed and `/deny/**` denied for both.
struct Rig {
    _ca: TestCa,
    _upstream: Upstream,
    _dir: tempfile::TempDir,
    keyward: Keyward,
    /// agent name -> token
    tokens: BTreeMap<&'static str, String>,
}

impl Rig {
    async fn start() -> Rig {
        let ca = TestCa::new();
        let upstream =
            Upstream::https(&ca, &["api.example.com"], &[b"h2", b"http/1.1"], echo()).await;
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules");
        std::fs::create_dir_all(&rules).unwrap();
        let mut tokens = BTreeMap::new();
        let mut agents = String::from("agents:\n");
        for name in ["flood", "other"] {
            let token = format!("{name}-token-{:016x}", rand::random::<u64>());
            let file = dir.path().join(format!("{name}.token"));
            std::fs::write(&file, &token).unwrap();
            agents.push_str(&format!(
                "  {name}: {{ token: \"file:{}\" }}\n",
                file.display()
            ));
            tokens.insert(name, token);
        }
        std::fs::write(
            rules.join("rules.yaml"),
            format!(
                "{agents}rules:\n  \
                 - id: ok\n    url: https://api.example.com/ok/**\n    decision: allow\n  \
                 - id: no\n    url: https://api.example.com/deny/**\n    decision: deny\n"
            ),
        )
        .unwrap();
        let keyward = Keyward::start(&ca, &[("api.example.com:443", upstream.addr)], &[], |c| {
            c.rules_dir = rules;
            let audit = c.audit.as_mut().unwrap();
            audit.channel_capacity = 1;
            audit.fsync = FsyncPolicy::Always;
        })
        .await;
        Rig {
            _ca: ca,
            _upstream: upstream,
            _dir: dir,
            keyward,
            tokens,
        }
    }

    fn agent(&self, name: &str) -> Agent {
        self.keyward
            .agent()
            .with_credentials(name, &self.tokens[name])
    }

    fn audit(&self) -> AuditHandle {
        self.keyward.running.handles().audit().unwrap().clone()
    }

    /// Flushes until the log holds `count` entries (bounded), then returns them all.
    async fn entries(&self, count: usize) -> Vec<serde_json::Value> {
        let audit = self.audit();
        let mut lines = 0;
        // Entries still waiting for room reach the channel after one flush did: flush again.
        let all = within_async(Duration::from_secs(20), async || {
            audit.flush().await;
            let text = std::fs::read_to_string(self.keyward.audit_path()).unwrap_or_default();
            lines = text.lines().count();
            (lines >= count).then(|| {
                text.lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect()
            })
        })
        .await;
        all.unwrap_or_else(|| panic!("the audit log holds {lines} entries, expected {count}"))
    }

    /// The admin API answers `/healthz` and `/readyz` with 200, and the audit trail is healthy.
    async fn assert_healthy(&self) {
        let admin = self.keyward.running.admin_addr().unwrap().to_string();
        for path in ["/healthz", "/readyz"] {
            let reply = support::admin_get(&admin, path).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}: {reply:?}");
        }
        assert!(self.keyward.running.handles().recorder.audit_healthy());
    }

    /// Checks the hash chain of the whole log with the library's verifier.
    fn verify(&self, entries: u64) {
        let files = log_files(&self.keyward.audit_path()).unwrap();
        let report = verify_files(&files).unwrap_or_else(|e| panic!("chain broken: {e}"));
        assert_eq!(report.entries, entries, "{report}");
        assert!(report.starts_at_genesis, "{report}");
    }
}

/// One keep-alive connection through a tunnel: HTTP/1.1 or h2.
enum Conn {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Conn {
    async fn open(agent: &Agent, proto: Proto) -> Conn {
        let tcp = agent
            .connect("api.example.com:443")
            .await
            .unwrap_or_else(|r| panic!("CONNECT refused: {r:?}"));
        let alpn: &[&[u8]] = match proto {
            Proto::H1 => &[b"http/1.1"],
            Proto::H2 => &[b"h2"],
        };
        let tls = TokioIo::new(agent.tls(tcp, "api.example.com", alpn).await.unwrap());
        match proto {
            Proto::H1 => {
                let (sender, conn) = http1::handshake(tls).await.unwrap();
                tokio::spawn(conn);
                Conn::H1(sender)
            }
            Proto::H2 => {
                let (sender, conn) = http2::handshake(TokioExecutor::new(), tls).await.unwrap();
                tokio::spawn(conn);
                Conn::H2(sender)
            }
        }
    }

    async fn get(&mut self, path: &str) -> Reply {
        let send = async {
            match self {
                Conn::H1(s) => {
                    s.ready().await.unwrap();
                    let req = Request::get(path)
                        .header("host", "api.example.com")
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    collect(s.send_request(req).await.unwrap()).await
                }
                Conn::H2(s) => {
                    s.ready().await.unwrap();
                    let req = Request::get(format!("https://api.example.com{path}"))
                        .version(http::Version::HTTP_2)
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    collect(s.send_request(req).await.unwrap()).await
                }
            }
        };
        timeout(REQUEST_TIMEOUT, send)
            .await
            .unwrap_or_else(|_| panic!("no answer to {path} within {REQUEST_TIMEOUT:?}"))
    }
}

/// What the agent saw for one request.
enum Seen {
    Allowed { path: String },
    Denied { path: String, request_id: String },
}

/// Checks the answer to `path`: the echo of the path when allowed, a 403 naming the rule and
/// carrying a request id (header and body agree) when denied.
fn check(path: &str, reply: &Reply) -> Seen {
    if path.starts_with("/deny/") {
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}: {reply:?}");
        assert_eq!(reply.headers["keyward-decision"], "deny", "{path}");
        let body = reply.json();
        assert_eq!(body["rule"], "no", "{path}: {body}");
        let request_id = body["request_id"].as_str().unwrap().to_owned();
        assert_eq!(
            reply.headers["keyward-request-id"].to_str().unwrap(),
            request_id,
            "{path}"
        );
        Seen::Denied {
            path: path.to_owned(),
            request_id,
        }
    } else {
        assert_eq!(reply.status, StatusCode::OK, "{path}: {reply:?}");
        assert_eq!(reply.json()["path"], path, "the upstream got {path}");
        Seen::Allowed {
            path: path.to_owned(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_one_records_every_request_once_and_the_chain_verifies() {
    let rig = Rig::start().await;
    let agent = rig.agent("flood");
    let seen: Vec<Seen> = futures_util::stream::iter(0..CONNECTIONS)
        .map(|c| {
            let agent = agent.clone();
            tokio::spawn(async move {
                let proto = if c % 2 == 0 { Proto::H1 } else { Proto::H2 };
                let mut conn = Conn::open(&agent, proto).await;
                let mut seen = Vec::new();
                for i in 0..PER_CONNECTION {
                    let kind = if i % DENY_EVERY == DENY_EVERY - 1 {
                        "deny"
                    } else {
                        "ok"
                    };
                    let path = format!("/{kind}/c{c}/r{i}");
                    seen.push(check(&path, &conn.get(&path).await));
                }
                seen
            })
        })
        .buffer_unordered(CONNECTIONS)
        .map(|joined| futures_util::stream::iter(joined.unwrap()))
        .flatten()
        .collect()
        .await;
    let total = CONNECTIONS * PER_CONNECTION;
    assert_eq!(seen.len(), total);
    rig.assert_healthy().await;

    let entries = rig.entries(total).await;
    // Close the writer: whatever was queued is written and nothing more arrives.
    rig.audit().close().await;
    let after_close = std::fs::read_to_string(rig.keyward.audit_path()).unwrap();
    assert_eq!(
        after_close.lines().count(),
        total,
        "entries beyond one per request"
    );
    assert_eq!(entries.len(), total);

    let mut by_path: BTreeMap<&str, Vec<&serde_json::Value>> = BTreeMap::new();
    let mut by_id: BTreeMap<&str, Vec<&serde_json::Value>> = BTreeMap::new();
    for e in &entries {
        by_path
            .entry(e["path"].as_str().unwrap())
            .or_default()
            .push(e);
        by_id
            .entry(e["request_id"].as_str().unwrap())
            .or_default()
            .push(e);
        assert_eq!(e["agent"], "flood", "{e}");
    }
    assert_eq!(by_id.len(), total, "request ids are unique");
    let (mut allowed, mut denied) = (0, 0);
    for s in &seen {
        match s {
            Seen::Allowed { path } => {
                allowed += 1;
                let found = by_path.get(path.as_str()).map_or(&[][..], |v| &v[..]);
                assert_eq!(found.len(), 1, "entries for {path}: {found:?}");
                assert_eq!(found[0]["decision"], "allow", "{}", found[0]);
                assert_eq!(found[0]["rule"], "ok", "{}", found[0]);
                assert_eq!(found[0]["status"], 200, "{}", found[0]);
            }
            Seen::Denied { path, request_id } => {
                denied += 1;
                let found = by_id.get(request_id.as_str()).map_or(&[][..], |v| &v[..]);
                assert_eq!(found.len(), 1, "entries for {request_id}: {found:?}");
                assert_eq!(found[0]["decision"], "deny", "{}", found[0]);
                assert_eq!(found[0]["rule"], "no", "{}", found[0]);
                assert_eq!(found[0]["path"], path.as_str(), "{}", found[0]);
                assert_eq!(found[0]["status"], 403, "{}", found[0]);
                assert_eq!(by_path[path.as_str()].len(), 1, "{path}");
            }
        }
    }
    assert_eq!(allowed + denied, total);
    assert_eq!(denied, CONNECTIONS * (PER_CONNECTION / DENY_EVERY));
    rig.verify(total as u64);
    println!(
        "audit backpressure: {total} requests over {CONNECTIONS} connections ({allowed} allowed, \
         {denied} denied), {total} entries, chain verified"
    );
}

/// Flood requests per connection in the second test: 30 × 100 stays under the number of
/// entries that may wait for room ([`MAX_WAITING`]) before keyward answers 503, so every
/// flood request must be served.
const FLOOD_PER_CONNECTION: usize = 100;
const _: () = assert!(CONNECTIONS * FLOOD_PER_CONNECTION < MAX_WAITING);
/// Requests the other agent may send before one of them is in flight while the channel is
/// full.
const OTHER_ATTEMPTS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_agent_is_served_while_the_audit_channel_is_full() {
    let rig = Rig::start().await;
    let audit = rig.audit();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    // The flood: keep-alive connections sending allowed requests until told to stop.
    let mut flood = Vec::new();
    for c in 0..CONNECTIONS {
        let (agent, stop, sent) = (rig.agent("flood"), stop.clone(), sent.clone());
        flood.push(tokio::spawn(async move {
            let proto = if c % 2 == 0 { Proto::H1 } else { Proto::H2 };
            let mut conn = Conn::open(&agent, proto).await;
            for i in 0..FLOOD_PER_CONNECTION {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let path = format!("/ok/flood/c{c}/r{i}");
                let reply = conn.get(&path).await;
                assert_eq!(reply.status, StatusCode::OK, "{path}: {reply:?}");
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Another agent, while the channel is full: served promptly. The channel drains and
    // refills as the writer keeps up with the flood, so one request may land in a moment
    // of room; the other agent asks again (a bounded number of times) until one of its
    // requests was in flight while entries waited.
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let (mut checks, mut full_during, mut peak, mut asked) = (0u32, 0u32, 0, 0usize);
    let (mut took, mut waiting_after, mut sent_by_then) = (Duration::ZERO, 0, 0);
    while full_during == 0 && waiting_after == 0 {
        assert!(
            asked < OTHER_ATTEMPTS,
            "the channel was never found full while one of the other agent's {asked} requests \
             was in flight ({checks} checks)"
        );
        // Wait (bounded) until entries wait for room: the channel is full.
        timeout(Duration::from_secs(30), async {
            while audit.waiting() == 0 {
                tick.tick().await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the audit channel never filled ({} requests answered)",
                sent.load(Ordering::Relaxed)
            )
        });
        let other = rig.agent("other");
        let url = format!("https://api.example.com/ok/other/{asked}");
        asked += 1;
        let mut request = tokio::spawn(async move {
            let started = Instant::now();
            let reply = other.get(Proto::H1, &url).await;
            (reply, started.elapsed())
        });
        let served = timeout(Duration::from_secs(10), async {
            loop {
                tokio::select! {
                    done = &mut request => break done.unwrap(),
                    _ = tick.tick() => {
                        let waiting = audit.waiting();
                        checks += 1;
                        peak = peak.max(waiting);
                        if waiting > 0 {
                            full_during += 1;
                        }
                    }
                }
            }
        })
        .await;
        let reply;
        (reply, took) = served.expect("the other agent was not served within 10 s");
        waiting_after = audit.waiting();
        sent_by_then = sent.load(Ordering::Relaxed);
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert_eq!(
            reply.json()["path"],
            format!("/ok/other/{}", asked - 1).as_str()
        );
    }

    stop.store(true, Ordering::Relaxed);
    for f in flood {
        f.await.unwrap();
    }
    let flood_sent = sent.load(Ordering::Relaxed);
    rig.assert_healthy().await;

    // Every flood request and the other agent's: once each.
    let expected = flood_sent + asked;
    let entries = rig.entries(expected).await;
    rig.audit().close().await;
    let lines = std::fs::read_to_string(rig.keyward.audit_path())
        .unwrap()
        .lines()
        .count();
    assert_eq!(lines, expected, "entries beyond one per request");
    let others: Vec<_> = entries.iter().filter(|e| e["agent"] == "other").collect();
    assert_eq!(others.len(), asked, "{others:?}");
    let other_paths: BTreeSet<&str> = others.iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(
        other_paths.len(),
        asked,
        "one entry per request of the other agent"
    );
    for e in &others {
        assert_eq!(e["decision"], "allow", "{e}");
        assert_eq!(e["status"], 200, "{e}");
    }
    let flood_paths: BTreeSet<&str> = entries
        .iter()
        .filter(|e| e["agent"] == "flood")
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(flood_paths.len(), flood_sent, "one entry per flood request");
    rig.verify(expected as u64);
    println!(
        "audit backpressure: other agent served in {took:?} with the channel full, \
         at its request {asked} ({full_during} of {checks} checks found entries waiting, at most {peak}; \
         {waiting_after} waiting when it was served); {sent_by_then} flood requests \
         answered by then, {flood_sent} in all, {expected} entries"
    );
}
